"""Likely causes: known mistakes whose evidence a check saw, told under the rule that failed.

A check that sees the evidence of a known mistake records it (`record`)
before it asserts; the plugin clears the record before each check and, when
the check fails, prints each diagnosis as "Likely cause: …" under the failing
rule in the terminal table and the JSON report. A check that passes shows
nothing, whatever it recorded: a diagnosis explains a failure, it is never one.

Each diagnosis fires only on the evidence of its own mistake, and each has a
broken server in tests/broken_servers.py that makes it (see
tests/test_suite_catches_broken_servers.py, which checks that it shows there
and nowhere else).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Diagnosis:
    """A known mistake: a stable id (for reports and tests), the sentence that teaches it, and the same for a student.

    `text` is the suite's "Likely cause", for an implementer who knows the
    contract; `for_student` says it to someone who has just done the lesson
    (the lesson runner shows it): what they saw, where in their code to look.
    """

    id: str
    text: str
    for_student: str


SECOND_COPY = Diagnosis(
    "second-copy",
    "the session left the list but still authenticates: authentication reads a second copy of the sessions "
    "(a cache, an in-memory map, a cookie cache) that this ending did not clear; the lesson's own revoke-all "
    "bug. End the session where authentication looks, and drop every copy.",
    "The session is gone from the list, yet its cookie still logs in. Your server checks cookies against a "
    "second copy of the sessions (such as an in-memory map beside the database table) and this sign-out "
    "only removed the table rows. That is the lesson's own revoke-all bug: it deletes the rows first and then "
    "reads the list, now empty, to find which sessions to drop from memory, so it drops none. Read the "
    "sessions to end before deleting them, and remove each from every place your server looks.",
)
CURRENT_BY_CLIENT = Diagnosis(
    "current-by-client",
    "isCurrent follows the IP address or the User-Agent instead of the session: several sessions from the same "
    "address or browser are all marked current. Compare each listed session with the session of the request.",
    "Several sessions are marked \"isCurrent\": true because they share an address or a browser. \"Current\" "
    "means the session whose cookie made this request: compare each row's id with the id of the session "
    "you found from the cookie, not its IP address or User-Agent.",
)
FOREIGN_SESSIONS = Diagnosis(
    "foreign-sessions",
    "the list holds another user's sessions: the list query does not filter on the user of the current "
    "session (a missing `WHERE user_id = ?`).",
    "Your list shows sessions of other users. The query that reads the sessions needs "
    "`WHERE user_id = ?` with the id of the user whose cookie made the request.",
)
REVOKE_UNKNOWN_200 = Diagnosis(
    "revoke-unknown-200",
    "a revoke answers 200 for an id that does not exist: the answer does not depend on whether a session of "
    "this user was found and ended. Answer 404 when nothing matched.",
    "Revoking an id that does not exist answered 200. Your revoke answers success whether or not it deleted "
    "anything: check how many rows the DELETE changed (or look the session up first) and answer 404 when "
    "none of this user's sessions matched.",
)
REVOKE_ALL_ENDS_CURRENT = Diagnosis(
    "revoke-all-ends-current",
    "revoke-all also ended the current session: it ends every session of the user instead of every other "
    "one (the delete lacks `AND id != <the current session>`).",
    "\"Sign out everywhere else\" also signed out the session that asked for it. Its DELETE ends every "
    "session of the user: it needs `AND id != ?` with the current session's id, so the person pressing the "
    "button stays signed in.",
)
LIST_ID_IS_COOKIE = Diagnosis(
    "list-id-is-cookie",
    "the list id works as a cookie: the id shown in GET /me/sessions is the session token, or leads to it. "
    "Give each session a separate random public id, and look sessions up by token only.",
    "The id your list shows works as a session cookie: anyone who sees the list can log in as each of its "
    "sessions. Give each session its own random id for the list, separate from the cookie's token.",
)
REVOKE_ALL_MISSES_SOME = Diagnosis(
    "revoke-all-misses-some",
    "revoke-all ended some of the other sessions and left at least one alive and listed: the loop or query "
    "that ends the other sessions misses some (an off-by-one, a LIMIT, a filter on the wrong column).",
    "\"Sign out everywhere else\" signed out some of the other sessions but not all: one still works and is "
    "still in the list. Look at the loop or the query that ends them; it skips one (a loop that starts at "
    "index 1, a LIMIT, a wrong WHERE).",
)
REVOKE_CURRENT_ALLOWED = Diagnosis(
    "revoke-current-allowed",
    "DELETE /me/sessions/{id} with the requester's own id answered 200: the revoke does not compare the id "
    "with the current session's. Answer 400 and leave ending the current session to POST /logout.",
    "Revoking your own current session was accepted. Before deleting, compare the id in the URL with the "
    "id of the session that sent the request, and answer 400 (\"use POST /logout\") when they are the same.",
)
REVOKE_IGNORES_OWNER = Diagnosis(
    "revoke-ignores-owner",
    "a user revoked another user's session (200, and that session ended): the revoke matches the id alone. "
    "Match the id and the requester's user id in one query (`WHERE id = ? AND user_id = ?`), 404 otherwise.",
    "A user could sign out someone else's session just by knowing its id: your revoke deletes by id alone. "
    "Delete only `WHERE id = ? AND user_id = ?` with the requester's user id, and answer 404 when that "
    "matches nothing.",
)
REVOKE_FOREIGN_TELLS = Diagnosis(
    "revoke-foreign-tells",
    "another user's session id gets a different answer from a made-up id (an ownership check that says so): "
    "it tells an attacker which ids exist. Answer both with the same 404.",
    "Another user's session id got a different answer from an id that does not exist, so a stranger can "
    "tell which ids are real. Treat \"belongs to someone else\" exactly like \"not found\": the same 404 "
    "and the same body.",
)
ME_WRONG_USER = Diagnosis(
    "me-wrong-user",
    "GET /me named another user than the session's own: the user comes from something shared between "
    "requests (a variable set at login) instead of the session the cookie names.",
    "GET /me answered with the wrong user: the one who logged in last, not the one whose cookie was sent. "
    "Your server keeps \"the current user\" in something shared between requests (a global variable set at "
    "login). Find the user from the session of each request's own cookie.",
)
ME_WITHOUT_SESSION = Diagnosis(
    "me-without-session",
    "GET /me answered 200 to a request without a session cookie: the route does not require a session. "
    "Answer 401 when the request carries no valid session.",
    "GET /me answered 200 to a request that sent no cookie at all. Every route that shows account data must "
    "first find the session from the cookie and answer 401 when there is none.",
)
DEVICE_NAMES_ALIKE = Diagnosis(
    "device-names-alike",
    "two logins with different User-Agents got the same deviceName: the name is not made from the "
    "User-Agent. Parse the login request's User-Agent (a UA parser) into \"<browser> on <OS>\".",
    "Two logins from different browsers got the same device name. Make the name at login from that "
    "request's User-Agent header, parsed into \"<browser> on <OS>\" (a User-Agent parser library does this).",
)

ALL: tuple[Diagnosis, ...] = (
    SECOND_COPY,
    CURRENT_BY_CLIENT,
    FOREIGN_SESSIONS,
    REVOKE_UNKNOWN_200,
    REVOKE_ALL_ENDS_CURRENT,
    LIST_ID_IS_COOKIE,
    REVOKE_ALL_MISSES_SOME,
    REVOKE_CURRENT_ALLOWED,
    REVOKE_IGNORES_OWNER,
    REVOKE_FOREIGN_TELLS,
    ME_WRONG_USER,
    ME_WITHOUT_SESSION,
    DEVICE_NAMES_ALIKE,
)
BY_ID: dict[str, Diagnosis] = {diagnosis.id: diagnosis for diagnosis in ALL}

# What the current check saw. Checks run one at a time in the suite's
# process; threads a check starts (concurrency trials) record nothing.
_found: list[Diagnosis] = []


def clear() -> None:
    """Forget what the previous check recorded (the plugin calls this before each check)."""
    _found.clear()


def record(diagnosis: Diagnosis) -> None:
    """Record that the current check saw the evidence of `diagnosis` (once per check)."""
    if diagnosis not in _found:
        _found.append(diagnosis)


def found() -> list[Diagnosis]:
    """Return what the current check recorded, in the order seen."""
    return list(_found)


# --- evidence that more than one check looks for ------------------------------------


def look_at_current_marks(entries: Iterable[Mapping[str, Any]]) -> None:
    """Record CURRENT_BY_CLIENT when a list marks several sessions current that share an ip or a device name.

    The suite sends every request from one address, and often several
    sessions with one User-Agent: a server that decides "current" by either
    marks all of them, which a server deciding by session never does.
    """
    current = [entry for entry in entries if entry.get("isCurrent") is True]
    if len(current) < 2:
        return
    for field in ("ip", "deviceName"):
        values = {str(entry.get(field)) for entry in current}
        if len(values) < len(current):
            record(CURRENT_BY_CLIENT)
            return
