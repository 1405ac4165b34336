"""What the extension checks (EXT-…) and HARD-THROTTLE share: the calls the core client lacks, and preconditions.

A check for one rule often stands on another: EXT-REASON's "password_changed"
needs a password change that works (EXT-PASSWORD), EXT-ACTIVITY's revoke event
needs a revoke that works (CORE-REVOKE). When such a step fails, the failure
says so, naming the rule it belongs to (`precondition`), so that a report does
not blame the rule under test for another rule's bug.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any
from urllib.parse import urlencode

import requests

from conformance import expect
from conformance.client import Device, User, excerpt, session_path

__tracebackhide__ = True

EVENT_FIELDS = ("id", "type", "at", "ip", "deviceName", "sessionId", "actorSessionId")
EVENT_TYPES = (
    "login",
    "login_failed",
    "logout",
    "session_revoked",
    "sessions_revoked_all",
    "password_changed",
    "session_renamed",
)
REASONS = ("revoked", "password_changed", "logged_out", "expired", "unauthenticated")


# --- the extensions' calls ---------------------------------------------------------------


def change_password(device: Device, current: str, new: str, **kwargs: Any) -> requests.Response:
    """POST /me/password (EXT-PASSWORD); on success the device holds the new token."""
    return device.post("/me/password", json={"currentPassword": current, "newPassword": new}, **kwargs)


def rename(device: Device, session_id: Any, name: Any, **kwargs: Any) -> requests.Response:
    """PATCH /me/sessions/{id} with {"name": name} (EXT-RENAME)."""
    return device.request("PATCH", session_path(session_id), json={"name": name}, **kwargs)


def activity(device: Device, **params: Any) -> requests.Response:
    """GET /me/activity, with ?limit= / ?before= when given (EXT-ACTIVITY)."""
    query = urlencode({key: str(value) for key, value in params.items() if value is not None})
    return device.get("/me/activity" + (f"?{query}" if query else ""))


def events(device: Device, **params: Any) -> list[dict[str, Any]]:
    """GET /me/activity; fail unless it is 200 with an array of objects that each have an id and a type."""
    response = activity(device, **params)
    body = expect.ok(response)
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise AssertionError(
            f"{expect.what(response)}: expected a JSON array of events, got {excerpt(response.content, 160)!r}"
        )
    for item in body:
        if "id" not in item or "type" not in item:
            raise AssertionError(f"{expect.what(response)}: an event has no \"id\" or \"type\": {item!r}")
    return body


def event_ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["id"]) for item in items]


def new_events(device: Device, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the events of the device's log that were not in `before` (a previous read of it)."""
    seen = set(event_ids(before))
    return [item for item in events(device, limit=200) if str(item["id"]) not in seen]


def one_new_event(device: Device, before: list[dict[str, Any]], kind: str, action: str) -> dict[str, Any]:
    """Fail unless exactly one event was added to the log since `before`, of type `kind`; return it."""
    added = new_events(device, before)
    if len(added) != 1 or added[0].get("type") != kind:
        shown = [item.get("type") for item in added]
        raise AssertionError(f"{action} must write exactly one `{kind}` event to the log, it wrote {shown}: {added!r}")
    return added[0]


def listed(device: Device, session_id: str) -> dict[str, Any]:
    """Return the list object of one session, as the device's list shows it; fail if it is not listed."""
    for item in expect.session_list(device):
        if str(item["id"]) == session_id:
            return item
    raise AssertionError(f"session {session_id} is not in GET /me/sessions")


def same_ip(a: Any, b: Any) -> bool:
    """Tell whether two addresses are the same, an IPv4-mapped IPv6 address equal to its IPv4 form."""
    try:
        first, second = (ipaddress.ip_address(str(x).strip("[]")) for x in (a, b))
    except ValueError:
        return a == b
    first = getattr(first, "ipv4_mapped", None) or first
    second = getattr(second, "ipv4_mapped", None) or second
    return first == second


def with_password(user: User, password: str) -> User:
    """Return the same account with another password (after a password change)."""
    return User(user.email, password, user.id)


# --- EXT-REASON ------------------------------------------------------------------------------


def reason_of(response: requests.Response, why: str = "") -> Any:
    """Fail unless the answer is a 401 with an error; return its `reason` (None if absent)."""
    body = expect.error(response, 401, why=why)
    return body.get("reason")


class Born:
    """When a session was made, to know whether its absolute timeout has passed (EXT-REASON's allowance)."""

    def __init__(self, absolute_timeout: float | None) -> None:
        self.absolute_timeout = absolute_timeout
        self.at = time.monotonic()

    def past_absolute(self) -> bool:
        return self.absolute_timeout is not None and time.monotonic() - self.at > self.absolute_timeout
