"""What an attacker sends gets the same clear 4xx on every backend, and leaves the store as it was.

Each test runs on SQLite and on PostgreSQL through the app's public routes:
text no database can hold (NUL, lone surrogates, very long values) in every
field of every body (HARD-BAD-INPUT); a client address written many ways
(one client, one throttle count); a flood of failed logins (a bounded
security log); a `before` that is not the user's own cursor (EXT-ACTIVITY);
and the small ones (an Origin with userinfo, an invisible session name, an
empty session id).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from impl import create_app

from .conftest import FAST, Client, FakeClock
from .store_backends import BACKENDS

PASSWORD = "correct horse"
NEW_PASSWORD = "battery staple"
# The three kinds of text HARD-BAD-INPUT names, each as JSON carries it.
UNSTORABLE = {"nul": "a\u0000b", "surrogate": "a\ud800b", "long": "x" * 5000}


@pytest.fixture(params=sorted(BACKENDS))
def database(request, tmp_path) -> str:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def make(database):
    def build(**settings: Any) -> Any:
        return create_app({"db": database, **FAST, **settings}, clock=FakeClock())

    return build


@pytest.fixture
def app(make):
    return make()


def raw(device: Client, method: str, path: str, body: dict[str, Any]) -> Any:
    # ensure_ascii keeps NUL and surrogates as \u escapes: valid JSON, as an attacker sends it.
    return device.request(method, path, body=json.dumps(body).encode("ascii"))


def account(app, email: str = "ann@example.com") -> Client:
    device = Client(app)
    assert device.signup(email, PASSWORD).status == 201
    assert device.login(email, PASSWORD).status == 200
    return device


def refused(response, case: str = "") -> None:
    assert response.status == 400, (case, response.status, response.body[:200])
    assert isinstance(response.json["error"], str)


# -- HARD-BAD-INPUT: the same 400 on both backends, nothing changed -------------------------


def test_unstorable_text_in_signup_and_login_is_400_and_changes_nothing(make):
    app = make(throttle_limit=0)  # the checks log in as bob again and again
    owner = account(app)

    def body(email: str, field: str, bad: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"email": email, "password": PASSWORD}
        if field == "email":
            fields["email"] = email.replace("@", bad + "@")
        elif field == "password":
            fields["password"] += bad
        elif field == "extra":
            fields["device"] = bad
        elif field == "nested":
            fields["client"] = {"names": [bad]}
        else:
            fields[bad] = 1
        return fields

    for kind, bad in UNSTORABLE.items():
        for field in ("email", "password", "extra", "nested", "key"):
            case = f"{kind} in {field}"
            refused(raw(Client(app), "POST", "/signup", body("bob@example.com", field, bad)), case)
            assert Client(app).login("bob@example.com", PASSWORD).status == 401, f"{case}: the refused signup created nothing"
            guest = Client(app)
            refused(raw(guest, "POST", "/login", body("ann@example.com", field, bad)), case)
            assert guest.token is None, case
    assert len(owner.request("GET", "/me/sessions").json) == 1, "no refused login started a session"


def test_unstorable_text_in_a_password_change_is_400_and_changes_nothing(app):
    owner = account(app)
    for kind, bad in UNSTORABLE.items():
        for field in ("currentPassword", "newPassword"):
            fields = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
            fields[field] += bad
            refused(raw(owner, "POST", "/me/password", fields), f"{kind} in {field}")
            assert owner.request("GET", "/me").status == 200
    assert Client(app).login("ann@example.com", PASSWORD).status == 200, "the password is unchanged"


def test_unstorable_text_in_a_session_name_is_400_and_changes_nothing(app):
    owner = account(app)
    (me,) = owner.request("GET", "/me/sessions").json
    for kind, bad in UNSTORABLE.items():
        refused(raw(owner, "PATCH", f"/me/sessions/{me['id']}", {"name": "Work" + bad}), kind)
    assert owner.request("GET", "/me/sessions").json[0]["name"] is None


# -- the client address behind a trusted proxy -------------------------------------------------


def test_one_address_written_three_ways_is_one_throttle_count(make):
    app = make(trusted_proxies="127.0.0.1", throttle_limit=3)
    account(app)
    forms = ["2001:DB8::1", "2001:0db8::0001", "2001:db8::1%eth0"]
    answers = [
        Client(app).request(
            "POST", "/login", json={"email": "ann@example.com", "password": "wrong"}, headers={"X-Forwarded-For": ip}
        ).status
        for ip in forms + forms[:1]
    ]
    assert answers == [401, 401, 401, 429], answers
    elsewhere = Client(app)
    assert elsewhere.request(
        "POST", "/login", json={"email": "ann@example.com", "password": PASSWORD}, headers={"X-Forwarded-For": "2001:db8::2"}
    ).status == 200


def test_a_long_zone_id_is_neither_a_503_nor_stored(make):
    app = make(trusted_proxies="127.0.0.1")
    owner = account(app)
    device = Client(app)
    response = device.request(
        "POST",
        "/login",
        json={"email": "ann@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "2001:db8::1%" + "e" * 2800},
    )
    assert response.status == 200, response.body
    assert sorted(s["ip"] for s in owner.request("GET", "/me/sessions").json) == ["127.0.0.1", "2001:db8::1"]


def test_a_hop_that_is_not_an_address_counts_as_no_header(make):
    app = make(trusted_proxies="127.0.0.1")
    owner = account(app)
    device = Client(app)
    headers = {"X-Forwarded-For": "198.51.100.7, " + "not-an-address" * 200}
    assert device.request("POST", "/login", json={"email": "ann@example.com", "password": PASSWORD}, headers=headers).status == 200
    assert [s["ip"] for s in owner.request("GET", "/me/sessions").json] == ["127.0.0.1", "127.0.0.1"]


# -- a flood of failed logins: a bounded log ---------------------------------------------------


def failed_events(owner: Client) -> list[dict[str, Any]]:
    return [e for e in owner.request("GET", "/me/activity?limit=200").json if e["type"] == "login_failed"]


def test_failed_logins_from_one_address_are_one_event_with_a_count(make):
    app = make(throttle_limit=0)
    owner = account(app)
    for _ in range(40):
        assert Client(app).login("ann@example.com", "wrong password").status == 401
    (event,) = failed_events(owner)
    assert event["count"] == 40 and event["ip"] == "127.0.0.1"
    assert event["lastAt"] >= event["at"]


def test_failed_logins_from_many_addresses_stay_within_the_bound(make):
    app = make(throttle_limit=0, trusted_proxies="127.0.0.1")
    owner = account(app)
    for i in range(60):
        guesser = Client(app)
        answer = guesser.request(
            "POST", "/login", json={"email": "ann@example.com", "password": "wrong"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert answer.status == 401
    found = failed_events(owner)
    assert len(found) == 5, [e["ip"] for e in found]
    assert sum(e["count"] for e in found) == 60, "every failure is counted in some event"


# -- EXT-ACTIVITY: before is the user's own cursor -------------------------------------------------


def test_before_must_be_one_of_the_users_own_event_ids(app):
    owner, stranger = account(app), account(app, "bob@example.com")
    own = [e["id"] for e in owner.request("GET", "/me/activity").json]
    foreign = [e["id"] for e in stranger.request("GET", "/me/activity").json]
    assert owner.request("GET", f"/me/activity?before={own[0]}").status == 200
    for cursor in (foreign[0], str(int(max(own + foreign, key=int)) + 1000), "999999999999999999"):
        refused(owner.request("GET", f"/me/activity?before={cursor}"))


# -- the small ones ----------------------------------------------------------------------------------


def test_an_origin_with_userinfo_is_not_our_origin(app):
    owner = account(app)
    response = owner.request("POST", "/logout", headers={"Origin": "http://x@localhost:3000"})
    assert response.status == 403
    assert owner.request("GET", "/me").status == 200


def test_a_name_of_invisible_characters_only_is_400(app):
    owner = account(app)
    (me,) = owner.request("GET", "/me/sessions").json
    for name in ("\u200b", "\ufeff\u200b\u2060", " \u3164 ", "\u200d\u034f", "\u2800"):
        refused(owner.request("PATCH", f"/me/sessions/{me['id']}", json={"name": name}), ascii(name))
    assert owner.request("PATCH", f"/me/sessions/{me['id']}", json={"name": "Work\u200blaptop"}).status == 200


def test_an_empty_session_id_is_the_one_404(app):
    owner = account(app)
    for method in ("DELETE", "PATCH"):
        response = owner.request(method, "/me/sessions/", json={"name": "x"} if method == "PATCH" else None)
        assert (response.status, response.json) == (404, {"error": "Session not found"})
    assert Client(app).request("DELETE", "/me/sessions/").status == 401
