"""CORE-REVOKE: DELETE /me/sessions/{id} ends one of the user's own sessions, from the very next request.

Every check that a revoke ends a session first uses that session (see
conformance/endings.py): a cache or second copy of sessions holds only
sessions that were used.
"""

import secrets

import pytest

from conformance import diagnoses, endings, expect
from conformance.client import made_up_id, session_path

pytestmark = pytest.mark.rule("CORE-REVOKE")


def test_revoke_answers_200_and_ends_that_session(new_user, login):
    user = new_user()
    keeper, victim = login(user), login(user)
    endings.use(victim)
    victim_id = expect.current_id(victim)
    expect.ok_object(keeper.revoke(victim_id))
    endings.over(
        victim, "a revoked session is 401 from the very next request", observer=keeper, session_id=victim_id
    )


def test_revoked_session_cookie_gets_401(new_user, login):
    user = new_user()
    keeper, victim, bystander = login(user), login(user), login(user)
    bystander_id = expect.current_id(bystander)
    endings.use(victim)
    expect.status(keeper.revoke(expect.current_id(victim)), 200)
    for method, path in [
        ("GET", "/me"),
        ("GET", "/me/sessions"),
        ("POST", "/me/sessions/revoke-all"),
        ("DELETE", session_path(bystander_id)),
    ]:
        expect.error(victim.request(method, path, follow_cookies=False), 401, why="that session was revoked")
    expect.alive(keeper, why="requests with a revoked token must not have acted")
    expect.alive(bystander, why="requests with a revoked token must not have acted")


def test_revoke_leaves_other_sessions_alive_and_listed(new_user, login):
    user = new_user()
    keeper, victim, bystander = login(user), login(user), login(user)
    keeper_id, victim_id, bystander_id = (expect.current_id(device) for device in (keeper, victim, bystander))
    endings.use(victim, bystander)
    expect.status(keeper.revoke(victim_id), 200)
    endings.over(victim, "that session was revoked", observer=keeper, session_id=victim_id)
    expect.alive(keeper)
    expect.alive(bystander, why="revoking one session leaves the others alone")
    ids = expect.listed_ids(keeper)
    assert sorted(ids) == sorted([keeper_id, bystander_id]), (
        f"after revoking {victim_id} the list must hold exactly {keeper_id} and {bystander_id}, got {ids}"
    )


def test_revoking_current_session_gets_400_and_revokes_nothing(new_user, login):
    user = new_user()
    device, other = login(user), login(user)
    own_id = expect.current_id(device)
    response = device.revoke(own_id)
    if response.status_code == 200:
        diagnoses.record(diagnoses.REVOKE_CURRENT_ALLOWED)
    expect.error(response, 400, why="the current session ends with POST /logout")
    expect.alive(device, why="a refused revoke revokes nothing")
    expect.alive(other, why="a refused revoke revokes nothing")
    assert len(expect.listed_ids(device)) == 2, "a refused revoke revokes nothing"


def test_revoking_unknown_id_gets_404(new_user, login):
    device = login(new_user())
    unknown = made_up_id(expect.current_id(device))
    response = device.revoke(unknown)
    if response.status_code == 200:
        diagnoses.record(diagnoses.REVOKE_UNKNOWN_200)
    expect.error(response, 404, why=f"no session has the id {unknown!r}")
    expect.alive(device)


def test_revoking_already_revoked_id_gets_404(new_user, login):
    user = new_user()
    keeper, victim = login(user), login(user)
    victim_id = expect.current_id(victim)
    expect.status(keeper.revoke(victim_id), 200)
    expect.error(keeper.revoke(victim_id), 404, why="that session was already revoked")


def test_foreign_session_id_gets_same_404_as_unknown_id(new_user, login):
    attacker, victim = login(new_user()), login(new_user())
    victim_id = expect.current_id(victim)
    foreign = attacker.revoke(victim_id)
    unknown = attacker.revoke(made_up_id(victim_id))
    _look_at_foreign_revoke(foreign, unknown, victim)
    expect.error(foreign, 404, why="another user's session must look unknown")
    expect.error(unknown, 404)
    assert foreign.content == unknown.content, (
        "another user's session id and a made-up id must get identical answers, got "
        f"{foreign.content[:200]!r} and {unknown.content[:200]!r}"
    )
    expect.alive(victim, why="another user must not be able to revoke this session")
    assert victim_id in expect.listed_ids(victim), "the victim's session must still be listed"


def _look_at_foreign_revoke(foreign, unknown, victim):
    """Record what a revoke of another user's session id shows, beside the same revoke of a made-up id."""
    if foreign.status_code == 200:
        if unknown.status_code == 200:
            diagnoses.record(diagnoses.REVOKE_UNKNOWN_200)
        elif victim.me(follow_cookies=False).status_code == 401:
            diagnoses.record(diagnoses.REVOKE_IGNORES_OWNER)
    elif unknown.status_code == 404 and (foreign.status_code, foreign.content) != (404, unknown.content):
        diagnoses.record(diagnoses.REVOKE_FOREIGN_TELLS)


def test_revoke_without_valid_cookie_gets_401(new_user, login, new_device):
    victim = login(new_user())
    victim_id = expect.current_id(victim)
    expect.error(new_device().revoke(victim_id, cookie=None), 401)
    expect.error(new_device().revoke(victim_id, cookie=secrets.token_urlsafe(32)), 401)
    expect.alive(victim, why="an unauthenticated revoke must not act")
