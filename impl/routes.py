"""The JSON API: signup, login, logout, /me and the session list (docs/sessions-api.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import bottle

from .errors import BadRequest, NotAuthenticated, NotFound
from .sessions import Session
from .web import COOKIE_NAME, client_ip, parse_json_object, read_body, require_string, session_cookie

if TYPE_CHECKING:
    from .app import JsonBottle, Services

_CURRENT = "impl.session"


def install(app: "JsonBottle", services: "Services") -> None:
    """Add the API routes to `app`."""
    config = services.config
    accounts = services.accounts
    sessions = services.sessions
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

    def current_session() -> Session:
        """Return the requester's live session, or raise NotAuthenticated (401)."""
        environ = bottle.request.environ
        if _CURRENT not in environ:
            environ[_CURRENT] = sessions.authenticate(session_cookie(environ))
        session = environ[_CURRENT]
        if session is None:
            raise NotAuthenticated()
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
        answer for unknown email and wrong password).
        Rules: CORE-LOGIN, HARD-COOKIE, HARD-TOKEN, HARD-FIXATION, HARD-ENUM.
        """
        body = json_request()
        email = require_string(body, "email")
        password = require_string(body, "password")
        user = accounts.check_credentials(email, password)
        # Whatever session cookie came with this request is ignored: a login
        # always mints a fresh token (HARD-FIXATION).
        environ = bottle.request.environ
        token = sessions.start(user.id, client_ip(environ, config), environ.get("HTTP_USER_AGENT"))
        set_session_cookie(token)
        return {"message": "Logged in."}

    @app.post("/logout")
    def logout() -> dict[str, str]:
        """End the current session and clear the cookie; 200 even without a session.

        Rules: CORE-LOGOUT, HARD-CSRF.
        """
        sessions.end(session_cookie(bottle.request.environ))
        clear_session_cookie()
        return {"message": "Logged out."}

    @app.get("/me")
    def me() -> dict[str, str]:
        """200 {id, email} of the session's user; 401 otherwise. Rules: CORE-ME, HARD-NO-STORE."""
        session = current_session()
        return {"id": session.user_id, "email": session.email}

    @app.get("/me/sessions")
    def list_sessions() -> list[dict[str, Any]]:
        """200 [{id, deviceName, ip, lastActiveAt, createdAt, isCurrent}], most recently active first.

        Rules: CORE-LIST, CORE-LAST-ACTIVE, HARD-PUBLIC-ID, HARD-IDLE, HARD-ABSOLUTE.
        """
        current = current_session()
        return [
            {
                "id": s.id,
                "deviceName": s.device_name,
                "ip": s.ip,
                "lastActiveAt": s.last_active_at,
                "createdAt": s.created_at,
                "isCurrent": s.id == current.id,
            }
            for s in sessions.list_for_user(current.user_id)
        ]

    @app.post("/me/sessions/revoke-all")
    def revoke_all() -> dict[str, Any]:
        """End every other session of this user; the current one stays.

        200 {message, revoked}; 401; 403 cross-site. Rules: CORE-REVOKE-ALL, CORE-EX3, HARD-CSRF.
        """
        current = current_session()
        revoked = sessions.revoke_others(current)
        return {"message": "All other sessions have been revoked.", "revoked": revoked}

    # `:path` so that any id, even one with slashes, gets the same 404 as
    # an unknown one instead of a routing error with another body.
    @app.delete("/me/sessions/<session_id:path>")
    def revoke(session_id: str) -> dict[str, str]:
        """End one of this user's other sessions by its public id.

        200 {message}; 400 when it is the current session (use /logout);
        404 unknown, already ended, or another user's (one identical answer);
        401; 403 cross-site. Rules: CORE-REVOKE, CORE-EX2, HARD-CSRF.
        """
        current = current_session()
        if session_id == current.id:
            raise BadRequest("Use POST /logout to end your current session.")
        if not sessions.revoke(current.user_id, session_id):
            raise NotFound("Session not found")
        return {"message": "Session revoked."}
