"""HARD-CSRF: cross-site state changes are refused with 403 and change nothing; same-origin ones are not."""

import pytest

from conformance import expect
from conformance.client import cookie_seconds_left

pytestmark = pytest.mark.rule("HARD-CSRF")

ACTIONS = ["logout", "revoke", "revoke-all"]
FOREIGN = ["other-site", "other-port", "other-scheme", "own-origin-prefix", "null-origin", "sec-fetch-site-cross-site"]
FRIENDLY = ["same-origin", "no-origin", "same-origin-sec-fetch-site"]


def _headers(target, variant):
    foreign = target.foreign_origins()
    return {
        "other-site": {"Origin": foreign["other-site"]},
        "other-port": {"Origin": foreign["other-port"]},
        "other-scheme": {"Origin": foreign["other-scheme"]},
        "own-origin-prefix": {"Origin": foreign["own-origin-prefix"]},
        "null-origin": {"Origin": "null"},
        "sec-fetch-site-cross-site": {"Sec-Fetch-Site": "cross-site"},
        "same-origin": {"Origin": target.origin},
        "no-origin": {},
        "same-origin-sec-fetch-site": {"Origin": target.origin, "Sec-Fetch-Site": "same-origin"},
    }[variant]


def _act(action, actor, other_id, headers):
    if action == "logout":
        return actor.logout(headers=headers, follow_cookies=False)
    if action == "revoke":
        return actor.revoke(other_id, headers=headers, follow_cookies=False)
    return actor.revoke_all(headers=headers, follow_cookies=False)


@pytest.fixture
def pair(new_user, login):
    """Two sessions of one user: the actor, and the other whose id the actor may revoke."""
    user = new_user()
    actor, other = login(user), login(user)
    return actor, other, expect.current_id(other)


@pytest.mark.parametrize("variant", FOREIGN)
@pytest.mark.parametrize("action", ACTIONS)
def test_cross_site_state_change_gets_403_and_changes_nothing(pair, target, action, variant):
    actor, other, other_id = pair
    headers = _headers(target, variant)
    response = _act(action, actor, other_id, headers)
    expect.error(response, 403, why=f"{variant}: {headers}")
    cleared = actor.session_cookie(response)
    if cleared is not None:
        left = cookie_seconds_left(cleared[1])
        assert left is None or left > 0, "a refused cross-site request must not clear the session cookie"
    expect.alive(actor, why="a refused cross-site request changes nothing")
    expect.alive(other, why="a refused cross-site request changes nothing")
    assert len(expect.listed_ids(actor)) == 2, "a refused cross-site request changes nothing"


@pytest.mark.parametrize("variant", FRIENDLY)
@pytest.mark.parametrize("action", ACTIONS)
def test_same_origin_state_change_is_not_refused(pair, target, action, variant):
    actor, other, other_id = pair
    headers = _headers(target, variant)
    response = _act(action, actor, other_id, headers)
    expect.ok_object(response, why=f"{variant} requests are never refused: {headers or 'no Origin header'}")
    if action == "logout":
        expect.dead(actor, why="the logout went through")
    else:
        expect.dead(other, why="the revoke went through")
