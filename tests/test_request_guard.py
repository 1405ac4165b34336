"""The guard every request passes before a route: method tokens and the cross-site check in any letter case."""

from __future__ import annotations

import pytest

FOREIGN = {"Origin": "https://evil.example"}


@pytest.mark.parametrize("method", ["post", "Post", "delete", "patch", "pOsT"])
def test_cross_site_check_ignores_the_letter_case_of_the_method(logged_in, method):
    device = logged_in()
    path = {"post": "/logout", "delete": "/me/sessions/others", "patch": "/me/sessions/x"}.get(method.lower(), "/logout")
    r = device.request(method, path, headers=FOREIGN)
    assert r.status == 403
    assert r.json == {"error": "Cross-site request refused."}
    # The session was not ended by the refused request.
    assert device.request("GET", "/me").status == 200


def test_lower_case_revoke_all_from_another_site_revokes_nothing(logged_in):
    device, other = logged_in(), logged_in()
    assert device.request("delete", "/me/sessions/others", headers=FOREIGN).status == 403
    assert other.request("GET", "/me").status == 200


def test_unknown_methods_from_another_site_are_refused_too(logged_in):
    device = logged_in()
    assert device.request("PROPPATCH", "/me/sessions/others", headers=FOREIGN).status == 403


@pytest.mark.parametrize("method", ["GET", "get", "HEAD", "OPTIONS"])
def test_safe_methods_from_another_site_are_not_refused_by_the_guard(logged_in, method):
    device = logged_in()
    assert device.request(method, "/me", headers=FOREIGN).status != 403


@pytest.mark.parametrize("method", ["PO ST", "GET\t", "(POST)", "", "P\u00d6ST", "POST/1"])
def test_methods_that_are_not_http_tokens_are_a_json_400(client_for, method):
    r = client_for().request(method, "/login", json={"email": "a@example.com", "password": "correct horse"})
    assert r.status == 400
    assert r.json == {"error": "Request method is not a valid HTTP token."}
