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
    idle_device = login(user)
    session_id = expect.current_id(idle_device)
    time.sleep(idle + (target.touch_interval or 0) + MARGIN)
    # Listed from a session opened after the wait, so the observer is not idle itself.
    ids = expect.listed_ids(login(user))
    assert session_id not in ids, f"a session unused for {idle:g} s is still listed: {ids}"
    expect.dead(idle_device, why=f"unused for more than --idle-timeout {idle:g} s")


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
