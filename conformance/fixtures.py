"""The fixtures the checks use: the target, devices, users and logins (factories.py), the level; registered by plugin.py."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from conformance import diagnoses, factories
from conformance.client import AGENTS, Agent, Target
from conformance.state import STATE, is_check, rule_of, state_of


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """The server under test, as declared by the options."""
    state = state_of(request.config)
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
    if is_check(request):
        request.getfixturevalue("target").log.clear()
        request.getfixturevalue("target").rule = rule_of(request.node)
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
    return state_of(request.config).level


@pytest.fixture
def agents() -> list[Agent]:
    """The realistic User-Agents the suite simulates, in a fixed order."""
    return list(AGENTS)
