"""HARD-ABSOLUTE: a session older than the absolute timeout expires, however busy it was kept.

This check waits the declared timeout out, so it runs only when --absolute-timeout
declares the target's value (a short one, for a test instance).
"""

import time

import pytest

from conformance import expect
from conformance.timeouts import MARGIN, require_declared


@pytest.mark.rule("HARD-ABSOLUTE")
def test_busy_session_expires_at_absolute_timeout(new_user, login, target):
    absolute = require_declared(target.absolute_timeout, "--absolute-timeout")
    user = new_user()
    device = login(user)
    session_id = expect.current_id(device)
    started = time.monotonic()
    step = min(absolute / 4, (target.idle_timeout or absolute) / 3, 5.0)
    while True:
        time.sleep(step)
        elapsed = time.monotonic() - started
        if elapsed >= absolute + MARGIN:
            break
        if elapsed < absolute - MARGIN:
            expect.alive(device, why=f"kept in use, this session must live until the absolute timeout {absolute:g} s")
        else:
            device.me(follow_cookies=False)
    ids = expect.listed_ids(login(user))
    assert session_id not in ids, f"a session older than {absolute:g} s is still listed: {ids}"
    expect.dead(device, why=f"older than --absolute-timeout {absolute:g} s, however busy")
