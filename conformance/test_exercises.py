"""CORE-EX1..3: the lesson's three exercises, written out as the contract states them."""

import pytest

from conformance import expect


@pytest.mark.rule("CORE-EX1")
def test_ex1_two_user_agents_list_two_named_sessions(new_user, login, agents):
    user = new_user()
    first, second = login(user, agents[0]), login(user, agents[2])
    entries = expect.session_list(first)
    assert len(entries) == 2, f"two logins must list two sessions, got {len(entries)}"
    names = [entry.get("deviceName") for entry in entries]
    assert all(isinstance(name, str) and name.strip() for name in names), f"device names must be non-empty: {names}"
    assert names[0] != names[1], f"two different User-Agents must give two device names, got {names}"
    current = [entry for entry in entries if entry.get("isCurrent") is True]
    assert len(current) == 1, f"exactly one session must be current, got {len(current)}"
    assert str(current[0]["id"]) != expect.current_id(second), "the current session is the one that asked"


@pytest.mark.rule("CORE-EX2")
def test_ex2_revoke_one_then_its_cookie_gets_401(new_user, login, agents):
    user = new_user()
    first, second = login(user, agents[0]), login(user, agents[2])
    other = [entry for entry in expect.session_list(first) if entry.get("isCurrent") is not True]
    assert len(other) == 1, f"the list must show the one other session, got {other!r}"
    expect.status(first.revoke(other[0]["id"]), 200)
    expect.dead(second, why="the revoked session's cookie must get 401")


@pytest.mark.rule("CORE-EX3")
def test_ex3_revoke_all_from_one_of_three_sessions(new_user, login, agents):
    user = new_user()
    first, middle, last = (login(user, agent) for agent in agents[:3])
    expect.status(middle.revoke_all(), 200)
    expect.alive(middle, why="the session that revoked all still works")
    expect.dead(first, why="revoke-all ends the other sessions")
    expect.dead(last, why="revoke-all ends the other sessions")
