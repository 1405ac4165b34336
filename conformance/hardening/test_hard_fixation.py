"""HARD-FIXATION: login never adopts a session cookie it was sent; it always issues a fresh token."""

import secrets

import pytest

from conformance import expect


@pytest.mark.rule("HARD-FIXATION")
def test_login_never_adopts_a_planted_session_cookie(new_user, new_device):
    user, device = new_user(), new_device()
    planted = secrets.token_urlsafe(32)
    expect.status(device.login(user.email, user.password, cookie=planted), 200)
    assert device.token and device.token != planted, "login adopted the session cookie it was sent"
    expect.dead(device, planted, why="the planted value must not have become a session")


@pytest.mark.rule("HARD-FIXATION")
def test_login_replaces_a_live_planted_session(new_user, login, new_device):
    attacker_user, victim_user = new_user(), new_user()
    planted = login(attacker_user).token
    victim = new_device()
    expect.status(victim.login(victim_user.email, victim_user.password, cookie=planted), 200)
    assert victim.token and victim.token != planted, "login kept the session cookie it was sent"
    response = victim.me(cookie=planted, follow_cookies=False)
    if response.status_code == 200:
        body = expect.body_json(response)
        assert str(body.get("id")) != victim_user.id, "the planted token now authenticates as the user who logged in"
    me = expect.alive(victim)
    assert str(me.get("id")) == victim_user.id, "the fresh token must belong to the user who logged in"


@pytest.mark.rule("HARD-FIXATION")
def test_login_from_a_logged_in_device_issues_a_fresh_token(new_user, login):
    user = new_user()
    device = login(user)
    old = device.token
    expect.status(device.login(user.email, user.password), 200)
    assert device.token and device.token != old, "a second login on the same device must issue a fresh token"
