"""The JSON API: accounts, the session list and its actions, the security log (docs/sessions-api.md)."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import bottle

from .errors import BadRequest, NotAuthenticated, NotFound
from .services import Services
from .sessions import Client, Session
from .store import EventRow, ListedSession, Outcome
from .web import COOKIE_NAME, client_ip, parse_json_object, read_body, require_string, session_cookie


_CURRENT = "impl.session"
MAX_SESSION_NAME = 64
# EXT-ACTIVITY paging: ?limit=1..200 (default 50); ?before=<event id>.
DEFAULT_EVENTS = 50
MAX_EVENTS = 200
_DIGITS = re.compile(r"[0-9]{1,18}")
# Besides the control characters (Cc) the contract names, a session name may
# not hold line separators or bidirectional overrides: either would let a
# name disguise itself or its neighbours when shown (docs/decisions.md).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters that show nothing by themselves: Unicode's Default_Ignorable_Code_Point
# (zero-width spaces and joiners, the BOM, fillers, variation selectors, tags)
# and the blank Braille pattern. A name made only of these, of spaces and of
# marks with nothing to sit on would be an empty label that looks filled in.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)


def _shows_something(char: str) -> bool:
    point = ord(char)
    if any(low <= point <= high for low, high in _INVISIBLE_RANGES):
        return False
    return unicodedata.category(char)[0] not in ("Z", "C", "M")


def session_name(body: dict[str, Any]) -> str | None:
    """Return the trimmed name a PATCH body asks for (None removes it), or raise BadRequest (EXT-RENAME)."""
    if "name" not in body:
        raise BadRequest("name is required (a string, or null to remove the name).")
    name = body["name"]
    if name is None:
        return None
    if not isinstance(name, str):
        raise BadRequest("name must be a string or null.")
    name = name.strip()
    if not 1 <= len(name) <= MAX_SESSION_NAME:
        raise BadRequest(f"name must hold 1 to {MAX_SESSION_NAME} characters.")
    for char in name:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs") or char in _BIDI_CONTROLS:
            raise BadRequest("name must not contain control characters.")
    if not any(_shows_something(char) for char in name):
        raise BadRequest("name must hold at least one visible character.")
    return name


def listed(s: ListedSession, current_id: str) -> dict[str, Any]:
    """Return a session as the list shows it (CORE-LIST, EXT-RENAME, EXT-NEW-DEVICE)."""
    return {
        "id": s.id,
        "deviceName": s.device_name,
        "ip": s.ip,
        "lastActiveAt": s.last_active_at,
        "createdAt": s.created_at,
        "isCurrent": s.id == current_id,
        "name": s.name,
        "newDevice": s.new_device,
    }


def event_json(e: EventRow) -> dict[str, Any]:
    """Return a security-log event as the API shows it (EXT-ACTIVITY)."""
    out: dict[str, Any] = {
        "id": e.id,
        "type": e.type,
        "at": e.at,
        "ip": e.ip,
        "deviceName": e.device_name,
        "sessionId": e.session_id,
        "actorSessionId": e.actor_session_id,
    }
    if e.type == "sessions_revoked_all":
        out["count"] = e.count or 0
    elif e.type == "password_changed":
        out["revoked"] = e.count or 0
    elif e.type == "login":
        out["newDevice"] = bool(e.new_device)
    elif e.type == "login_failed":
        # The failures this event stands for, the last of them at lastAt.
        out["count"] = e.count or 1
        out["lastAt"] = e.last_at or e.at
    return out


def install(app: bottle.Bottle, services: Services) -> None:
    """Add the API routes to `app`."""
    config = services.config
    accounts = services.accounts
    sessions = services.sessions
    store = services.store
    secure = "; Secure" if config.https else ""
    # Max-Age matches the absolute timeout: the browser forgets the cookie
    # when the server would refuse it anyway (HARD-COOKIE).
    max_age = max(1, math.ceil(config.absolute_timeout))

    def set_session_cookie(token: str) -> None:
        bottle.response.add_header(
            "Set-Cookie", f"{COOKIE_NAME}={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"
        )

    def clear_session_cookie() -> None:
        bottle.response.add_header(
            "Set-Cookie",
            f"{COOKIE_NAME}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax{secure}",
        )

    def json_request() -> dict[str, Any]:
        return parse_json_object(read_body(bottle.request.environ, config.max_body_bytes))

    def client() -> Client:
        environ = bottle.request.environ
        return Client.of(client_ip(environ, config), environ.get("HTTP_USER_AGENT"))

    def current_session() -> Session:
        """Return the requester's live session, or raise NotAuthenticated (401) saying why (EXT-REASON)."""
        environ = bottle.request.environ
        if _CURRENT not in environ:
            environ[_CURRENT] = sessions.authenticate(session_cookie(environ))
        session = environ[_CURRENT]
        if session is None:
            raise NotAuthenticated(reason=sessions.why_not(session_cookie(environ)))
        return session

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """200 always: the process answers. The benchmark's ceiling route."""
        return {"status": "ok"}

    @app.post("/signup")
    def signup() -> dict[str, str]:
        """Create an account; does not log in.

        201 {id, email}; 400 bad body or email or password; 409 email taken.
        Rules: CORE-SIGNUP, HARD-BAD-INPUT.
        """
        body = json_request()
        email = require_string(body, "email")
        password = require_string(body, "password")
        user = accounts.signup(email, password)
        bottle.response.status = 201
        return {"id": user.id, "email": user.email}

    @app.post("/login")
    def login() -> dict[str, str]:
        """Check credentials and start a new session on this device.

        200 {message} + Set-Cookie; 400 bad body; 401 bad credentials (one
        answer for unknown email and wrong password); 429 + Retry-After after
        too many failures for this account from this address. With
        "endOtherSessions": true, every other session of the user ends in the
        same step, and the 200 adds {revoked}.
        Rules: CORE-LOGIN, HARD-COOKIE, HARD-TOKEN, HARD-FIXATION, HARD-ENUM,
        HARD-THROTTLE, EXT-ACTIVITY, EXT-NEW-DEVICE, EXT-PASSWORD, EXT-RECOVER.
        """
        body = json_request()
        email = require_string(body, "email")
        password = require_string(body, "password")
        end_others = body.get("endOtherSessions", False)
        if not isinstance(end_others, bool):
            raise BadRequest("endOtherSessions must be true or false.")
        # Whatever session cookie came with this request is ignored: a login
        # always mints a fresh token (HARD-FIXATION).
        token, revoked = accounts.login(email, password, client(), end_others)
        set_session_cookie(token)
        if revoked is None:
            return {"message": "Logged in."}
        return {"message": "Logged in; every other session has been signed out.", "revoked": revoked}

    @app.post("/logout")
    def logout() -> dict[str, str]:
        """End the current session and clear the cookie; 200 even without a session.

        Rules: CORE-LOGOUT, HARD-CSRF, EXT-ACTIVITY.
        """
        sessions.end(session_cookie(bottle.request.environ), client())
        clear_session_cookie()
        return {"message": "Logged out."}

    @app.get("/me")
    def me() -> dict[str, str]:
        """200 {id, email} of the session's user; 401 otherwise. Rules: CORE-ME, HARD-NO-STORE, EXT-REASON."""
        session = current_session()
        return {"id": session.user_id, "email": session.email}

    @app.get("/me/sessions")
    def list_sessions() -> list[dict[str, Any]]:
        """200 [{id, deviceName, ip, lastActiveAt, createdAt, isCurrent, name, newDevice}], most recently active first.

        Rules: CORE-LIST, CORE-LAST-ACTIVE, HARD-PUBLIC-ID, HARD-IDLE, HARD-ABSOLUTE,
        EXT-RENAME, EXT-NEW-DEVICE.
        """
        current = current_session()
        return [listed(s, current.id) for s in sessions.list_for_user(current.user_id)]

    @app.post("/me/sessions/revoke-all")
    def revoke_all() -> dict[str, Any]:
        """End every other session of this user; the current one stays.

        200 {message, revoked}; 401 (also when this session was itself ended
        by a concurrent revoke-all); 403 cross-site.
        Rules: CORE-REVOKE-ALL, CORE-EX3, HARD-CSRF, EXT-ACTIVITY.
        """
        current = current_session()
        revoked = sessions.revoke_others(current, client())
        return {"message": "All other sessions have been revoked.", "revoked": revoked}

    # An empty id is an unknown id: the same 404 body (a routing 404 would
    # say something else), after the same 401 for a caller without a session.
    @app.delete("/me/sessions/")
    @app.route("/me/sessions/", method="PATCH")
    def no_session_id() -> dict[str, str]:
        current_session()
        raise NotFound("Session not found")

    # `:path` so that any id, even one with slashes, gets the same 404 as
    # an unknown one instead of a routing error with another body.
    @app.delete("/me/sessions/<session_id:path>")
    def revoke(session_id: str) -> dict[str, str]:
        """End one of this user's other sessions by its public id.

        200 {message}; 400 when it is the current session (use /logout);
        404 unknown, already ended, or another user's (one identical answer);
        401; 403 cross-site. Rules: CORE-REVOKE, CORE-EX2, HARD-CSRF, EXT-ACTIVITY.
        """
        current = current_session()
        if session_id == current.id:
            raise BadRequest("Use POST /logout to end your current session.")
        outcome = sessions.revoke(current, session_id, client())
        if outcome is Outcome.NOT_FOUND:
            raise NotFound("Session not found")
        return {"message": "Session revoked."}

    @app.route("/me/sessions/<session_id:path>", method="PATCH")
    def rename(session_id: str) -> dict[str, Any]:
        """Name one of this user's sessions, the current one included; {"name": null} removes the name.

        200 {the session's list object}; 400 bad body or name; 404 unknown,
        ended or another user's (one answer); 401; 403 cross-site.
        Rules: EXT-RENAME, HARD-CSRF, EXT-ACTIVITY.
        """
        current = current_session()
        name = session_name(json_request())
        renamed = sessions.rename(current, session_id, name, client())
        if renamed is None:
            raise NotFound("Session not found")
        return listed(renamed, current.id)

    @app.post("/me/password")
    def change_password() -> dict[str, Any]:
        """Change the password: every other session ends, this one goes on under a new token.

        200 {message, revoked} + Set-Cookie; 400 bad body or new password too
        short; 403 current password wrong; 429 too many wrong current
        passwords; 401; 403 cross-site. Rules: EXT-PASSWORD, HARD-THROTTLE,
        HARD-CSRF, EXT-ACTIVITY.
        """
        current = current_session()
        body = json_request()
        current_password = require_string(body, "currentPassword")
        new_password = require_string(body, "newPassword")
        token, revoked = accounts.change_password(current, current_password, new_password, client())
        set_session_cookie(token)
        return {"message": "Password changed.", "revoked": revoked}

    @app.get("/me/activity")
    def activity() -> list[dict[str, Any]]:
        """The account's security log, newest first; ?limit=1..200 (50), ?before=<one of the user's event ids>.

        200 [events]; 400 bad limit, or a before that is not one of this
        user's events (another user's id, or one never issued: a cursor, not
        a number to probe with); 401. Rules: EXT-ACTIVITY, EXT-NEW-DEVICE.
        """
        current = current_session()
        query = bottle.request.query
        limit_text = query.get("limit")
        before = query.get("before")
        if limit_text is None:
            limit = DEFAULT_EVENTS
        elif _DIGITS.fullmatch(limit_text) and 1 <= int(limit_text) <= MAX_EVENTS:
            limit = int(limit_text)
        else:
            raise BadRequest(f"limit must be a whole number from 1 to {MAX_EVENTS}.")
        if before is not None and not (_DIGITS.fullmatch(before) and int(before) > 0):
            raise BadRequest("before must be the id of one of your events.")
        found = store.list_events(current.user_id, limit, before)
        if found is None:
            raise BadRequest("before must be the id of one of your events.")
        return [event_json(e) for e in found]
