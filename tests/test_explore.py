"""--explore has teeth: it finds what only exploration finds, shrunk short, and finds nothing on the reference.

The broken servers of tests/explored_servers.py are served in threads here,
and the suite explores each as a user runs it (`python -m conformance
--explore-only`), all at once, each within the default budget; each must be
blamed on its rule, shrunk to at most MAX_STEPS steps, with a curl script, a
replay command, an EXPLORE line in the terminal table, the JSON report and
JUnit. The reference runs in this process, many seeds on one server, with a
small budget per seed (tests/test_instances.py does the same for two
PostgreSQL-backed instances, tests/test_suite_other_language.py for the Node
server).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from conformance import rules
from conformance.client import Target
from conformance.explore.run import explore, numbered, summary

from .broken_servers import CONTROL_EXTENSIONS, serving
from .explored_servers import EXPLORED, serving_explored

ROOT = Path(__file__).resolve().parent.parent
SEEDS = 20
MAX_STEPS = 6
RUN_TIMEOUT = 240


def explore_seeds(urls: list[str], level: str, seeds: int = SEEDS, touch_interval: float | None = 1.0) -> list[Any]:
    """Explore `seeds` seeds (1, 2, …) on the given instances, about a second each; return the results."""
    return [
        explore([Target(url) for url in urls], level, touch_interval=touch_interval, seed=seed, seconds=0.5,
                examples=3)
        for seed in range(1, seeds + 1)
    ]


def assert_no_divergence(results: list[Any]) -> None:
    for result in results:
        assert not result.rule, f"seed {result.seed}: {summary(result)}\n{numbered(result)}"
    assert sum(result.histories for result in results) >= len(results)


@pytest.fixture(autouse=True)
def _quiet_impl():
    # Broken servers crash on purpose; their log need not say so.
    logging.getLogger("impl").disabled = True
    yield
    logging.getLogger("impl").disabled = False


def test_the_reference_on_sqlite_shows_no_divergence_over_twenty_seeds(tmp_path):
    with serving(CONTROL_EXTENSIONS.app(str(tmp_path / "s.db"))) as url:
        assert_no_divergence(explore_seeds([url], rules.EXTENSIONS))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Serve every explored broken server and run `--explore-only` on each, all at once; return what each said."""
    logging.getLogger("impl").disabled = True
    work = tmp_path_factory.mktemp("explored")
    with ExitStack() as stack:
        served = {v.id: stack.enter_context(serving_explored(v, str(work / f"{v.id}.db"))) for v in EXPLORED}

        def run(variant: Any) -> dict[str, Any]:
            folder = work / variant.id
            folder.mkdir()
            # The default budget: what a user gets.
            command = [sys.executable, "-m", "conformance", "--explore-only", "--level", variant.level,
                       "--touch-interval", "1", "--explore-dir", str(folder),
                       "--json-report", str(folder / "report.json"), "--junit-xml", str(folder / "junit.xml")]
            for url in served[variant.id]:
                command += ["--base-url", url]
            proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
            entry = next(result for result in report["rules"] if result["id"] == "EXPLORE")
            return {"exit": proc.returncode, "output": proc.stdout + proc.stderr, "entry": entry,
                    "junit": ET.parse(folder / "junit.xml").getroot()}

        with ThreadPoolExecutor(max_workers=len(EXPLORED)) as pool:
            return dict(zip([v.id for v in EXPLORED], pool.map(run, EXPLORED)))


@pytest.mark.parametrize("variant", EXPLORED, ids=[v.id for v in EXPLORED])
def test_explore_alone_blames_the_broken_rule_with_a_short_history(runs, variant):
    run = runs[variant.id]
    explored = run["entry"]["explore"]
    assert run["exit"] == 1, run["output"][-3000:]
    assert explored["rule"] == variant.breaks, run["output"][-3000:]
    assert explored["history_steps"] <= MAX_STEPS, run["output"][-3000:]
    assert explored["reproduced"].startswith("reproduced"), run["output"][-3000:]


@pytest.mark.parametrize("variant", EXPLORED, ids=[v.id for v in EXPLORED])
def test_a_divergence_comes_as_numbered_steps_a_curl_script_and_a_replay_command(runs, variant):
    run = runs[variant.id]
    output, explored = run["output"], run["entry"]["explore"]
    assert "FAIL  EXPLORE" in output
    assert "1. u" in output and f"✗ step {explored['history_steps']}: {variant.breaks}" in output
    assert Path(explored["script"]).read_text(encoding="utf-8").startswith("#!/bin/sh")
    assert f"--explore-seed {explored['seed']}" in explored["replay"]
    cases = run["junit"].iter("testcase")
    assert any(case.get("name") == "EXPLORE" and case.find("failure") is not None for case in cases)


def test_the_curl_script_of_a_sequential_history_reproduces_the_divergence(runs):
    # The logout bug needs no timing: its script, run again, shows the ended session still answering 200.
    explored = runs["logout-ends-newest-from-address"]["entry"]["explore"]
    script = Path(explored["script"])
    variant = next(v for v in EXPLORED if v.id == "logout-ends-newest-from-address")
    with serving_explored(variant, str(script.parent / "again.db")) as urls:
        proc = subprocess.run(["sh", str(script)], env={"BASE1": urls[0], "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=60)
    last_step = proc.stdout.rsplit("== step ", 1)[1]
    # After the logout's 200, the looks: GET /me with the logged-out session's token answers 200 again.
    looks = last_step.split('{"message":"Logged out."} -> 200', 1)[1]
    assert '"email"' in looks and "-> 200" in looks, proc.stdout + proc.stderr
