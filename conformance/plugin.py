"""pytest plugin of the conformance suite: the hooks, and only the hooks.

Each concern lives in its own module, which these hooks call:

- options.py: the command-line options; state.py: the run's state, built from
  them (a bad option is a usage error, exit 2);
- rules.py: the rule table; every check carries exactly one
  `@pytest.mark.rule("ID")`, its level is the ID's prefix;
- probe.py: reaching the target (shared with the lesson runner); reference.py:
  --start-reference;
- fixtures.py: what the checks use (registered below), made by factories.py;
- outcomes.py: what each check did, how a failure counts (FAIL, WARN for a
  hardening rule at level core, XFAIL when --expect-failures lists it:
  expectations.py) and each rule's verdict;
- recording.py: what pytest's report of a check says, kept as its record;
- failures.py and reports.py: the terminal, JSON and JUnit reports.

Selection: `--rule` deselects checks of other rules; `--level` deselects only
the extensions (EXT-*), which run at level extensions alone: at level core the
hardening checks still run, and their failures show as WARN.

A failure that does not count (WARN, or XFAIL) becomes an xfailed report, so
pytest's exit status and JUnit treat it as not-a-failure; the suite keeps the
original message. The run exits 1 when a rule failed or is ERROR, or an
--expect-failures entry is stale or names no rule, or, with
--require-complete, a rule that counts was not fully checked; 2 when it could
not run (no target named, target unreachable or not this API).
"""

from __future__ import annotations

from typing import Any, Generator

import pytest

from conformance import recording, reports, rules
from conformance.client import Target
from conformance.options import ENV_BASE_URL, OPTIONS
from conformance.outcomes import judge
from conformance.probe import cannot_check, learn_cookie_name
from conformance.reference import ReferenceServer, ServerStartError, touch_interval_for
from conformance.state import STATE, base_url_of, from_options, is_check, state_of

pytest_plugins = ["conformance.fixtures"]

# Set when the run stops before it began, so that pytest says why only once.
_QUIET_EXIT = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "sessions API conformance suite")
    for flags, kwargs in OPTIONS:
        try:
            group.addoption(*flags, **kwargs)
        except ValueError:
            # Another plugin (pytest-base-url) owns the flag: share its value.
            pass


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.option.list_rules:
        print(rules.format_table())
        return 0
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(id): the contract rule (CORE-…, HARD-… or EXT-…) this test checks")
    state = from_options(config)
    if state.concise:
        # The failure reports (JUnit's, -v's) keep pytest's short traceback;
        # the terminal gets the suite's own failure lines (reports.py).
        config.option.tbstyle = "short"
    config.stash[STATE] = state


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None or state.target is None:
        return []
    target = state.target
    return [f"conformance: {target.base_url} (level {state.level}, cookie {target.cookie_name!r})"]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if config.option.collectonly or STATE not in config.stash:
        return
    state, option = state_of(config), config.option
    base_url = base_url_of(option)
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
        touch_interval = touch_interval_for(option)
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
    why_not = cannot_check(target)
    if why_not:
        _exit_quietly(config, why_not)
    if not target.cookie_name_declared:
        target.cookie_name = learn_cookie_name(target)
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


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = state_of(config)
    keep, drop = [], []
    for item in items:
        if not is_check(item):
            # Not a conformance check (another test directory in the same run): leave it alone.
            keep.append(item)
            state.only_checks = False
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash.get(STATE, None)
    if state is not None and item.get_closest_marker("rule") is not None:
        recording.record(state, item, call, report)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    # A hardening failure at level core is a warning, not an expected failure:
    # pytest's own counts and -v lines say so ("warned", w, WARN).
    if str(getattr(report, "wasxfail", "")).startswith("WARN "):
        return "warned", "w", "WARN"
    return None


# Before the JUnit plugin's own sessionfinish, which writes the file.
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or config.option.collectonly:
        return
    verdicts = judge(state.tests.values(), state.level, state.expected, state.selected, state.require_complete)
    state.results = verdicts.results
    state.problems += verdicts.problems
    state.notes += verdicts.notes
    # --explore's EXPLORE line joins the rules' verdicts (conformance/explore/plugin.py; registered by conftest.py).
    from conformance.explore import plugin as explore

    verdicts.results += explore.results(config, state)
    reports.record_junit_properties(state)
    status = int(session.exitstatus)
    if status in (0, 1):
        status = 1 if verdicts.failed or state.problems else 0
    session.exitstatus = status
    state.exit_code = status if status in (0, 1) else 2
    if state.json_report:
        reports.write_json(state, state.json_report)
    if state.concise:
        # From here on pytest writes no tracebacks of its own: the suite's
        # failure lines (pytest_terminal_summary) say each failure once.
        config.option.tbstyle = "no"
        if state.only_checks:
            # Nor its count of checks, which would contradict the suite's
            # count of rules: one summary line, the suite's.
            config.option.verbose = min(config.option.verbose, -2)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if state.concise:
        failed = terminalreporter.stats.get("failed", []) + terminalreporter.stats.get("error", [])
        others = [report for report in failed if report.nodeid not in state.tests]
        reports.write_failures(terminalreporter, state, others)
        if state.only_checks:
            # pytest's "short test summary" would list the failed checks a third time.
            terminalreporter.reportchars = ""
    if state.results:
        reports.write_table(terminalreporter, state)
