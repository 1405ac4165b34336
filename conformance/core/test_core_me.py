"""CORE-ME: GET /me names the session's user, and is 401 without a valid session."""

import secrets

import pytest

from conformance import diagnoses, expect

pytestmark = pytest.mark.rule("CORE-ME")


def test_me_answers_200_with_id_and_email(new_user, login):
    user = new_user()
    body = expect.alive(login(user))
    assert str(body.get("id")) == user.id, f"GET /me must give the user's id {user.id!r}, got {body!r}"
    assert isinstance(body.get("email"), str) and body["email"].lower() == user.email.lower(), (
        f"GET /me must give the user's email {user.email!r}, got {body!r}"
    )


def test_me_without_cookie_gets_401(new_device):
    device = new_device()
    try:
        response = device.me(cookie=None)
    finally:
        # A 200 may fail on its body (the contract's schema) before the status below is looked at.
        if device.target.log.items and device.target.log.items[-1].status == 200:
            diagnoses.record(diagnoses.ME_WITHOUT_SESSION)
    expect.error(response, 401)


@pytest.mark.parametrize(
    "token",
    [secrets.token_urlsafe(32), "garbage", ""],
    ids=["random-43-chars", "short-word", "empty"],
)
def test_me_with_unknown_token_gets_401(new_device, token):
    expect.error(new_device().me(cookie=token), 401)


def test_me_answers_for_each_sessions_own_user(new_user, login):
    first, second = new_user(), new_user()
    first_device, second_device = login(first), login(second)
    named = [str(expect.alive(device).get("id")) for device in (second_device, first_device)]
    if named[0] == first.id or named[1] == second.id:
        diagnoses.record(diagnoses.ME_WRONG_USER)
    assert named[0] == second.id, f"GET /me named the wrong user: {named[0]!r} instead of {second.id!r}"
    assert named[1] == first.id, f"GET /me named the wrong user: {named[1]!r} instead of {first.id!r}"
