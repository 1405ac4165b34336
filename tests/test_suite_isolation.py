"""The conformance suite stands alone: it imports no server code, and its command line behaves as documented."""

from __future__ import annotations

import ast
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conformance.reports import CHECKS_SHOWN_PER_RULE

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "conformance"
FORBIDDEN = {"impl", "bottle", "ua_parser", "granian"}
# jsonschema: the suite validates bodies against the OpenAPI description (conformance/schema.py);
# hypothesis: --explore's histories (conformance/explore/machine.py).
ALLOWED = set(sys.stdlib_module_names) | {"pytest", "requests", "jsonschema", "hypothesis", "conformance"}

# Runs `python -m conformance` with server code made unimportable, and fails
# loudly (exit 97) if anything still tried to import it.
BLOCKED_RUN = """
import importlib.abc, runpy, sys
FORBIDDEN = {forbidden!r}
attempts = []
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            attempts.append(name)
            raise ModuleNotFoundError(f"blocked by the isolation test: {{name}}")
        return None
sys.meta_path.insert(0, Blocker())
sys.argv = ["conformance", *{argv!r}]
try:
    runpy.run_module("conformance", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
if attempts:
    print("IMPORTED:", attempts)
    sys.exit(97)
sys.exit(code)
"""


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("CONFORMANCE_BASE_URL", None)
    # The suite's output is asserted line by line: options meant for the outer
    # run (PYTEST_ADDOPTS=--durations=N, say) must not reach the inner one.
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _suite(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return _run(["-m", "conformance", *argv], cwd, timeout)


def _blocked(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run(["-c", BLOCKED_RUN.format(forbidden=FORBIDDEN, argv=argv)], cwd)


# --- static: what the suite's files import ----------------------------------------


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "__import__",
            "import_module",
        ):
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value


def test_suite_files_import_no_server_code():
    files = sorted(SUITE.rglob("*.py"))
    assert len(files) > 10
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in files
        for line, name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert found == []


def test_suite_files_import_only_pytest_requests_jsonschema_hypothesis_and_stdlib():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted(SUITE.rglob("*.py"))
        for line, name in _imports(path)
        if name.split(".")[0] not in ALLOWED
    ]
    assert found == []


# --- dynamic: the command line with server code blocked ------------------------------


def test_list_rules_works_with_server_code_unimportable(tmp_path):
    result = _blocked(["--list-rules"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CORE-REVOKE-ALL" in result.stdout and "HARD-BAD-INPUT" in result.stdout


def test_every_test_module_loads_with_server_code_unimportable(tmp_path):
    # At --level extensions nothing is deselected: every module of every level loads.
    result = _blocked(["--base-url", "http://127.0.0.1:9", "--level", "extensions", "--", "--collect-only"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " tests collected in " in result.stdout
    assert "errors" not in result.stdout and "ERROR" not in result.stdout


# --- exit codes and messages -------------------------------------------------------------


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL nothing listens on: the port stays bound (so no one takes it) but not listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_unreachable_target_exits_2_with_one_line(tmp_path, refused_url):
    result = _suite(["--base-url", refused_url], tmp_path)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert f"cannot reach {refused_url}/: connection refused" in lines[0]


def test_unreachable_target_under_plain_pytest_exits_2(tmp_path, refused_url):
    result = _run(["-m", "pytest", str(SUITE), "--base-url", refused_url], tmp_path)
    assert result.returncode == 2
    assert f"cannot reach {refused_url}/" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--level", "extreme"],
        ["--no-such-option"],
        ["--rule", "CORE-NOPE"],
        ["--user", "no-colon-here"],
        ["--idle-timeout", "-3"],
        ["--idle-timeout", "soon"],
        ["--idle-timeout", "2", "--touch-interval", "5"],
        ["--expect-failures", "/nonexistent/known-gaps.txt"],
        ["--base-url", "localhost:3000"],
        ["--strict", "--level", "core"],
        ["--start-reference", "--base-url", "http://127.0.0.1:9"],
        ["--rule", "EXT-RENAME"],
        ["--rule", "EXT-*", "--level", "hardening"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_bad_option_exits_2(tmp_path, refused_url, argv):
    # A reachable-looking base URL is given so that only the bad option can stop the run.
    if "--base-url" not in argv:
        argv = [*argv, "--base-url", refused_url]
    result = _suite(argv, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "cannot reach" not in result.stdout + result.stderr


def test_help_documents_every_option_and_shows_an_example_of_each_value(tmp_path):
    result = _suite(["--help"], tmp_path)
    assert result.returncode == 0
    taking_a_value = [
        "--base-url", "--level", "--rule", "--cookie-name", "--user", "--idle-timeout", "--absolute-timeout",
        "--touch-interval", "--expect-failures", "--json-report", "--junit-xml",
    ]  # fmt: skip
    switches = ["--strict", "--list-rules", "--https", "--start-reference", "--require-complete"]
    # argparse wraps lines after a hyphen too ("--base-" / "url"): join those back.
    flat = " ".join(re.sub(r"-\n\s*", "-", result.stdout).split())
    for flag in taking_a_value:
        assert f"e.g. {flag} " in flat, f"--help shows no example value for {flag}"
    for flag in switches:
        assert flag in flat
        assert f"(e.g. {flag})" not in flat, f"{flag} takes no value: an example of it says nothing"


# --- outcomes against a server that fails everything -------------------------------------


class _BrokenHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"error": "broken on purpose"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_OPTIONS = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    """A server answering 500 to everything: every check of every rule fails."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prefix"
    server.shutdown()
    server.server_close()


def _report(tmp_path: Path, argv: list[str], url: str) -> tuple[int, dict, str]:
    path = tmp_path / "report.json"
    result = _suite(["--base-url", url, "--json-report", str(path), *argv], tmp_path)
    return result.returncode, json.loads(path.read_text()), result.stdout + result.stderr


@pytest.mark.parametrize(
    "argv, code, outcome",
    [
        (["--rule", "HARD-ENUM"], 0, "warn"),
        (["--rule", "HARD-ENUM", "--level", "hardening"], 1, "fail"),
        (["--rule", "HARD-ENUM", "--strict"], 1, "fail"),
        (["--rule", "CORE-ME"], 1, "fail"),
    ],
    ids=["hard-at-core-warns", "hard-at-hardening-fails", "strict-is-hardening", "core-fails"],
)
def test_levels_decide_what_a_failure_means(tmp_path, broken_url, argv, code, outcome):
    returncode, report, output = _report(tmp_path, argv, broken_url)
    assert returncode == code, output
    assert report["exit_code"] == code
    assert [(rule["id"], rule["outcome"]) for rule in report["rules"]] == [(argv[1], outcome)]
    assert report["target"] == broken_url


def test_failure_report_shows_rule_text_and_exchanges(tmp_path, broken_url):
    # -v writes each failure in full; by default the exchanges are left to the reports.
    returncode, report, output = _report(tmp_path, ["--rule", "CORE-ME", "-v"], broken_url)
    assert returncode == 1
    assert "--- rule CORE-ME (core): GET /me names the session's user ---" in output
    assert "HTTP exchanges of this test" in output
    assert "#1 POST /prefix/signup" in output and "< 500" in output
    assert "FAIL  CORE-ME" in output and "\n0 passed, 1 failed\n" in output
    assert report["summary"] == {
        "passed": 0, "failed": 1, "errors": 0, "partial": 0, "warned": 0, "skipped": 0, "xfailed": 0
    }
    assert all(test["outcome"] == "fail" and test["message"] for test in report["rules"][0]["tests"])


def test_default_failure_output_says_expected_and_actual_with_the_rule_text_once(tmp_path, broken_url):
    returncode, report, output = _report(tmp_path, ["--rule", "CORE-ME"], broken_url)
    assert returncode == 1
    failed = [test for test in report["rules"][0]["tests"] if test["outcome"] == "fail"]
    assert output.count("--- rule CORE-ME (core): GET /me names the session's user ---") == 1
    # Each failed check in full up to a screenful, the others named on one line.
    shown = min(len(failed), CHECKS_SHOWN_PER_RULE)
    assert output.count("× CORE-ME test_") == shown > 0
    assert (f"× {len(failed) - shown} more" in output) == (len(failed) > shown)
    assert "Expected: POST /prefix/signup: 201 (setting up a user for this check)" in output
    assert "Actual: 500" in output
    # The exchanges and tracebacks are in the reports, not on the terminal.
    assert "HTTP exchanges" not in output and "Traceback" not in output and "< 500" not in output
    assert all(test["transcript"].startswith("#1 ") and "< 500" in test["transcript"] for test in failed)
    # One summary line, counting rules; pytest's count of checks is not printed beside it.
    assert output.rstrip().endswith("\n0 passed, 1 failed") and " passed in " not in output


def test_hardening_failure_at_core_is_a_warning_not_an_expected_failure(tmp_path, broken_url):
    returncode, report, output = _report(tmp_path, ["--rule", "HARD-ENUM", "--", "-rN"], broken_url)
    assert returncode == 0, output
    assert "WARN  HARD-ENUM" in output and "xfail" not in output.lower()
    assert "× HARD-ENUM" not in output  # a warning is told in the table, not as a failure


def test_expected_failure_is_xfail_and_does_not_fail_the_run(tmp_path, broken_url):
    (tmp_path / "gaps.txt").write_text("# known gaps\nHARD-ENUM   says which accounts exist\n")
    argv = ["--rule", "HARD-ENUM", "--level", "hardening", "--expect-failures", str(tmp_path / "gaps.txt")]
    returncode, report, output = _report(tmp_path, argv, broken_url)
    assert returncode == 0, output
    rule = report["rules"][0]
    assert rule["outcome"] == "xfail" and "says which accounts exist" in rule["message"]
    assert "XFAIL HARD-ENUM" in output


def test_stale_or_unknown_expectation_fails_the_run(tmp_path, broken_url):
    (tmp_path / "gaps.txt").write_text("CORE-ME  fails here\nHARD-NOPE  typo\n")
    argv = ["--rule", "CORE-ME", "--expect-failures", str(tmp_path / "gaps.txt")]
    returncode, report, output = _report(tmp_path, argv, broken_url)
    assert returncode == 1, output
    assert report["rules"][0]["outcome"] == "xfail"
    assert any("HARD-NOPE" in problem for problem in report["problems"])
    assert "HARD-NOPE" in output


def test_expected_failure_that_was_never_checked_is_noted(tmp_path, broken_url):
    (tmp_path / "gaps.txt").write_text("HARD-IDLE  no idle timeout yet\n")
    argv = ["--rule", "HARD-IDLE", "--level", "hardening", "--expect-failures", str(tmp_path / "gaps.txt")]
    returncode, report, output = _report(tmp_path, argv, broken_url)
    assert returncode == 0, output
    assert report["rules"][0]["outcome"] == "skip"
    assert any("HARD-IDLE" in note and "not checked" in note for note in report["notes"])
    assert "NOTE  --expect-failures lists HARD-IDLE" in output


def test_junit_report_carries_rule_ids_and_lists_warnings_as_skipped(tmp_path, broken_url):
    xml = tmp_path / "junit.xml"
    result = _suite(["--base-url", broken_url, "--rule", "HARD-ENUM", "--junit-xml", str(xml)], tmp_path)
    assert result.returncode == 0
    text = xml.read_text()
    assert '<property name="rule" value="HARD-ENUM" />' in text
    assert "<failure" not in text and "<error" not in text and 'type="pytest.xfail"' in text


# --- the self-started reference server ------------------------------------------------------


def test_suite_starts_the_reference_server_when_asked(tmp_path):
    (tmp_path / "gaps.txt").write_text("CORE-ME  listed although it passes\n")
    path = tmp_path / "report.json"
    argv = ["--start-reference", "--rule", "CORE-ME", "--json-report", str(path)]
    argv += ["--expect-failures", str(tmp_path / "gaps.txt")]
    result = _suite(argv, tmp_path)
    report = json.loads(path.read_text())
    assert report["target"].startswith("http://127.0.0.1:")
    assert report["rules"][0]["outcome"] == "pass", result.stdout + result.stderr
    # Listed as failing but passing: a stale entry fails the run.
    assert result.returncode == 1 and report["exit_code"] == 1
    assert any("stale" in problem for problem in report["problems"])
