"""The lesson runner: a student's own server, taken through the lesson "Listing and Revoking Sessions" step by step.

    sessions-conformance lesson --base-url http://localhost:3000
    python -m conformance lesson --base-url http://localhost:3000

Theory of operation:

1. A step is one check of the suite, called as pytest would call it (the
   check functions of conformance/core/, with the makers of factories.py for
   their `new_user`, `login`, `new_device` and `agents`), plus one plain
   sentence saying what it checks. There is no second copy of any check: a
   step fails exactly when that check fails in the suite.
2. Steps run in the lesson's order: sign up, log in and /me; Exercises 1, 2
   and 3; then the lesson's security details. The first failure stops the
   run: later steps build on earlier ones, and one thing to fix at a time is
   what a student can use.
3. Every request of a step is shown as a curl command with the answer it
   got (conformance/curl.py). A failure is written as the suite writes one
   (conformance/failures.py: the rule, what was expected, what came back),
   and its likely cause is the diagnosis the check recorded
   (conformance/diagnoses.py), in the words written for students.
4. Exit status: 0 when every step passed, 1 when one failed, 2 when the
   lesson could not run (no URL, target unreachable or not this API).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import pytest

from conformance import curl, diagnoses, factories, failures, probe
from conformance.client import AGENTS, Target
from conformance.core import test_core_ex1, test_core_ex2, test_core_ex3, test_core_list, test_core_login
from conformance.core import test_core_me, test_core_revoke, test_core_revoke_all, test_core_signup
from conformance.options import ENV_BASE_URL


@dataclass(frozen=True)
class Step:
    """One step of the lesson: the part it belongs to, what it checks in one sentence, and the suite's check."""

    part: str
    checks: str
    check: Callable[..., None]

    @property
    def rule(self) -> str:
        return rule_of(self.check)


BASICS = "The endpoints the exercises need: sign up, log in, who am I"
EX1 = "Exercise 1: one account, two devices"
EX2 = "Exercise 2: revoke one device from the other"
EX3 = "Exercise 3: sign out everywhere else"
SECURITY = "The lesson's security details"

STEPS: tuple[Step, ...] = (
    Step(BASICS, "POST /signup creates an account and answers 201 with its id and email.",
         test_core_signup.test_signup_answers_201_with_id_and_email),
    Step(BASICS, "POST /login answers 200 with a session cookie, and GET /me accepts that cookie.",
         test_core_login.test_login_answers_200_and_sets_session_cookie),
    Step(BASICS, "GET /me without any cookie answers 401: nobody is signed in.",
         test_core_me.test_me_without_cookie_gets_401),
    Step(BASICS, "With two users signed in, GET /me names the user whose cookie asks, each time.",
         test_core_me.test_me_answers_for_each_sessions_own_user),
    Step(EX1, "GET /me/sessions lists only your own sessions: another user's are never in it.",
         test_core_list.test_list_never_shows_another_users_sessions),
    Step(EX1, "Two logins from two different browsers list two sessions with different device names, "
         "exactly one of them marked current (the one asking).",
         test_core_ex1.test_ex1_two_user_agents_list_two_named_sessions),
    Step(EX2, "One browser revokes the other's session; from that moment the revoked cookie gets 401.",
         test_core_ex2.test_ex2_revoke_one_then_its_cookie_gets_401),
    Step(EX3, "With three sessions, \"sign out everywhere else\" from the middle one: it keeps working, "
         "the other two get 401.",
         test_core_ex3.test_ex3_revoke_all_from_one_of_three_sessions),
    Step(SECURITY, "DELETE of your own current session is refused with 400 (ending it is what POST /logout "
         "is for), and nothing is revoked.",
         test_core_revoke.test_revoking_current_session_gets_400_and_revokes_nothing),
    Step(SECURITY, "Another user's session id gets the same 404 as an id that does not exist, and that "
         "session goes on.",
         test_core_revoke.test_foreign_session_id_gets_same_404_as_unknown_id),
    Step(SECURITY, "After \"sign out everywhere else\" your own session still works, and the list holds only it.",
         test_core_revoke_all.test_revoke_all_leaves_only_the_current_session_listed),
)

NEXT_STEPS = """\
What to try next:
  - The hardening level: what a security review expects on top of the lesson (cookie flags, requests
    from other sites, idle and absolute timeouts, password guessing...), rule by rule:
        {prog} --base-url {url} --level hardening
  - The page: a "Where am I logged in?" page over your API, as GitHub's and Google's security pages
    have. The reference server's page shows one (python run_server.py, then http://127.0.0.1:3000/)."""


def rule_of(check: Callable[..., Any]) -> str:
    """Return the rule ID a check is marked with, on the function or on its module."""
    marks = list(getattr(check, "pytestmark", []))
    module_marks = getattr(sys.modules[check.__module__], "pytestmark", [])
    marks += module_marks if isinstance(module_marks, list) else [module_marks]
    for mark in marks:
        if mark.name == "rule":
            return str(mark.args[0])
    raise ValueError(f"{check.__name__} carries no rule mark")


@dataclass
class Outcome:
    """What one step did: passed or not, the failure message, and the diagnoses its check recorded."""

    passed: bool
    failure: failures.FailedCheck | None = None

    @property
    def causes(self) -> tuple[diagnoses.Diagnosis, ...]:
        return tuple(self.failure.causes) if self.failure else ()


def run_step(step: Step, target: Target) -> Outcome:
    """Call the step's check with fresh makers; the exchanges stay in target.log."""
    target.log.clear()
    target.rule = step.rule
    diagnoses.clear()
    devices = factories.Devices(target)
    available = {
        "target": target,
        "new_device": devices,
        "new_user": factories.user_maker(target, devices),
        "login": factories.login_maker(devices),
        "agents": list(AGENTS),
    }
    arguments = {name: available[name] for name in inspect.signature(step.check).parameters}
    try:
        step.check(**arguments)
    except (AssertionError, pytest.skip.Exception) as exc:
        return Outcome(False, failures.from_exception(step.rule, step.check.__name__, exc, diagnoses.found()))
    except Exception as exc:
        # An answer the check could not even read (a field of the wrong type, say): the step
        # failed on it, and a student needs the step's requests more than a traceback.
        unreadable = AssertionError(f"the check could not read an answer: {type(exc).__name__}: {exc}")
        return Outcome(False, failures.from_exception(step.rule, step.check.__name__, unreadable, diagnoses.found()))
    finally:
        devices.close()
    return Outcome(True)


class Painter:
    """ANSI colours on a terminal only (and never with --no-color or NO_COLOR set)."""

    CODES = {"pass": "32", "fail": "31;1", "title": "1", "dim": "2", "hint": "33"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, kind: str, text: str) -> str:
        return f"\033[{self.CODES[kind]}m{text}\033[0m" if self.enabled else text


def failure_lines(failure: failures.FailedCheck) -> list[str]:
    """Return how a failed step reads: the suite's own lines (rule, expected, actual), the hint in a student's words."""
    student = [dataclasses.replace(cause, text=cause.for_student) for cause in failure.causes]
    lines = failures.render(dataclasses.replace(failure, causes=student))
    if not student:
        lines.append(
            f"{failures.INDENT}No known mistake matches what came back: compare the answers above with the rule "
            f"{failure.rule} in docs/sessions-api.md."
        )
    return lines


def wrapped(text: str, indent: str, hanging: str | None = None, width: int = 100) -> list[str]:
    """Return `text` wrapped to `width`, the first line indented by `indent`, the others by `hanging` (default the same)."""
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent if hanging is None else hanging) or [indent]


class Lesson:
    """One run of the lesson against a target, writing to `out`."""

    def __init__(self, target: Target, out: TextIO, paint: Painter, prog: str) -> None:
        self.target, self.out, self.paint, self.prog = target, out, paint, prog
        # The step that failed and how, once run() has stopped at it.
        self.failed: tuple[Step, Outcome] | None = None

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def run(self, steps: tuple[Step, ...] = STEPS) -> int:
        self.say(self.paint("title", f"The lesson \"Listing and Revoking Sessions\", against {self.target.base_url}"))
        for line in wrapped(
            "Each step says what it checks, then shows every request it sent as a curl command and the answer it "
            "got. Each browser keeps its cookie in a file named after it (-c saves, -b sends): paste the commands "
            "in order, in an empty folder, to replay a step yourself.",
            "",
        ):
            self.say(line)
        part = None
        passed_parts: list[str] = []
        for number, step in enumerate(steps, 1):
            if step.part != part:
                if part is not None:
                    passed_parts.append(part)
                part = step.part
                self.say()
                self.say(self.paint("title", part))
            self.say()
            for line in wrapped(step.checks, f"{number:>2}/{len(steps)}  ", " " * 7):
                self.say(line)
            outcome = run_step(step, self.target)
            for exchange in self.target.log.items:
                self.say(self.paint("dim", "    $ ") + curl.command(exchange, self.target))
                self.say(self.paint("dim", "      → ") + curl.answer(exchange))
            if outcome.passed:
                self.say("    " + self.paint("pass", "PASSED"))
                continue
            self.failed = (step, outcome)
            self.say("    " + self.paint("fail", "FAILED"))
            assert outcome.failure is not None
            for line in failure_lines(outcome.failure):
                # A continued line lines up under the text after its label ("Likely cause: ...").
                body = line.lstrip()
                label = re.match(r"(Expected|  Actual|Actual|Failed|Likely cause): ", body)
                indent = "    " + " " * (len(line) - len(body))
                hanging = indent + " " * (len(label.group(0)) if label else 2)
                hint = body.startswith("Likely cause:")
                for text in wrapped(body, indent, hanging):
                    self.say(self.paint("hint", text) if hint else text)
            self.ending(passed_parts, step, len(steps) - number)
            return 1
        passed_parts.append(part or "")
        self.ending(passed_parts, None, 0)
        return 0

    def ending(self, passed_parts: list[str], failed: Step | None, not_run: int) -> None:
        self.say()
        if passed_parts:
            self.say(self.paint("title", "What you have shown:"))
            for part in passed_parts:
                self.say(f"  - {part}")
        if failed is not None:
            self.say(self.paint("title", "Not yet:"))
            later = f"; the {not_run} step{'s' if not_run != 1 else ''} after it did not run" if not_run else ""
            self.say(f"  - {failed.part} (step failed{later})")
            self.say()
            self.say("Fix it, restart your server, and run the same command again:")
            self.say(f"    {self.prog} --base-url {self.target.base_url}")
            return
        self.say()
        self.say(self.paint("pass", "Every step of the lesson passed."))
        self.say(NEXT_STEPS.format(prog=self.prog.removesuffix(" lesson"), url=self.target.base_url))


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Take your server through the lesson \"Listing and Revoking Sessions\", step by step: "
        "what each step checks, the requests as curl commands, and a hint at the first failure.",
        epilog=f"exit status: 0 every step passed, 1 a step failed, 2 the lesson could not run.\n"
        f"example: {prog} --base-url http://localhost:3000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base-url", metavar="URL", default=None,
                        help=f"your server, path prefix allowed (default: ${ENV_BASE_URL})")
    parser.add_argument("--cookie-name", metavar="NAME", default=None,
                        help="the session cookie's name; default: learnt from a first login, else `session`")
    parser.add_argument("--no-color", action="store_true", help="no colours, even on a terminal")
    return parser


def open_target(base_url: str, cookie_name: str | None = None) -> Target | str:
    """Return the target, ready for the lesson, or why the lesson cannot run against it."""
    try:
        target = Target(base_url, cookie_name=cookie_name or "session", cookie_name_declared=cookie_name is not None)
    except ValueError as exc:
        return str(exc)
    cannot = probe.cannot_check(target)
    if cannot:
        return cannot
    if not target.cookie_name_declared:
        target.cookie_name = probe.learn_cookie_name(target)
    return target


def main(argv: list[str], prog: str = "sessions-conformance lesson", out: TextIO | None = None) -> int:
    """Run the lesson; return 0 (every step passed), 1 (a step failed) or 2 (could not run)."""
    out = sys.stdout if out is None else out
    parser = build_parser(prog)
    try:
        options = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    base_url = options.base_url or os.environ.get(ENV_BASE_URL)
    if not base_url:
        print(f"{prog}: no server named: pass --base-url URL (e.g. --base-url http://localhost:3000)", file=sys.stderr)
        return 2
    target = open_target(base_url, options.cookie_name)
    if isinstance(target, str):
        print(f"{prog}: {target}", file=sys.stderr)
        return 2
    colour = not options.no_color and not os.environ.get("NO_COLOR") and out.isatty()
    return Lesson(target, out, Painter(colour), prog).run()
