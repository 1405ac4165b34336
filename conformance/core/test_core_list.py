"""CORE-LIST: GET /me/sessions lists the user's own active sessions, current marked, newest first."""

import ipaddress
import secrets
import time
from datetime import datetime, timedelta, timezone

import pytest

from conformance import expect
from conformance.client import AGENTS, parse_timestamp

pytestmark = pytest.mark.rule("CORE-LIST")

FIELDS = ("id", "deviceName", "ip", "lastActiveAt", "createdAt", "isCurrent")
# An unreadable User-Agent: no UA parser knows this browser or OS.
NONSENSE_AGENT = "zq-probe/0.0 (qwerty)"
# Timezone slips are whole hours; clock skew between two honest hosts is seconds.
CLOCK_TOLERANCE = timedelta(minutes=10)


def _entry_problems(entry):
    problems = []
    missing = [name for name in FIELDS if name not in entry]
    if missing:
        problems.append(f"missing {missing}")
    session_id = entry.get("id")
    if not isinstance(session_id, (str, int)) or isinstance(session_id, bool) or not str(session_id).strip():
        problems.append(f"id must be a non-empty string, got {session_id!r}")
    if not isinstance(entry.get("deviceName"), str) or not entry["deviceName"].strip():
        problems.append(f"deviceName must be a non-empty string, got {entry.get('deviceName')!r}")
    try:
        ipaddress.ip_address(str(entry.get("ip")).strip("[]"))
    except ValueError:
        problems.append(f"ip must be an IP address, got {entry.get('ip')!r}")
    for name in ("lastActiveAt", "createdAt"):
        try:
            parse_timestamp(entry.get(name))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if not isinstance(entry.get("isCurrent"), bool):
        problems.append(f"isCurrent must be true or false, got {entry.get('isCurrent')!r}")
    return problems


def test_list_entries_have_every_field_with_right_types(new_user, login):
    user = new_user()
    first, _ = login(user), login(user)
    entries = expect.session_list(first)
    assert len(entries) == 2, f"two logins must list two sessions, got {len(entries)}"
    for entry in entries:
        problems = _entry_problems(entry)
        assert not problems, f"GET /me/sessions entry {entry!r}: " + "; ".join(problems)


def test_list_marks_exactly_the_requester_as_current(new_user, login):
    user = new_user()
    first, second = login(user), login(user)
    first_id, second_id = expect.current_id(first), expect.current_id(second)
    assert first_id != second_id, f"both devices' lists mark the same session {first_id} as current"
    for device in (first, second):
        ids = expect.listed_ids(device)
        assert sorted(ids) == sorted([first_id, second_id]), f"expected sessions {first_id}, {second_id}; got {ids}"


def test_list_marks_one_current_among_same_browser_sessions(new_user, login, agents):
    # Two logins from the same kind of browser: "current" is the requesting
    # session, not every session whose device name matches the requester's.
    user = new_user()
    first, second = login(user, agents[0]), login(user, agents[0])
    first_id, second_id = expect.current_id(first), expect.current_id(second)
    assert first_id != second_id, (
        f"two sessions with the same User-Agent: each device's list must mark its own session as current, "
        f"both marked {first_id}"
    )


def test_list_is_ordered_by_last_active_most_recent_first(new_user, login, agents):
    user = new_user()
    login(user, agents[0])
    # Logins a little over a second apart have distinct one-second timestamps.
    time.sleep(1.1)
    # Listed from the newer session: asking from the older one would be a use of it.
    newer = login(user, agents[1])
    entries = expect.session_list(newer)
    shown = [entry.get("lastActiveAt") for entry in entries]
    assert len(entries) == 2, f"two logins must list two sessions, got {len(entries)}"
    stamps = [parse_timestamp(stamp) for stamp in shown]
    assert stamps[0] != stamps[1], (
        f"two sessions last used 1.1 s apart show the same lastActiveAt {shown}: "
        "timestamps need one-second resolution"
    )
    assert stamps == sorted(stamps, reverse=True), f"sessions must be ordered by lastActiveAt, newest first: {shown}"
    assert entries[0].get("isCurrent") is True, "the requester is the most recently active session: it comes first"


def test_list_order_follows_activity_not_creation(new_user, login, target, agents):
    interval = target.touch_interval
    if interval is None:
        pytest.skip("declare the target's refresh interval with --touch-interval S to check order by activity")
    user = new_user()
    older = login(user, agents[0])
    older_id = expect.current_id(older)
    used_at = time.monotonic()
    time.sleep(1.1)
    newer = login(user, agents[1])
    newer_id = expect.current_id(newer)
    time.sleep(max(1.1, used_at + interval + 1 - time.monotonic()))
    expect.alive(older)
    ids = expect.listed_ids(login(user, agents[2]))
    assert older_id in ids and newer_id in ids, f"sessions {older_id}, {newer_id} must both be listed: {ids}"
    assert ids.index(older_id) < ids.index(newer_id), (
        "the older session was used after the newer one was created, so it must come first (order by "
        f"lastActiveAt, not createdAt): got {ids}"
    )


def test_list_shows_different_names_for_different_browsers(new_user, login, agents):
    user = new_user()
    chrome, firefox = login(user, agents[0]), login(user, agents[2])
    entries = {str(entry["id"]): entry for entry in expect.session_list(chrome)}
    names = [entries[expect.current_id(device)].get("deviceName") for device in (chrome, firefox)]
    assert all(isinstance(name, str) and name.strip() for name in names), f"deviceName must be non-empty: {names}"
    assert names[0] != names[1], f"Chrome on macOS and Firefox on Windows got the same deviceName {names[0]!r}"


# Pairs that share an engine and most of the User-Agent text: a real parser
# tells them apart, a hand-written "contains Chrome?" matcher does not.
LOOKALIKE_AGENTS = {
    "opera-vs-chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ),
    "samsung-vs-chrome": (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
    ),
}


@pytest.mark.parametrize("pair", LOOKALIKE_AGENTS.values(), ids=LOOKALIKE_AGENTS.keys())
def test_device_names_come_from_a_real_user_agent_parser(new_user, new_device, pair):
    user = new_user()
    names = []
    for header in pair:
        device = new_device()
        expect.status(device.login(user.email, user.password, headers={"User-Agent": header}), 200)
        own = next(entry for entry in expect.session_list(device) if entry.get("isCurrent") is True)
        names.append(str(own.get("deviceName")))
    assert names[0] != names[1], (
        f"two different browsers got the same deviceName {names[0]!r}: the contract asks for names made "
        f"by a real User-Agent parser, which tells these apart (User-Agents: {pair[0]!r} and {pair[1]!r})"
    )


@pytest.mark.parametrize("agent", AGENTS, ids=[agent.key for agent in AGENTS])
def test_device_name_names_browser_and_os(new_user, login, agent):
    device = login(new_user(), agent)
    own = next(entry for entry in expect.session_list(device) if entry.get("isCurrent") is True)
    name = str(own.get("deviceName"))
    assert agent.browser in name.lower() and any(word in name.lower() for word in agent.os), (
        f"deviceName for {agent.key} must read \"<browser> on <OS or device>\" naming {agent.browser!r} and "
        f"{' or '.join(map(repr, agent.os))}, got {name!r}"
    )


@pytest.mark.parametrize("header", [NONSENSE_AGENT, None], ids=["nonsense", "absent"])
def test_device_name_of_unknown_agent_reads_unknown(new_user, new_device, header):
    user, device = new_user(), new_device()
    expect.status(device.login(user.email, user.password, headers={"User-Agent": header}), 200)
    own = next(entry for entry in expect.session_list(device) if entry.get("isCurrent") is True)
    name = str(own.get("deviceName"))
    assert "unknown browser" in name.lower() and "unknown os" in name.lower(), (
        f"a User-Agent no parser knows must read \"Unknown browser on Unknown OS\", got {name!r}"
    )


def test_list_never_shows_another_users_sessions(new_user, login):
    owner, other = new_user(), new_user()
    owner_devices = [login(owner), login(owner)]
    other_device = login(other)
    other_id = expect.current_id(other_device)
    other_ids = expect.listed_ids(other_device)
    assert other_ids == [other_id], f"a user with one session must see exactly it, got {other_ids}"
    owner_ids = expect.listed_ids(owner_devices[0])
    assert other_id not in owner_ids, f"another user's session {other_id} appears in this user's list {owner_ids}"
    assert len(owner_ids) == 2, f"this user has two sessions, the list shows {owner_ids}"


def test_list_without_cookie_gets_401(new_device):
    expect.error(new_device().sessions(cookie=None), 401)


def test_list_with_unknown_token_gets_401(new_device):
    expect.error(new_device().sessions(cookie=secrets.token_urlsafe(32)), 401)


def test_list_ip_ignores_spoofed_forwarded_for(new_user, new_device):
    user, device = new_user(), new_device()
    spoofed = "203.0.113.77"
    headers = {"X-Forwarded-For": spoofed, "X-Real-IP": spoofed, "Forwarded": f"for={spoofed}"}
    expect.status(device.login(user.email, user.password, headers=headers), 200)
    own = next(entry for entry in expect.session_list(device) if entry.get("isCurrent") is True)
    assert own.get("ip") != spoofed, (
        "the listed ip is the address the client claimed in X-Forwarded-For; it may be believed only from a "
        "trusted proxy (unless the suite itself runs on an address the target trusts as a proxy)"
    )


def test_list_timestamps_are_iso_8601_in_utc(new_user, login):
    device = login(new_user())
    own = next(entry for entry in expect.session_list(device) if entry.get("isCurrent") is True)
    now = datetime.now(timezone.utc)
    for name in ("createdAt", "lastActiveAt"):
        stamp = parse_timestamp(own.get(name))
        assert abs(stamp - now) < CLOCK_TOLERANCE, (
            f"{name} {own.get(name)!r} of a session opened just now is {stamp - now} off the clock: "
            "timestamps must be UTC (a naive timestamp counts as UTC)"
        )
