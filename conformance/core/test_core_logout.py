"""CORE-LOGOUT: POST /logout ends the current session for good and clears the cookie."""

import posixpath
from urllib.parse import urlsplit

import pytest

from conformance import expect
from conformance.client import cookie_seconds_left, session_path

pytestmark = pytest.mark.rule("CORE-LOGOUT")


def _clearing_cookie(device, response):
    """Return the attributes of the Set-Cookie that clears the session cookie; fail if there is none."""
    found = device.session_cookie(response)
    name = device.target.cookie_name
    assert found is not None, f"{expect.what(response)} must clear the `{name}` cookie: no Set-Cookie for it"
    value, attrs = found
    left = cookie_seconds_left(attrs)
    assert left is not None and left <= 0, (
        f"{expect.what(response)} must clear the `{name}` cookie with Max-Age=0 (or an Expires in the past), "
        f"got attributes {attrs}"
    )
    return attrs


def test_logout_answers_200_and_clears_the_cookie(new_user, login):
    device = login(new_user())
    response = device.logout()
    expect.ok_object(response)
    _clearing_cookie(device, response)


def test_logged_out_token_gets_401_everywhere(new_user, login):
    user = new_user()
    leaving, staying = login(user), login(user)
    staying_id = expect.current_id(staying)
    token = leaving.token
    expect.status(leaving.logout(), 200)
    for method, path in [
        ("GET", "/me"),
        ("GET", "/me/sessions"),
        ("POST", "/me/sessions/revoke-all"),
        ("DELETE", session_path(staying_id)),
    ]:
        expect.error(leaving.request(method, path, cookie=token), 401, why="that session was logged out")
    expect.alive(staying, why="requests with a logged-out token must not have acted")


def test_logout_without_session_answers_200_and_clears(new_device):
    device = new_device()
    response = device.logout(cookie=None)
    expect.ok_object(response, why="logout without a session still succeeds")
    _clearing_cookie(device, response)


def test_logout_with_unknown_token_answers_200_and_clears(new_device):
    device = new_device()
    response = device.logout(cookie="no-such-session-token-0123456789")
    expect.ok_object(response, why="logout with a dead session still succeeds")
    _clearing_cookie(device, response)


def test_logout_ends_only_the_current_session(new_user, login):
    user = new_user()
    leaving, staying = login(user), login(user)
    leaving_id = expect.current_id(leaving)
    expect.status(leaving.logout(), 200)
    expect.alive(staying, why="logout ends the current session only")
    ids = expect.listed_ids(staying)
    assert leaving_id not in ids, f"the logged-out session {leaving_id} is still listed: {ids}"
    assert len(ids) == 1, f"only the remaining session should be listed, got {ids}"


def test_logged_out_session_stays_dead_after_new_login(new_user, login):
    user = new_user()
    device = login(user)
    old = device.token
    expect.status(device.logout(), 200)
    expect.status(device.login(user.email, user.password), 200)
    assert device.token and device.token != old, "logging in again must issue a new token"
    expect.dead(device, old, why="a logged-out session must stay dead after the user logs in again")
    expect.alive(device)


def _default_path(request_path):
    # RFC 6265 5.1.4: where a browser scopes a cookie set without Path.
    return posixpath.dirname(request_path) or "/"


def _domain(attrs):
    return attrs.get("domain", "").lstrip(".").lower()


def test_logout_clears_the_cookie_with_its_own_path(new_user, new_device, target):
    user, device = new_user(), new_device()
    login_response = device.login(user.email, user.password)
    expect.status(login_response, 200)
    found = device.session_cookie(login_response)
    assert found is not None, f"POST /login set no `{target.cookie_name}` cookie"
    set_attrs = found[1]
    clear_attrs = _clearing_cookie(device, device.logout())
    # A browser deletes a cookie only when path and domain both match the ones it was set with.
    login_path = urlsplit(target.url("/login")).path
    logout_path = urlsplit(target.url("/logout")).path
    set_scope = (set_attrs.get("path") or _default_path(login_path), _domain(set_attrs))
    clear_scope = (clear_attrs.get("path") or _default_path(logout_path), _domain(clear_attrs))
    assert set_scope == clear_scope, (
        f"the cookie was set for (path, domain) {set_scope} but cleared for {clear_scope}: a browser keeps it"
    )
