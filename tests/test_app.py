"""The app seen from inside: settings, timeouts on an injected clock, logs, crashes, proxies.

The contract's rules are checked over HTTP by the conformance suite
(tests/test_reference_conformance.py runs it); these tests cover what only
a white-box test can see or set up.
"""

from __future__ import annotations

import ipaddress
import logging

import pytest

from impl import Config, create_app
from impl.store import StoreBusy

from .conftest import FAST, FIREFOX_WIN, SAFARI_IPHONE, Client


def test_idle_session_ends_after_the_idle_timeout(logged_in, clock):
    device, other = logged_in(), logged_in(FIREFOX_WIN)
    clock.advance(1799)
    assert other.request("GET", "/me").status == 200
    clock.advance(2)  # 1801 s since `device` was last used
    assert device.request("GET", "/me").status == 401
    assert [s["deviceName"] for s in other.request("GET", "/me/sessions").json] == ["Firefox on Windows"]


def test_activity_keeps_a_session_alive_past_the_idle_timeout(logged_in, clock):
    device = logged_in()
    for _ in range(10):  # 10 x 20 min = 200 min of steady use
        clock.advance(20 * 60)
        assert device.request("GET", "/me").status == 200


def test_absolute_timeout_ends_even_a_busy_session(logged_in, clock):
    device = logged_in()
    for _ in range(71):  # used every 20 minutes, never idle...
        clock.advance(20 * 60)
        assert device.request("GET", "/me").status == 200
    clock.advance(20 * 60)  # ...but now 24 h old
    assert device.request("GET", "/me").status == 401


def test_last_active_moves_once_per_touch_interval(logged_in, clock):
    device = logged_in()
    created = device.request("GET", "/me/sessions").json[0]["lastActiveAt"]
    clock.advance(59)
    assert device.request("GET", "/me/sessions").json[0]["lastActiveAt"] == created
    clock.advance(2)
    moved = device.request("GET", "/me/sessions").json[0]
    assert moved["lastActiveAt"] > created
    assert moved["createdAt"] == created


def test_list_is_ordered_by_last_activity(logged_in, clock):
    first = logged_in()
    clock.advance(5)
    second = logged_in(FIREFOX_WIN)
    names = [s["deviceName"] for s in second.request("GET", "/me/sessions").json]
    assert names == ["Firefox on Windows", "Chrome on macOS"]
    clock.advance(61)
    first.request("GET", "/me")  # first is now the most recently active
    clock.advance(1)
    names = [s["deviceName"] for s in first.request("GET", "/me/sessions").json]
    assert names == ["Chrome on macOS", "Firefox on Windows"]


def test_session_cookie_lives_as_long_as_the_absolute_timeout(make_app):
    device = Client(make_app(absolute_timeout=7200))
    device.signup("ann@example.com")
    [cookie] = device.login("ann@example.com").headers_named("Set-Cookie")
    assert "Max-Age=7200" in cookie
    assert "Secure" not in cookie


def test_https_setting_marks_cookies_secure_on_login_and_logout(make_app):
    device = Client(make_app(https=True))
    device.signup("ann@example.com")
    assert "; Secure" in device.login("ann@example.com").header("Set-Cookie")
    assert "; Secure" in device.request("POST", "/logout", headers={"Origin": "https://localhost:3000"}).header(
        "Set-Cookie"
    )


def test_listed_ip_is_the_forwarded_client_behind_a_trusted_proxy(make_app):
    app = make_app(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    device = Client(app, remote_addr="10.1.2.3")
    device.signup("ann@example.com")
    device.request(
        "POST",
        "/login",
        json={"email": "ann@example.com", "password": "correct horse"},
        headers={"X-Forwarded-For": "203.0.113.50"},
    )
    assert device.request("GET", "/me/sessions").json[0]["ip"] == "203.0.113.50"


def test_forwarded_for_is_ignored_without_a_trusted_proxy(client_for, user):
    device = client_for(remote_addr="192.0.2.1")
    device.request(
        "POST", "/login", json={"email": user, "password": "correct horse"}, headers={"X-Forwarded-For": "1.2.3.4"}
    )
    assert device.request("GET", "/me/sessions").json[0]["ip"] == "192.0.2.1"


def test_logs_never_contain_tokens_or_passwords(make_app, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    device = Client(make_app(access_log=True), user_agent=SAFARI_IPHONE)
    device.signup("ann@example.com", "secret-password-1")
    device.login("ann@example.com", "secret-password-1")
    token = device.token
    device.request("GET", "/me/sessions")
    device.request("GET", f"/me?token={token}")  # even a token the client put in a URL
    device.request("DELETE", "/me/sessions/nope%0Aforged")
    device.request("POST", "/logout")
    captured = capsys.readouterr()
    text = "\n".join(r.getMessage() for r in caplog.records) + captured.err + captured.out
    assert "POST /login 200" in text and "GET /me/sessions 200" in text
    assert token not in text
    assert "secret-password-1" not in text
    assert "\nforged" not in text  # a decoded %0A cannot forge a log line


def test_unexpected_error_is_a_json_500_without_a_traceback(app, client_for, user, monkeypatch, caplog):
    device = client_for()
    device.login(user)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.services.store, "list_sessions", broken)
    response = device.request("GET", "/me/sessions")
    assert response.status == 500
    assert response.json == {"error": "Internal server error."}
    assert response.header("Content-Type") == "application/json"
    assert response.header("Cache-Control") == "no-store"
    assert b"secret internals" not in response.body


def test_busy_database_during_activity_write_does_not_fail_the_request(app, logged_in, clock, monkeypatch):
    device = logged_in()
    clock.advance(120)

    def locked(*args):
        raise StoreBusy("database is locked")

    monkeypatch.setattr(app.services.store, "touch_session", locked)
    assert device.request("GET", "/me").status == 200


def test_login_upgrades_a_password_hash_made_with_older_parameters(db_path, clock):
    old = Client(create_app(Config(db=db_path, **{**FAST, "scrypt_n": 4}), clock=clock))
    old.signup("ann@example.com")
    new_app = create_app(Config(db=db_path, **{**FAST, "scrypt_n": 8}), clock=clock)
    assert Client(new_app).login("ann@example.com").status == 200
    stored = new_app.services.store.find_user("ann@example.com").password_hash
    assert stored.startswith("scrypt$8$8$1$")
    assert Client(new_app).login("ann@example.com").status == 200


def test_email_is_kept_as_written_and_compared_case_insensitively(client_for):
    device = client_for()
    assert device.signup("  Ann.Lee@Example.COM ").json["email"] == "Ann.Lee@Example.COM"
    assert device.login("ann.lee@example.com").status == 200
    assert device.request("GET", "/me").json["email"] == "Ann.Lee@Example.COM"


@pytest.mark.parametrize(
    "email",
    ["plain", "a@", "@b.org", "a b@c.org", "a@b..org", "a@-b.org", "a\n@b.org", "a@b.org\x00", "ä@b.org", "a" * 250 + "@b.org"],
)
def test_signup_refuses_what_is_not_an_email_address(client_for, email):
    assert client_for().signup(email).status == 400


def test_signup_refuses_absurdly_long_passwords(client_for):
    response = client_for().signup("ann@example.com", "x" * 1025)
    assert response.status == 400 and "at most 1024" in response.json["error"]


def test_two_apps_on_one_database_see_each_others_revocations(make_app):
    # Two apps on one file stand for two worker processes.
    worker_a, worker_b = make_app(), make_app()
    Client(worker_a).signup("ann@example.com")
    phone = Client(worker_a, user_agent=SAFARI_IPHONE)
    phone.login("ann@example.com")
    laptop = Client(worker_b)
    laptop.login("ann@example.com")
    assert laptop.request("POST", "/me/sessions/revoke-all").status == 200
    assert phone.request("GET", "/me").status == 401
    phone_on_b = Client(worker_b, token=phone.token)
    assert phone_on_b.request("GET", "/me").status == 401


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/healthz", {}, 200),
        ("GET", "/me", {}, 401),
        ("GET", "/no/such/route", {}, 404),
        ("PUT", "/me", {}, 405),
        ("POST", "/logout", {"Origin": "http://evil.example"}, 403),
        ("POST", "/signup", {"Content-Length": "70000"}, 413),
    ],
)
def test_every_answer_is_json_and_uncacheable(client_for, method, path, headers, status):
    response = client_for().request(method, path, headers=headers)
    assert response.status == status
    assert response.header("Content-Type") == "application/json"
    assert response.header("Cache-Control") == "no-store"
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert isinstance(response.json, dict)
