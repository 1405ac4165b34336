"""HARD-ENUM: an unknown email and a wrong password get the same status and an identical body."""

import pytest

from conformance import expect
from conformance.client import random_email

pytestmark = pytest.mark.rule("HARD-ENUM")


def test_unknown_email_and_wrong_password_answer_identically(new_user, new_device):
    user = new_user()
    unknown = new_device().login(random_email("nobody"), user.password)
    wrong = new_device().login(user.email, user.password + "x")
    assert unknown.status_code == wrong.status_code, (
        f"an unknown email got {unknown.status_code} but a wrong password got {wrong.status_code}: "
        "the status tells which accounts exist"
    )
    assert unknown.content == wrong.content, (
        f"an unknown email got {unknown.content[:200]!r} but a wrong password got {wrong.content[:200]!r}: "
        "the body tells which accounts exist"
    )
    expect.error(wrong, 401)


def test_unknown_and_known_email_in_other_case_answer_identically(new_user, new_device):
    user = new_user()
    unknown = new_device().login(random_email("nobody").upper(), "wrong-password-1")
    wrong = new_device().login(user.email.upper(), "wrong-password-1")
    assert (unknown.status_code, unknown.content) == (wrong.status_code, wrong.content), (
        f"unknown email: {unknown.status_code} {unknown.content[:200]!r}; known email in upper case with a wrong "
        f"password: {wrong.status_code} {wrong.content[:200]!r}"
    )
