"""HARD-IDLE: a session unused for the idle timeout expires; one in regular use outlives it.

These checks wait the declared timeout out, so they run only when --idle-timeout
declares the target's value (a short one, for a test instance).
"""

import time

import pytest

from conformance import expect
from conformance.timeouts import DEFAULT_ABSOLUTE, MARGIN, require_declared


@pytest.mark.rule("HARD-IDLE")
def test_unused_session_expires_after_idle_timeout(new_user, login, target):
    idle = require_declared(target.idle_timeout, "--idle-timeout")
    user = new_user()
    idle_device, busy = login(user), login(user)
    session_id = expect.current_id(idle_device)
    # A sibling session of the same user stays busy all the while: its activity
    # must not count as this session's (a server that refreshes every session of
    # the user never lets this one idle out).
    step = idle / 3
    started = time.monotonic()
    while time.monotonic() - started < idle + (target.touch_interval or 0) + MARGIN:
        time.sleep(min(step, max(0.0, started + idle + (target.touch_interval or 0) + MARGIN - time.monotonic())))
        expect.alive(busy, why=f"used every {step:.1f} s, this session is never idle for {idle:g} s")
    ids = expect.listed_ids(busy)
    assert session_id not in ids, (
        f"a session unused for {idle:g} s is still listed (while a sibling session was kept busy): {ids}"
    )
    expect.dead(idle_device, why=f"unused for more than --idle-timeout {idle:g} s, while a sibling was busy")


@pytest.mark.rule("HARD-IDLE")
def test_session_in_regular_use_outlives_idle_timeout(new_user, login, target):
    idle = require_declared(target.idle_timeout, "--idle-timeout")
    absolute = target.absolute_timeout or DEFAULT_ABSOLUTE
    if absolute < idle + 3 * MARGIN:
        pytest.skip(f"the absolute timeout ({absolute:g} s) ends a session before it can outlive the idle one")
    device = login(new_user())
    # Uses a third of the idle timeout apart: the contract's refresh interval is at
    # most half of it, so recorded activity never lags a full timeout.
    step = idle / 3
    started = time.monotonic()
    while time.monotonic() - started < idle + MARGIN:
        time.sleep(step)
        expect.alive(device, why=f"used every {step:.1f} s, this session is never idle for {idle:g} s")
