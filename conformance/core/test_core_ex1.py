"""CORE-EX1: the lesson's first exercise: two browsers, two named sessions, one current."""

import pytest

from conformance import diagnoses, expect


@pytest.mark.rule("CORE-EX1")
def test_ex1_two_user_agents_list_two_named_sessions(new_user, login, agents):
    user = new_user()
    first, second = login(user, agents[0]), login(user, agents[2])
    entries = expect.session_list(first)
    assert len(entries) == 2, f"two logins must list two sessions, got {len(entries)}"
    names = [entry.get("deviceName") for entry in entries]
    assert all(isinstance(name, str) and name.strip() for name in names), f"device names must be non-empty: {names}"
    if names[0] == names[1]:
        diagnoses.record(diagnoses.DEVICE_NAMES_ALIKE)
    assert names[0] != names[1], f"two different User-Agents must give two device names, got {names}"
    current = [entry for entry in entries if entry.get("isCurrent") is True]
    assert len(current) == 1, f"exactly one session must be current, got {len(current)}"
    assert str(current[0]["id"]) != expect.current_id(second), "the current session is the one that asked"
