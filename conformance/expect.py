"""Assertions about HTTP answers, each failing with a one-line message a student can act on."""

from __future__ import annotations

import json
from typing import Any

import requests

from conformance.client import Device, excerpt

__tracebackhide__ = True


class Mismatch(AssertionError):
    """A failed check that says apart what the contract asked for and what came back (conformance/failures.py)."""

    def __init__(self, message: str, expected: str, got: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got


def what(response: requests.Response) -> str:
    """Return "METHOD /path" of the request that got this response."""
    request = response.request
    return f"{request.method} {request.path_url}" if request is not None else "request"


def _answer(response: requests.Response) -> str:
    body = excerpt(response.content, 160)
    return f"{response.status_code}" + (f" {body}" if body else "")


def body_json(response: requests.Response) -> Any:
    """Return the parsed JSON body, or fail saying what came instead."""
    try:
        return json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        kind = response.headers.get("Content-Type", "no Content-Type")
        raise AssertionError(
            f"{what(response)} answered {response.status_code} with a body that is not JSON ({kind}): "
            f"{excerpt(response.content, 160)!r}"
        ) from None


def status(response: requests.Response, *expected: int, why: str = "") -> None:
    """Fail unless the status is one of `expected`."""
    if response.status_code not in expected:
        wanted = " or ".join(str(code) for code in expected)
        reason = f" ({why})" if why else ""
        expected, got = f"{wanted}{reason}", _answer(response)
        raise Mismatch(f"{what(response)}: expected {expected}, got {got}", f"{what(response)}: {expected}", got)


def ok(response: requests.Response, code: int = 200, why: str = "") -> Any:
    """Fail unless the status is `code`; return the JSON body."""
    status(response, code, why=why)
    return body_json(response)


def ok_object(response: requests.Response, code: int = 200, why: str = "") -> dict[str, Any]:
    """Fail unless the status is `code` and the body a JSON object; return it."""
    body = ok(response, code, why=why)
    if not isinstance(body, dict):
        raise AssertionError(f"{what(response)}: expected a JSON object, got {excerpt(response.text, 160)!r}")
    return body


def error(response: requests.Response, *expected: int, why: str = "") -> dict[str, Any]:
    """Fail unless the status is one of `expected` with a JSON body holding a non-empty `error` string."""
    status(response, *expected, why=why)
    return error_body(response)


def client_error(response: requests.Response, why: str = "") -> dict[str, Any]:
    """Fail unless the answer is a 4xx with a JSON `error` (HARD-BAD-INPUT's "never a 5xx")."""
    if not 400 <= response.status_code < 500:
        reason = f" ({why})" if why else ""
        expected, got = f"a 4xx{reason}", _answer(response)
        raise Mismatch(f"{what(response)}: expected {expected}, got {got}", f"{what(response)}: {expected}", got)
    return error_body(response)


def error_body(response: requests.Response) -> dict[str, Any]:
    """Fail unless the body is a JSON object with a non-empty `error` string."""
    body = body_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"].strip():
        raise AssertionError(
            f"{what(response)} answered {response.status_code}: an error body must be a JSON object "
            f"with a non-empty \"error\" string, got {excerpt(response.content, 160)!r}"
        )
    return body


def alive(device: Device, why: str = "") -> dict[str, Any]:
    """Fail unless GET /me with the device's session answers 200; return the body."""
    return ok_object(device.me(), why=why or f"the session of {device.label} must still work")


def dead(device: Device, token: str | None = None, why: str = "") -> None:
    """Fail unless GET /me with the token (default: the device's) answers 401 with an error."""
    token = device.token if token is None else token
    if not token:
        # Without a token the 401 would prove nothing about the session.
        raise AssertionError(f"{device.label} holds no session token to check (did an answer clear it?)")
    error(device.me(cookie=token, follow_cookies=False), 401, why=why or "this session must be over")


def session_list(device: Device) -> list[dict[str, Any]]:
    """GET /me/sessions from the device; fail unless it is 200 with an array of objects."""
    response = device.sessions()
    body = ok(response)
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise AssertionError(f"{what(response)}: expected a JSON array of objects, got {excerpt(response.text, 160)!r}")
    for item in body:
        if "id" not in item:
            raise AssertionError(f"{what(response)}: a listed session has no \"id\": {item!r}")
    return body


def listed_ids(device: Device) -> list[str]:
    """Return the ids in the device's session list, as strings, in list order."""
    return [str(item["id"]) for item in session_list(device)]


def current_entry(device: Device) -> dict[str, Any]:
    """Return the object the device's own list marks as current; fail, saying what was listed, unless exactly one is."""
    items = session_list(device)
    current = [item for item in items if item.get("isCurrent") is True]
    if len(current) != 1:
        flags = [item.get("isCurrent", "(missing)") for item in items]
        raise AssertionError(
            f"GET /me/sessions: exactly one session must have \"isCurrent\": true, found {len(current)} "
            f"among {len(items)} (isCurrent values: {flags})"
        )
    return current[0]


def current_id(device: Device) -> str:
    """Return the id the device's own list marks as current; fail unless exactly one is."""
    return str(current_entry(device)["id"])
