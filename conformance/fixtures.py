"""The fixtures the checks use: the target, devices, users and logins, the level; registered by conformance/plugin.py."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from conformance import diagnoses, expect
from conformance.client import AGENTS, Agent, Device, Target, User, random_email, random_password
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
    devices: list[Device] = []

    def make(agent: Agent | str | None = None, label: str | None = None) -> Device:
        device = Device(target, agent, label)
        devices.append(device)
        return device

    yield make
    for device in devices:
        device.close()


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
    handed_out = 0

    def make() -> User:
        nonlocal handed_out
        if target.users:
            if handed_out >= len(target.users):
                pytest.skip(f"this check needs {handed_out + 1} accounts: give --user EMAIL:PASSWORD once more")
            email, password = target.users[handed_out]
            handed_out += 1
            return _reset_account(target, new_device, email, password)
        email, password = random_email(), random_password()
        device = new_device(label="signup helper")
        body = expect.ok_object(device.signup(email, password), 201, why="setting up a user for this check")
        if "id" not in body:
            raise AssertionError(f"POST /signup answered 201 without an \"id\": {body!r}")
        return User(email, password, str(body["id"]))

    return make


def _reset_account(target: Target, new_device: Any, email: str, password: str) -> User:
    """Log in to a shared --user account and end its other sessions, so each test starts clean."""
    device = new_device(label="account reset")
    response = device.login(email, password)
    if response.status_code != 200 or device.token is None:
        raise AssertionError(f"cannot log in to --user account {email}: POST /login answered {response.status_code}")
    body = expect.ok_object(device.me())
    device.revoke_all()
    device.logout()
    return User(email, password, str(body.get("id")))


@pytest.fixture
def login(new_device: Any) -> Any:
    """Return a factory of logged-in devices: login(user, agent=None, label=None)."""

    def make(user: User, agent: Agent | str | None = None, label: str | None = None, **kwargs: Any) -> Device:
        device = new_device(agent, label)
        response = device.login(user.email, user.password, **kwargs)
        expect.status(response, 200, why="logging in for this check")
        if device.token is None:
            cookie = device.target.cookie_name
            raise AssertionError(f"POST /login answered 200 but set no usable `{cookie}` cookie")
        return device

    return make


@pytest.fixture
def suite_level(request: pytest.FixtureRequest) -> str:
    """The level this run checks at: core, hardening or extensions."""
    return state_of(request.config).level


@pytest.fixture
def agents() -> list[Agent]:
    """The realistic User-Agents the suite simulates, in a fixed order."""
    return list(AGENTS)
