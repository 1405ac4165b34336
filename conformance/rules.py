"""The contract's rules (docs/sessions-api.md) as a table: ID, level, title, summary."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

CORE = "core"
HARDENING = "hardening"


@dataclass(frozen=True)
class Rule:
    """One requirement of the contract, named by its stable ID."""

    id: str
    title: str
    text: str

    @property
    def level(self) -> str:
        """Return "core" for CORE-* rules (MUST), "hardening" for HARD-* (SHOULD)."""
        return level_of(self.id)


def level_of(rule_id: str) -> str:
    """Return the level a rule ID belongs to, read from its prefix."""
    if rule_id.startswith("CORE-"):
        return CORE
    if rule_id.startswith("HARD-"):
        return HARDENING
    raise ValueError(f"{rule_id!r} is not a rule ID (CORE-… or HARD-…)")


_TABLE = [
    Rule(
        "CORE-SIGNUP",
        "POST /signup creates an account",
        "POST /signup with a JSON object {email, password} answers 201 with the new "
        "account's id and email, and does not log in. It answers 400 when the body is "
        "not a JSON object, a field is missing or not a string, the email is not an "
        "address or the password is shorter than 8 characters, and 409 when the email "
        "is already registered, compared case-insensitively.",
    ),
    Rule(
        "CORE-LOGIN",
        "POST /login opens a new session",
        "POST /login with the right email (any case) and password answers 200 and sets "
        "the session cookie; each login creates a new session and leaves the user's "
        "other sessions alive. A body that is not a JSON object or lacks a string field "
        "is 400; an unknown email and a wrong password both answer 401 with an error.",
    ),
    Rule(
        "CORE-LOGOUT",
        "POST /logout ends the current session",
        "POST /logout answers 200, ends the current session on the server and clears "
        "the cookie (Max-Age=0 or an Expires in the past); without a valid session it "
        "still answers 200 and clears the cookie. The ended session's token is 401 "
        "from then on, and the user's other sessions are not affected.",
    ),
    Rule(
        "CORE-ME",
        "GET /me names the session's user",
        "GET /me answers 200 with the id and email of the session's user, and 401 with "
        "a JSON error without a cookie or with an unknown, malformed, revoked, logged "
        "out or expired one.",
    ),
    Rule(
        "CORE-LIST",
        "GET /me/sessions lists the user's active sessions",
        "GET /me/sessions answers a JSON array with one object per active session of "
        "the authenticated user and no one else's, each with id, deviceName, ip, "
        "lastActiveAt, createdAt and isCurrent. Exactly one is current: the requester. "
        "The list is ordered by lastActiveAt, most recent first. deviceName reads "
        '"<browser> on <OS or device>", made from the User-Agent by a real parser.',
    ),
    Rule(
        "CORE-LAST-ACTIVE",
        "lastActiveAt follows use",
        "Using a session moves its lastActiveAt forward, at most once per a configurable "
        "refresh interval; lastActiveAt never goes backwards and never precedes createdAt.",
    ),
    Rule(
        "CORE-REVOKE",
        "DELETE /me/sessions/{id} revokes one session",
        "DELETE /me/sessions/{id} answers 200 and from the very next request the revoked "
        "session's token is 401 everywhere and the session leaves the list. The "
        "requester's own session is 400 and nothing is revoked. An unknown, already "
        "revoked or another user's session id is 404, and another user's id gets exactly "
        "the same answer as a made-up one. Unauthenticated requests are 401.",
    ),
    Rule(
        "CORE-REVOKE-ALL",
        "POST /me/sessions/revoke-all signs out everywhere else",
        "POST /me/sessions/revoke-all answers 200; from the very next request every other "
        "session of the user is 401, the current session keeps working and the list holds "
        "only it. Other users' sessions are untouched.",
    ),
    Rule(
        "CORE-EX1",
        "Exercise 1: two browsers, two named sessions",
        "Log in as one user with two different User-Agents: the list shows both sessions "
        "with different device names, exactly one of them current.",
    ),
    Rule(
        "CORE-EX2",
        "Exercise 2: revoke one session from the other",
        "Revoke one of two sessions from the other: a request with the revoked session's "
        "cookie gets 401.",
    ),
    Rule(
        "CORE-EX3",
        "Exercise 3: revoke all from one of three sessions",
        "With three sessions, revoke all from one of them: that session still works, the "
        "other two get 401.",
    ),
    Rule(
        "HARD-COOKIE",
        "The session cookie has safe attributes",
        "The session cookie is HttpOnly, SameSite=Lax or Strict, Path=/, has a lifetime "
        "(Max-Age or Expires), and is Secure whenever the server is served over HTTPS.",
    ),
    Rule(
        "HARD-TOKEN",
        "Session tokens are long, random and kept out of sight",
        "Tokens carry at least 128 bits from a CSPRNG (22 or more URL-safe characters), "
        "never repeat across logins, and reveal no user id, email or time when decoded. "
        "A token travels only in Set-Cookie and Cookie: never in a response body, a URL "
        "or a Location header. A token with one character changed is 401.",
    ),
    Rule(
        "HARD-FIXATION",
        "Login never adopts a cookie it was sent",
        "A session cookie sent with the login request is never adopted: login always "
        "issues a fresh token, and the planted value never authenticates as the user "
        "who logged in.",
    ),
    Rule(
        "HARD-PUBLIC-ID",
        "Listed session ids are not tokens",
        "The id shown in the session list is not the cookie token nor a piece of it, so "
        "listing hands out no bearer secret. (The contract also asks that only a hash of "
        "each token be stored; that cannot be seen from outside and is not checked.)",
    ),
    Rule(
        "HARD-CSRF",
        "Cross-site state changes are refused",
        "POST /logout, DELETE /me/sessions/{id} and POST /me/sessions/revoke-all are "
        "refused with 403 and change nothing when the Origin header names another origin "
        "(scheme, host or port differ; Origin: null is foreign) or Sec-Fetch-Site is "
        "cross-site. Same-origin requests and requests without Origin are not refused.",
    ),
    Rule(
        "HARD-IDLE",
        "An idle session expires",
        "A session unused for the idle timeout is 401 and no longer listed; a session in "
        "regular use outlives it. Checked only when --idle-timeout declares the target's "
        "value.",
    ),
    Rule(
        "HARD-ABSOLUTE",
        "A session dies at the absolute timeout",
        "A session older than the absolute timeout is 401 and no longer listed, however "
        "busy it was kept. Checked only when --absolute-timeout declares the target's value.",
    ),
    Rule(
        "HARD-CORS",
        "No credentialed CORS for foreign origins",
        "A request with a foreign Origin never gets that origin echoed in "
        "Access-Control-Allow-Origin together with Access-Control-Allow-Credentials: true "
        "(checked on GET /me, GET /me/sessions, a preflight and POST /login).",
    ),
    Rule(
        "HARD-ENUM",
        "Login does not reveal which accounts exist",
        "An unknown email and a wrong password get the same status and a byte-identical body.",
    ),
    Rule(
        "HARD-NO-STORE",
        "Authenticated responses are not cached",
        "Every response to an authenticated request carries Cache-Control with no-store.",
    ),
    Rule(
        "HARD-BAD-INPUT",
        "Bad input gets a JSON 4xx and changes nothing",
        "Malformed JSON, wrong types, oversized bodies (413 above 64 KiB), garbage or "
        "oversized cookies and garbage path ids get a 4xx with a JSON error, never a 5xx, "
        "and change nothing.",
    ),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _TABLE}


def select(patterns: list[str] | None) -> list[str]:
    """Return the rule IDs matching any of the patterns (exact IDs or globs), in table order.

    No patterns means every rule. A pattern that matches nothing raises ValueError,
    so a typo in `--rule` is an error rather than an empty, green run.
    """
    if not patterns:
        return list(RULES)
    chosen: set[str] = set()
    for pattern in patterns:
        wanted = pattern.strip().upper()
        matched = [rule_id for rule_id in RULES if fnmatch.fnmatchcase(rule_id, wanted)]
        if not matched:
            raise ValueError(f"--rule {pattern!r} matches no rule (see --list-rules)")
        chosen.update(matched)
    return [rule_id for rule_id in RULES if rule_id in chosen]


def format_table() -> str:
    """Return the rule table as text, one rule per line: ID, level, title."""
    width = max(len(rule_id) for rule_id in RULES)
    lines = [f"{'ID':<{width}}  {'LEVEL':<9}  TITLE"]
    for rule in RULES.values():
        lines.append(f"{rule.id:<{width}}  {rule.level:<9}  {rule.title}")
    return "\n".join(lines)
