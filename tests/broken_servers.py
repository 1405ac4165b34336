"""Deliberately broken variants of the reference server, to show that the conformance suite catches each bug.

Theory of operation:

1. A variant is the reference app from `create_app`, plus one bug put in from
   outside: WSGI middleware that rewrites a request or an answer, or a method
   of the app's own `services.sessions` / `services.store` /
   `services.accounts` instance replaced by a broken copy. `impl/` holds no
   switch for any of them; the routes look those methods up on the instances
   at call time, so an instance attribute is enough.
2. Each variant names the rules it breaks (`breaks`). A run of the suite on it
   with `--rule 'CORE-*'` plus those rules must FAIL every one of them and PASS
   every other CORE rule: a bug that brings down rules it was not aimed at
   says nothing about whether the suite would see it alone.
3. Every variant runs with a one-second `lastActiveAt` refresh, declared to
   the suite, so the CORE checks that need it run too. Variants aimed at the
   timeouts get short ones (IDLE_TIMEOUT, ABSOLUTE_TIMEOUT), declared as well.
4. Bugs are the ones implementers make: each `bug` line says which.

tests/BROKEN_SERVERS.md lists the variants; tests/test_suite_catches_broken_servers.py
runs the suite on each and keeps that list in step with VARIANTS.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import io
import json
import logging
import secrets
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import bottle

from impl import Config, create_app
from impl.threaded import serving_in_thread
from impl.accounts import User, validate_email, validate_password
from impl.errors import BadRequest, Conflict, InvalidCredentials
from impl.sessions import LOGIN, LOGOUT, Client, Session, hash_token, is_well_formed_token
from impl.store import CallerGone, Cutoffs, Event, NewSession, Outcome, UserRow
from impl.web import session_cookie

from .conftest import FAST

WsgiApp = Callable[..., Iterable[bytes]]

# Declared to the suite for every variant (--touch-interval), so that the
# checks that lastActiveAt moves and that the list follows activity run.
TOUCH_INTERVAL = 1.0
# For the variants aimed at HARD-IDLE / HARD-ABSOLUTE: short enough to wait
# out, long enough that no CORE check's session runs into them (the longest
# lives about 3 s). The same values the reference's own run declares.
IDLE_TIMEOUT = 4.0
ABSOLUTE_TIMEOUT = 10.0

CONTROL_SETTINGS = {"idle_timeout": IDLE_TIMEOUT, "absolute_timeout": ABSOLUTE_TIMEOUT}


@dataclass(frozen=True)
class Variant:
    """One broken server: its id, the rule IDs it breaks, the bug in one line, and how to build it."""

    id: str
    breaks: tuple[str, ...]
    bug: str
    build: Callable[[Any], WsgiApp]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def config(self, db_path: str) -> Config:
        """Return the reference settings this variant runs with (cheap scrypt, quick refresh)."""
        return Config(db=db_path, **{**FAST, "touch_interval": TOUCH_INTERVAL, **self.settings})

    def app(self, db_path: str) -> WsgiApp:
        """Build a fresh reference app on `db_path` and break it."""
        return self.build(create_app(self.config(db_path)))

    def declarations(self) -> list[str]:
        """Return the suite options that tell it this variant's settings."""
        args = ["--touch-interval", f"{TOUCH_INTERVAL:g}"]
        if "idle_timeout" in self.settings:
            args += ["--idle-timeout", f"{self.settings['idle_timeout']:g}"]
        if "absolute_timeout" in self.settings:
            args += ["--absolute-timeout", f"{self.settings['absolute_timeout']:g}"]
        return args


VARIANTS: list[Variant] = []


def variant(variant_id: str, breaks: Iterable[str], bug: str, **settings: Any) -> Callable[..., Any]:
    """Register the decorated builder as a variant."""

    def register(build: Callable[[Any], WsgiApp]) -> Callable[[Any], WsgiApp]:
        if any(v.id == variant_id for v in VARIANTS):
            raise ValueError(f"two variants named {variant_id}")
        VARIANTS.append(Variant(variant_id, tuple(breaks), bug, build, settings))
        return build

    return register


# The unbroken reference under the same harness: it must pass every rule, or
# a variant's failures could come from the harness rather than from its bug.
CONTROL = Variant("control", (), "none: the reference app as create_app builds it", lambda app: app, CONTROL_SETTINGS)
# The same for the rules the HARD-THROTTLE and EXT variants break, at --level
# extensions and with their settings (no timeouts: a session of a long check
# on a busy machine must not idle out in 4 s and fail the control by accident).
CONTROL_EXTENSIONS = Variant(
    "control-extensions", (), "none: the reference app, checked for HARD-THROTTLE and every EXT rule", lambda app: app
)
EXTENSION_CONTROL_RULES = ("HARD-THROTTLE", "EXT-*")


# --- serving over real HTTP ----------------------------------------------------------


def _quiet_errors(app: WsgiApp) -> WsgiApp:
    """Give each request a private wsgi.errors: broken variants crash on purpose, and say so there."""

    def quiet(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.errors"] = io.StringIO()
        return app(environ, start_response)

    return quiet


@contextlib.contextmanager
def serving(app: WsgiApp) -> Iterator[str]:
    """Serve a WSGI app on a free port of 127.0.0.1 in threads until the block ends; yield its base URL."""
    with serving_in_thread(_quiet_errors(app)) as url:
        yield url


# --- tools for building variants -----------------------------------------------------


Edit = Callable[[dict[str, Any], str, list[tuple[str, str]], bytes], tuple[str, list[tuple[str, str]], bytes]]


def rewrite_responses(app: WsgiApp, edit: Edit) -> WsgiApp:
    """Wrap `app` so that edit(environ, status, headers, body) may change every answer before it leaves."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return written.append

        result = app(environ, capture)
        try:
            body = b"".join(written) + b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers, body = edit(environ, captured["status"], captured["headers"], body)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    return wrapped


def rewrite_requests(app: WsgiApp, edit: Callable[[dict[str, Any]], None]) -> WsgiApp:
    """Wrap `app` so that edit(environ) may change every request before the app sees it."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        edit(environ)
        return app(environ, start_response)

    return wrapped


def is_call(environ: Mapping[str, Any], method: str, path: str) -> bool:
    """Tell whether a request is `method path` (path may end in `*` for a prefix)."""
    if environ.get("REQUEST_METHOD") != method:
        return False
    actual = environ.get("PATH_INFO", "")
    return actual.startswith(path[:-1]) if path.endswith("*") else actual == path


def json_answer(status: str, payload: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    """Return (status, headers, body) of a JSON answer with the reference's no-store header."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body


def set_cookie_token(headers: list[tuple[str, str]]) -> str | None:
    """Return the session token a list of response headers sets, if any."""
    for name, value in headers:
        if name.lower() == "set-cookie" and value.startswith("session="):
            token = value.split(";", 1)[0].partition("=")[2]
            if token:
                return token
    return None


def sql(store: Any) -> sqlite3.Connection:
    """Open a connection of the variant's own on the reference's SQLite file (autocommit).

    A broken server may do what the store's verbs never would: it does so in
    SQL of its own, as a buggy implementation would, not through the store's
    private parts.
    """
    return sqlite3.connect(store.path, isolation_level=None, timeout=5)


def revoked(sessions: Any, current: Session, public_id: str, client: Client) -> bool:
    """Revoke one session as a hand-written loop would: True if it ended, False if not found or the caller is gone."""
    try:
        return sessions.revoke(current, public_id, client) is Outcome.DONE
    except CallerGone:
        return False


def owner_of(store: Any, public_id: str) -> str | None:
    """Return the user id owning the session with this public id, whoever asks."""
    with contextlib.closing(sql(store)) as conn:
        row = conn.execute("SELECT user_id FROM sessions WHERE id = ?", (public_id,)).fetchone()
    return row[0] if row else None


def start_session(
    sessions: Any, user_id: str, client: Client, token: str, public_id: str, password_hash: str | None = None
) -> str | None:
    """Store a new session as the reference's SessionManager.start does, with the token and id given."""
    now_ms = sessions.now_ms()
    name = client.device_name
    new = NewSession(hash_token_any(token), public_id, user_id, client.ip, client.user_agent, name, False, now_ms)
    event = Event(LOGIN, now_ms, client.ip, name, new_device=False)
    limit, cutoffs = sessions.config.max_sessions_per_user, sessions.cutoffs(now_ms)
    if sessions.store.add_session(new, limit, cutoffs, event, password_hash) is None:
        return None
    return token


def hash_token_any(token: str) -> bytes:
    """Hash a cookie value of any shape, as hash_token does the reference's own ASCII tokens."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def replace_token_policy(sessions: Any, make_token: Callable[[], str]) -> None:
    """Make `sessions` issue tokens from make_token() and accept any non-empty cookie value as a token.

    What an implementation without the reference's token shape looks like:
    start, authenticate and end as the reference does them, minus the shape check.
    """

    def start(user_id: str, client: Client, password_hash: str | None = None) -> str | None:
        return start_session(sessions, user_id, client, make_token(), secrets.token_urlsafe(16), password_hash)

    def authenticate(token: str | None) -> Session | None:
        if not token or len(token) > 4096:
            return None
        token_hash = hash_token_any(token)
        now_ms = sessions.now_ms()
        cutoffs = sessions.cutoffs(now_ms)
        row = sessions.store.find_session(token_hash, cutoffs)
        if row is None:
            return None
        stale_before = now_ms - int(sessions.config.touch_interval * 1000)
        if row.last_active_at < stale_before and sessions.store.touch_session(token_hash, now_ms, stale_before, cutoffs):
            row = row._replace(last_active_at=now_ms)
        return Session.from_row(row, token_hash)

    def end(token: str | None, client: Client) -> bool:
        if not token:
            return False
        try:
            sessions.store.logout(hash_token_any(token), sessions.cutoffs(), sessions.event(LOGOUT, client))
        except CallerGone:
            return False
        return True

    sessions.start, sessions.authenticate, sessions.end = start, authenticate, end


def name_devices(app: Any, name_for: Callable[[str], str]) -> Any:
    """Make new sessions of `app` take their device name from name_for(user_agent) instead of the UA parser."""
    store = app.services.store
    add_session = store.add_session

    def add_named(session: NewSession, *rest: Any) -> int | None:
        return add_session(session._replace(device_name=name_for(session.user_agent)), *rest)

    store.add_session = add_named
    return app


class HiddenSessions:
    """A second record beside the sessions table, holding ids "removed" from the list only.

    The lesson's design mistake: two places that say which sessions exist, one
    of them never consulted when a request is authenticated.
    """

    def __init__(self, sessions: Any) -> None:
        self.hidden: set[str] = set()
        self.lock = threading.Lock()
        listed = sessions.list_for_user

        def list_for_user(user_id: str) -> list[Any]:
            with self.lock:
                return [s for s in listed(user_id) if s.id not in self.hidden]

        sessions.list_for_user = list_for_user

    def hide(self, public_id: str) -> None:
        with self.lock:
            self.hidden.add(public_id)


# --- CORE-SIGNUP ---------------------------------------------------------------------


@variant(
    "signup-duplicate-case-sensitive",
    ["CORE-SIGNUP"],
    "the UNIQUE index is on the email as typed, so ANN@x.org signs up again beside ann@x.org "
    "(login compares lower-cased, so it still finds the first account)",
)
def _signup_duplicate_case_sensitive(app: Any) -> WsgiApp:
    accounts, store = app.services.accounts, app.services.store

    def signup_keyed_as_typed(email: str, password: str) -> User:
        email = validate_email(email)
        validate_password(password)
        user = User(secrets.token_urlsafe(16), email)
        password_hash = accounts.hasher.hash(password)
        if not store.add_user(user.id, email, email, password_hash, int(accounts.clock() * 1000)):
            raise Conflict("An account with this email already exists.")
        return user

    def find_user_lower_cased(key: str) -> UserRow | None:
        with contextlib.closing(sql(store)) as conn:
            row = conn.execute(
                "SELECT id, email, password_hash FROM users WHERE lower(email_key) = ? ORDER BY created_at LIMIT 1",
                (key,),
            ).fetchone()
        return UserRow(*row) if row else None

    accounts.signup = signup_keyed_as_typed
    store.find_user = find_user_lower_cased
    return app


@variant(
    "signup-password-off-by-one",
    ["CORE-SIGNUP"],
    "`len(password) <= 8` instead of `< 8`: a password of exactly 8 characters is refused with 400",
)
def _signup_password_off_by_one(app: Any) -> WsgiApp:
    accounts = app.services.accounts
    signup = accounts.signup

    def signup_off_by_one(email: str, password: str) -> Any:
        if len(password) <= 8:
            raise BadRequest("password must be at least 8 characters.")
        return signup(email, password)

    accounts.signup = signup_off_by_one
    return app


# --- CORE-LOGIN ----------------------------------------------------------------------


@variant(
    "login-bad-credentials-400",
    ["CORE-LOGIN", "CORE-SIGNUP"],
    "a wrong password or unknown email answers 400 Bad Request instead of 401 (same body for both); "
    "CORE-SIGNUP sees it too, since it proves that a refused signup set no password by a 401 login",
)
def _login_bad_credentials_400(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "POST", "/login") and status.startswith("401"):
            status = "400 Bad Request"
        return status, headers, body

    return rewrite_responses(app, edit)


@variant(
    "login-email-case-sensitive",
    ["CORE-LOGIN"],
    "login looks the email up as typed, not lower-cased: ANN@x.org cannot log in to ann@x.org",
)
def _login_email_case_sensitive(app: Any) -> WsgiApp:
    accounts = app.services.accounts
    check = accounts.check_credentials

    def check_as_typed(email: str, password: str, client: Client) -> Any:
        # Keys are stored lower-cased, so a look-up as typed finds only lower-case input.
        if email.strip() != email.strip().lower():
            raise InvalidCredentials()
        return check(email, password, client)

    accounts.check_credentials = check_as_typed
    return app


# --- CORE-LOGOUT ---------------------------------------------------------------------


@variant(
    "logout-keeps-session",
    ["CORE-LOGOUT"],
    "the classic: logout clears the cookie in the browser but never ends the session on the server",
)
def _logout_keeps_session(app: Any) -> WsgiApp:
    app.services.sessions.end = lambda token, client: False
    return app


@variant(
    "logout-keeps-cookie",
    ["CORE-LOGOUT"],
    "logout ends the session on the server but sends no Set-Cookie to clear the browser's cookie",
)
def _logout_keeps_cookie(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "POST", "/logout"):
            headers = [(k, v) for k, v in headers if k.lower() != "set-cookie"]
        return status, headers, body

    return rewrite_responses(app, edit)


@variant(
    "logout-ends-all-sessions",
    ["CORE-LOGOUT"],
    "logout deletes by user id (`DELETE FROM sessions WHERE user_id = ?`): every device is logged out",
)
def _logout_ends_all_sessions(app: Any) -> WsgiApp:
    sessions = app.services.sessions

    def end_every_session(token: str | None, client: Client) -> bool:
        current = sessions.authenticate(token)
        if current is None:
            return False
        with contextlib.closing(sql(sessions.store)) as conn:
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (current.user_id,))
        return True

    sessions.end = end_every_session
    return app


# --- CORE-ME -------------------------------------------------------------------------


@variant(
    "me-answers-last-login",
    ["CORE-ME"],
    "a module-level `current_user` set at each login: GET /me checks the session but names whoever logged in last",
)
def _me_answers_last_login(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    last: dict[str, Any] = {}

    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "POST", "/login") and status.startswith("200"):
            session = sessions.authenticate(set_cookie_token(headers))
            if session is not None:
                last["user"] = {"id": session.user_id, "email": session.email}
        elif is_call(environ, "GET", "/me") and status.startswith("200") and "user" in last:
            body = json.dumps(last["user"], separators=(",", ":")).encode()
        return status, headers, body

    return rewrite_responses(app, edit)


@variant(
    "me-guest-without-cookie",
    ["CORE-ME", "CORE-SIGNUP"],
    "GET /me without any cookie answers 200 {\"id\": null, \"email\": null} (a guest) instead of 401; "
    "CORE-SIGNUP sees it too, since it proves that signup did not log in by asking /me",
)
def _me_guest_without_cookie(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "GET", "/me") and not environ.get("HTTP_COOKIE"):
            return json_answer("200 OK", {"id": None, "email": None})
        return status, headers, body

    return rewrite_responses(app, edit)


# --- CORE-LIST -----------------------------------------------------------------------


@variant(
    "list-ordered-by-creation",
    ["CORE-LIST"],
    "`ORDER BY created_at DESC`: the list is newest-login first, not most-recently-active first",
)
def _list_ordered_by_creation(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    listed = sessions.list_for_user
    sessions.list_for_user = lambda user_id: sorted(listed(user_id), key=lambda s: s.created_at, reverse=True)
    return app


@variant(
    "list-oldest-first",
    ["CORE-LIST"],
    "`ORDER BY last_active_at` without DESC: the least recently active session comes first",
)
def _list_oldest_first(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    listed = sessions.list_for_user
    sessions.list_for_user = lambda user_id: list(reversed(listed(user_id)))
    return app


@variant(
    "list-raw-user-agent",
    ["CORE-LIST"],
    "deviceName is the raw User-Agent header, not a parsed \"<browser> on <OS>\"",
)
def _list_raw_user_agent(app: Any) -> WsgiApp:
    return name_devices(app, lambda user_agent: user_agent or "Unknown device")


@variant(
    "list-trusts-forwarded-for",
    ["CORE-LIST"],
    "a ProxyFix-style middleware with no proxy in front: the ip is whatever X-Forwarded-For the client sends",
)
def _list_trusts_forwarded_for(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any]) -> None:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
        if forwarded:
            environ["REMOTE_ADDR"] = forwarded

    return rewrite_requests(app, edit)


@variant(
    "list-current-by-device-name",
    ["CORE-LIST"],
    "\"This device\" is decided by device name, not session id: every session from the same "
    "browser and OS is marked isCurrent",
)
def _list_current_by_device_name(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "GET", "/me/sessions") and status.startswith("200"):
            entries = json.loads(body)
            mine = {entry["deviceName"] for entry in entries if entry["isCurrent"]}
            for entry in entries:
                entry["isCurrent"] = entry["deviceName"] in mine
            body = json.dumps(entries, separators=(",", ":")).encode()
        return status, headers, body

    return rewrite_responses(app, edit)


@variant(
    "list-flags-as-strings",
    ["CORE-LIST"],
    "the list is read back from a string-valued cache (a Redis hash): the requester's entry gets a real "
    "true in code, every other keeps the stored string \"false\" as its isCurrent",
)
def _list_flags_as_strings(app: Any) -> WsgiApp:
    # Only the other sessions' flag is a string, so every check that looks for
    # the `true` one still finds it: the wrong type is all that is wrong, and
    # the suite must name it (its OpenAPI check, conformance/schema.py).
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "GET", "/me/sessions") and status.startswith("200"):
            entries = json.loads(body)
            for entry in entries:
                if entry["isCurrent"] is not True:
                    entry["isCurrent"] = "false"
            body = json.dumps(entries, separators=(",", ":")).encode()
        return status, headers, body

    return rewrite_responses(app, edit)


# --- CORE-LAST-ACTIVE ----------------------------------------------------------------


@variant(
    "last-active-never-updated",
    ["CORE-LAST-ACTIVE", "CORE-LIST"],
    "lastActiveAt is written at login and never again; CORE-LIST fails too, since its order by "
    "activity then degrades to order by login",
)
def _last_active_never_updated(app: Any) -> WsgiApp:
    app.services.store.touch_session = lambda *args, **kwargs: False
    return app


@variant(
    "last-active-before-created",
    ["CORE-LAST-ACTIVE"],
    "a new session's lastActiveAt is set one refresh interval in the past \"so that its first request "
    "refreshes it\": until then it precedes createdAt",
)
def _last_active_before_created(app: Any) -> WsgiApp:
    store = app.services.store
    add_session = store.add_session
    back_ms = int(TOUCH_INTERVAL * 1000)

    def add_backdated(session: NewSession, *args: Any) -> int | None:
        ended = add_session(session, *args)
        with contextlib.closing(sql(store)) as conn:
            conn.execute(
                "UPDATE sessions SET last_active_at = ? WHERE token_hash = ?", (session.now - back_ms, session.token_hash)
            )
        return ended

    store.add_session = add_backdated
    return app


# --- CORE-REVOKE ---------------------------------------------------------------------


@variant(
    "revoke-idor",
    ["CORE-REVOKE"],
    "IDOR: revoke deletes by public id alone (`DELETE FROM sessions WHERE id = ?`), anyone's session",
)
def _revoke_idor(app: Any) -> WsgiApp:
    store = app.services.store

    def delete_anyones(caller: bytes, public_id: str, cutoffs: Cutoffs, event: Event) -> Outcome:
        with contextlib.closing(sql(store)) as conn:
            deleted = conn.execute("DELETE FROM sessions WHERE id = ?", (public_id,)).rowcount
        return Outcome.DONE if deleted else Outcome.NOT_FOUND

    store.revoke_session = delete_anyones
    return app


@variant(
    "revoke-foreign-403",
    ["CORE-REVOKE"],
    "an ownership check that tells: another user's id gets 403 \"belongs to another user\", "
    "a made-up one 404 (an oracle, though nothing is revoked)",
)
def _revoke_foreign_403(app: Any) -> WsgiApp:
    store = app.services.store

    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "DELETE", "/me/sessions/*") and status.startswith("404"):
            public_id = environ["PATH_INFO"][len("/me/sessions/") :]
            if owner_of(store, public_id) is not None:
                return json_answer("403 Forbidden", {"error": "This session belongs to another user."})
        return status, headers, body

    return rewrite_responses(app, edit)


@variant(
    "revoke-current-allowed",
    ["CORE-REVOKE"],
    "no check for the requester's own id: DELETE of the current session answers 200 and ends it "
    "instead of 400 (use /logout)",
)
def _revoke_current_allowed(app: Any) -> WsgiApp:
    sessions, store = app.services.sessions, app.services.store

    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "DELETE", "/me/sessions/*") and status.startswith("400"):
            current = sessions.authenticate(session_cookie(environ))
            public_id = environ["PATH_INFO"][len("/me/sessions/") :]
            if current is not None and public_id == current.id:
                with contextlib.closing(sql(store)) as conn:
                    conn.execute("DELETE FROM sessions WHERE id = ?", (public_id,))
                return json_answer("200 OK", {"message": "Session revoked."})
        return status, headers, body

    return rewrite_responses(app, edit)


@variant(
    "revoke-only-unlists",
    ["CORE-REVOKE", "CORE-EX2"],
    "revoke marks the session hidden in the device list, but authentication never reads that mark: "
    "the revoked cookie still works (exercise 2 is exactly this check)",
)
def _revoke_only_unlists(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    hidden = HiddenSessions(sessions)

    def revoke_from_list(current: Session, public_id: str, client: Client) -> Outcome:
        if public_id not in {s.id for s in sessions.list_for_user(current.user_id)}:
            return Outcome.NOT_FOUND
        hidden.hide(public_id)
        return Outcome.DONE

    sessions.revoke = revoke_from_list
    return app


# --- CORE-REVOKE-ALL -----------------------------------------------------------------


@variant(
    "revoke-all-clears-list-only",
    ["CORE-REVOKE-ALL", "CORE-EX3"],
    "the lesson's bug: revoke-all clears the device list (a second record) and leaves every other "
    "session valid (exercise 3 is exactly this check)",
)
def _revoke_all_clears_list_only(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    hidden = HiddenSessions(sessions)

    def clear_list(current: Session, client: Client) -> int:
        others = [s.id for s in sessions.list_for_user(current.user_id) if s.id != current.id]
        for public_id in others:
            hidden.hide(public_id)
        return len(others)

    sessions.revoke_others = clear_list
    return app


@variant(
    "revoke-all-keeps-newest-other",
    ["CORE-REVOKE-ALL", "CORE-EX3"],
    "off by one: the loop over the other sessions starts at index 1, so the most recently active "
    "other session survives",
)
def _revoke_all_keeps_newest_other(app: Any) -> WsgiApp:
    sessions = app.services.sessions

    def revoke_from_index_1(current: Session, client: Client) -> int:
        others = [s for s in sessions.list_for_user(current.user_id) if s.id != current.id]
        return sum(revoked(sessions, current, s.id, client) for s in others[1:])

    sessions.revoke_others = revoke_from_index_1
    return app


@variant(
    "revoke-all-every-user",
    ["CORE-REVOKE-ALL"],
    "revoke-all forgets the user: `DELETE FROM sessions WHERE token_hash != ?` ends everyone's sessions",
)
def _revoke_all_every_user(app: Any) -> WsgiApp:
    store = app.services.store

    def delete_all_but(caller: bytes, cutoffs: Cutoffs, event: Event) -> int:
        with contextlib.closing(sql(store)) as conn:
            return conn.execute("DELETE FROM sessions WHERE token_hash != ?", (caller,)).rowcount

    store.revoke_other_sessions = delete_all_but
    return app


@variant(
    "auth-cache-survives-revoke",
    ["CORE-REVOKE", "CORE-EX2", "CORE-REVOKE-ALL", "CORE-EX3"],
    "an in-memory map of sessions beside the table, filled at login and cleared by logout only: "
    "revoked sessions stay valid from memory",
)
def _auth_cache_survives_revoke(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    start, authenticate, end = sessions.start, sessions.authenticate, sessions.end
    cache: dict[str, Session] = {}

    def start_and_remember(user_id: str, client: Client, password_hash: str | None = None) -> str | None:
        token = start(user_id, client, password_hash)
        session = authenticate(token)
        if session is not None:
            cache[token] = session
        return token

    def authenticate_from_memory_too(token: str | None) -> Session | None:
        # The table is asked first (so activity is still recorded); memory is the fallback.
        return authenticate(token) or (cache.get(token) if token else None)

    def end_and_forget(token: str | None, client: Client) -> bool:
        if token:
            cache.pop(token, None)
        return end(token, client)

    sessions.start = start_and_remember
    sessions.authenticate = authenticate_from_memory_too
    sessions.end = end_and_forget
    return app


# --- use before ending, activity per session, races, diagnoses ------------------------


def _cache_after_first_use(app: Any, cleared_by: set[str]) -> Any:
    """Keep a read-through cache of sessions, filled at a session's first authenticated request.

    The table is asked first (so activity is still recorded); the cache answers
    when the table has no row, "to ride out a busy database". Only the ways of
    ending named in `cleared_by` ("logout", "revoke", "revoke-all") drop the
    ended sessions from it. A session never used since login is not in the
    cache, so a check that ends such a session sees nothing wrong.

    One lock spans each lookup with its fill and each ending with its clearing:
    without it a fill racing a revoke-all would put a just-ended session back
    (a second bug, which would show in CORE-REVOKE-ALL's concurrent trials).
    """
    sessions = app.services.sessions
    authenticate, end, revoke, revoke_others = (
        sessions.authenticate, sessions.end, sessions.revoke, sessions.revoke_others
    )
    cache: dict[str, Session] = {}
    lock = threading.RLock()

    def authenticate_through_cache(token: str | None) -> Session | None:
        with lock:
            session = authenticate(token)
            if session is not None and token:
                cache[token] = session
                return session
            return cache.get(token) if token else None

    def forget(keep: Callable[[Session], bool]) -> None:
        for token in [token for token, session in cache.items() if not keep(session)]:
            del cache[token]

    def end_and_forget(token: str | None, client: Client) -> bool:
        with lock:
            if "logout" in cleared_by and token:
                cache.pop(token, None)
            return end(token, client)

    def revoke_and_forget(current: Session, public_id: str, client: Client) -> Outcome:
        with lock:
            outcome = revoke(current, public_id, client)
            if "revoke" in cleared_by:
                forget(lambda session: session.id != public_id)
            return outcome

    def revoke_others_and_forget(current: Session, client: Client) -> int:
        with lock:
            ended = revoke_others(current, client)
            if "revoke-all" in cleared_by:
                forget(lambda session: session.user_id != current.user_id or session.id == current.id)
            return ended

    sessions.authenticate = authenticate_through_cache
    sessions.end = end_and_forget
    sessions.revoke = revoke_and_forget
    sessions.revoke_others = revoke_others_and_forget
    return app


@variant(
    "cache-after-use-survives-revoke",
    ["CORE-REVOKE", "CORE-EX2"],
    "a read-through cache of sessions filled at each session's first request and consulted when the table "
    "has no row; revoke does not clear it (logout and revoke-all do): a used session outlives its revoke",
)
def _cache_after_use_survives_revoke(app: Any) -> WsgiApp:
    return _cache_after_first_use(app, {"logout", "revoke-all"})


@variant(
    "cache-after-use-survives-revoke-all",
    ["CORE-REVOKE-ALL", "CORE-EX3"],
    "the same read-through cache, cleared by logout and revoke but not by revoke-all: every other session "
    "that was used since login outlives the revoke-all",
)
def _cache_after_use_survives_revoke_all(app: Any) -> WsgiApp:
    return _cache_after_first_use(app, {"logout", "revoke"})


@variant(
    "cache-after-use-survives-logout",
    ["CORE-LOGOUT"],
    "the same read-through cache, cleared by revoke and revoke-all but not by logout: a used session's "
    "token still works after its logout",
)
def _cache_after_use_survives_logout(app: Any) -> WsgiApp:
    return _cache_after_first_use(app, {"revoke", "revoke-all"})


@variant(
    "last-active-touches-every-session",
    ["CORE-LAST-ACTIVE", "HARD-IDLE", "CORE-LIST"],
    "recording activity updates every session of the user (`WHERE user_id = ?` where `WHERE token_hash = ?` "
    "was meant): a sibling in use keeps an idle session alive forever; CORE-LIST fails too, since a use of "
    "the older session refreshes the newer one as well, and the order by activity degrades to order by login",
    idle_timeout=IDLE_TIMEOUT,
)
def _last_active_touches_every_session(app: Any) -> WsgiApp:
    store = app.services.store
    touch_session = store.touch_session

    def touch_all_of_the_user(token_hash: bytes, now: int, stale_before: int, cutoffs: Cutoffs) -> bool:
        touched = touch_session(token_hash, now, stale_before, cutoffs)
        if touched:
            with contextlib.closing(sql(store)) as conn:
                conn.execute(
                    "UPDATE sessions SET last_active_at = ? WHERE last_active_at < ?"
                    " AND user_id = (SELECT user_id FROM sessions WHERE token_hash = ?)",
                    (now, now, token_hash),
                )
        return touched

    store.touch_session = touch_all_of_the_user
    return app


# Long enough that two revoke-alls released together both pass their
# authentication before either ends anything: the bug's window, made certain.
RACE_WINDOW = 0.2


@variant(
    "revoke-all-race",
    ["CORE-REVOKE-ALL"],
    "revoke-all checks its caller in one transaction (authentication) and ends the others in more: of two "
    "revoke-alls sent at once from two sessions, both answer 200 (and one of them ended the other's caller)",
)
def _revoke_all_race(app: Any) -> WsgiApp:
    sessions = app.services.sessions

    def revoke_each_other(current: Session, client: Client) -> int:
        others = [s.id for s in sessions.list_for_user(current.user_id) if s.id != current.id]
        time.sleep(RACE_WINDOW)
        # The bug: a caller ended meanwhile by the other revoke-all carries on and answers 200.
        return sum(revoked(sessions, current, public_id, client) for public_id in others)

    sessions.revoke_others = revoke_each_other
    return app


@variant(
    "revoke-unknown-200",
    ["CORE-REVOKE"],
    "revoke answers 200 whether or not a session matched (`DELETE ... WHERE id = ? AND user_id = ?`, "
    "row count never read): an unknown id is \"revoked\"",
)
def _revoke_unknown_200(app: Any) -> WsgiApp:
    store = app.services.store
    revoke_session = store.revoke_session

    def revoke_whatever(caller: bytes, public_id: str, cutoffs: Cutoffs, event: Event) -> Outcome:
        outcome = revoke_session(caller, public_id, cutoffs, event)
        return Outcome.DONE if outcome is Outcome.NOT_FOUND else outcome

    store.revoke_session = revoke_whatever
    return app


@variant(
    "revoke-all-ends-current",
    ["CORE-REVOKE-ALL", "CORE-EX3"],
    "revoke-all ends every session of the user, the current one too (`DELETE FROM sessions WHERE "
    "user_id = ?` without `AND id != ?`): the user is signed out where they pressed the button",
)
def _revoke_all_ends_current(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    revoke_others = sessions.revoke_others

    def revoke_all_of_them(current: Session, client: Client) -> int:
        ended = revoke_others(current, client)
        sessions.store.logout(current.token_hash, sessions.cutoffs(), sessions.event(LOGOUT, client))
        return ended

    sessions.revoke_others = revoke_all_of_them
    return app


@variant(
    "list-every-users-sessions",
    ["CORE-LIST", "CORE-LOGIN", "CORE-LOGOUT", "CORE-LAST-ACTIVE", "CORE-REVOKE", "CORE-REVOKE-ALL", "CORE-EX1",
     "CORE-EX2"],
    "the list query lost its `WHERE user_id = ?` (a JOIN without its ON clause): every user's sessions are "
    "listed to everyone, so every check that counts the sessions in a list fails with CORE-LIST",
)
def _list_every_users_sessions(app: Any) -> WsgiApp:
    store = app.services.store
    list_sessions = store.list_sessions
    # Someone else is signed in from the start, so that every list shows a
    # stranger whatever order the checks run in (a shared server always has one).
    stranger = app.services.accounts.signup(f"stranger-{secrets.token_hex(4)}@example.org", secrets.token_urlsafe(12))
    app.services.sessions.start(stranger.id, Client.of("192.0.2.7", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"))

    def list_everyones(user_id: str, cutoffs: Cutoffs) -> list[Any]:
        with contextlib.closing(sql(store)) as conn:
            users = [row[0] for row in conn.execute("SELECT DISTINCT user_id FROM sessions")]
        listed = [session for user in users for session in list_sessions(user, cutoffs)]
        return sorted(listed, key=lambda session: session.last_active_at, reverse=True)

    store.list_sessions = list_everyones
    return app


# --- CORE-EX1 ------------------------------------------------------------------------


@variant(
    "device-name-constant",
    ["CORE-EX1", "CORE-LIST"],
    "every session is named \"Unknown device\"; CORE-LIST checks different names for different browsers too",
)
def _device_name_constant(app: Any) -> WsgiApp:
    return name_devices(app, lambda user_agent: "Unknown device")


# --- HARD-COOKIE ---------------------------------------------------------------------


def _edit_session_cookie(app: WsgiApp, change: Callable[[str], str]) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        headers = [
            (k, change(v) if k.lower() == "set-cookie" and v.startswith("session=") else v) for k, v in headers
        ]
        return status, headers, body

    return rewrite_responses(app, edit)


@variant("cookie-not-httponly", ["HARD-COOKIE"], "the session cookie lacks HttpOnly: any script on the page reads it")
def _cookie_not_httponly(app: Any) -> WsgiApp:
    return _edit_session_cookie(app, lambda cookie: cookie.replace("; HttpOnly", ""))


@variant("cookie-samesite-none", ["HARD-COOKIE"], "the session cookie says SameSite=None: sent on cross-site requests")
def _cookie_samesite_none(app: Any) -> WsgiApp:
    return _edit_session_cookie(app, lambda cookie: cookie.replace("SameSite=Lax", "SameSite=None"))


# --- HARD-TOKEN ----------------------------------------------------------------------


@variant("token-16-hex", ["HARD-TOKEN"], "tokens are `secrets.token_hex(8)`: 16 hex characters, 64 bits")
def _token_16_hex(app: Any) -> WsgiApp:
    replace_token_policy(app.services.sessions, lambda: secrets.token_hex(8))
    return app


@variant(
    "token-time-prefixed",
    ["HARD-TOKEN"],
    "\"sortable\" tokens: base64url of the login time as 4 bytes, then 28 random bytes (the time is readable)",
)
def _token_time_prefixed(app: Any) -> WsgiApp:
    sessions = app.services.sessions

    def start(user_id: str, client: Client, password_hash: str | None = None) -> str | None:
        payload = struct.pack(">I", int(sessions.clock())) + secrets.token_bytes(28)
        token = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return start_session(sessions, user_id, client, token, secrets.token_urlsafe(16), password_hash)

    sessions.start = start
    return app


@variant(
    "token-in-login-body",
    ["HARD-TOKEN"],
    "login also returns the token in its JSON body (\"for the mobile app\"): scripts and logs see it",
)
def _token_in_login_body(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        token = set_cookie_token(headers)
        if is_call(environ, "POST", "/login") and status.startswith("200") and token:
            body = json.dumps({**json.loads(body), "token": token}, separators=(",", ":")).encode()
        return status, headers, body

    return rewrite_responses(app, edit)


# --- HARD-FIXATION -------------------------------------------------------------------


@variant(
    "login-adopts-planted-cookie",
    ["HARD-FIXATION"],
    "login keeps the session cookie the browser already sent (PHP's session_start habit) and binds it to the user",
)
def _login_adopts_planted_cookie(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    start = sessions.start

    def start_keeping_cookie(user_id: str, client: Client, password_hash: str | None = None) -> str | None:
        planted = session_cookie(bottle.request.environ)
        if not planted or not is_well_formed_token(planted):
            return start(user_id, client, password_hash)
        with contextlib.closing(sql(sessions.store)) as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (hash_token(planted),))
        return start_session(sessions, user_id, client, planted, secrets.token_urlsafe(16), password_hash)

    sessions.start = start_keeping_cookie
    return app


# --- HARD-PUBLIC-ID ------------------------------------------------------------------


@variant(
    "list-id-is-token",
    ["HARD-PUBLIC-ID"],
    "the session's id is its cookie token: the list hands every device's bearer secret to every other",
)
def _list_id_is_token(app: Any) -> WsgiApp:
    sessions = app.services.sessions

    def start(user_id: str, client: Client, password_hash: str | None = None) -> str | None:
        token = secrets.token_urlsafe(32)
        return start_session(sessions, user_id, client, token, token, password_hash)

    sessions.start = start
    return app


# --- HARD-CSRF -----------------------------------------------------------------------


@variant(
    "csrf-no-origin-check",
    ["HARD-CSRF"],
    "no Origin or Sec-Fetch-Site check at all: any site can log a user out or revoke their sessions",
)
def _csrf_no_origin_check(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any]) -> None:
        environ.pop("HTTP_ORIGIN", None)
        environ.pop("HTTP_SEC_FETCH_SITE", None)

    return rewrite_requests(app, edit)


@variant(
    "csrf-host-only",
    ["HARD-CSRF"],
    "Origin compared by host name only: another port or scheme on the same host counts as same-origin",
)
def _csrf_host_only(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any]) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return
        try:
            theirs = urlsplit(origin).hostname
            ours = urlsplit("//" + environ.get("HTTP_HOST", "")).hostname
        except ValueError:
            return
        if theirs is not None and theirs == ours:
            del environ["HTTP_ORIGIN"]  # "same host, so same origin"

    return rewrite_requests(app, edit)


@variant(
    "csrf-origin-prefix-match",
    ["HARD-CSRF"],
    "`origin.startswith(our_origin)`: http://host:3000 also lets in http://host:30001 and "
    "https://example.com lets in https://example.com.evil.net",
)
def _csrf_origin_prefix_match(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any]) -> None:
        ours = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        if environ.get("HTTP_ORIGIN", "").startswith(ours):
            del environ["HTTP_ORIGIN"]  # "starts with our origin, so it is ours"

    return rewrite_requests(app, edit)


# --- HARD-IDLE / HARD-ABSOLUTE -------------------------------------------------------


@variant(
    "idle-timeout-ignored",
    ["HARD-IDLE"],
    "expiry checks only the absolute timeout: an unused session lives until it is 24 h old",
    idle_timeout=IDLE_TIMEOUT,
)
def _idle_timeout_ignored(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    cutoffs = sessions.cutoffs
    sessions.cutoffs = lambda now_ms=None: Cutoffs(idle=0, absolute=cutoffs(now_ms).absolute)
    return app


@variant(
    "absolute-timeout-ignored",
    ["HARD-ABSOLUTE"],
    "expiry checks only the idle timeout: a session kept busy never ends",
    absolute_timeout=ABSOLUTE_TIMEOUT,
)
def _absolute_timeout_ignored(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    cutoffs = sessions.cutoffs
    sessions.cutoffs = lambda now_ms=None: Cutoffs(idle=cutoffs(now_ms).idle, absolute=0)
    return app


# --- HARD-CORS -----------------------------------------------------------------------


@variant(
    "cors-reflects-origin",
    ["HARD-CORS"],
    "a CORS layer that echoes any Origin with Allow-Credentials: true (and answers every preflight)",
)
def _cors_reflects_origin(app: Any) -> WsgiApp:
    def cors_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
        origin = environ.get("HTTP_ORIGIN")
        if not origin:
            return []
        return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]

    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if environ["REQUEST_METHOD"] == "OPTIONS" and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            status, headers, body = "204 No Content", [("Access-Control-Allow-Methods", "GET, POST, DELETE")], b""
        return status, headers + cors_headers(environ), body

    return rewrite_responses(app, edit)


@variant(
    "cors-any-port-of-own-host",
    ["HARD-CORS"],
    "a dev-server CORS allowlist left on (`^https?://127\\.0\\.0\\.1(:\\d+)?$` and the like): any port or "
    "scheme of our own host gets credentialed CORS, though each is another origin",
)
def _cors_any_port_of_own_host(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        origin = environ.get("HTTP_ORIGIN", "")
        try:
            allowed = urlsplit(origin).hostname == urlsplit("//" + environ.get("HTTP_HOST", "")).hostname
        except ValueError:
            allowed = False
        if allowed:
            headers = headers + [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
        return status, headers, body

    return rewrite_responses(app, edit)


# --- HARD-ENUM -----------------------------------------------------------------------


@variant(
    "enum-no-such-user",
    ["HARD-ENUM"],
    "flaskr's two messages: an unknown email gets 401 \"No such user.\", a wrong password "
    "\"Invalid email or password.\"",
)
def _enum_no_such_user(app: Any) -> WsgiApp:
    accounts, store = app.services.accounts, app.services.store
    check = accounts.check_credentials

    def check_telling(email: str, password: str, client: Client) -> Any:
        if store.find_user(email.strip().lower()) is None:
            raise InvalidCredentials("No such user.")
        return check(email, password, client)

    accounts.check_credentials = check_telling
    return app


# --- HARD-NO-STORE -------------------------------------------------------------------


@variant(
    "cache-control-no-cache",
    ["HARD-NO-STORE"],
    "Cache-Control: no-cache (store, but revalidate) where no-store (never keep) is meant",
)
def _cache_control_no_cache(app: Any) -> WsgiApp:
    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        headers = [(k, "no-cache" if k.lower() == "cache-control" else v) for k, v in headers]
        return status, headers, body

    return rewrite_responses(app, edit)


# --- HARD-BAD-INPUT ------------------------------------------------------------------

_TRACEBACK_PAGE = (
    b"<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>"
    b"<pre>Traceback (most recent call last):\n  File \"app.py\", line 42, in login\n"
    b"    data = json.loads(request.body.read())\njson.decoder.JSONDecodeError</pre></body></html>"
)


@variant(
    "bad-json-500",
    ["HARD-BAD-INPUT"],
    "`json.loads(body)` without a try: malformed JSON crashes into a 500 HTML traceback page",
)
def _bad_json_500(app: Any) -> WsgiApp:
    def crash_on_bad_json(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            data = environ["wsgi.input"].read(length) if 0 < length <= 64 * 1024 else b""
            environ["wsgi.input"] = io.BytesIO(data)
            if data.strip():
                try:
                    json.loads(data)
                except (ValueError, RecursionError):
                    start_response("500 Internal Server Error", [("Content-Type", "text/html")])
                    return [_TRACEBACK_PAGE]
        return app(environ, start_response)

    return crash_on_bad_json


@variant(
    "no-body-limit",
    ["HARD-BAD-INPUT"],
    "no limit on the request body: 64 KiB + 1 byte is read and parsed, never 413",
    max_body_bytes=16 * 1024 * 1024,
)
def _no_body_limit(app: Any) -> WsgiApp:
    return app


@variant(
    "garbage-cookie-500",
    ["HARD-BAD-INPUT"],
    "the cookie is hashed before its shape is checked: a non-ASCII cookie crashes the ASCII encode into a 500",
)
def _garbage_cookie_500(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    authenticate = sessions.authenticate

    def hash_first(token: str | None) -> Session | None:
        if token:
            hash_token(token)  # raises UnicodeEncodeError for "été"
        return authenticate(token)

    sessions.authenticate = hash_first
    return app



def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


@variant(
    "nul-in-body-500",
    ["HARD-BAD-INPUT"],
    "no check for text the database refuses: a NUL character in any JSON string reaches PostgreSQL, "
    "whose \"cannot contain NUL bytes\" error escapes as a 500",
)
def _nul_in_body_500(app: Any) -> WsgiApp:
    def database_refuses_nul(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] in ("POST", "PATCH"):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            data = environ["wsgi.input"].read(length) if 0 < length <= 64 * 1024 else b""
            environ["wsgi.input"] = io.BytesIO(data)
            try:
                parsed = json.loads(data) if data.strip() else None
            except (ValueError, RecursionError):
                parsed = None
            if _holds_nul(parsed):
                start_response("500 Internal Server Error", [("Content-Type", "application/json")])
                return [b'{"error": "Internal server error."}']
        return app(environ, start_response)

    return database_refuses_nul


# --- HARD-THROTTLE ----------------------------------------------------------------------


@variant(
    "throttle-keys-on-account-only",
    ["HARD-THROTTLE"],
    "the failure counter is keyed on the email alone, not (email, client address): anyone anywhere "
    "can lock a user out by guessing wrong ten times",
)
def _throttle_keys_on_account_only(app: Any) -> WsgiApp:
    throttle = app.services.accounts.throttle
    throttle.key = lambda email_key, ip: hashlib.sha256(email_key.encode("utf-8", "surrogatepass")).digest()
    return app


@variant(
    "throttle-never-resets",
    ["HARD-THROTTLE"],
    "failures are counted but a successful login never resets the count: a user who mistypes now and "
    "then is locked out in the end",
)
def _throttle_never_resets(app: Any) -> WsgiApp:
    store = app.services.store

    def keep_count(key: bytes) -> None:
        # The success's own attempt is taken back; the failures before it stay.
        with contextlib.closing(sql(store)) as conn:
            conn.execute("UPDATE login_attempts SET attempts = attempts - 1 WHERE key = ?", (key,))

    store.clear_attempts = keep_count
    return app


# --- EXT-PASSWORD ------------------------------------------------------------------------


@variant(
    "password-change-keeps-other-sessions",
    ["EXT-PASSWORD"],
    "the new password is stored and the current token rotated, but the other sessions are left alive "
    "(\"revoked\": 0): a thief's session survives the change meant to end it",
)
def _password_change_keeps_other_sessions(app: Any) -> WsgiApp:
    store = app.services.store

    def change_password(caller: bytes, new_hash: str, new_token_hash: bytes, cutoffs: Cutoffs, event: Event) -> int:
        me = store.find_session(caller, cutoffs)
        if me is None:
            raise CallerGone(caller)
        with contextlib.closing(sql(store)) as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, me.user_id))
            conn.execute("UPDATE sessions SET token_hash = ? WHERE token_hash = ?", (new_token_hash, caller))
        store.add_event(me.user_id, event._replace(session_id=me.id, actor_session_id=me.id, count=0))
        return 0

    store.change_password = change_password
    return app


@variant(
    "password-change-keeps-old-token",
    ["EXT-PASSWORD"],
    "no rotation: the password changes and the other sessions end, but the current session goes on "
    "under its old token and no new cookie is set, so a stolen copy of it survives the change",
)
def _password_change_keeps_old_token(app: Any) -> WsgiApp:
    store = app.services.store
    change = store.change_password

    def keep_token(caller: bytes, new_hash: str, new_token_hash: bytes, cutoffs: Cutoffs, event: Event) -> int:
        return change(caller, new_hash, caller, cutoffs, event)

    store.change_password = keep_token

    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if is_call(environ, "POST", "/me/password"):
            headers = [(k, v) for k, v in headers if k.lower() != "set-cookie"]
        return status, headers, body

    return rewrite_responses(app, edit)


# The pause a broken login takes between its two steps below (a GeoIP lookup, a
# notification mail): it widens a window that exists without it, so the
# suite's race checks catch the bug in every run rather than in most.
SLOW_STEP = 0.05


@variant(
    "login-checks-password-outside-transaction",
    ["EXT-PASSWORD"],
    "login checks the password against the hash it read, looks the device up (a slow call), then writes "
    "the session without checking that the hash is still the user's: a login with the old password in "
    "flight during a password change lands after it and lives",
)
def _login_checks_password_outside_transaction(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    start = sessions.start

    def start_unchecked(user_id: str, client: Client, password_hash: str | None = None) -> str | None:
        time.sleep(SLOW_STEP)
        return start(user_id, client)

    sessions.start = start_unchecked
    return app


# --- EXT-RECOVER ------------------------------------------------------------------------


@variant(
    "recover-in-two-steps",
    ["EXT-RECOVER"],
    "endOtherSessions creates the session, sends the \"new sign-in\" mail (a slow call), then runs the "
    "revoke-all code for the new session as a second transaction and answers 200 whatever it found: a "
    "thief's looping revoke-all lands in between, ends the owner's new session, and lives on",
)
def _recover_in_two_steps(app: Any) -> WsgiApp:
    sessions = app.services.sessions

    def start_then_revoke_all(user_id: str, client: Client, password_hash: str | None = None) -> tuple[str, int] | None:
        token = sessions.start(user_id, client, password_hash)
        if token is None:
            return None
        time.sleep(SLOW_STEP)
        session = sessions.authenticate(token)
        try:
            ended = sessions.revoke_others(session, client) if session is not None else 0
        except CallerGone:
            ended = 0  # the bug: the new session was ended in between, and the login answers 200 anyway
        return token, ended

    sessions.start_alone = start_then_revoke_all
    return app


# --- EXT-ACTIVITY ------------------------------------------------------------------------


@variant(
    "activity-misses-revoke-all",
    ["EXT-ACTIVITY"],
    "revoke-all ends the other sessions outside the code path that logs: the log has no "
    "sessions_revoked_all event, so \"sign out everywhere\" leaves no trace",
)
def _activity_misses_revoke_all(app: Any) -> WsgiApp:
    store = app.services.store
    revoke_others = store.revoke_other_sessions

    def unlogged(caller: bytes, cutoffs: Cutoffs, event: Event) -> int:
        me = store.find_session(caller, cutoffs)
        ended = revoke_others(caller, cutoffs, event)
        if me is not None:
            with contextlib.closing(sql(store)) as conn:
                conn.execute(
                    "DELETE FROM events WHERE type = 'sessions_revoked_all' AND actor_session_id = ?", (me.id,)
                )
        return ended

    store.revoke_other_sessions = unlogged
    return app


@variant(
    "activity-before-any-number",
    ["EXT-ACTIVITY"],
    "`?before=` read as a number, not as the user's own cursor: another user's event id, or one never "
    "issued, pages the user's log (200) instead of 400",
)
def _activity_before_any_number(app: Any) -> WsgiApp:
    store = app.services.store
    list_events = store.list_events

    def numeric_before(user_id: str, limit: int, before: str | None) -> Any:
        if before is None:
            return list_events(user_id, limit, None)
        everything = list_events(user_id, 200, None) or []
        return [event for event in everything if int(event.id) < int(before)][:limit]

    store.list_events = numeric_before
    return app


@variant(
    "activity-leaks-token-hash",
    ["EXT-ACTIVITY"],
    "a debugging field left in: each event carries `sessionKey`, the hex SHA-256 of its session's "
    "token (the database key HARD-PUBLIC-ID keeps out of sight)",
)
def _activity_leaks_token_hash(app: Any) -> WsgiApp:
    store = app.services.store

    def edit(environ: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if not (is_call(environ, "GET", "/me/activity") and status.startswith("200")):
            return status, headers, body
        items = json.loads(body)
        with contextlib.closing(sql(store)) as conn:
            for item in items:
                row = conn.execute("SELECT lower(hex(token_hash)) FROM sessions WHERE id = ?", (item["sessionId"],)).fetchone()
                item["sessionKey"] = row[0] if row else None
        return status, headers, json.dumps(items).encode()

    return rewrite_responses(app, edit)


# --- EXT-RENAME --------------------------------------------------------------------------


@variant(
    "rename-reaches-another-user",
    ["EXT-RENAME"],
    "IDOR: the rename looks the session up by public id alone, so anyone can rename anyone's session",
)
def _rename_reaches_another_user(app: Any) -> WsgiApp:
    store = app.services.store
    rename_session = store.rename_session

    def by_id_alone(caller: bytes, public_id: str, name: str | None, cutoffs: Cutoffs, event: Event) -> Any:
        me = store.find_session(caller, cutoffs)
        owner = owner_of(store, public_id)
        if me is not None and owner is not None and owner != me.user_id:
            # Act as the owner's own session would: the ownership check never happens.
            with contextlib.closing(sql(store)) as conn:
                (caller,) = conn.execute("SELECT token_hash FROM sessions WHERE id = ?", (public_id,)).fetchone()
        return rename_session(caller, public_id, name, cutoffs, event)

    store.rename_session = by_id_alone
    return app


def _rewrite_name(app: WsgiApp, change: Callable[[str], str]) -> WsgiApp:
    """Wrap `app` so that the name of every PATCH /me/sessions/{id} body is change(name) before the app sees it."""

    def edit(environ: dict[str, Any]) -> None:
        if not is_call(environ, "PATCH", "/me/sessions/*"):
            return
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("name"), str):
            raw = json.dumps({**body, "name": change(body["name"])}).encode()
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))

    return rewrite_requests(app, edit)


@variant(
    "rename-strips-control-characters",
    ["EXT-RENAME"],
    "control characters are silently removed instead of refused with 400: \"Work\\nlaptop\" is "
    "stored as \"Worklaptop\"",
)
def _rename_strips_control_characters(app: Any) -> WsgiApp:
    return _rewrite_name(app, lambda name: "".join(ch for ch in name if ch.isprintable() or ch == " "))


@variant(
    "rename-escapes-markup-on-input",
    ["EXT-RENAME"],
    "escaping on input: the name is stored HTML-escaped, so the API returns `&lt;b&gt;` for `<b>`, "
    "and a page that escapes on output shows the entities",
)
def _rename_escapes_markup_on_input(app: Any) -> WsgiApp:
    return _rewrite_name(app, html.escape)


# --- EXT-REASON --------------------------------------------------------------------------


@variant(
    "reason-revoked-for-unknown-token",
    ["EXT-REASON"],
    "the 401 path assumes any cookie it cannot find was revoked: a token the server never issued "
    "says `revoked` instead of `unauthenticated`",
)
def _reason_revoked_for_unknown_token(app: Any) -> WsgiApp:
    sessions = app.services.sessions
    why_not = sessions.why_not

    def assume_revoked(token: str | None) -> str:
        reason = why_not(token)
        return "revoked" if token and reason == "unauthenticated" else reason

    sessions.why_not = assume_revoked
    return app


# --- EXT-NEW-DEVICE ----------------------------------------------------------------------


@variant(
    "new-device-flags-repeated-device",
    ["EXT-NEW-DEVICE"],
    "the device lookup compares the raw User-Agent with the stored device name, so it never "
    "matches: every login after the account's first is flagged as a new device",
)
def _new_device_flags_repeated_device(app: Any) -> WsgiApp:
    store = app.services.store
    history = store.device_history

    def never_seen(user_id: str, device_name: str, ip: str, since: int) -> Any:
        return history(user_id, device_name, ip, since)._replace(seen_recently=False)

    store.device_history = never_seen
    return app

def serve_variant(variant_id: str, db_path: str, conn: Any) -> None:
    """Serve a variant (or the control) in this process; send its URL through `conn`; stop when `conn` closes."""
    chosen = next(v for v in [CONTROL, CONTROL_EXTENSIONS, *VARIANTS] if v.id == variant_id)
    # Some variants crash on purpose: their answers say so, this process's log need not.
    logging.getLogger("impl").disabled = True
    with serving(chosen.app(db_path)) as url:
        conn.send(url)
        try:
            conn.recv()
        except EOFError:  # the parent closed its end: the run is over
            pass
    conn.close()
