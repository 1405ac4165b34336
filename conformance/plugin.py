"""pytest plugin of the conformance suite: options, rule markers, the target, outcomes and reports.

Theory of operation:

1. Every test carries exactly one `@pytest.mark.rule("ID")`; its level comes from
   the ID's prefix (CORE-* is core, HARD-* is hardening, EXT-* is extensions).
2. `--rule` deselects tests of other rules. `--level` deselects only the
   extensions (EXT-*, MAY), which run at level extensions alone: at level core
   the hardening tests still run, and their failures become WARN.
3. A failure that does not count (WARN, or XFAIL from --expect-failures) is turned
   into an xfailed report, so pytest's exit status, its terminal line and JUnit
   all treat it as not-a-failure; the suite keeps the original message.
4. A rule FAILs if any of its tests failed (and it is neither WARN nor XFAIL),
   is ERROR if a test could not check it because a precondition belonging to
   another rule failed (conformance/preconditions.py), is SKIP if all its
   tests skipped, PARTial if some were skipped (the report says which, and
   the option that turns each on), and PASSes otherwise. A check skipped as
   "not applicable" (the Secure flag over plain HTTP) leaves nothing
   unchecked and does not make a rule partial.
5. The run exits 1 when a rule failed or is ERROR, or an --expect-failures
   entry is stale (the rule passed) or names no rule, or, with
   --require-complete, a rule that counts was skipped or partial; 2 when it
   could not run: no target named, target unreachable, or the target does
   not answer like this API.
6. A failed test's "Likely cause" lines come from conformance/diagnoses.py:
   what the test recorded of a known mistake's evidence.

--expect-failures FILE lists the rules an implementation is known to fail, one
per line: the rule ID, whitespace, and the reason (free text). Blank lines and
lines starting with `#` are ignored:

    # my-server 1.4: known gaps
    HARD-CORS      echoes any Origin (issue #12)
    HARD-IDLE      no idle timeout yet
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generator, Iterator

import pytest

from conformance import diagnoses, expect, factories, preconditions, probe, rules
from conformance.options import ENV_BASE_URL, OPTIONS
from conformance.client import AGENTS, Agent, Target

# The reference server is started from the directory holding both packages.
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SERVER_START_TIMEOUT = 20.0
# When the suite starts the reference itself it knows its refresh interval; one
# second keeps the CORE-LAST-ACTIVE and ordering checks to a couple of seconds.
SELF_STARTED_TOUCH_INTERVAL = 1.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "sessions API conformance suite")
    for flags, kwargs in OPTIONS:
        try:
            group.addoption(*flags, **kwargs)
        except ValueError:
            # Another plugin (pytest-base-url) owns the flag: share its value.
            pass


# --- pure pieces: expectations and outcomes -------------------------------------


def parse_expectations(text: str, source: str = "expect-failures") -> tuple[dict[str, str], list[str]]:
    """Return ({rule ID: reason}, [problems]) for an --expect-failures file's text."""
    expected: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        rule_id, _, reason = stripped.partition(" ")
        if "\t" in rule_id:
            rule_id, _, rest = rule_id.partition("\t")
            reason = rest + " " + reason
        rule_id = rule_id.strip().upper()
        reason = reason.strip() or f"listed in {source}"
        if rule_id not in rules.RULES:
            problems.append(f"{source}:{number}: {rule_id!r} names no rule of the contract (see --list-rules)")
            continue
        expected[rule_id] = reason
    return expected, problems


@dataclass
class CheckRecord:
    """What one test did: outcome before conversion, and why."""

    name: str
    rule: str
    outcome: str = "pass"  # pass / fail / precondition / skip, as the target behaved
    message: str = ""
    shown_as: str = "pass"  # pass / fail / error / skip / warn / xfail, as reported
    blamed: str = ""  # the rule a failed precondition belongs to
    causes: list[diagnoses.Diagnosis] = field(default_factory=list)


def rule_outcome(rule_id: str, tests: list[CheckRecord], level: str, expected: dict[str, str]) -> tuple[str, str]:
    """Aggregate a rule's tests into (outcome, message)."""
    failed = [test for test in tests if test.outcome == "fail"]
    if failed:
        first = f"{failed[0].name}: {failed[0].message}"
        if rule_id in expected:
            # The failure first: it is what the reader must check still
            # matches the reason given, and a long reason must not hide it.
            return "xfail", f"{first} [expected: {expected[rule_id]}]"
        if rules.level_of(rule_id) == rules.HARDENING and level == rules.CORE:
            return "warn", first
        return "fail", first
    blocked = [test for test in tests if test.outcome == "precondition"]
    if blocked:
        # Nothing of this rule failed, but not all of it could be checked.
        first = f"{blocked[0].name}: {blocked[0].message}"
        if rule_id in expected:
            return "xfail", f"{first} [expected: {expected[rule_id]}]"
        if rules.level_of(rule_id) == rules.HARDENING and level == rules.CORE:
            return "warn", first
        return "error", first
    ran = [test for test in tests if test.outcome != "skip"]
    if not ran:
        reasons = sorted({test.message for test in tests if test.message})
        return "skip", "; ".join(reasons)
    unchecked = [test for test in tests if test.outcome == "skip" and not test.message.startswith(NOT_APPLICABLE)]
    if unchecked:
        parts = [f"{test.name} skipped: {test.message}" for test in unchecked]
        return "partial", f"partly checked ({len(ran)} of {len(tests)} checks ran): " + "; ".join(parts)
    return "pass", ""


# A check that does not apply to this target (what it checks cannot happen
# here) skips with a reason starting so; nothing is left unchecked by it.
NOT_APPLICABLE = "not applicable"


def counts_as_failure(rule_id: str, level: str, expected: dict[str, str]) -> bool:
    """Whether a failing test of this rule fails the run."""
    if rule_id in expected:
        return False
    return not (rules.level_of(rule_id) == rules.HARDENING and level == rules.CORE)


def summary_line(summary: dict[str, int]) -> str:
    """Return "21 passed, 1 failed, 2 partly checked, 3 skipped"; counts beyond the first two only when non-zero."""
    parts = [f"{summary['passed']} passed", f"{summary['failed']} failed"]
    for key, word in (
        ("errors", "not checked (precondition failed)"),
        ("partial", "partly checked"),
        ("warned", "warned"),
        ("skipped", "skipped"),
        ("xfailed", "expected failures"),
    ):
        if summary.get(key):
            parts.append(f"{summary[key]} {word}")
    return ", ".join(parts)


# --- the run's state --------------------------------------------------------------


@dataclass
class RunState:
    level: str
    selected: list[str]
    expected: dict[str, str]
    problems: list[str]
    json_report: str | None
    require_complete: bool = False
    target: Target | None = None
    server: "ReferenceServer | None" = None
    tests: dict[str, CheckRecord] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    # Worth saying, not failing the run: e.g. an expected failure never checked.
    notes: list[str] = field(default_factory=list)
    exit_code: int | None = None
    # Writes a <property> of the JUnit report's <testsuite> (a no-op without --junit-xml).
    record_suite_property: Any = None


STATE = pytest.StashKey[RunState]()
# Set when the run stops before it began, so that pytest says why only once.
_QUIET_EXIT = pytest.StashKey[bool]()


def _state(config: pytest.Config) -> RunState:
    return config.stash[STATE]


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.option.list_rules:
        print(rules.format_table())
        return 0
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(id): the contract rule (CORE-…, HARD-… or EXT-…) this test checks")
    option = config.option
    level = option.level or rules.CORE
    # pytest's own --strict (strict mode) is read as the suite's --strict too.
    if option.level is None and _pytest_strict(config):
        level = rules.HARDENING
    try:
        selected = rules.select(option.rule, level)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    for spec in option.user:
        email, sep, password = spec.partition(":")
        if not sep or not email or not password:
            raise pytest.UsageError(f"--user expects EMAIL:PASSWORD, got {spec!r}")
    for name in ("idle_timeout", "absolute_timeout", "touch_interval"):
        value = getattr(option, name)
        if value is not None and (value < 0 or (value == 0 and name != "touch_interval")):
            raise pytest.UsageError(f"--{name.replace('_', '-')} must be positive, got {value:g}")
    if option.idle_timeout is not None and option.touch_interval is not None:
        if option.idle_timeout < 2 * option.touch_interval:
            # The contract: idle time is known only to within the refresh interval.
            raise pytest.UsageError("--idle-timeout must be at least twice --touch-interval (see HARD-IDLE)")
    if option.cookie_name is not None and (not option.cookie_name or any(ch in option.cookie_name for ch in "=; ,\t")):
        raise pytest.UsageError(f"--cookie-name {option.cookie_name!r} is not a cookie name")
    expected: dict[str, str] = {}
    problems: list[str] = []
    if option.expect_failures:
        try:
            text = Path(option.expect_failures).read_text(encoding="utf-8")
        except OSError as exc:
            message = f"--expect-failures: cannot read {option.expect_failures}: {exc.strerror}"
            raise pytest.UsageError(message) from None
        expected, problems = parse_expectations(text, option.expect_failures)
    base_url = option.base_url or os.environ.get(ENV_BASE_URL) or None
    if base_url:
        if option.start_reference:
            where = "--base-url" if option.base_url else f"${ENV_BASE_URL}"
            raise pytest.UsageError(f"--start-reference and {where} both name a target: give one")
        try:
            Target(base_url)
        except ValueError as exc:
            raise pytest.UsageError(f"--base-url: {exc}") from None
    config.stash[STATE] = RunState(level, selected, expected, problems, option.json_report, option.require_complete)


def _pytest_strict(config: pytest.Config) -> bool:
    try:
        return config.getini("strict") is True
    except ValueError:
        return False


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None or state.target is None:
        return []
    target = state.target
    return [f"conformance: {target.base_url} (level {state.level}, cookie {target.cookie_name!r})"]


# --- the target -------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if config.option.collectonly or STATE not in config.stash:
        return
    state = _state(config)
    option = config.option
    base_url = option.base_url or os.environ.get(ENV_BASE_URL) or None
    touch_interval = option.touch_interval
    if base_url is None and not option.start_reference:
        # Never a target nobody named: a CI gate whose URL variable is unset
        # must not go green by checking something else.
        _exit_quietly(
            config,
            f"no target: pass --base-url URL (or set {ENV_BASE_URL}) to check a server, "
            "or --start-reference to check the reference server",
        )
    if base_url is None:
        touch_interval = _self_started_touch_interval(option)
        state.server = ReferenceServer(option, touch_interval)
        config.add_cleanup(state.server.stop)
        try:
            base_url = state.server.start()
        except ServerStartError as exc:
            _exit_quietly(config, str(exc))
    target = Target(
        base_url,
        cookie_name=option.cookie_name or "session",
        cookie_name_declared=option.cookie_name is not None,
        https=option.https,
        idle_timeout=option.idle_timeout,
        absolute_timeout=option.absolute_timeout,
        touch_interval=touch_interval,
        users=[tuple(spec.split(":", 1)) for spec in option.user],
    )
    cannot_check = probe.cannot_check(target)
    if cannot_check:
        _exit_quietly(config, cannot_check)
    if not target.cookie_name_declared:
        target.cookie_name = probe.learn_cookie_name(target)
    target.log.clear()
    state.target = target


def _exit_quietly(config: pytest.Config, message: str) -> None:
    """Stop the run with exit status 2 and one line saying why."""
    config.stash[_QUIET_EXIT] = True
    pytest.exit(message, returncode=2)


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # pytest prints an Exit raised before the session began twice (on stderr and
    # as a "!!! Exit: …" banner); one line is what a student should see.
    if config.stash.get(_QUIET_EXIT, False):
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "_keyboardinterrupt_memo"):
            reporter._keyboardinterrupt_memo = None


def _self_started_touch_interval(option: Any) -> float:
    if option.touch_interval is not None:
        return option.touch_interval
    if option.idle_timeout is not None:
        return min(SELF_STARTED_TOUCH_INTERVAL, option.idle_timeout / 2)
    return SELF_STARTED_TOUCH_INTERVAL


class ServerStartError(Exception):
    """The reference server could not be started; the message says why."""


class ReferenceServer:
    """The reference server (python -m impl), started on a free port with a throw-away database.

    It runs with `--scrypt-n 1024` only to keep the self-started run fast: the
    password-hashing cost is not something any rule checks.
    """

    def __init__(self, option: Any, touch_interval: float) -> None:
        self.tmpdir = tempfile.TemporaryDirectory(prefix="conformance-")
        self.args = [
            sys.executable, "-m", "impl",
            "--host", "127.0.0.1",
            "--port", "0",
            "--db", os.path.join(self.tmpdir.name, "sessions.db"),
            "--touch-interval", f"{touch_interval:g}",
            "--scrypt-n", "1024",
        ]  # fmt: skip
        if option.idle_timeout is not None:
            self.args += ["--idle-timeout", f"{option.idle_timeout:g}"]
        if option.absolute_timeout is not None:
            self.args += ["--absolute-timeout", f"{option.absolute_timeout:g}"]
        if option.https:
            # Plain HTTP on the wire, but configured as if behind a TLS proxy:
            # Secure cookies and an https:// own origin, as --https declares.
            self.args.append("--https-cookies")
        self.process: subprocess.Popen[str] | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=30)
        self.stdout_lines: queue.Queue[str | None] = queue.Queue()
        self.pumps: list[threading.Thread] = []

    def start(self) -> str:
        """Start the server and return its URL; raise ServerStartError if it does not listen."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.process = subprocess.Popen(
                self.args,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            raise ServerStartError(f"cannot start the reference server ({' '.join(self.args[:3])}): {exc}") from None
        # Both pipes are drained for the server's whole life: a full pipe
        # would block it (its access log goes to stderr).
        self.pumps = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for pump in self.pumps:
            pump.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                line = self.stdout_lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
                why = f"it printed no `listening on` line within {SERVER_START_TIMEOUT:g} s"
            else:
                why = "it exited before listening"
            if line is not None and line.startswith("listening on "):
                return line.split("listening on ", 1)[1].strip()
            if line is None or time.monotonic() > deadline:
                self.stop()
                tail = "".join(self.stderr_tail).strip()[-2000:]
                message = (
                    f"--start-reference: the reference server did not start ({why}); "
                    f"to check another server pass --base-url URL or set {ENV_BASE_URL}"
                )
                if tail:
                    message += "\n--- its stderr ---\n" + tail
                raise ServerStartError(message)

    def _pump_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout_lines.put(line)
        self.stdout_lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_tail.append(line)

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 5 s) and remove its database."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # The pumps end at end-of-file; closing a pipe under a reading thread would
        # make it fail instead (and lose the stderr tail a start failure shows).
        for pump in self.pumps:
            pump.join(timeout=2)
        if process is not None:
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self.tmpdir.cleanup()


# --- collection ---------------------------------------------------------------------


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    keep, drop = [], []
    for item in items:
        if PACKAGE_DIR not in Path(item.path).resolve().parents:
            # Not a conformance check (another test directory in the same run): leave it alone.
            keep.append(item)
            continue
        markers = list(item.iter_markers("rule"))
        if len(markers) != 1 or len(markers[0].args) != 1 or markers[0].args[0] not in rules.RULES:
            found = ", ".join(repr(m.args) for m in markers) or "none"
            raise pytest.UsageError(f"{item.nodeid}: needs one @pytest.mark.rule(ID) with a known ID, found {found}")
        rule_id = markers[0].args[0]
        if rule_id in state.selected:
            keep.append(item)
            item.user_properties.append(("rule", rule_id))
            item.user_properties.append(("level", rules.level_of(rule_id)))
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _rule_of(item: pytest.Item) -> str:
    return next(item.iter_markers("rule")).args[0]


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """The server under test, as declared by the options."""
    state = _state(request.config)
    if state.target is None:
        pytest.exit("the conformance target was not set up (was the run started with --collect-only?)", returncode=2)
    return state.target


@pytest.fixture(scope="session", autouse=True)
def _junit_rule_outcomes(request: pytest.FixtureRequest, record_testsuite_property: Any) -> None:
    # Kept for the end of the run, when each rule's outcome is known.
    state = request.config.stash.get(STATE, None)
    if state is not None:
        state.record_suite_property = record_testsuite_property


@pytest.fixture(autouse=True)
def _exchange_log(request: pytest.FixtureRequest) -> Iterator[None]:
    # Each check's failure report shows that check's exchanges only. Tests from
    # elsewhere in a mixed run have no target and are left alone.
    if PACKAGE_DIR in Path(request.node.path).resolve().parents:
        request.getfixturevalue("target").log.clear()
        request.getfixturevalue("target").rule = _rule_of(request.node)
        diagnoses.clear()
    yield


@pytest.fixture
def new_device(target: Target) -> Iterator[Any]:
    """Return a factory of fresh, logged-out devices: new_device(agent=None, label=None)."""
    devices = factories.Devices(target)
    yield devices
    devices.close()


@pytest.fixture
def signup_available(target: Target) -> None:
    """Skip the test when the target is run without /signup (--user accounts given)."""
    if not target.signup_available:
        pytest.skip("--user accounts given: the target has no /signup to check")


@pytest.fixture
def own_accounts(target: Target) -> None:
    """Skip the test when the run uses --user accounts: it changes passwords, locks accounts or counts their history."""
    if target.users:
        pytest.skip(
            "needs accounts the suite signs up itself (it changes passwords, locks accounts out or counts "
            "an account's whole history): not run on --user accounts"
        )


@pytest.fixture
def new_user(target: Target, new_device: Any) -> Any:
    """Return a factory of users: new_user() signs up a random account, or hands out a --user account."""
    return factories.user_maker(target, new_device)


@pytest.fixture
def login(new_device: Any) -> Any:
    """Return a factory of logged-in devices: login(user, agent=None, label=None)."""
    return factories.login_maker(new_device)


@pytest.fixture
def suite_level(request: pytest.FixtureRequest) -> str:
    """The level this run checks at: core, hardening or extensions."""
    return _state(request.config).level


@pytest.fixture
def agents() -> list[Agent]:
    """The realistic User-Agents the suite simulates, in a fixed order."""
    return list(AGENTS)


# --- outcomes ---------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash.get(STATE, None)
    if state is None or item.get_closest_marker("rule") is None:
        return report
    rule_id = _rule_of(item)
    record = state.tests.setdefault(item.nodeid, CheckRecord(item.name, rule_id))
    if report.skipped and not hasattr(report, "wasxfail"):
        record.outcome = record.shown_as = "skip"
        record.message = _skip_reason(report)
    elif report.failed:
        blamed = preconditions.blamed_rule(call.excinfo) if report.when == "call" else None
        if blamed is not None and blamed != rule_id and record.outcome != "fail":
            # Not this rule's failure: the check could not be made, blaming `blamed`.
            record.outcome, record.blamed = "precondition", blamed
            record.message = _redact(state, str(call.excinfo.value).strip().splitlines()[0][:400])
        elif record.outcome != "fail":
            record.outcome = "fail"
            message = ("setup: " if report.when == "setup" else "") + _failure_message(report)
            record.message = _redact(state, message)
        if not record.causes:
            record.causes = diagnoses.found()
        _explain(report, item, state, rule_id)
        if record.outcome == "precondition" and counts_as_failure(rule_id, state.level, state.expected):
            record.shown_as = "error"
            # Reported as pytest reports a failed setup: ERROR in its summary, <error> in JUnit.
            report.when = "setup"
        elif counts_as_failure(rule_id, state.level, state.expected):
            record.shown_as = "fail"
        else:
            record.shown_as = "xfail" if rule_id in state.expected else "warn"
            tag = "XFAIL" if rule_id in state.expected else "WARN"
            report.outcome = "skipped"
            report.wasxfail = f"{tag} {rule_id}: {record.message}"
    return report


def _failure_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        # A bare exception (StopIteration, KeyError()) has no message of its own.
        first = crash.message.strip() if crash is not None and crash.message.strip() else "failed"
    head, sep, rest = first.partition(": ")
    if sep and " " not in head and (head.endswith("Error") or head.endswith("Exception") or head == "Failed"):
        first = rest
    return first.strip()[:400]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = longrepr[2]
        return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason
    return str(longrepr or "")


def _explain(report: pytest.TestReport, item: pytest.Item, state: RunState, rule_id: str) -> None:
    """Add the rule's text and the test's HTTP exchanges to a failure report, with tokens shortened.

    The report becomes plain text: pytest's assertion introspection prints the
    values it compared, and a session token must not reach a CI log that way.
    """
    rule = rules.RULES[rule_id]
    text = str(report.longrepr).rstrip()
    for cause in diagnoses.found():
        text += f"\n\nLikely cause: {cause.text}"
    text += f"\n\n--- rule {rule_id} ({rule.level}): {rule.title} ---\n{rule.text}"
    if state.target is not None and state.target.log.items:
        text += "\n\n--- HTTP exchanges of this test (tokens shortened) ---\n"
        text += state.target.log.format(state.target.redact)
    report.longrepr = _redact(state, text)


def _redact(state: RunState, text: str) -> str:
    return state.target.redact(text) if state.target is not None else text


# Before the JUnit plugin's own sessionfinish, which writes the file.
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or session.config.option.collectonly:
        return
    by_rule: dict[str, list[CheckRecord]] = {}
    for record in state.tests.values():
        by_rule.setdefault(record.rule, []).append(record)
    state.results = []
    for rule_id in rules.RULES:
        if rule_id not in by_rule:
            continue
        outcome, message = rule_outcome(rule_id, by_rule[rule_id], state.level, state.expected)
        state.results.append(
            {
                "id": rule_id,
                "level": rules.level_of(rule_id),
                "title": rules.RULES[rule_id].title,
                "outcome": outcome,
                "message": message,
                "tests": [_test_result(test) for test in by_rule[rule_id]],
            }
        )
        _add_blame_and_causes(state.results[-1], by_rule[rule_id])
        if rule_id in state.expected and outcome == "pass":
            state.problems.append(
                f"--expect-failures lists {rule_id} ({state.expected[rule_id]}) but it passed: remove the stale entry"
            )
        elif rule_id in state.expected and outcome in ("skip", "partial"):
            state.notes.append(
                f"--expect-failures lists {rule_id}, but it was not {'fully ' if outcome == 'partial' else ''}"
                f"checked ({message}): nothing is known about that gap"
            )
        elif state.require_complete and outcome in ("skip", "partial") and counts_as_failure(
            rule_id, state.level, state.expected
        ):
            how = "not checked" if outcome == "skip" else "only partly checked"
            state.problems.append(f"--require-complete: {rule_id} was {how}: {message}")
        if state.record_suite_property is not None:
            state.record_suite_property(f"rule {rule_id}", f"{outcome}: {message}" if message else outcome)
    incomplete = [
        result["id"]
        for result in state.results
        if result["outcome"] in ("skip", "partial") and counts_as_failure(result["id"], state.level, state.expected)
    ]
    if incomplete and not state.require_complete:
        state.notes.append(
            f"not fully checked: {', '.join(incomplete)} (see above); --require-complete makes that fail the run"
        )
    if state.require_complete:
        for rule_id in state.selected:
            if rule_id not in by_rule and counts_as_failure(rule_id, state.level, state.expected):
                state.problems.append(f"--require-complete: {rule_id} was not checked: no check of it ran")
    failed = any(result["outcome"] in ("fail", "error") for result in state.results)
    status = int(session.exitstatus)
    if status in (0, 1):
        status = 1 if failed or state.problems else 0
    session.exitstatus = status
    state.exit_code = status if status in (0, 1) else 2
    if state.json_report:
        _write_json_report(state, state.json_report)


def _test_result(test: CheckRecord) -> dict[str, Any]:
    result: dict[str, Any] = {"name": test.name, "outcome": test.shown_as, "message": test.message}
    if test.blamed:
        result["precondition"] = test.blamed
    if test.causes and test.outcome == "fail":
        result["likely_causes"] = [{"id": cause.id, "text": cause.text} for cause in test.causes]
    return result


def _add_blame_and_causes(result: dict[str, Any], tests: list[CheckRecord]) -> None:
    """Name, in a rule's result, the rule blamed for a failed precondition, and the likely causes of its failures."""
    if result["outcome"] in ("error", "warn", "xfail"):
        blamed = next((test.blamed for test in tests if test.outcome == "precondition"), "")
        if blamed and not any(test.outcome == "fail" for test in tests):
            result["precondition"] = blamed
    causes: list[diagnoses.Diagnosis] = []
    for test in tests:
        if test.outcome == "fail":
            causes += [cause for cause in test.causes if cause not in causes]
    if causes:
        result["likely_causes"] = [{"id": cause.id, "text": cause.text} for cause in causes]


def _summary(state: RunState) -> dict[str, int]:
    counts = collections.Counter(result["outcome"] for result in state.results)
    return {
        "passed": counts["pass"],
        "failed": counts["fail"],
        "errors": counts["error"],
        "partial": counts["partial"],
        "warned": counts["warn"],
        "skipped": counts["skip"],
        "xfailed": counts["xfail"],
    }


def _write_json_report(state: RunState, path: str) -> None:
    report = {
        "target": state.target.base_url if state.target is not None else None,
        "level": state.level,
        "rules": state.results,
        "summary": _summary(state),
        "problems": state.problems,
        "notes": state.notes,
        "exit_code": state.exit_code,
    }
    Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.results:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"conformance: {state.target.base_url if state.target else '?'} (level {state.level})")
    width = max(len(result["id"]) for result in state.results)
    marks = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "warn": "WARN", "skip": "SKIP", "xfail": "XFAIL", "partial": "PART"}
    colours = {"pass": "green", "fail": "red", "error": "red", "warn": "yellow", "skip": "yellow", "xfail": "yellow", "partial": "yellow"}
    for result in state.results:
        mark = marks[result["outcome"]]
        write(f"{mark:<5} {result['id']:<{width}}  {result['title']}", **{colours[result["outcome"]]: True})
        if result["message"]:
            message = result["message"]
            write(f"{'':<5} {'':<{width}}  {message if len(message) <= 200 else message[:200] + '…'}")
        for cause in result.get("likely_causes", []):
            write(f"{'':<5} {'':<{width}}  Likely cause: {cause['text']}", bold=True)
    for note in state.notes:
        write(f"NOTE  {note}", yellow=True)
    for problem in state.problems:
        write(f"ERROR {problem}", red=True)
    write(summary_line(_summary(state)), bold=True)
