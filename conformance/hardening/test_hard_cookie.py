"""HARD-COOKIE: the session cookie is HttpOnly, SameSite, Path=/, has a lifetime, and is Secure over HTTPS."""

import pytest

from conformance import expect
from conformance.client import cookie_seconds_left

pytestmark = pytest.mark.rule("HARD-COOKIE")


@pytest.fixture
def login_cookie(new_user, new_device, target):
    """Return the raw attributes of the session cookie a fresh login sets."""
    user, device = new_user(), new_device()
    response = device.login(user.email, user.password)
    expect.status(response, 200)
    found = device.session_cookie(response)
    assert found is not None, f"POST /login set no `{target.cookie_name}` cookie"
    return found[1]


def test_session_cookie_is_httponly(login_cookie):
    assert "httponly" in login_cookie, f"the session cookie must be HttpOnly (scripts must not read it): {login_cookie}"


def test_session_cookie_samesite_is_lax_or_strict(login_cookie):
    value = login_cookie.get("samesite")
    assert value is not None and value.lower() in ("lax", "strict"), (
        f"the session cookie must carry SameSite=Lax or Strict, got {value!r}"
    )


def test_session_cookie_path_is_root(login_cookie):
    assert login_cookie.get("path") == "/", f"the session cookie must carry Path=/, got {login_cookie.get('path')!r}"


def test_session_cookie_has_a_lifetime(login_cookie):
    left = cookie_seconds_left(login_cookie)
    assert left is not None and left > 0, (
        f"the session cookie needs a lifetime in the future (Max-Age or Expires), got {login_cookie}"
    )


def test_session_cookie_is_secure_over_https(login_cookie, target):
    if not target.https:
        pytest.skip("the target is not declared as served over TLS: pass --https (or an https:// base URL)")
    assert "secure" in login_cookie, "a site served over HTTPS must mark its session cookie Secure"
