"""Starting the server: every start serves, and a start that cannot serve in time ends with one line.

A start used to hang about once in 130: granian forked a worker while the
supervisor's maintenance thread held an SQLite mutex (impl/sidecars.py).
Here servers start again and again, several at once and with the
maintenance purging as often as it can, so that a fork landing in the
middle of a database call would be likely; bench/start_many.py runs the
same start as many times as asked and prints the count.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from conformance.server_process import ServerStartError

from .servers import ROOT, TEST_ARGS, run_server_process
from .test_shutdown import group_members

ROUNDS = 3
AT_ONCE = 3


def start_and_stop(workdir: Path) -> str:
    """Start a two-worker server that purges every 10 ms, use it, stop it; return what went wrong, or ''."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = run_server_process(
        workdir, ["--purge-interval", "0.01", "--start-timeout", "60"], workers=2, log="stderr.log", new_session=True
    )
    # A start that hangs is stopped by its own deadline (60 s); this one only bounds the wait beyond it.
    server.start_timeout = 90
    server.stop_timeout = 30
    try:
        try:
            url = server.start()
        except ServerStartError as exc:
            return str(exc)
        # Both workers must serve: several connections, one request each.
        for _ in range(8):
            status = requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=30).status_code
            if status != 200:
                return f"/healthz answered {status}"
        return ""
    finally:
        server.stop()


def test_every_start_serves_with_the_maintenance_purging_beside_it(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as pool:
        problems = list(pool.map(lambda i: start_and_stop(tmp_path / str(i)), range(ROUNDS * AT_ONCE)))
    assert [p for p in problems if p] == []


def test_a_server_whose_workers_cannot_answer_in_time_exits_1_with_one_line(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_server.py"), "--port", "0", "--db", str(tmp_path / "s.db"), *TEST_ARGS,
         "--workers", "2", "--start-timeout", "0.001"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    assert out == ""  # never announced as listening
    ours = [line for line in err.splitlines() if "_granian" not in line]
    assert len(ours) == 1 and "no worker answered" in ours[0] and "--start-timeout" in ours[0], err
    # Nothing stays up without serving: the supervisor took its workers with it.
    deadline = time.monotonic() + 15
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(proc.pid) == []


def test_start_timeout_must_be_positive(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "run_server.py"), "--start-timeout", "0", "--port", "0",
                             "--db", str(tmp_path / "s.db")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--start-timeout must be positive" in result.stderr
