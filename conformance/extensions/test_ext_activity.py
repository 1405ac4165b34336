"""EXT-ACTIVITY: GET /me/activity is the account's security log: one event per action, newest first, own events only."""

import base64
import hashlib
import secrets

import pytest

from conformance import expect
from conformance.client import parse_timestamp, random_email, random_password
from conformance.extensions.helpers import (
    activity,
    EVENT_FIELDS,
    EVENT_TYPES,
    change_password,
    event_ids,
    events,
    listed,
    new_events,
    one_new_event,
    rename,
    same_ip,
)
from conformance.preconditions import precondition

pytestmark = pytest.mark.rule("EXT-ACTIVITY")


def _check_event(event, kind, session_id, actor_id, client):
    """Fail unless an event names the session concerned, the acting session, and the acting client's ip and device."""
    problems = []
    if event.get("sessionId") != session_id:
        problems.append(f"sessionId must be {session_id!r}")
    if event.get("actorSessionId") != actor_id:
        problems.append(f"actorSessionId must be {actor_id!r}")
    if not same_ip(event.get("ip"), client["ip"]):
        problems.append(f"ip must be the acting client's, {client['ip']!r}")
    if event.get("deviceName") != client["deviceName"]:
        problems.append(f"deviceName must be the acting client's, {client['deviceName']!r}")
    assert not problems, f"`{kind}` event {event!r}: " + "; ".join(problems)


def _field_problems(event):
    problems = [f"missing {name!r}" for name in EVENT_FIELDS if name not in event]
    if event.get("type") not in EVENT_TYPES:
        problems.append(f"type must be one of {list(EVENT_TYPES)}")
    event_id = event.get("id")
    if isinstance(event_id, bool) or not isinstance(event_id, (str, int)) or not str(event_id).strip():
        problems.append("id must be a non-empty string")
    try:
        parse_timestamp(event.get("at"))
    except ValueError as exc:
        problems.append(f"at: {exc}")
    for name in ("sessionId", "actorSessionId"):
        if name in event and event[name] is not None and not isinstance(event[name], (str, int)):
            problems.append(f"{name} must be a session id or null")
    return problems


def test_events_have_every_field_with_right_types(new_user, login, agents):
    user = new_user()
    actor, other = login(user, agents[0]), login(user, agents[1])
    expect.status(rename(actor, expect.current_id(other), "Phone"), 200)
    found = events(actor)
    assert found, "GET /me/activity after two logins and a rename must not be empty"
    for event in found:
        problems = _field_problems(event)
        assert not problems, f"GET /me/activity event {event!r}: " + "; ".join(problems)


def test_login_writes_one_login_event(new_user, login, agents):
    user = new_user()
    first = login(user, agents[0])
    before = events(first)
    second = login(user, agents[1])
    second_id = expect.current_id(second)
    event = one_new_event(first, before, "login", "a login")
    _check_event(event, "login", second_id, None, listed(first, second_id))


def test_failed_login_writes_login_failed_to_the_account(new_user, login, new_device, agents):
    user, stranger = new_user(), new_user()
    owner, other_owner = login(user, agents[0]), login(stranger, agents[0])
    before, other_before = events(owner), events(other_owner)
    guesser = new_device(agents[2])
    expect.error(guesser.login(user.email, user.password + "-wrong"), 401)
    event = one_new_event(owner, before, "login_failed", "a failed login for this account's email")
    # The guessing client's ip and device name, as the server records them for a session of the same client.
    expect.status(guesser.login(user.email, user.password), 200)
    guesser_seen = listed(owner, expect.current_id(guesser))
    _check_event(event, "login_failed", None, None, guesser_seen)
    assert new_events(other_owner, other_before) == [], "a failed login for one account shows in no other's log"


def test_unknown_email_writes_no_event_anyone_sees(new_user, login, new_device):
    user = new_user()
    owner = login(user)
    before = events(owner)
    expect.error(new_device().login(random_email("nobody"), user.password), 401)
    assert new_events(owner, before) == [], "a failed login for an email with no account writes nothing visible"


def test_logout_writes_one_logout_event(new_user, login, agents):
    user = new_user()
    watcher, leaving = login(user, agents[0]), login(user, agents[1])
    leaving_id = expect.current_id(leaving)
    client = listed(watcher, leaving_id)
    before = events(watcher)
    with precondition("CORE-LOGOUT", "logging out"):
        expect.status(leaving.logout(), 200)
    event = one_new_event(watcher, before, "logout", "a logout")
    _check_event(event, "logout", leaving_id, leaving_id, client)


def test_revoke_writes_one_session_revoked_event(new_user, login, agents):
    user = new_user()
    actor, victim = login(user, agents[0]), login(user, agents[1])
    actor_id, victim_id = expect.current_id(actor), expect.current_id(victim)
    before = events(actor)
    with precondition("CORE-REVOKE", "revoking a session"):
        expect.status(actor.revoke(victim_id), 200)
    event = one_new_event(actor, before, "session_revoked", "a revoke")
    _check_event(event, "session_revoked", victim_id, actor_id, listed(actor, actor_id))


def test_revoke_all_writes_one_event_with_its_count(new_user, login, agents):
    user = new_user()
    actor = login(user, agents[0])
    others = [login(user, agents[1]), login(user, agents[2])]
    actor_id = expect.current_id(actor)
    before = events(actor)
    with precondition("CORE-REVOKE-ALL", "revoking all other sessions"):
        expect.status(actor.revoke_all(), 200)
    event = one_new_event(actor, before, "sessions_revoked_all", "a revoke-all")
    _check_event(event, "sessions_revoked_all", None, actor_id, listed(actor, actor_id))
    assert event.get("count") == len(others), f"a revoke-all of {len(others)} sessions carries \"count\": {len(others)}: {event!r}"


def test_rename_writes_one_session_renamed_event(new_user, login, agents):
    user = new_user()
    actor, other = login(user, agents[0]), login(user, agents[1])
    actor_id, other_id = expect.current_id(actor), expect.current_id(other)
    before = events(actor)
    with precondition("EXT-RENAME", "renaming a session"):
        expect.status(rename(actor, other_id, "Tablet"), 200)
    event = one_new_event(actor, before, "session_renamed", "a rename")
    _check_event(event, "session_renamed", other_id, actor_id, listed(actor, actor_id))


@pytest.mark.usefixtures("own_accounts")
def test_password_change_writes_one_event_with_revoked(new_user, login, agents):
    user = new_user()
    actor, _ = login(user, agents[0]), login(user, agents[1])
    actor_id = expect.current_id(actor)
    client = listed(actor, actor_id)
    before = events(actor)
    with precondition("EXT-PASSWORD", "changing the password"):
        expect.status(change_password(actor, user.password, random_password()), 200)
    event = one_new_event(actor, before, "password_changed", "a password change")
    # The session concerned is the one that changed the password (the contract
    # names null only for login_failed and sessions_revoked_all); a null is let pass.
    session_id = event.get("sessionId") if event.get("sessionId") is None else actor_id
    _check_event(event, "password_changed", session_id, actor_id, client)
    assert event.get("revoked") == 1, f"a password change that ended one session carries \"revoked\": 1: {event!r}"


@pytest.mark.usefixtures("own_accounts")  # counts every event of a fresh account
def test_events_are_listed_newest_first(new_user, login, agents):
    user = new_user()
    actor, other = login(user, agents[0]), login(user, agents[1])
    other_id = expect.current_id(other)
    for name in ("one", "two", "three"):
        expect.status(rename(actor, other_id, name), 200)
    expect.status(actor.revoke(other_id), 200)
    found = events(actor)
    kinds = [event["type"] for event in found]
    assert kinds == ["session_revoked", "session_renamed", "session_renamed", "session_renamed", "login", "login"], (
        f"two logins, three renames and a revoke, newest first, got {kinds}"
    )
    times = [parse_timestamp(event["at"]) for event in found]
    assert times == sorted(times, reverse=True), f"\"at\" must not increase down the list: {[e['at'] for e in found]}"


@pytest.mark.usefixtures("own_accounts")  # counts every event of a fresh account
def test_limit_and_before_page_through_older_events(new_user, login):
    user = new_user()
    actor = login(user)
    actor_id = expect.current_id(actor)
    for number in range(6):
        expect.status(rename(actor, actor_id, f"name {number}"), 200)
    everything = event_ids(events(actor))
    assert len(everything) == 7, f"a login and six renames make seven events, got {len(everything)}"
    pages, before = [], None
    while len(pages) < 5:
        page = event_ids(events(actor, limit=3, before=before))
        pages.append(page)
        if len(page) < 3:
            break
        before = page[-1]
    assert pages[:3] == [everything[0:3], everything[3:6], everything[6:7]], (
        f"?limit=3 pages, each ?before= the last id of the page before, must walk the log in order: "
        f"expected {everything}, got pages {pages}"
    )
    assert event_ids(events(actor, limit=1)) == everything[:1]
    assert event_ids(events(actor, limit=200)) == everything


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"before": "not-an-event-id"},
    ],
    ids=["limit-0", "limit-201", "limit-negative", "limit-word", "limit-fraction", "before-garbage"],
)
def test_bad_limit_or_before_gets_400(new_user, login, params):
    actor = login(new_user())
    expect.error(activity(actor, **params), 400, why=f"{params}")


@pytest.mark.usefixtures("own_accounts")  # counts every event of a fresh account
def test_log_holds_only_the_users_own_events(new_user, login, agents):
    user, stranger = new_user(), new_user()
    actor, other = login(user, agents[0]), login(user, agents[1])
    outsider, outsider_other = login(stranger, agents[2]), login(stranger, agents[3])
    own = {expect.current_id(actor), expect.current_id(other)}
    foreign = {expect.current_id(outsider), expect.current_id(outsider_other)}
    expect.status(outsider.revoke(expect.current_id(outsider_other)), 200)
    expect.status(rename(outsider, expect.current_id(outsider), "Theirs"), 200)
    found = events(actor)
    named = {event.get(name) for event in found for name in ("sessionId", "actorSessionId")} - {None}
    assert named <= own and not named & foreign, (
        f"the log of a user must hold only that user's events; it names sessions {sorted(named & foreign)} "
        "of another user"
    )
    assert [event["type"] for event in found] == ["login", "login"], (
        f"this user only logged in twice, got {[event['type'] for event in found]}"
    )


def _secret_forms(token):
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    forms = {token, digest.hex(), digest.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(digest).decode("ascii")
        forms |= {text, text.rstrip("=")}
    return forms


@pytest.mark.usefixtures("own_accounts")
def test_log_never_holds_a_token_its_hash_or_a_password(new_user, login, new_device, agents):
    user = new_user()
    actor = login(user, agents[0])
    victims = [login(user, agents[1]), login(user, agents[2]), login(user, agents[3])]
    leaving = login(user, agents[1])
    tokens = [device.token for device in [actor, *victims, leaving]]
    expect.status(new_device(agents[2]).login(user.email, user.password + "-wrong"), 401)
    expect.status(rename(actor, expect.current_id(victims[0]), "Named"), 200)
    expect.status(actor.revoke(expect.current_id(victims[0])), 200)
    expect.status(leaving.logout(), 200)
    expect.status(actor.revoke_all(), 200)
    new_password = random_password()
    expect.status(change_password(actor, user.password, new_password), 200)
    tokens.append(actor.token)
    response = activity(actor, limit=200)
    expect.status(response, 200)
    text = response.content.decode("utf-8", "replace")
    secrets_found = []
    for token in tokens:
        secrets_found += [form for form in _secret_forms(token) if form in text]
    assert not secrets_found, "the security log must never hold a session token or its hash (hex or base64)"
    for password in (user.password, new_password, user.password + "-wrong"):
        assert password not in text, "the security log must never hold password material"


def test_activity_without_session_gets_401(new_device):
    expect.error(activity(new_device(), cookie=None), 401)
    expect.error(new_device().get("/me/activity", cookie=secrets.token_urlsafe(32)), 401)


def test_before_must_be_one_of_the_users_own_event_ids(new_user, login):
    # `before` is a cursor handed out by this user's own list: another user's
    # event id, or an id this user never had, is 400, not a page of anything.
    user, stranger = new_user(), new_user()
    actor, outsider = login(user), login(stranger)
    own = event_ids(events(actor))
    foreign_id = event_ids(events(outsider))[0]
    expect.status(activity(actor, before=own[0]), 200, why=f"?before= one of the user's own event ids ({own[0]})")
    expect.error(activity(actor, before=foreign_id), 400, why=f"?before={foreign_id}, another user's event id")
    never = [candidate for candidate in (f"{own[0]}0", "9" * 15) if candidate not in own]
    for made_up in never:
        expect.error(activity(actor, before=made_up), 400, why=f"?before={made_up}, an id this user never had")
