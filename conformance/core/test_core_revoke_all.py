"""CORE-REVOKE-ALL: POST /me/sessions/revoke-all ends every other session of the user, and only those."""

import secrets

import pytest

from conformance import expect

pytestmark = pytest.mark.rule("CORE-REVOKE-ALL")


def test_revoke_all_answers_200_and_ends_every_other_session(new_user, login):
    user = new_user()
    keeper, *others = login(user), login(user), login(user)
    expect.ok_object(keeper.revoke_all())
    for other in others:
        expect.error(other.me(follow_cookies=False), 401, why="revoke-all ends every other session at once")
        expect.error(other.sessions(follow_cookies=False), 401, why="revoke-all ends every other session at once")
    expect.alive(keeper, why="revoke-all keeps the current session")


def test_revoke_all_leaves_only_the_current_session_listed(new_user, login):
    user = new_user()
    keeper, _, _ = login(user), login(user), login(user)
    keeper_id = expect.current_id(keeper)
    expect.status(keeper.revoke_all(), 200)
    entries = expect.session_list(keeper)
    assert [str(entry["id"]) for entry in entries] == [keeper_id], (
        f"after revoke-all the list must hold only the current session {keeper_id}, got {entries!r}"
    )
    assert entries[0].get("isCurrent") is True, "the remaining session is the current one"


def test_revoke_all_leaves_other_users_sessions_alone(new_user, login):
    user, other = new_user(), new_user()
    keeper, _ = login(user), login(user)
    other_devices = [login(other), login(other)]
    expect.status(keeper.revoke_all(), 200)
    for device in other_devices:
        expect.alive(device, why="revoke-all must not touch another user's sessions")
    assert len(expect.listed_ids(other_devices[0])) == 2, "another user's sessions must all still be listed"


def test_revoke_all_without_other_sessions_answers_200(new_user, login):
    device = login(new_user())
    expect.ok_object(device.revoke_all())
    expect.alive(device)


def test_revoke_all_without_valid_cookie_gets_401(new_user, login, new_device):
    user = new_user()
    devices = [login(user), login(user)]
    expect.error(new_device().revoke_all(cookie=None), 401)
    expect.error(new_device().revoke_all(cookie=secrets.token_urlsafe(32)), 401)
    for device in devices:
        expect.alive(device, why="an unauthenticated revoke-all must not act")


def test_new_login_after_revoke_all_works(new_user, login):
    user = new_user()
    keeper, _ = login(user), login(user)
    expect.status(keeper.revoke_all(), 200)
    newcomer = login(user)
    expect.alive(newcomer, why="revoke-all ends existing sessions, not future logins")
    expect.alive(keeper)
    assert len(expect.listed_ids(keeper)) == 2, "the list must hold the current session and the new login"
