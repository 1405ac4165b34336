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
    """A known mistake: a stable id (for reports and tests) and the sentence that teaches it."""

    id: str
    text: str


SECOND_COPY = Diagnosis(
    "second-copy",
    "the session left the list but still authenticates: authentication reads a second copy of the sessions "
    "(a cache, an in-memory map, a cookie cache) that this ending did not clear; the lesson's own revoke-all "
    "bug. End the session where authentication looks, and drop every copy.",
)
CURRENT_BY_CLIENT = Diagnosis(
    "current-by-client",
    "isCurrent follows the IP address or the User-Agent instead of the session: several sessions from the same "
    "address or browser are all marked current. Compare each listed session with the session of the request.",
)
FOREIGN_SESSIONS = Diagnosis(
    "foreign-sessions",
    "the list holds another user's sessions: the list query does not filter on the user of the current "
    "session (a missing `WHERE user_id = ?`).",
)
REVOKE_UNKNOWN_200 = Diagnosis(
    "revoke-unknown-200",
    "a revoke answers 200 for an id that does not exist: the answer does not depend on whether a session of "
    "this user was found and ended. Answer 404 when nothing matched.",
)
REVOKE_ALL_ENDS_CURRENT = Diagnosis(
    "revoke-all-ends-current",
    "revoke-all also ended the current session: it ends every session of the user instead of every other "
    "one (the delete lacks `AND id != <the current session>`).",
)
LIST_ID_IS_COOKIE = Diagnosis(
    "list-id-is-cookie",
    "the list id works as a cookie: the id shown in GET /me/sessions is the session token, or leads to it. "
    "Give each session a separate random public id, and look sessions up by token only.",
)

ALL: tuple[Diagnosis, ...] = (
    SECOND_COPY,
    CURRENT_BY_CLIENT,
    FOREIGN_SESSIONS,
    REVOKE_UNKNOWN_200,
    REVOKE_ALL_ENDS_CURRENT,
    LIST_ID_IS_COOKIE,
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
