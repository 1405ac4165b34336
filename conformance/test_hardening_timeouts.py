"""HARD-IDLE, HARD-ABSOLUTE: sessions expire when unused for the idle timeout or older than the absolute one.

These checks wait the declared timeouts out, so they run only when the options
declare the target's values (short ones, for a test instance).
"""

import time

import pytest

from conformance import expect

# Timestamps have one-second resolution and clocks tick unevenly: wait this much
# beyond a deadline before calling a session late to die.
MARGIN = 1.5
# Contract default, assumed when --absolute-timeout is not declared.
DEFAULT_ABSOLUTE = 24 * 60 * 60


def _require(value, option):
    if value is None:
        pytest.skip(f"declare the target's value with {option} S to check this (the check waits it out)")
    return value


@pytest.mark.rule("HARD-IDLE")
def test_unused_session_expires_after_idle_timeout(new_user, login, target):
    idle = _require(target.idle_timeout, "--idle-timeout")
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
    idle = _require(target.idle_timeout, "--idle-timeout")
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


@pytest.mark.rule("HARD-ABSOLUTE")
def test_busy_session_expires_at_absolute_timeout(new_user, login, target):
    absolute = _require(target.absolute_timeout, "--absolute-timeout")
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
