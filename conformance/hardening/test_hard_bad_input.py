"""HARD-BAD-INPUT: malformed or oversized input gets a JSON 4xx, never a 5xx, and changes nothing."""

import json

import pytest

from conformance import expect
from conformance.client import random_email, random_password, session_path

pytestmark = pytest.mark.rule("HARD-BAD-INPUT")

LIMIT = 64 * 1024


def _malformed(email, password):
    """Bodies that are not a valid JSON object, each naming `email` so a check can see nothing was created."""
    good = json.dumps({"email": email, "password": password})
    return {
        "truncated": good[:-1].encode(),
        "trailing-garbage": (good + " x").encode(),
        "single-quotes": good.replace('"', "'").encode(),
        "invalid-utf8": good.replace(password, "\udcff").encode("utf-8", "surrogateescape"),
        "unquoted-key": good.replace('"email"', "email", 1).encode(),
        "deeply-nested": good.replace(f'"{password}"', "[" * 50_000 + "]" * 50_000).encode(),
        "huge-integer": good.replace(f'"{password}"', "9" * 5000).encode(),
        "array-not-object": f"[{good}]".encode(),
        "empty": b"",
    }


MALFORMED = list(_malformed("a@example.com", "password-1"))

WRONG_TYPES = {
    "operator-email": lambda email, password: {"email": {"$ne": None}, "password": password},
    "operator-password": lambda email, password: {"email": email, "password": {"$ne": None}},
    "array-password": lambda email, password: {"email": email, "password": [password]},
    "number-password": lambda email, password: {"email": email, "password": 1e999},
    "boolean-password": lambda email, password: {"email": email, "password": True},
    "missing-password": lambda email, password: {"email": email},
    "null-email": lambda email, password: {"email": None, "password": password},
}


def _padded(email, password, size):
    """Return a JSON object of exactly `size` bytes holding the credentials and padding."""
    body = {"email": email, "password": password, "padding": ""}
    body["padding"] = "x" * (size - len(json.dumps(body).encode()))
    data = json.dumps(body).encode()
    assert len(data) == size
    return data


def _post_raw(device, path, data, **kwargs):
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return device.post(path, data=data, headers=headers, **kwargs)


def _signup_still_free(new_device, email):
    response = new_device().signup(email, random_password())
    expect.status(response, 201, why=f"the refused request must not have created {email}")


@pytest.mark.usefixtures("signup_available")
@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_json_signup_gets_4xx_and_creates_nothing(new_device, kind):
    email = random_email()
    expect.client_error(_post_raw(new_device(), "/signup", _malformed(email, random_password())[kind]))
    _signup_still_free(new_device, email)


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_json_login_gets_4xx_and_no_session(new_user, new_device, kind):
    user, device = new_user(), new_device()
    expect.client_error(_post_raw(device, "/login", _malformed(user.email, user.password)[kind]))
    assert device.token is None, "a refused login must not set a session cookie"


@pytest.mark.usefixtures("signup_available")
@pytest.mark.parametrize("kind", WRONG_TYPES)
def test_wrong_types_signup_gets_4xx_and_creates_nothing(new_device, kind):
    email = random_email()
    expect.client_error(new_device().post("/signup", json=WRONG_TYPES[kind](email, random_password())))
    _signup_still_free(new_device, email)


@pytest.mark.parametrize("kind", WRONG_TYPES)
def test_wrong_types_login_gets_4xx_and_no_session(new_user, new_device, kind):
    user, device = new_user(), new_device()
    expect.client_error(device.post("/login", json=WRONG_TYPES[kind](user.email, user.password)))
    assert device.token is None, "a refused login must not set a session cookie"


@pytest.mark.usefixtures("signup_available")
def test_signup_body_over_64_kib_gets_413(new_device):
    email = random_email()
    response = _post_raw(new_device(), "/signup", _padded(email, random_password(), LIMIT + 1))
    expect.error(response, 413, why=f"a body of {LIMIT + 1} bytes is over 64 KiB")
    _signup_still_free(new_device, email)


def test_login_body_over_64_kib_gets_413(new_user, new_device):
    user, device = new_user(), new_device()
    response = _post_raw(device, "/login", _padded(user.email, user.password, LIMIT + 1))
    expect.error(response, 413, why=f"a body of {LIMIT + 1} bytes is over 64 KiB")
    assert device.token is None, "a refused login must not set a session cookie"


def test_login_body_of_exactly_64_kib_is_not_413(new_user, new_device):
    user = new_user()
    response = _post_raw(new_device(), "/login", _padded(user.email, user.password, LIMIT))
    assert response.status_code != 413, f"a body of exactly {LIMIT} bytes is not over 64 KiB, got 413"
    assert response.status_code < 500, f"POST /login with a {LIMIT}-byte body answered {response.status_code}"


@pytest.mark.usefixtures("signup_available")
def test_chunked_body_over_64_kib_gets_4xx(new_device):
    email = random_email()
    data = _padded(email, random_password(), LIMIT + 1)
    chunks = (data[i : i + 8192] for i in range(0, len(data), 8192))
    expect.client_error(_post_raw(new_device(), "/signup", chunks), why="a chunked body over 64 KiB")
    _signup_still_free(new_device, email)


@pytest.mark.usefixtures("signup_available")
def test_very_long_fields_are_not_a_5xx(new_device):
    response = new_device().signup(random_email(), "p" * 60_000)
    assert response.status_code < 500, f"POST /signup with a 60 000-character password answered {response.status_code}"
    expect.body_json(response)
    response = new_device().signup("a" * 60_000 + "@example.com", random_password())
    assert response.status_code < 500, f"POST /signup with a 60 000-character email answered {response.status_code}"
    expect.body_json(response)


@pytest.mark.usefixtures("signup_available")
def test_lone_surrogate_in_json_is_not_a_5xx(new_device):
    data = b'{"email": "' + random_email().encode() + b'", "password": "pass\\ud800word"}'
    response = _post_raw(new_device(), "/signup", data)
    assert response.status_code < 500, f"a lone surrogate escape in a JSON string answered {response.status_code}"
    if response.status_code >= 400:
        expect.error_body(response)


GARBAGE_COOKIES = {
    "percent-junk": "{name}=%%%",
    "quoted": '{name}="quoted value"',
    "sql": "{name}=' OR '1'='1",
    "path": "{name}=../../etc/passwd",
    "non-ascii": "{name}=\xe9t\xe9",
    "no-equals": "{name}",
    "empty-name": "=garbage",
    "duplicated": "{name}=garbage; {name}=other-garbage",
    "semicolons": ";;; ;",
    "long-4k": "{name}=" + "A" * 4000,
}


@pytest.mark.parametrize("path", ["/me", "/me/sessions"])
@pytest.mark.parametrize("kind", GARBAGE_COOKIES)
def test_garbage_cookie_gets_401_with_json_error(new_device, target, kind, path):
    header = GARBAGE_COOKIES[kind].format(name=target.cookie_name).encode("latin-1")
    expect.error(new_device().get(path, headers={"Cookie": header}), 401)


def test_oversized_cookie_header_gets_400_401_or_431(new_user, login, new_device, target):
    header = f"{target.cookie_name}=" + "A" * (24 * 1024)
    response = new_device().me(headers={"Cookie": header})
    expect.status(response, 400, 401, 431, why="a 24 KiB Cookie header")
    if response.status_code != 431:
        # 431 often comes from the HTTP layer in front of the application.
        expect.error_body(response)
    expect.alive(login(new_user()), why="the server must keep serving after an oversized header")


GARBAGE_IDS = {
    "long": "x" * 3000,
    "nul": "%00",
    "traversal": "..%2F..%2Fme",
    "sql": "1%27%3B%20DROP%20TABLE%20sessions%3B%20--",
    "non-ascii": "%E2%98%83",
    "negative": "-1",
    "zero": "0",
    "bad-percent": "%ZZ",
    "space": "%20",
    "null": "null",
    "object": "%7B%7D",
    "surrogate": "%ED%A0%80",
    "nul-inside": "abc%00def",
}


@pytest.mark.parametrize("kind", GARBAGE_IDS)
def test_garbage_session_id_gets_4xx_and_revokes_nothing(new_user, login, kind):
    user = new_user()
    device, other = login(user), login(user)
    # Sent as written: these are already percent-encoded where they need to be.
    expect.client_error(device.delete(f"/me/sessions/{GARBAGE_IDS[kind]}"))
    expect.alive(device, why="a refused revoke revokes nothing")
    expect.alive(other, why="a refused revoke revokes nothing")


@pytest.mark.parametrize("path", ["/no-such-route", "/me/sessions/a/b", "/me/nothing"])
def test_unknown_route_gets_json_4xx(new_user, login, path):
    # The contract fixes no status for a route it does not define (404 and 405 both
    # make sense for /me/sessions/a/b), only that errors are JSON and never 5xx.
    expect.client_error(login(new_user()).get(path))


@pytest.mark.parametrize("call", ["GET /login", "GET /signup", "PUT /me", "DELETE /me/sessions", "GET /logout"])
def test_wrong_method_gets_json_4xx(new_user, login, call):
    method, path = call.split(" ", 1)
    expect.client_error(login(new_user()).request(method, path))


# Strings that are valid JSON but that some databases refuse: PostgreSQL takes
# no NUL in text, no UTF-8 column holds a lone surrogate, and a long value
# overflows an index row. Sent as JSON escapes (\u0000, \ud800), as any client can.
UNSTORABLE = {"nul": "\u0000", "surrogate": "\ud800", "long": "x" * 20_000}
NOT_BELOW_EXTENSIONS = "not applicable below --level extensions: the extension endpoints are out of scope"


def _with(value, bad):
    """`value` carrying `bad`: inside an email's local part, at the end of anything else."""
    return value.replace("@", bad + "@", 1) if "@" in value else value + bad


@pytest.mark.usefixtures("signup_available")
@pytest.mark.parametrize("kind", UNSTORABLE)
@pytest.mark.parametrize("field", ["email", "password"])
def test_unstorable_text_in_signup_gets_4xx_and_creates_nothing(new_device, field, kind):
    body = {"email": random_email(), "password": random_password()}
    sent = {**body, field: _with(body[field], UNSTORABLE[kind])}
    expect.client_error(new_device().post("/signup", json=sent), why=f"a {kind} in {field}")
    _signup_still_free(new_device, body["email"])


@pytest.mark.parametrize("kind", UNSTORABLE)
@pytest.mark.parametrize("field", ["email", "password"])
def test_unstorable_text_in_login_gets_4xx_and_no_session(new_user, new_device, field, kind):
    user, device = new_user(), new_device()
    body = {"email": user.email, "password": user.password}
    sent = {**body, field: _with(body[field], UNSTORABLE[kind])}
    expect.client_error(device.post("/login", json=sent), why=f"a {kind} in {field}")
    assert device.token is None, f"a login refused for a {kind} in {field} must not set a session cookie"


@pytest.mark.usefixtures("own_accounts")  # a change wrongly accepted would lose a given account's password
@pytest.mark.parametrize("kind", UNSTORABLE)
@pytest.mark.parametrize("field", ["currentPassword", "newPassword"])
def test_unstorable_text_in_password_change_gets_4xx_and_changes_nothing(
    new_user, login, new_device, suite_level, field, kind
):
    if suite_level != "extensions":
        pytest.skip(NOT_BELOW_EXTENSIONS + " (POST /me/password, EXT-PASSWORD)")
    user = new_user()
    device = login(user)
    body = {"currentPassword": user.password, "newPassword": random_password()}
    sent = {**body, field: _with(body[field], UNSTORABLE[kind])}
    expect.client_error(device.post("/me/password", json=sent), why=f"POST /me/password with a {kind} in {field}")
    expect.alive(device, why="a refused password change changes nothing")
    expect.status(new_device().login(user.email, user.password), 200, why="the password must be unchanged")


@pytest.mark.parametrize("kind", UNSTORABLE)
def test_unstorable_text_in_session_name_gets_4xx_and_changes_nothing(new_user, login, suite_level, kind):
    if suite_level != "extensions":
        pytest.skip(NOT_BELOW_EXTENSIONS + " (PATCH /me/sessions/{id}, EXT-RENAME)")
    device = login(new_user())
    own = expect.current_entry(device)
    path = session_path(own["id"])
    expect.client_error(device.request("PATCH", path, json={"name": "Work" + UNSTORABLE[kind]}), why=f"a {kind} in name")
    after = expect.current_entry(device)
    assert after.get("name") == own.get("name"), f"a refused rename must leave the name as it was, got {after.get('name')!r}"


# The same three in the query of GET /me/activity: percent-encoded NUL, the
# UTF-8 bytes of a surrogate (which no decoder may turn into one), a long value.
UNSTORABLE_QUERY = {"nul": "%00", "surrogate": "%ED%A0%80", "long": "9" * 3000}


@pytest.mark.parametrize("kind", UNSTORABLE_QUERY)
@pytest.mark.parametrize("param", ["before", "limit"])
def test_unstorable_text_in_activity_query_gets_4xx(new_user, login, suite_level, param, kind):
    if suite_level != "extensions":
        pytest.skip(NOT_BELOW_EXTENSIONS + " (GET /me/activity, EXT-ACTIVITY)")
    device = login(new_user())
    expect.client_error(device.get(f"/me/activity?{param}={UNSTORABLE_QUERY[kind]}"), why=f"a {kind} in ?{param}=")
