"""CORE-LAST-ACTIVE: lastActiveAt follows use, never goes backwards, never precedes createdAt."""

import time

import pytest

from conformance import expect
from conformance.client import parse_timestamp

pytestmark = pytest.mark.rule("CORE-LAST-ACTIVE")


def _own_entry(device):
    return next(entry for entry in expect.session_list(device) if entry.get("isCurrent") is True)


def _entry(observer, session_id):
    for entry in expect.session_list(observer):
        if str(entry.get("id")) == session_id:
            return entry
    raise AssertionError(f"session {session_id} is missing from the list")


def test_last_active_never_precedes_created_at(new_user, login):
    user = new_user()
    devices = [login(user), login(user)]
    for entry in expect.session_list(devices[0]):
        created, last = parse_timestamp(entry.get("createdAt")), parse_timestamp(entry.get("lastActiveAt"))
        assert last >= created, (
            f"session {entry.get('id')}: lastActiveAt {entry.get('lastActiveAt')!r} precedes createdAt "
            f"{entry.get('createdAt')!r}"
        )


def test_last_active_never_goes_backwards(new_user, login):
    device = login(new_user())
    # Samples spread over more than a second see at least one refresh when the
    # interval is short, which is when going backwards would show.
    samples = [_own_entry(device)]
    for _ in range(4):
        time.sleep(0.3)
        samples.append(_own_entry(device))
    created = {entry.get("createdAt") for entry in samples}
    assert len(created) == 1, f"createdAt of one session changed between requests: {sorted(created)}"
    stamps = [parse_timestamp(entry.get("lastActiveAt")) for entry in samples]
    assert stamps == sorted(stamps), (
        f"lastActiveAt went backwards across uses: {[entry.get('lastActiveAt') for entry in samples]}"
    )
    assert stamps[0] >= parse_timestamp(samples[0].get("createdAt")), "lastActiveAt precedes createdAt"


def test_last_active_moves_forward_after_touch_interval(new_user, login, target):
    interval = target.touch_interval
    if interval is None:
        pytest.skip("declare the target's refresh interval with --touch-interval S to check that lastActiveAt moves")
    user = new_user()
    used, observer = login(user), login(user)
    used_id = expect.current_id(used)
    last_write = time.monotonic()
    before = _entry(observer, used_id).get("lastActiveAt")
    time.sleep(max(0.0, last_write + interval + 1 - time.monotonic()))
    expect.alive(used)
    after = _entry(observer, used_id).get("lastActiveAt")
    assert parse_timestamp(after) > parse_timestamp(before), (
        f"the session was used {interval:g} s + 1 s after its last recorded use (--touch-interval {interval:g}), "
        f"yet lastActiveAt stayed {before!r} -> {after!r}"
    )
