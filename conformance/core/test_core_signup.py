"""CORE-SIGNUP: POST /signup creates an account, refuses bad input and does not log in."""

import pytest

from conformance import expect
from conformance.client import random_email, random_password

pytestmark = [pytest.mark.rule("CORE-SIGNUP"), pytest.mark.usefixtures("signup_available")]


def test_signup_answers_201_with_id_and_email(new_device):
    email = random_email()
    body = expect.ok_object(new_device().signup(email, random_password()), 201)
    user_id = body.get("id")
    assert isinstance(user_id, (str, int)) and not isinstance(user_id, bool) and str(user_id).strip(), (
        f"POST /signup: the 201 body needs a non-empty \"id\", got {body!r}"
    )
    assert isinstance(body.get("email"), str) and body["email"].lower() == email.lower(), (
        f"POST /signup: the 201 body must echo the email {email!r}, got {body!r}"
    )


def test_signup_does_not_log_in(new_device):
    device = new_device()
    expect.status(device.signup(random_email(), random_password()), 201)
    # The device kept whatever cookie the signup set, as a browser would.
    expect.error(device.me(), 401, why="signing up must not log in")


@pytest.mark.parametrize(
    "body",
    [["a@example.com", "password1"], "a@example.com", 42, None, True],
    ids=["array", "string", "number", "null", "boolean"],
)
def test_signup_body_not_an_object_gets_400(new_device, body):
    expect.error(new_device().post("/signup", json=body), 400)


@pytest.mark.parametrize("missing", ["email", "password", "both"])
def test_signup_missing_field_gets_400(new_device, missing):
    body = {"email": random_email(), "password": random_password()}
    for field in ("email", "password") if missing == "both" else (missing,):
        del body[field]
    expect.error(new_device().post("/signup", json=body), 400)


@pytest.mark.parametrize(
    "field, value",
    [
        ("email", 42),
        ("email", None),
        ("email", ["a@example.com"]),
        ("password", 12345678),
        ("password", None),
        ("password", {"secret": "12345678"}),
        ("password", True),
    ],
)
def test_signup_non_string_field_gets_400(new_device, field, value):
    body = {"email": random_email(), "password": random_password(), field: value}
    expect.error(new_device().post("/signup", json=body), 400)


@pytest.mark.parametrize(
    "email", ["not-an-email", "", "user@", "@example.com", "two@@example.com"], ids=repr
)
def test_signup_email_not_an_address_gets_400(new_device, email):
    expect.error(new_device().signup(email, random_password()), 400)


def test_signup_password_of_7_chars_gets_400(new_device):
    expect.error(new_device().signup(random_email(), "pw-1234"), 400, why="a password needs 8 characters")


def test_signup_password_of_8_chars_is_accepted(new_device):
    expect.status(new_device().signup(random_email(), "pw-12345"), 201, why="8 characters are enough")


def test_signup_duplicate_email_gets_409(new_device):
    device, email = new_device(), random_email()
    expect.status(device.signup(email, random_password()), 201)
    expect.error(device.signup(email, random_password()), 409)


def test_signup_duplicate_email_in_other_case_gets_409(new_device):
    device, email = new_device(), random_email()
    expect.status(device.signup(email, random_password()), 201)
    expect.error(device.signup(email.upper(), random_password()), 409, why="emails compare case-insensitively")


def test_refused_duplicate_signup_leaves_account_unchanged(new_device):
    device, email, password = new_device(), random_email(), random_password()
    expect.status(device.signup(email, password), 201)
    expect.status(device.signup(email.upper(), "other-" + password), 409)
    expect.status(new_device().login(email, password), 200, why="the first password must still work")
    expect.error(new_device().login(email, "other-" + password), 401, why="the refused signup set no password")
