"""The suite fails a body that breaks the OpenAPI description by the rule that owns it, naming the wrong field.

One run of `python -m conformance` on the broken server `list-flags-as-strings`
(tests/broken_servers.py: the other sessions' `isCurrent` is the string
"false"), with CORE-LIST and a rule whose checks only read the list.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .broken_servers import VARIANTS, serving

ROOT = Path(__file__).resolve().parent.parent
VARIANT = next(v for v in VARIANTS if v.id == "list-flags-as-strings")
RUN_TIMEOUT = 120


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Run the suite on the variant for CORE-LIST and CORE-REVOKE; return {rule: (outcome, message)}."""
    workdir = tmp_path_factory.mktemp("openapi-suite")
    report = workdir / "report.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("CONFORMANCE_BASE_URL", None)
    with serving(VARIANT.app(str(workdir / "sessions.db"))) as url:
        proc = subprocess.run(
            [
                sys.executable, "-m", "conformance",
                "--base-url", url,
                "--rule", "CORE-LIST", "--rule", "CORE-REVOKE",
                "--json-report", str(report),
                *VARIANT.declarations(),
            ],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        )  # fmt: skip
    assert report.exists(), f"the suite wrote no report (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr}"
    results = json.loads(report.read_text(encoding="utf-8"))["rules"]
    return {result["id"]: (result["outcome"], result["message"]) for result in results}


def test_wrong_type_in_the_list_fails_core_list_naming_the_field(outcomes):
    outcome, message = outcomes["CORE-LIST"]
    assert outcome == "fail"
    assert re.search(r"GET /me/sessions 200: \[\d+\]\.isCurrent: 'false' is not of type 'boolean'", message), message


def test_wrong_type_in_the_list_spares_a_rule_that_only_reads_it(outcomes):
    assert outcomes["CORE-REVOKE"] == ("pass", "")
