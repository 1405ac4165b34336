"""conformance/schema.py: bodies are checked against the shipped OpenAPI description, and blamed on the right rule."""

from __future__ import annotations

import json

import pytest

from conformance import schema
from conformance.schema import SchemaViolation

SESSION = {
    "id": "s1",
    "deviceName": "Chrome on macOS",
    "ip": "127.0.0.1",
    "lastActiveAt": "2026-11-26T19:40:00Z",
    "createdAt": "2026-11-26T19:30:00Z",
    "isCurrent": True,
}


def body(value) -> bytes:
    return json.dumps(value).encode()


def problems(method, path, status, value):
    return schema.description().problems(method, path, status, body(value))[1]


def messages(method, path, status, value):
    return [str(problem) for problem in problems(method, path, status, value)]


def test_a_wrong_type_in_the_list_fails_core_list_naming_the_field():
    listed = [{**SESSION, "isCurrent": "yes"}]
    with pytest.raises(SchemaViolation) as caught:
        schema.check("GET", "/me/sessions", 200, body(listed), "CORE-LIST")
    first_line = str(caught.value).splitlines()[0]
    assert first_line == "GET /me/sessions 200: [0].isCurrent: 'yes' is not of type 'boolean'"
    assert "#/paths/~1me~1sessions/get/responses/200" in str(caught.value)


def test_a_wrong_type_in_the_list_does_not_fail_a_rule_that_only_reads_the_list():
    listed = [{**SESSION, "isCurrent": "yes"}]
    schema.check("GET", "/me/sessions", 200, body(listed), "CORE-REVOKE")
    schema.check("GET", "/me/sessions", 200, body(listed), None)


def test_timestamps_are_blamed_on_core_list_and_core_last_active():
    (problem,) = problems("GET", "/me/sessions", 200, [{**SESSION, "lastActiveAt": 1764186000}])
    assert problem.where == "[0].lastActiveAt"
    assert problem.rules == {"CORE-LIST", "CORE-LAST-ACTIVE"}


def test_a_reason_outside_ext_reason_is_blamed_on_ext_reason_only():
    (problem,) = problems("GET", "/me", 401, {"error": "Not authenticated.", "reason": "because"})
    assert problem.where == "reason" and problem.rules == {"EXT-REASON"}
    schema.check("GET", "/me", 401, body({"error": "Not authenticated.", "reason": "because"}), "CORE-ME")
    with pytest.raises(SchemaViolation, match=r"GET /me 401: reason: 'because' is not one of"):
        schema.check("GET", "/me", 401, body({"error": "Not authenticated.", "reason": "because"}), "EXT-REASON")


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-26T19:40:00Z",
        "2026-11-26 19:40:00",  # SQLite's, which the contract names
        "2026-11-26T19:40:00.123456+00:00",
        "2026-11-26T19:40:00+0000",
        "2026-11-26t19:40:00z",
    ],
)
def test_any_iso_8601_date_time_is_a_timestamp(stamp):
    assert problems("GET", "/me/sessions", 200, [{**SESSION, "createdAt": stamp}]) == []


@pytest.mark.parametrize("stamp", ["2026-11-26", "19:40:00", "26/11/2026 19:40", "2026-11-26T19:40Z", ""])
def test_a_date_alone_or_without_seconds_is_not_a_timestamp(stamp):
    assert [p.where for p in problems("GET", "/me/sessions", 200, [{**SESSION, "createdAt": stamp}])] == [
        "[0].createdAt"
    ]


def test_a_core_only_list_object_conforms_and_extension_fields_are_typed_when_present():
    assert problems("GET", "/me/sessions", 200, [SESSION]) == []
    assert problems("GET", "/me/sessions", 200, [{**SESSION, "name": None, "newDevice": False}]) == []
    found = {(p.where, tuple(sorted(p.rules))) for p in problems("GET", "/me/sessions", 200, [{**SESSION, "name": 5, "newDevice": "no"}])}
    assert found == {("[0].name", ("EXT-RENAME",)), ("[0].newDevice", ("EXT-NEW-DEVICE",))}


def test_a_rename_answer_must_carry_the_name():
    assert messages("PATCH", "/me/sessions/s1", 200, SESSION) == ["'name' is a required property"]
    assert problems("PATCH", "/me/sessions/s1", 200, {**SESSION, "name": "Work laptop"}) == []


def test_numeric_ids_are_accepted_and_a_missing_id_is_not():
    assert problems("POST", "/signup", 201, {"id": 7, "email": "a@example.com"}) == []
    assert messages("GET", "/me", 200, {"email": "a@example.com"}) == ["'id' is a required property"]


def test_extra_fields_are_allowed_where_the_contract_allows_them():
    answer = {"message": "All other sessions have been revoked.", "revoked": 3, "by": "s1"}
    assert problems("POST", "/me/sessions/revoke-all", 200, answer) == []
    assert problems("GET", "/me", 200, {"id": "u1", "email": "a@example.com", "createdAt": "x"}) == []


def test_an_error_body_needs_a_non_empty_error_string():
    assert messages("POST", "/login", 401, {"error": "  "}) == ["error: '  ' does not match '\\\\S'"]
    assert messages("POST", "/login", 401, {"message": "no"}) == ["'error' is a required property"]


def test_activity_events_follow_their_type():
    event = {
        "id": "e1", "type": "sessions_revoked_all", "at": "2026-11-26T19:40:00Z", "ip": "127.0.0.1",
        "deviceName": "Chrome on macOS", "sessionId": None, "actorSessionId": "s1", "count": 2,
    }  # fmt: skip
    assert problems("GET", "/me/activity?limit=5", 200, [event]) == []
    assert messages("GET", "/me/activity", 200, [{k: v for k, v in event.items() if k != "count"}]) == [
        "[0]: 'count' is a required property"
    ]
    login = {**event, "type": "login", "sessionId": "s2", "actorSessionId": "s1"}
    del login["count"]
    assert [p.where for p in problems("GET", "/me/activity", 200, [login])] == ["[0].actorSessionId"]
    assert [p.where for p in problems("GET", "/me/activity", 200, [{**login, "id": 5}])] != []


@pytest.mark.parametrize(
    "method, path, operation",
    [
        ("POST", "/me/sessions/revoke-all", "POST /me/sessions/revoke-all"),
        ("DELETE", "/me/sessions/revoke-all", "DELETE /me/sessions/{id}"),
        ("DELETE", "/me/sessions/abc%2Fdef", "DELETE /me/sessions/{id}"),
        ("GET", "/me/activity?before=e1&limit=2", "GET /me/activity"),
        ("GET", "/me/", "GET /me"),
    ],
)
def test_a_request_maps_to_its_operation(method, path, operation):
    assert schema.description().shape(method, path, 200).operation == operation


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/healthz", 200),  # not an endpoint of the contract
        ("DELETE", "/me/sessions/a/b", 404),  # no template has that many segments
        ("DELETE", "/me/sessions/", 404),  # an empty id is no id
        ("PUT", "/me", 405),  # a method the path does not describe
        ("GET", "/me", 418),  # a status the operation does not describe
        ("GET", "/me", 500),  # a 5xx is never described: the checks that got it fail
    ],
)
def test_what_the_description_lacks_is_not_checked(method, path, status):
    assert schema.description().shape(method, path, status) is None
    schema.check(method, path, status, b'{"surprise": true}', "CORE-ME")


def test_a_body_that_is_not_json_is_left_to_the_checks_that_read_it():
    schema.check("GET", "/me/sessions", 200, b"<html>sessions</html>", "CORE-LIST")
    schema.check("GET", "/me/sessions", 200, b"", "CORE-LIST")


def test_a_failure_lists_at_most_three_problems():
    listed = [{"id": None}]
    with pytest.raises(SchemaViolation) as caught:
        schema.check("GET", "/me/sessions", 200, body(listed), "CORE-LIST")
    assert str(caught.value).splitlines()[0].endswith("and 3 more")
