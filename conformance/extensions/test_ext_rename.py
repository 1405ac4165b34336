"""EXT-RENAME: PATCH /me/sessions/{id} names one of the user's own sessions; the name is plain text, 1 to 64 characters."""

import secrets

import pytest

from conformance import expect
from conformance.client import made_up_id, session_path
from conformance.extensions.helpers import listed, rename
from conformance.preconditions import precondition

pytestmark = pytest.mark.rule("EXT-RENAME")

# Fields of a list object that a rename leaves as they were (lastActiveAt may move with use).
STABLE_FIELDS = ("id", "deviceName", "ip", "createdAt")


def _renamed(response, session_id, name, why=""):
    """Fail unless a PATCH answered 200 with that session's list object carrying `name`; return the object."""
    body = expect.ok_object(response, why=why)
    assert str(body.get("id")) == session_id, f"PATCH must answer with the renamed session's list object, got {body!r}"
    assert "name" in body and body["name"] == name, f"the answer must carry \"name\": {name!r}, got {body!r}"
    return body


def test_every_listed_session_carries_name_null_by_default(new_user, login):
    user = new_user()
    first, _ = login(user), login(user)
    for item in expect.session_list(first):
        assert "name" in item and item["name"] is None, f"an unnamed session must list \"name\": null, got {item!r}"


def test_renaming_another_own_session_answers_its_list_object(new_user, login, agents):
    user = new_user()
    actor, other = login(user, agents[0]), login(user, agents[1])
    actor_id, other_id = expect.current_id(actor), expect.current_id(other)
    before = listed(actor, other_id)
    body = _renamed(rename(actor, other_id, "Work laptop"), other_id, "Work laptop")
    for name in STABLE_FIELDS:
        assert body.get(name) == before.get(name), f"a rename leaves {name} as it was: {before!r} became {body!r}"
    assert body.get("isCurrent") is False, f"the renamed session is not the requester's: {body!r}"
    for device in (actor, other):
        assert listed(device, other_id)["name"] == "Work laptop", "the name must show in every list of the user"
    assert listed(actor, actor_id)["name"] is None, "renaming one session names no other"


def test_current_session_can_be_renamed(new_user, login):
    user = new_user()
    actor = login(user)
    actor_id = expect.current_id(actor)
    body = _renamed(rename(actor, actor_id, "This laptop"), actor_id, "This laptop")
    assert body.get("isCurrent") is True, f"the current session's list object says isCurrent: true, got {body!r}"
    assert listed(actor, actor_id)["name"] == "This laptop"


def test_rename_keeps_the_device_name(new_user, login, agents):
    user = new_user()
    actor, other = login(user, agents[2]), login(user, agents[3])
    other_id = expect.current_id(other)
    device_name = listed(actor, other_id)["deviceName"]
    expect.status(rename(actor, other_id, "Phone"), 200)
    after = listed(other, other_id)
    assert after["deviceName"] == device_name, f"deviceName is unchanged by a rename: {device_name!r} became {after!r}"


def test_name_null_removes_the_name(new_user, login):
    user = new_user()
    actor, other = login(user), login(user)
    other_id = expect.current_id(other)
    expect.status(rename(actor, other_id, "Old name"), 200)
    _renamed(rename(actor, other_id, None), other_id, None, why="{\"name\": null} removes the name")
    assert listed(other, other_id)["name"] is None, "after {\"name\": null} the list shows \"name\": null"


@pytest.mark.parametrize(
    "sent, kept",
    [
        ("  Work laptop  ", "Work laptop"),
        ("x", "x"),
        ("L" * 64, "L" * 64),
        # Trimmed first, then counted: 64 characters between the spaces.
        ("   " + "M" * 64 + "   ", "M" * 64),
        ("Büro ☕ Rechner", "Büro ☕ Rechner"),
    ],
    ids=["trimmed", "one-char", "64-chars", "64-after-trim", "non-ascii"],
)
def test_valid_name_is_trimmed_and_kept(new_user, login, sent, kept):
    user = new_user()
    actor = login(user)
    actor_id = expect.current_id(actor)
    _renamed(rename(actor, actor_id, sent), actor_id, kept)
    assert listed(actor, actor_id)["name"] == kept


BAD_NAMES = {
    "empty": "",
    "spaces-only": "    ",
    "65-chars": "N" * 65,
    "nul": "Work\x00laptop",
    "newline": "Work\nlaptop",
    "escape": "\x1b[31mred",
    "bell": "ding\x07",
    "delete": "Work\x7flaptop",
    "c1-csi": "Work\x9blaptop",
    "number": 42,
    "list": ["Work laptop"],
}


@pytest.mark.parametrize("case", BAD_NAMES)
def test_bad_name_gets_400_and_changes_nothing(new_user, login, case):
    user = new_user()
    actor, other = login(user), login(user)
    other_id = expect.current_id(other)
    expect.status(rename(actor, other_id, "Before"), 200, why="a valid name, before the bad one")
    expect.error(rename(actor, other_id, BAD_NAMES[case]), 400, why=f"{case}: {BAD_NAMES[case]!r}")
    assert listed(actor, other_id)["name"] == "Before", "a refused rename changes nothing"


def test_rename_body_that_is_no_object_gets_400(new_user, login):
    user = new_user()
    actor = login(user)
    actor_id = expect.current_id(actor)
    expect.error(actor.request("PATCH", session_path(actor_id), json=["name"]), 400)
    response = actor.request(
        "PATCH", session_path(actor_id), data=b"name=Work", headers={"Content-Type": "application/json"}
    )
    expect.error(response, 400)
    assert listed(actor, actor_id)["name"] is None, "a refused rename changes nothing"


def test_markup_in_a_name_comes_back_as_the_same_text(new_user, login):
    user = new_user()
    actor, other = login(user), login(user)
    other_id = expect.current_id(other)
    # Short enough that its HTML-escaped form would still be a valid name:
    # a server that escapes on input must fail on the text, not on the length.
    markup = "<i>Work</i> & <img src=x>"
    response = rename(actor, other_id, markup)
    _renamed(response, other_id, markup, why="markup is text: stored and returned as sent, not escaped or stripped")
    kind = response.headers.get("Content-Type", "")
    assert kind.split(";")[0].strip().lower() == "application/json", f"the answer must be JSON, not {kind!r}"
    for device in (actor, other):
        assert listed(device, other_id)["name"] == markup, "the list returns the name as the same text"


def test_unknown_ended_and_foreign_ids_get_identical_404(new_user, login):
    user, stranger = new_user(), new_user()
    actor, ended = login(user), login(user)
    outsider = login(stranger)
    ended_id, outsider_id = expect.current_id(ended), expect.current_id(outsider)
    expect.alive(ended)
    with precondition("CORE-REVOKE", "revoking the session whose id is then renamed"):
        expect.status(actor.revoke(ended_id), 200)
        expect.dead(ended)
    answers = {
        "unknown": rename(actor, made_up_id(outsider_id), "Mine now"),
        "ended": rename(actor, ended_id, "Mine now"),
        "another user's": rename(actor, outsider_id, "Mine now"),
    }
    for case, response in answers.items():
        expect.error(response, 404, why=f"{case} id")
    bodies = {case: response.content for case, response in answers.items()}
    assert len(set(bodies.values())) == 1, f"the three 404s must be identical (no oracle), got {bodies!r}"
    expect.alive(outsider, why="another user's session is untouched")
    assert listed(outsider, outsider_id)["name"] is None, "another user's session must not have been renamed"


def test_rename_without_session_gets_401(new_user, login, new_device):
    victim = login(new_user())
    victim_id = expect.current_id(victim)
    expect.error(rename(new_device(), victim_id, "Hijacked", cookie=None), 401)
    expect.error(rename(new_device(), victim_id, "Hijacked", cookie=secrets.token_urlsafe(32)), 401)
    assert listed(victim, victim_id)["name"] is None, "an unauthenticated rename changes nothing"
