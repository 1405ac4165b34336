"""HARD-PUBLIC-ID: the ids in the session list are not tokens, nor pieces of them, nor credentials."""

import pytest

from conformance import expect


@pytest.mark.rule("HARD-PUBLIC-ID")
def test_listed_session_ids_are_not_tokens(new_user, login):
    user = new_user()
    devices = [login(user), login(user)]
    tokens = [device.token for device in devices]
    for entry in expect.session_list(devices[0]):
        session_id = str(entry["id"])
        for token in tokens:
            assert session_id != token, "the session list hands out a session token as its id"
            assert token not in session_id, "a listed session id contains a session token"
            assert len(session_id) < 8 or session_id not in token, "a listed session id is a piece of a session token"
        for name, value in entry.items():
            for token in tokens:
                assert token not in str(value), f"the session list shows a session token in {name!r}"


@pytest.mark.rule("HARD-PUBLIC-ID")
def test_listed_id_of_other_session_is_no_credential(new_user, login, new_device):
    user = new_user()
    device, other = login(user), login(user)
    other_id = expect.current_id(other)
    expect.error(new_device().me(cookie=other_id), 401, why="a listed session id must not work as a cookie")
    expect.alive(device)
