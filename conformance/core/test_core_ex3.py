"""CORE-EX3: the lesson's third exercise: revoke all from one of three sessions."""

import pytest

from conformance import endings, expect


@pytest.mark.rule("CORE-EX3")
def test_ex3_revoke_all_from_one_of_three_sessions(new_user, login, agents):
    user = new_user()
    first, middle, last = (login(user, agent) for agent in agents[:3])
    # All three in use before the revoke-all: a cache holds only used sessions.
    endings.use(first, last)
    first_id, last_id = expect.current_id(first), expect.current_id(last)
    expect.status(middle.revoke_all(), 200)
    endings.kept_after_revoke_all(middle, why="the session that revoked all still works")
    endings.all_over([(first, first_id), (last, last_id)], "revoke-all ends the other sessions", observer=middle)
