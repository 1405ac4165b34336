"""--explore has teeth: it finds what only exploration finds, shrunk short, and passes on the reference.

Exploration runs in this process (conformance.explore.run.explore), against
servers served in threads here too, with small budgets: many seeds in one
server run for the reference, the default-sized budget only where a bug needs
it. One run goes through `python -m conformance --explore-only`, for the
EXPLORE line of the terminal table, the JSON report and JUnit.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.client import Target
from conformance.explore.run import explore, numbered, summary

from .broken_servers import CONTROL_EXTENSIONS, serving
from .explored_servers import EXPLORED, serving_explored

ROOT = Path(__file__).resolve().parent.parent
SEEDS = 20
# Each broken server must be caught within this, and shrunk to at most MAX_STEPS steps.
BUDGET = 45.0
MAX_STEPS = 6


@pytest.fixture(autouse=True)
def _quiet_impl():
    # Broken servers crash on purpose; their log need not.
    logging.getLogger("impl").disabled = True
    yield
    logging.getLogger("impl").disabled = False


@pytest.mark.parametrize("level", ["hardening"])
def test_the_reference_shows_no_divergence_over_twenty_seeds(tmp_path, level):
    with serving(CONTROL_EXTENSIONS.app(str(tmp_path / "s.db"))) as url:
        for seed in range(1, SEEDS + 1):
            result = explore([Target(url)], level, touch_interval=1.0, seed=seed, seconds=1.0, examples=5)
            assert not result.failed, f"seed {seed}: {summary(result)}\n{numbered(result)}"
            assert result.histories >= 1


@pytest.mark.parametrize("variant", EXPLORED, ids=[v.id for v in EXPLORED])
def test_exploration_catches_and_shrinks(tmp_path, variant):
    with serving_explored(variant, str(tmp_path / "s.db")) as urls:
        # The reference lacks EXT-RECOVER until it lands: a login race is what this server is about.
        result = explore([Target(url) for url in urls], variant.level, touch_interval=1.0, seconds=BUDGET,
                         script_dir=str(tmp_path), recover=False)
    print(f"{variant.id}: {summary(result)}\n{numbered(result)}")
    assert result.failed, summary(result)
    assert result.rule == variant.breaks, f"{summary(result)}\n{numbered(result)}"
    assert len(result.history) <= MAX_STEPS, numbered(result)
    assert Path(result.script_path).read_text().startswith("#!/bin/sh")


def test_explore_only_reports_an_explore_line_in_json_and_junit(tmp_path):
    variant = next(v for v in EXPLORED if v.id == "logout-ends-newest-from-address")
    with serving_explored(variant, str(tmp_path / "s.db")) as urls:
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", "--base-url", urls[0], "--explore-only", "--touch-interval", "1",
             "--explore-seconds", "20", "--explore-dir", str(tmp_path), "--json-report", str(tmp_path / "r.json"),
             "--junit-xml", str(tmp_path / "r.xml")],
            cwd=ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  EXPLORE" in proc.stdout
    assert "replay the exploration: python -m conformance --explore-only" in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    entry = next(r for r in report["rules"] if r["id"] == "EXPLORE")
    assert entry["outcome"] == "fail" and entry["explore"]["rule"] == "CORE-LOGOUT"
    assert entry["explore"]["history_steps"] <= MAX_STEPS
    cases = ET.parse(tmp_path / "r.xml").getroot().iter("testcase")
    assert any(case.get("name") == "EXPLORE" and case.find("failure") is not None for case in cases)
