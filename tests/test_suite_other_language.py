"""The conformance suite against a server in another language: examples/node-server (Node.js, no dependencies).

The suite must work against any implementation of the contract, not only ours.
One Node server is shared by the module; the suite runs against it three times, at
the same time (the suite is built to share a server: every check makes its own
accounts), as a separate process each, exactly as a student would run it:

- at --level hardening with the server's expected-failures file: exit 0, every
  CORE rule passes, the listed HARD rules are XFAIL, the other HARD rules pass
  (HARD-IDLE and HARD-ABSOLUTE skip: the server has no timeouts to declare);
- at the default level (core) without that file: exit 0, and the same HARD
  rules show as WARN;
- on those two rules alone at --level hardening without the file: exit 1, each
  failed check told in a few lines under its rule's text, as
  conformance/README.md shows it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "examples" / "node-server"
SERVER = NODE_DIR / "server.js"
EXPECTED_FAILURES = NODE_DIR / "expected-failures.txt"
NODE = shutil.which("node")
# The server refreshes lastActiveAt at most once per this many seconds; the
# suite is told the same value, which switches on the checks that it moves.
TOUCH_INTERVAL = "1"
# scrypt's cost is no rule of the contract; a low one keeps ~1000 signups and
# logins quick, as the suite does when it starts the reference itself.
SCRYPT_COST = "1024"
# The Node server has no session timeouts, so the suite cannot be told any.
UNDECLARED = {"HARD-IDLE", "HARD-ABSOLUTE"}
START_TIMEOUT = 10.0
SUITE_TIMEOUT = 300.0

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH: cannot run examples/node-server")


def expected_failures() -> set[str]:
    """The rule IDs examples/node-server/expected-failures.txt lists (the suite's format)."""
    listed = set()
    for line in EXPECTED_FAILURES.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            listed.add(line.split()[0].upper())
    return listed


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start examples/node-server/server.js on a free port; yield its base URL; stop it."""
    log_path = tmp_path_factory.mktemp("node-server") / "stderr.log"
    server = ServerProcess(
        [NODE, SERVER, "--port", "0", "--touch-interval", TOUCH_INTERVAL, "--scrypt-cost", SCRYPT_COST],
        name="the Node server",
        cwd=NODE_DIR,
        stderr=log_path,
        start_timeout=START_TIMEOUT,
    )
    with server:
        assert server.url.startswith("http://127.0.0.1:"), server.url
        yield server.url
        assert server.process is not None and server.process.poll() is None, "the Node server died during the suite's runs"
    log = log_path.read_text(encoding="utf-8", errors="replace")
    # The server writes to stderr only when a request crashed a handler (a 500).
    assert not log.strip(), f"the Node server logged errors:\n{log}"


def suite_args(url: str, report: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "conformance",
        "--base-url", url,
        "--json-report", report,
        "--touch-interval", TOUCH_INTERVAL,
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def runs(node_url: str) -> Iterator[dict[str, dict[str, Any]]]:
    """Run the suite twice at once against the Node server; yield {"hardening"|"core": result}."""
    commands = {
        "hardening": ["--level", "hardening", "--expect-failures", str(EXPECTED_FAILURES)],
        "core": [],
        # The two rules it fails, counted, without the file: what the failure output looks like.
        "failing": ["--level", "hardening", "--rule", "HARD-CSRF", "--rule", "HARD-NO-STORE"],
    }
    env = dict(os.environ)
    env.pop("CONFORMANCE_BASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="node-conformance-") as tmp:
        started = {}
        try:
            for name, extra in commands.items():
                report = os.path.join(tmp, f"{name}.json")
                output = open(os.path.join(tmp, f"{name}.out"), "wb")
                try:
                    process = subprocess.Popen(
                        suite_args(node_url, report, *extra),
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                except BaseException:
                    output.close()
                    raise
                started[name] = (process, output, report, time.monotonic())
            results = {}
            for name, (process, output, report, began) in started.items():
                try:
                    code = process.wait(timeout=SUITE_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    code = None
                output.close()
                text = Path(output.name).read_text(encoding="utf-8", errors="replace")
                data = json.loads(Path(report).read_text(encoding="utf-8")) if os.path.exists(report) else None
                results[name] = {
                    "code": code,
                    "output": text,
                    "report": data,
                    "seconds": time.monotonic() - began,
                }
        finally:
            for process, output, _, _ in started.values():
                stop(process)
                output.close()
        yield results


def outcomes(result: dict[str, Any]) -> dict[str, str]:
    assert result["report"] is not None, f"the suite wrote no JSON report; its output:\n{result['output'][-4000:]}"
    return {rule["id"]: rule["outcome"] for rule in result["report"]["rules"]}


def check_exit_0(result: dict[str, Any]) -> None:
    assert result["code"] == 0, (
        f"the suite exited {result['code']} after {result['seconds']:.0f} s; the end of its output:\n"
        + result["output"][-6000:]
    )


def test_expected_failures_file_lists_only_hard_rules() -> None:
    listed = expected_failures()
    assert listed, "examples/node-server/expected-failures.txt lists no rule"
    assert all(rule.startswith("HARD-") for rule in listed), f"a CORE rule may not be an expected failure: {listed}"
    assert not listed & UNDECLARED, f"{listed & UNDECLARED} are never checked here (no timeouts declared)"


def test_hardening_run_exits_0(runs: dict[str, dict[str, Any]]) -> None:
    check_exit_0(runs["hardening"])
    assert runs["hardening"]["report"]["problems"] == [], runs["hardening"]["report"]["problems"]


def test_hardening_run_passes_every_core_rule(runs: dict[str, dict[str, Any]]) -> None:
    found = outcomes(runs["hardening"])
    core = {rule: outcome for rule, outcome in found.items() if rule.startswith("CORE-")}
    assert len(core) == 11, f"expected the 11 CORE rules in the report, got {sorted(core)}"
    assert {rule for rule, outcome in core.items() if outcome != "pass"} == set(), core


def test_hardening_run_shows_the_listed_rules_as_xfail(runs: dict[str, dict[str, Any]]) -> None:
    found = outcomes(runs["hardening"])
    listed = expected_failures()
    assert {rule: found.get(rule) for rule in listed} == {rule: "xfail" for rule in listed}
    assert {rule for rule, outcome in found.items() if outcome == "xfail"} == listed


def test_hardening_run_passes_the_other_hard_rules(runs: dict[str, dict[str, Any]]) -> None:
    found = outcomes(runs["hardening"])
    others = {rule: outcome for rule, outcome in found.items() if rule.startswith("HARD-")}
    for rule in expected_failures():
        others.pop(rule)
    wanted = {rule: "skip" if rule in UNDECLARED else "pass" for rule in others}
    assert others == wanted


def test_hardening_run_prints_the_rule_table(runs: dict[str, dict[str, Any]]) -> None:
    output = runs["hardening"]["output"]
    assert "(level hardening)" in output
    for rule in expected_failures():
        assert f"XFAIL {rule}" in output, f"no `XFAIL {rule}` line in the suite's table:\n{output[-3000:]}"


def test_core_run_without_expectations_exits_0_with_warnings(runs: dict[str, dict[str, Any]]) -> None:
    result = runs["core"]
    check_exit_0(result)
    found = outcomes(result)
    listed = expected_failures()
    assert {rule: found.get(rule) for rule in listed} == {rule: "warn" for rule in listed}
    assert {rule for rule, outcome in found.items() if outcome in ("fail", "xfail", "warn")} == listed
    assert all(outcome == "pass" for rule, outcome in found.items() if rule.startswith("CORE-")), found
    for rule in listed:
        assert f"WARN  {rule}" in result["output"], f"no `WARN  {rule}` line in the suite's table"


def sample_run_lines(page: str) -> list[str]:
    """The suite's output as conformance/README.md shows it: its sample run, without the command and elisions."""
    block = page.split("<!-- sample-run:begin -->", 1)[1].split("<!-- sample-run:end -->", 1)[0]
    body = block.split("```text\n", 1)[1].split("\n```", 1)[0]
    return [line for line in body.splitlines() if not line.startswith("$ ") and line != "..."]


def summary_lines(output: str) -> list[str]:
    """The suite's own table in a run's output: from its `conformance:` banner to its `N passed, …` line."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if " conformance: http" in line)
    end = next(n for n in range(start, len(lines)) if lines[n].split(" ", 2)[1:2] == ["passed,"])
    return lines[start : end + 1]


def normalized(lines: list[str]) -> list[str]:
    """The lines with any loopback port as PORT and the banner's `=` padding (its width follows the URL) trimmed."""
    return [re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", line).strip("= ") for line in lines]


def test_suite_page_shows_the_core_run_as_the_suite_prints_it(runs: dict[str, dict[str, Any]]) -> None:
    shown = sample_run_lines((ROOT / "conformance" / "README.md").read_text(encoding="utf-8"))
    assert normalized(shown) == normalized(summary_lines(runs["core"]["output"])), (
        "conformance/README.md's sample run differs from the suite's output:\n" + runs["core"]["output"][-3000:]
    )


def failure_lines(output: str) -> list[str]:
    """The suite's failure section and table in a run's output: from its `failures` banner to its summary line."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip("= ") == "failures")
    end = next(n for n in range(start, len(lines)) if lines[n].split(" ", 2)[1:2] == ["passed,"])
    return lines[start : end + 1]


def sample_failure_lines(page: str) -> list[str]:
    """conformance/README.md's sample of failures, without its command line."""
    block = page.split("<!-- sample-failures:begin -->", 1)[1].split("<!-- sample-failures:end -->", 1)[0]
    body = block.split("```text\n", 1)[1].split("\n```", 1)[0]
    lines = body.splitlines()
    while lines and (lines[0].startswith("$ ") or lines[0].startswith("    --")):
        lines.pop(0)  # the command, continued over lines
    return lines


def loopback_free(lines: list[str]) -> list[str]:
    """The lines with any loopback port as PORT and banners' `=` padding (its width follows the URL) trimmed."""
    return [re.sub(r"(https?://127\.0\.0\.1):\d+", r"\1:PORT", line).strip("= ") for line in lines]


def test_failing_rules_print_a_few_lines_per_check_under_the_rule_text_once(runs: dict[str, dict[str, Any]]) -> None:
    result = runs["failing"]
    assert result["code"] == 1, result["output"][-3000:]
    output = result["output"]
    assert {rule: outcome for rule, outcome in outcomes(result).items()} == dict.fromkeys(expected_failures(), "fail")
    for rule in expected_failures():
        assert output.count(f"--- rule {rule} (hardening)") == 1
        assert f"FAIL  {rule}" in output
    assert "HTTP exchanges" not in output and "Traceback" not in output and "xfail" not in output
    # A screen per failing rule: its text, a few checks in full, the others named on one line.
    blocks = "\n".join(failure_lines(output)).split("--- rule ")[1:]
    assert len(blocks) == 2 and all(len(block.splitlines()) <= 40 for block in blocks), blocks


def test_suite_page_shows_the_failures_as_the_suite_prints_them(runs: dict[str, dict[str, Any]]) -> None:
    shown = sample_failure_lines((ROOT / "conformance" / "README.md").read_text(encoding="utf-8"))
    assert loopback_free(shown) == loopback_free(failure_lines(runs["failing"]["output"])), (
        "conformance/README.md's sample of failures differs from the suite's output:\n" + runs["failing"]["output"]
    )

def test_exploration_at_hardening_finds_no_divergence_over_twenty_seeds(node_url: str) -> None:
    # The level the server claims (its expected failures, HARD-CSRF and HARD-NO-STORE, are no part of exploration).
    from .test_explore import assert_no_divergence, explore_seeds

    assert_no_divergence(explore_seeds([node_url], "hardening"))
