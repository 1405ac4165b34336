"""CORE-EX3: the lesson's third exercise: revoke all from one of three sessions."""

import pytest

from conformance import expect


@pytest.mark.rule("CORE-EX3")
def test_ex3_revoke_all_from_one_of_three_sessions(new_user, login, agents):
    user = new_user()
    first, middle, last = (login(user, agent) for agent in agents[:3])
    expect.status(middle.revoke_all(), 200)
    expect.alive(middle, why="the session that revoked all still works")
    expect.dead(first, why="revoke-all ends the other sessions")
    expect.dead(last, why="revoke-all ends the other sessions")
