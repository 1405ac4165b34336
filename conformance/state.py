"""The run's state: what the options asked for, the target, and what each check did; kept in pytest's stash.

`from_options` validates the options (a bad one is a usage error, exit 2,
before anything is sent to a target) and builds the RunState every hook and
fixture reads through `state_of`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance import rules
from conformance.client import Target
from conformance.expectations import read_expectations
from conformance.options import ENV_BASE_URL
from conformance.outcomes import CheckRecord

# The folder of the suite's checks; tests elsewhere in a mixed run are left alone.
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class RunState:
    level: str
    selected: list[str]
    expected: dict[str, str]
    problems: list[str]
    json_report: str | None
    require_complete: bool = False
    target: Target | None = None
    server: Any = None  # the ReferenceServer, with --start-reference
    tests: dict[str, CheckRecord] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    # Worth saying, not failing the run: e.g. an expected failure never checked.
    notes: list[str] = field(default_factory=list)
    exit_code: int | None = None
    # Writes a <property> of the JUnit report's <testsuite> (a no-op without --junit-xml).
    record_suite_property: Any = None
    # Failures are written by the suite (conformance/failures.py), not as pytest tracebacks.
    concise: bool = True
    # False when the run holds tests that are no check of the suite (a mixed run).
    only_checks: bool = True


STATE = pytest.StashKey[RunState]()


def state_of(config: pytest.Config) -> RunState:
    return config.stash[STATE]


def is_check(item: pytest.Item | pytest.FixtureRequest) -> bool:
    """Whether a test (or a fixture's requester) is one of the suite's checks."""
    node = getattr(item, "node", item)
    return PACKAGE_DIR in Path(node.path).resolve().parents


def rule_of(item: pytest.Item) -> str:
    return next(item.iter_markers("rule")).args[0]


def base_url_of(option: Any) -> str | None:
    return option.base_url or os.environ.get(ENV_BASE_URL) or None


def from_options(config: pytest.Config) -> RunState:
    """Validate the suite's options and return the run's state; raise pytest.UsageError on a bad one."""
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
            expected, problems = read_expectations(option.expect_failures)
        except OSError as exc:
            message = f"--expect-failures: cannot read {option.expect_failures}: {exc.strerror}"
            raise pytest.UsageError(message) from None
    base_url = base_url_of(option)
    if base_url:
        if option.start_reference:
            where = "--base-url" if option.base_url else f"${ENV_BASE_URL}"
            raise pytest.UsageError(f"--start-reference and {where} both name a target: give one")
        try:
            Target(base_url)
        except ValueError as exc:
            raise pytest.UsageError(f"--base-url: {exc}") from None
    # Tracebacks only when asked for: -v, or an explicit --tb.
    concise = option.verbose <= 0 and option.tbstyle == "auto"
    return RunState(level, selected, expected, problems, option.json_report, option.require_complete, concise=concise)


def _pytest_strict(config: pytest.Config) -> bool:
    try:
        return config.getini("strict") is True
    except ValueError:
        return False
