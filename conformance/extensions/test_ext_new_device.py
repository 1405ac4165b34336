"""EXT-NEW-DEVICE: a login from a (deviceName, ip) pair the account has not logged in from is flagged.

The suite has one address, so its devices differ by User-Agent: two agents
the target names differently (CORE-LIST) are two devices.
"""

import pytest

from conformance import expect
from conformance.extensions.helpers import events, listed
from conformance.preconditions import precondition

# Which devices are new depends on the account's whole history: fresh accounts only.
pytestmark = [pytest.mark.rule("EXT-NEW-DEVICE"), pytest.mark.usefixtures("own_accounts")]


def _flag(item, what):
    flag = item.get("newDevice")
    assert isinstance(flag, bool), f"{what} must carry \"newDevice\": true or false, got {item!r}"
    return flag


def _login_events(device):
    """Return {session id: the newDevice flag of its login event}, from the device's security log."""
    with precondition("EXT-ACTIVITY", "reading the login events of the security log"):
        found = [event for event in events(device, limit=200) if event.get("type") == "login"]
    return {event.get("sessionId"): _flag(event, f"login event {event!r}") for event in found}


def _flags(device, session_id):
    """Return (the list's flag, the login event's flag) of one session."""
    listed_flag = _flag(listed(device, session_id), f"the list object of {session_id}")
    by_session = _login_events(device)
    assert session_id in by_session, f"session {session_id} has no login event in the security log"
    return listed_flag, by_session[session_id]


def _distinct_devices(first, second):
    with precondition("CORE-LIST", "two different User-Agents must get different device names"):
        names = [listed(first, expect.current_id(device))["deviceName"] for device in (first, second)]
        assert names[0] != names[1], f"both read {names[0]!r}"


def test_first_login_of_an_account_is_not_flagged(new_user, login):
    device = login(new_user())
    session_id = expect.current_id(device)
    assert _flags(device, session_id) == (False, False), (
        "the first login of a new account is not flagged, in the list and in its login event"
    )


def test_same_device_and_address_again_is_not_flagged(new_user, login, agents):
    user = new_user()
    login(user, agents[0])
    again = login(user, agents[0])
    flags = _flags(again, expect.current_id(again))
    assert flags == (False, False), f"a second login from the same browser and address is not new, got {flags}"


def test_login_from_another_device_is_flagged(new_user, login, agents):
    user = new_user()
    first = login(user, agents[0])
    other = login(user, agents[2])
    _distinct_devices(first, other)
    flags = _flags(first, expect.current_id(other))
    assert flags == (True, True), f"a login from a device the account never used is flagged, got {flags}"


def test_device_seen_in_an_ended_session_is_not_new(new_user, login, agents):
    # Known means "seen in a login", not "has a live session": the log remembers it.
    user = new_user()
    keeper = login(user, agents[0])
    leaving = login(user, agents[1])
    _distinct_devices(keeper, leaving)
    with precondition("CORE-LOGOUT", "logging out"):
        expect.status(leaving.logout(), 200)
    back = login(user, agents[1])
    flags = _flags(keeper, expect.current_id(back))
    assert flags == (False, False), f"a device that logged in before (then logged out) is not new, got {flags}"


def test_list_flag_equals_the_login_event_flag(new_user, login, agents):
    user = new_user()
    devices = [login(user, agent) for agent in (agents[0], agents[1], agents[0], agents[3], agents[1])]
    expected = [False, True, False, True, False]
    ids = [expect.current_id(device) for device in devices]
    items = {str(item["id"]): _flag(item, f"list object {item!r}") for item in expect.session_list(devices[0])}
    by_session = _login_events(devices[0])
    got = [(items.get(session_id), by_session.get(session_id)) for session_id in ids]
    assert got == [(flag, flag) for flag in expected], (
        "logins from devices A, B, A, D, B: only the first B and D are new; each list object's newDevice "
        f"equals its login event's, expected {expected} in both, got (list, event) pairs {got}"
    )
