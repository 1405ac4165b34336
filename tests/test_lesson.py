"""The lesson runner (`python -m conformance lesson`) stops at the right step, with a hint naming the actual defect.

Every broken server of tests/broken_servers.py whose bug the lesson covers
(its steps: sign up, log in, /me, the three exercises, the security details)
is served, and the runner goes through the lesson on it: it must stop at the
step that checks that bug, and its hint must be the diagnosis of that very
bug. The reference and examples/node-server, which get the lesson right,
must go through every step. Each run takes about a second: the runner stops
at the first failure.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import curl, diagnoses, lesson
from conformance.client import Exchange, Target
from conformance.server_process import ServerProcess

from .broken_servers import CONTROL, VARIANTS, serving

ROOT = Path(__file__).resolve().parent.parent

# Variant -> (the check of the step the runner must stop at, the diagnosis its hint must give).
STOPS_AT: dict[str, tuple[str, str]] = {
    "me-guest-without-cookie": ("test_me_without_cookie_gets_401", "me-without-session"),
    "me-answers-last-login": ("test_me_answers_for_each_sessions_own_user", "me-wrong-user"),
    "list-every-users-sessions": ("test_list_never_shows_another_users_sessions", "foreign-sessions"),
    "device-name-constant": ("test_ex1_two_user_agents_list_two_named_sessions", "device-names-alike"),
    "revoke-only-unlists": ("test_ex2_revoke_one_then_its_cookie_gets_401", "second-copy"),
    "auth-cache-survives-revoke": ("test_ex2_revoke_one_then_its_cookie_gets_401", "second-copy"),
    "cache-after-use-survives-revoke": ("test_ex2_revoke_one_then_its_cookie_gets_401", "second-copy"),
    "revoke-all-clears-list-only": ("test_ex3_revoke_all_from_one_of_three_sessions", "second-copy"),
    "cache-after-use-survives-revoke-all": ("test_ex3_revoke_all_from_one_of_three_sessions", "second-copy"),
    "revoke-all-keeps-newest-other": ("test_ex3_revoke_all_from_one_of_three_sessions", "revoke-all-misses-some"),
    "revoke-all-ends-current": ("test_ex3_revoke_all_from_one_of_three_sessions", "revoke-all-ends-current"),
    "revoke-current-allowed": ("test_revoking_current_session_gets_400_and_revokes_nothing", "revoke-current-allowed"),
    "revoke-idor": ("test_foreign_session_id_gets_same_404_as_unknown_id", "revoke-ignores-owner"),
    "revoke-foreign-403": ("test_foreign_session_id_gets_same_404_as_unknown_id", "revoke-foreign-tells"),
    "revoke-unknown-200": ("test_foreign_session_id_gets_same_404_as_unknown_id", "revoke-unknown-200"),
}
# Rules whose every broken server is the lesson's business: an exercise is a bug the lesson is about.
LESSON_RULES = {"CORE-EX1", "CORE-EX2", "CORE-EX3"}
VARIANTS_BY_ID = {variant.id: variant for variant in VARIANTS}


def run_lesson(base_url: str) -> tuple[int, lesson.Lesson, str]:
    """Go through the lesson against `base_url` in this process; return the exit code, the run and its output."""
    target = lesson.open_target(base_url)
    assert not isinstance(target, str), target
    out = io.StringIO()
    run = lesson.Lesson(target, out, lesson.Painter(False), "sessions-conformance lesson")
    return run.run(), run, out.getvalue()


@pytest.fixture(scope="module")
def quiet_impl() -> Iterator[None]:
    # Some variants crash on purpose; their answers say so, the test log need not.
    logger = logging.getLogger("impl")
    was = logger.disabled
    logger.disabled = True
    yield
    logger.disabled = was


@pytest.mark.parametrize("variant_id", sorted(STOPS_AT))
def test_runner_stops_at_the_step_of_the_bug_with_its_hint(variant_id, tmp_path, quiet_impl):
    check, diagnosis_id = STOPS_AT[variant_id]
    with serving(VARIANTS_BY_ID[variant_id].app(str(tmp_path / "s.db"))) as url:
        code, run, output = run_lesson(url)
    assert code == 1, output
    assert run.failed is not None
    step, outcome = run.failed
    assert step.check.__name__ == check, f"stopped at {step.check.__name__}, not {check}:\n{output}"
    assert [cause.id for cause in outcome.causes] == [diagnosis_id], output
    assert "Likely cause: " + diagnoses.BY_ID[diagnosis_id].for_student[:60] in " ".join(output.split()), output


def test_every_broken_exercise_is_in_the_lessons_scope():
    breaking_an_exercise = {v.id for v in VARIANTS if LESSON_RULES & set(v.breaks)}
    assert breaking_an_exercise <= set(STOPS_AT)
    assert set(STOPS_AT) <= set(VARIANTS_BY_ID)


def test_every_step_is_a_check_of_the_suite_and_the_lesson_order_holds():
    parts = [step.part for step in lesson.STEPS]
    order = [lesson.BASICS, lesson.EX1, lesson.EX2, lesson.EX3, lesson.SECURITY]
    assert sorted(set(parts), key=order.index) == order
    assert parts == sorted(parts, key=order.index)
    for step in lesson.STEPS:
        assert step.check.__module__.startswith("conformance.core.test_core_"), step.check
        assert step.rule.startswith("CORE-")


def test_reference_passes_every_step(tmp_path, quiet_impl):
    with serving(CONTROL.app(str(tmp_path / "s.db"))) as url:
        code, run, output = run_lesson(url)
    assert code == 0 and run.failed is None, output
    assert "Every step of the lesson passed." in output
    assert output.count("PASSED") == len(lesson.STEPS)


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: cannot run examples/node-server")
def test_node_server_passes_every_step(tmp_path):
    argv = [NODE, ROOT / "examples" / "node-server" / "server.js", "--port", "0", "--scrypt-cost", "1024"]
    with ServerProcess(argv, name="the Node server", stderr=tmp_path / "stderr.log") as server:
        code, run, output = run_lesson(server.url)
    assert code == 0 and run.failed is None, output


def test_cli_refuses_to_run_without_a_server(monkeypatch):
    monkeypatch.delenv("CONFORMANCE_BASE_URL", raising=False)
    proc = subprocess.run([sys.executable, "-m", "conformance", "lesson"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--base-url" in proc.stderr


def test_cli_says_when_the_server_is_not_there():
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "lesson", "--base-url", "http://127.0.0.1:9"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "cannot reach http://127.0.0.1:9/" in proc.stderr, proc.stderr


class Terminal(io.StringIO):
    """An output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_colours_only_on_a_terminal_and_never_with_no_color(tmp_path, quiet_impl):
    with serving(VARIANTS_BY_ID["me-guest-without-cookie"].app(str(tmp_path / "s.db"))) as url:
        outputs = {}
        for name, out, flags in [
            ("pipe", io.StringIO(), []),
            ("terminal", Terminal(), []),
            ("no-color", Terminal(), ["--no-color"]),
        ]:
            assert lesson.main(["--base-url", url, *flags], out=out) == 1
            outputs[name] = out.getvalue()
    assert "\033[" not in outputs["pipe"] and "\033[" not in outputs["no-color"]
    assert "\033[31;1mFAILED\033[0m" in outputs["terminal"]


def test_each_exchange_reads_as_a_curl_command_a_person_can_paste():
    target = Target("http://127.0.0.1:3002/api")
    login = Exchange("chrome-macos #3", "POST", "/api/login", [("Content-Type", "application/json")], "",
                     status=200, url="http://127.0.0.1:3002/api/login", sent_body='{"email": "a@b.co", "password": "it\'s"}',
                     user_agent="Mozilla/5.0 (X)", cookie="none", kept_cookie=True, received_body='{"message":"Logged in."}')
    assert curl.command(login, target) == (
        "curl -s -c chrome-macos-3.txt -A 'Mozilla/5.0 (X)' -X POST http://127.0.0.1:3002/api/login "
        "-H 'Content-Type: application/json' -d '{\"email\": \"a@b.co\", \"password\": \"it'\"'\"'s\"}'"
    )
    assert curl.answer(login) == '200 {"message":"Logged in."}   (set the session cookie, saved in chrome-macos-3.txt)'
    me = Exchange("chrome-macos #3", "GET", "/api/me", [], "", status=401, url="http://127.0.0.1:3002/api/me",
                  cookie="jar", response_body='{"error":"Not authenticated."}')
    assert curl.command(me, target) == "curl -s -b chrome-macos-3.txt http://127.0.0.1:3002/api/me"
    made_up = Exchange("firefox-windows #4", "GET", "/api/me", [], "", url="http://127.0.0.1:3002/api/me",
                       cookie="garbage", error="connection refused")
    assert curl.command(made_up, target) == "curl -s -b session=garbage http://127.0.0.1:3002/api/me"
    assert curl.answer(made_up) == "no answer: connection refused"
