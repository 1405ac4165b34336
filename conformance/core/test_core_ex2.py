"""CORE-EX2: the lesson's second exercise: revoke one session from the other, its cookie gets 401."""

import pytest

from conformance import expect


@pytest.mark.rule("CORE-EX2")
def test_ex2_revoke_one_then_its_cookie_gets_401(new_user, login, agents):
    user = new_user()
    first, second = login(user, agents[0]), login(user, agents[2])
    other = [entry for entry in expect.session_list(first) if entry.get("isCurrent") is not True]
    assert len(other) == 1, f"the list must show the one other session, got {other!r}"
    expect.status(first.revoke(other[0]["id"]), 200)
    expect.dead(second, why="the revoked session's cookie must get 401")
