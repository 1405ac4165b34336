"""Checks that an ending ended, done the way a cache would break it: use the session, end it, use it again.

A server that keeps a second copy of its sessions (an in-memory map beside
the table, a "cookie cache" of an auth library, a read-through cache) only
holds a session in that copy once the session has been used. A check that
revokes sessions nobody used since login finds nothing cached and passes such
a server. So every check that a revoke, revoke-all or logout ends a session
first `use`s that session, then ends it (from another session where the way
of ending allows), then checks with `over` that it is over.
"""

from __future__ import annotations

import requests

from conformance import diagnoses, expect
from conformance.client import Device
from conformance.preconditions import precondition


def use(*devices: Device) -> None:
    """Use each device's session on the routes that authenticate (GET /me, GET /me/sessions), so any cache holds it."""
    __tracebackhide__ = True
    for device in devices:
        with precondition("CORE-ME", f"using the session of {device.label} before ending it"):
            expect.alive(device, why="a session in use, before it is ended")
        with precondition("CORE-LIST", f"using the session of {device.label} before ending it"):
            expect.session_list(device)


def over(
    device: Device,
    why: str,
    *,
    token: str | None = None,
    observer: Device | None = None,
    session_id: str | None = None,
    response: requests.Response | None = None,
) -> None:
    """Fail unless GET /me with the ended session (`token`, default the device's) answers 401 with an error.

    `response` is that GET /me's answer when the caller already has it.

    When the session still authenticates although the list of `observer` (a
    live session of the same user) no longer shows `session_id`, the evidence
    fits a second copy of the sessions that the ending did not clear.
    """
    __tracebackhide__ = True
    if response is None:
        response = _me_with(device, device.token if token is None else token)
    if response.status_code == 200 and observer is not None and session_id is not None:
        try:
            listed = expect.listed_ids(observer)
        except AssertionError:
            listed = None
        if listed is not None and session_id not in listed:
            diagnoses.record(diagnoses.SECOND_COPY)
    expect.error(response, 401, why=why)


def all_over(ended: list[tuple[Device, str]], why: str, *, observer: Device) -> None:
    """Fail unless every (device, its session id) in `ended` is over, as `over` checks each.

    When some ended and another still works and is still listed by
    `observer`, the evidence fits an ending that misses some sessions.
    """
    __tracebackhide__ = True
    answers = [_me_with(device, device.token) for device, _ in ended]
    alive = [session_id for (_, session_id), answer in zip(ended, answers) if answer.status_code == 200]
    if alive and len(alive) < len(ended):
        try:
            listed = expect.listed_ids(observer)
        except AssertionError:
            listed = []
        if all(session_id in listed for session_id in alive):
            diagnoses.record(diagnoses.REVOKE_ALL_MISSES_SOME)
    for (device, session_id), answer in zip(ended, answers):
        over(device, why, observer=observer, session_id=session_id, response=answer)


def _me_with(device: Device, token: str | None) -> requests.Response:
    __tracebackhide__ = True
    if not token:
        # Without a token the 401 would prove nothing about the session.
        raise AssertionError(f"{device.label} holds no session token to check (did an answer clear it?)")
    return device.me(cookie=token, follow_cookies=False)


def kept_after_revoke_all(device: Device, why: str = "revoke-all keeps the current session") -> None:
    """Fail unless the session that sent a revoke-all still works; a 401 fits a revoke-all that ended it too."""
    __tracebackhide__ = True
    response = device.me(follow_cookies=False)
    if response.status_code == 401:
        diagnoses.record(diagnoses.REVOKE_ALL_ENDS_CURRENT)
    expect.ok_object(response, why=why)
