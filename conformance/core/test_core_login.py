"""CORE-LOGIN: POST /login opens a new session per login and refuses bad credentials alike."""

import pytest

from conformance import expect
from conformance.client import random_email

pytestmark = pytest.mark.rule("CORE-LOGIN")


def test_login_answers_200_and_sets_session_cookie(new_user, new_device, target):
    user, device = new_user(), new_device()
    response = device.login(user.email, user.password)
    expect.ok_object(response)
    cookie = device.session_cookie(response)
    assert cookie is not None and cookie[0], (
        f"POST /login answered 200 without a `{target.cookie_name}` cookie in Set-Cookie"
    )
    me = expect.alive(device, why="the cookie from the login must authenticate")
    assert str(me.get("id")) == user.id, f"GET /me after login names {me!r}, not user {user.id}"


@pytest.mark.parametrize(
    "body", [["a@example.com", "password1"], "a@example.com", 42, None], ids=["array", "string", "number", "null"]
)
def test_login_body_not_an_object_gets_400(new_device, body):
    expect.error(new_device().post("/login", json=body), 400)


@pytest.mark.parametrize("missing", ["email", "password", "both"])
def test_login_missing_field_gets_400(new_user, new_device, missing):
    user = new_user()
    body = {"email": user.email, "password": user.password}
    for field in ("email", "password") if missing == "both" else (missing,):
        del body[field]
    expect.error(new_device().post("/login", json=body), 400)


@pytest.mark.parametrize(
    "field, value", [("email", 42), ("email", None), ("password", 12345678), ("password", ["x"])]
)
def test_login_non_string_field_gets_400(new_user, new_device, field, value):
    user = new_user()
    body = {"email": user.email, "password": user.password, field: value}
    expect.error(new_device().post("/login", json=body), 400)


def test_login_with_unknown_email_gets_401(new_device):
    device = new_device()
    expect.error(device.login(random_email("nobody"), "some-password-1"), 401)
    assert device.token is None, "a refused login must not set a session cookie"


def test_login_with_wrong_password_gets_401(new_user, new_device):
    user, device = new_user(), new_device()
    expect.error(device.login(user.email, user.password + "x"), 401)
    assert device.token is None, "a refused login must not set a session cookie"


@pytest.mark.parametrize("case", ["upper", "mixed"])
def test_login_email_is_case_insensitive(new_user, new_device, case):
    user, device = new_user(), new_device()
    if case == "upper":
        email = user.email.upper()
    else:
        email = "".join(ch.upper() if i % 2 else ch.lower() for i, ch in enumerate(user.email))
    expect.status(device.login(email, user.password), 200, why="emails compare case-insensitively")
    me = expect.alive(device)
    assert str(me.get("id")) == user.id, f"login as {email!r} opened a session for {me!r}, not user {user.id}"


@pytest.mark.usefixtures("signup_available")
def test_login_finds_email_signed_up_in_other_case(new_device):
    email, password = random_email().replace("conf-", "Conf-").replace("example.com", "Example.COM"), "password-1"
    expect.status(new_device().signup(email, password), 201)
    expect.status(new_device().login(email.lower(), password), 200, why=f"signed up as {email!r}")


def test_second_login_keeps_first_session_alive(new_user, login, agents):
    user = new_user()
    first = login(user, agents[0])
    second = login(user, agents[1])
    assert first.token != second.token, "two logins must get two different session tokens"
    expect.alive(first, why="logging in from another device must not end this session")
    expect.alive(second)


def test_each_login_adds_a_session_to_the_list(new_user, login, agents):
    user = new_user()
    devices = [login(user, agent) for agent in agents[:3]]
    ids = expect.listed_ids(devices[-1])
    assert len(ids) == 3 and len(set(ids)) == 3, f"3 logins must list 3 distinct sessions, got ids {ids}"
