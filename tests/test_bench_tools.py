"""The in-process profiler of bench/ runs: it uses the server's public verbs only, so a refactor cannot break it unseen.

The benchmarks' own tests (bench/test_bench.py) run with `pytest bench`;
this one runs with the project's tests because bench/profile_me.py reaches
into the app's objects, which change with the code. Timings are printed,
never asserted.
"""

from __future__ import annotations

import subprocess
import sys

from .servers import ROOT


def test_profile_me_measures_every_step_of_a_request():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "profile_me.py"), "-n", "20", "--table", "200"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("whole request, access log on", "SessionManager.authenticate", "store.find_session", "json_body"):
        assert step in done.stdout, done.stdout
