"""HARD-CORS: a foreign Origin is never echoed back together with Access-Control-Allow-Credentials: true."""

import pytest

from conformance import expect

pytestmark = pytest.mark.rule("HARD-CORS")

ROUTES = ["GET /me", "GET /me/sessions", "OPTIONS preflight", "POST /login"]


def _credentialed_for(response, origin):
    allowed = [value.strip() for value in response.headers.get("Access-Control-Allow-Origin", "").split(",")]
    credentials = response.headers.get("Access-Control-Allow-Credentials", "").strip().lower() == "true"
    return credentials and origin in allowed


# Every kind of foreign origin HARD-CSRF uses: another site, another port or
# scheme of the target's own host (a "localhost:*" allow-list left on), a
# look-alike that merely starts with the target's origin, and null.
ORIGIN_KINDS = ["other-site", "other-port", "other-scheme", "own-origin-prefix", "null"]


@pytest.mark.parametrize("kind", ORIGIN_KINDS)
@pytest.mark.parametrize("route", ROUTES)
def test_foreign_origin_gets_no_credentialed_cors(new_user, login, new_device, target, route, kind):
    origin = target.foreign_origins()[kind]
    user = new_user()
    device = login(user)
    headers = {"Origin": origin}
    if route == "GET /me":
        response = device.me(headers=headers)
    elif route == "GET /me/sessions":
        response = device.sessions(headers=headers)
    elif route == "OPTIONS preflight":
        headers.update({"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
        # Browsers send preflights without cookies.
        response = device.request("OPTIONS", "/me/sessions/revoke-all", headers=headers, cookie=None)
    else:
        response = new_device().login(user.email, user.password, headers=headers)
    assert not _credentialed_for(response, origin), (
        f"{expect.what(response)} with Origin: {origin} answered Access-Control-Allow-Origin: "
        f"{response.headers.get('Access-Control-Allow-Origin')} with Access-Control-Allow-Credentials: true, "
        "so any site can read this user's data with their cookie"
    )
