"""The suite never passes by mistake: a gate that passes by mistake is the worst bug.

- No target named means no run: exit 2 and one line, never a green check of
  something nobody asked for. The reference is checked only on --start-reference.
- A rule some of whose checks were skipped is PART (partly checked), never a
  plain PASS, in the table, the JSON report and the JUnit report; and
  --require-complete makes such a rule fail the run.
- A target that is not this API (a static file server, the wrong prefix), or
  whose TLS handshake fails, is exit 2 and one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from impl import Config, create_app

from .broken_servers import is_call, rewrite_responses, serving
from .conftest import FAST

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "conformance"


def _run(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("CONFORMANCE_BASE_URL", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def _suite(argv: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return _run(["-m", "conformance", *argv], cwd, **kwargs)


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


@pytest.fixture(scope="module")
def reference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference app over HTTP, its lastActiveAt refreshed at the default 60 s (not declared to the suite)."""
    db = tmp_path_factory.mktemp("reference") / "sessions.db"
    with serving(create_app(Config(db=str(db), **FAST))) as url:
        yield url


@pytest.fixture(scope="module")
def no_current_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference app, except that its session list marks no session as current."""

    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "GET", "/me/sessions") and status.startswith("200"):
            entries = [{**entry, "isCurrent": False} for entry in json.loads(body)]
            body = json.dumps(entries).encode()
        return status, headers, body

    db = tmp_path_factory.mktemp("no-current") / "sessions.db"
    with serving(rewrite_responses(create_app(Config(db=str(db), **FAST)), edit)) as url:
        yield url


@pytest.fixture(scope="module")
def static_files_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """What `python3 -m http.server` serves: HTML listings, 404 pages, 501 to POST."""
    folder = tmp_path_factory.mktemp("static")
    (folder / "index.html").write_text("<html><body>hello</body></html>")
    handler = partial(_QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


# --- 1. no target, no run ---------------------------------------------------------------


def test_no_target_exits_2_with_one_line_saying_what_to_set(tmp_path):
    result = _suite([], tmp_path)
    lines = _lines(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert "--base-url" in lines[0] and "CONFORMANCE_BASE_URL" in lines[0] and "--start-reference" in lines[0]


def test_no_target_under_plain_pytest_exits_2(tmp_path):
    result = _run(["-m", "pytest", str(SUITE)], tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no target" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_start_reference_and_a_base_url_from_the_environment_exit_2(tmp_path):
    result = _suite(["--start-reference"], tmp_path, env_extra={"CONFORMANCE_BASE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert "both name a target" in result.stdout + result.stderr


# --- 3. not this API, or no TLS: one line, exit 2 -------------------------------------------


def test_static_file_server_is_not_the_api_exit_2_in_one_line(tmp_path, static_files_url):
    result = _suite(["--base-url", static_files_url], tmp_path)
    lines = _lines(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert "does not answer like the sessions API" in lines[0] and "POST /login answered 501" in lines[0]


def test_wrong_path_prefix_is_not_the_api_exit_2_in_one_line(tmp_path, reference_url):
    result = _suite(["--base-url", reference_url + "/api"], tmp_path)
    lines = _lines(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert "POST /login answered 404" in lines[0] and "path prefix" in lines[0]


def test_https_url_for_a_plain_http_server_exits_2_in_one_line(tmp_path, reference_url):
    url = reference_url.replace("http://", "https://")
    result = _suite(["--base-url", url], tmp_path)
    lines = _lines(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert f"cannot reach {url}/: TLS handshake failed" in lines[0] and "try http://" in lines[0]
    assert "INTERNALERROR" not in result.stdout + result.stderr


# --- 2. partly checked is not PASS ------------------------------------------------------------


def _report_run(tmp_path: Path, url: str, argv: list[str]) -> tuple[subprocess.CompletedProcess[str], dict, str]:
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    result = _suite(["--base-url", url, "--json-report", str(report), "--junit-xml", str(junit), *argv], tmp_path)
    return result, json.loads(report.read_text()), junit.read_text()


def test_rule_with_skipped_checks_is_partly_checked_everywhere(tmp_path, reference_url):
    result, report, junit = _report_run(tmp_path, reference_url, ["--rule", "CORE-LAST-ACTIVE"])
    assert result.returncode == 0, result.stdout + result.stderr
    [rule] = report["rules"]
    assert rule["outcome"] == "partial"
    assert "test_last_active_moves_forward_after_touch_interval skipped" in rule["message"]
    assert "--touch-interval" in rule["message"]
    assert report["summary"]["partial"] == 1 and report["summary"]["passed"] == 0
    assert "PART  CORE-LAST-ACTIVE" in result.stdout and "PASS  CORE-LAST-ACTIVE" not in result.stdout
    assert "0 passed, 0 failed, 1 partly checked" in result.stdout
    assert '<property name="rule CORE-LAST-ACTIVE" value="partial: partly checked' in junit
    assert "NOTE  not fully checked: CORE-LAST-ACTIVE (see above); --require-complete makes" in result.stdout


def test_require_complete_fails_a_partly_checked_rule(tmp_path, reference_url):
    result, report, _ = _report_run(tmp_path, reference_url, ["--rule", "CORE-LAST-ACTIVE", "--require-complete"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["exit_code"] == 1
    assert any(p.startswith("--require-complete: CORE-LAST-ACTIVE was only partly checked") for p in report["problems"])


def test_require_complete_fails_a_hardening_rule_never_checked(tmp_path, reference_url):
    argv = ["--rule", "HARD-IDLE", "--level", "hardening"]
    result, report, junit = _report_run(tmp_path, reference_url, argv)
    assert result.returncode == 0 and report["rules"][0]["outcome"] == "skip"
    assert '<property name="rule HARD-IDLE" value="skip: declare' in junit
    result, report, _ = _report_run(tmp_path, reference_url, [*argv, "--require-complete"])
    assert result.returncode == 1
    assert any("HARD-IDLE was not checked" in problem for problem in report["problems"])


def test_secure_flag_check_over_plain_http_leaves_hard_cookie_complete(tmp_path, reference_url):
    # Over plain HTTP there is no Secure flag to check: not applicable, nothing left unchecked.
    result, report, _ = _report_run(tmp_path, reference_url, ["--rule", "HARD-COOKIE", "--require-complete"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["rules"][0]["outcome"] == "pass"


# --- 7 (small items): messages instead of StopIteration; the User-Agent each request carried ---


def test_list_without_a_current_session_fails_with_messages_not_stopiteration(tmp_path, no_current_url):
    result, report, _ = _report_run(tmp_path, no_current_url, ["--rule", "CORE-LIST"])
    assert result.returncode == 1
    tests = report["rules"][0]["tests"]
    device_name_tests = [t for t in tests if t["name"].startswith(("test_device_name", "test_list_ip", "test_list_t"))]
    assert len(device_name_tests) >= 4
    for test in device_name_tests:
        assert test["outcome"] == "fail", test
        assert "isCurrent" in test["message"] and "StopIteration" not in test["message"], test


def test_transcript_shows_the_user_agent_each_request_carried(tmp_path, no_current_url):
    argv = ["--rule", "CORE-LIST", "-v", "--", "-k", "unknown_agent"]
    result, _, _ = _report_run(tmp_path, no_current_url, argv)
    output = result.stdout
    # Logged under a device label ("chrome-mac #3"), these logins carried other User-Agents.
    assert "> User-Agent: zq-probe/0.0 (qwerty)" in output, output[-3000:]
    assert "> User-Agent: (none sent)" in output, output[-3000:]
