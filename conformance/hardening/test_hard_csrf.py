"""HARD-CSRF: cross-site state changes are refused with 403 and change nothing; same-origin ones are not.

That a same-origin request was not refused shows only if the action then
works, which is another rule's (CORE-LOGOUT, CORE-REVOKE, CORE-REVOKE-ALL): a
broken action is reported as that rule's failed precondition, not as a
failure of HARD-CSRF.
"""

import pytest

from conformance import endings, expect
from conformance.client import cookie_seconds_left
from conformance.preconditions import precondition

pytestmark = pytest.mark.rule("HARD-CSRF")

ACTIONS = ["logout", "revoke", "revoke-all"]
RULE_OF_ACTION = {"logout": "CORE-LOGOUT", "revoke": "CORE-REVOKE", "revoke-all": "CORE-REVOKE-ALL"}
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
    endings.use(actor, other)
    token = actor.token
    response = _act(action, actor, other_id, headers)
    # 403 is how HARD-CSRF refuses; any other failure of the action is its own rule's to explain.
    assert response.status_code != 403, (
        f"{expect.what(response)} with {headers or 'no Origin header'} ({variant}) was refused with 403: "
        f"same-origin requests are never refused; got {response.status_code} {response.text[:160]!r}"
    )
    with precondition(RULE_OF_ACTION[action], f"the {action} must work once it is not refused"):
        expect.ok_object(response, why=f"{variant} requests are never refused: {headers or 'no Origin header'}")
        if action == "logout":
            endings.over(actor, "the logout went through", token=token)
        else:
            endings.over(other, f"the {action} went through", observer=actor, session_id=other_id)


# The extensions keep HARD-CSRF on every state change they add (the contract's
# Extensions section): checked only where they are in scope.
EXTENSION_ACTIONS = ["password-change", "rename"]


@pytest.mark.parametrize("variant", ["other-site", "null-origin", "sec-fetch-site-cross-site"])
@pytest.mark.parametrize("action", EXTENSION_ACTIONS)
def test_cross_site_extension_action_gets_403_and_changes_nothing(
    new_user, login, new_device, target, suite_level, action, variant
):
    if suite_level != "extensions":
        pytest.skip("not applicable below --level extensions: the extensions' state changes are checked there")
    user = new_user()
    actor, other = login(user), login(user)
    other_id = expect.current_id(other)
    headers = _headers(target, variant)
    if action == "password-change":
        body = {"currentPassword": user.password, "newPassword": user.password + "-changed"}
        response = actor.post("/me/password", json=body, headers=headers, follow_cookies=False)
    else:
        response = actor.request(
            "PATCH", f"/me/sessions/{other_id}", json={"name": "Renamed cross-site"}, headers=headers,
            follow_cookies=False,
        )
    expect.error(response, 403, why=f"{action} with {variant}: {headers}")
    expect.alive(actor, why="a refused cross-site request changes nothing")
    expect.alive(other, why="a refused cross-site request changes nothing")
    if action == "password-change":
        again = new_device()
        expect.status(again.login(user.email, user.password), 200, why="the password must be unchanged")
    else:
        names = [item.get("name") for item in expect.session_list(actor) if str(item["id"]) == str(other_id)]
        assert names and names[0] != "Renamed cross-site", "a refused cross-site rename must not rename"
