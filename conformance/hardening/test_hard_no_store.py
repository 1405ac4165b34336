"""HARD-NO-STORE: every response to an authenticated request carries Cache-Control: no-store."""

import pytest

from conformance import expect
from conformance.client import made_up_id, session_path

pytestmark = pytest.mark.rule("HARD-NO-STORE")

REQUESTS = [
    "GET /me",
    "GET /me/sessions",
    "DELETE {other}",
    "DELETE {unknown}",
    "DELETE {own}",
    "POST /me/sessions/revoke-all",
    "POST /logout",
]


@pytest.mark.parametrize("call", REQUESTS)
def test_authenticated_response_carries_no_store(new_user, login, call):
    user = new_user()
    device, other = login(user), login(user)
    own_id, other_id = expect.current_id(device), expect.current_id(other)
    method, path = call.split(" ", 1)
    ids = {"own": own_id, "other": other_id, "unknown": made_up_id(other_id)}
    path = path.format(**{name: session_path(value) for name, value in ids.items()})
    response = device.request(method, path)
    assert response.status_code != 401, f"{call}: the session should be valid here, got 401"
    directives = [
        part.strip().lower()
        for value in response.raw.headers.getlist("Cache-Control")
        for part in value.split(",")
    ]
    if "no-store" not in directives:
        sent = ", ".join(response.raw.headers.getlist("Cache-Control")) or "(none)"
        raise expect.Mismatch(
            f"{call} answered {response.status_code} with Cache-Control: {sent}; it needs no-store",
            f"{call}: Cache-Control: no-store",
            f"{response.status_code} with Cache-Control: {sent}",
        )
