"""The lesson's server, "Listing and Revoking Sessions", carried over into Python: Bottle and sqlite3.

A starter for students, bug included. It keeps what the lesson's code keeps:

- a `device_sessions` table, one row per login: whose, which device, from
  where, since when, last seen when; the list of sessions is read from it;
- an in-memory map of sessions, `sessions`, from cookie token to user: this
  is what authentication reads, on every request.

So a session lives in two places, and every way of ending one must end it in
both. Logout and revoke do. Revoke-all, as the lesson wrote it, does not. Run
the lesson runner against this server to see what that does (README.md).

    python examples/lesson-starter/server.py          # listens on http://127.0.0.1:3002

Only the standard library, Bottle and ua-parser (both installed with the
reference server). Bottle's development server answers one request at a
time and logs each on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import sys
from datetime import datetime, timezone
from wsgiref.simple_server import make_server

import bottle
import ua_parser
from bottle import request, response

app = bottle.Bottle()
db: sqlite3.Connection

# token -> {"user_id": ..., "email": ...}: the lesson's in-memory session store.
sessions: dict[str, dict] = {}

# scrypt's cost for new password hashes (r=8, p=1); --scrypt-n changes it.
scrypt_n = 2**14

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    session_token TEXT NOT NULL UNIQUE,
    device_name TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_active_at TEXT NOT NULL
);
"""

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=scrypt_n, r=8, p=1)
    return f"{scrypt_n}:{salt.hex()}:{digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    n, salt, digest = stored.split(":")
    given = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=8, p=1)
    return hmac.compare_digest(given.hex(), digest)


def device_name(user_agent: str) -> str:
    """"Chrome on macOS", from the User-Agent header, as the lesson does with a UA parser."""
    parsed = ua_parser.parse(user_agent) if user_agent else None
    browser = parsed.user_agent.family if parsed and parsed.user_agent else "Other"
    os_name = parsed.os.family if parsed and parsed.os else "Other"
    browser = "Unknown browser" if browser == "Other" else browser
    os_name = {"Other": "Unknown OS", "Mac OS X": "macOS"}.get(os_name, os_name)
    return f"{browser} on {os_name}"


def fail(status: int, message: str) -> None:
    raise bottle.HTTPResponse(json.dumps({"error": message}), status, {"Content-Type": "application/json"})


def credentials() -> tuple[str, str]:
    """The {"email", "password"} body, or a 400."""
    try:
        body = json.loads(request.body.read() or b"null")
    except ValueError:
        fail(400, "The body must be JSON.")
    if not isinstance(body, dict):
        fail(400, "The body must be a JSON object.")
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        fail(400, "email and password are required strings.")
    return email, password


def authenticate() -> tuple[str, dict]:
    """The session of this request's cookie, from the in-memory map; a 401 without one."""
    token = request.get_cookie("session")
    session = sessions.get(token) if token else None
    if session is None:
        fail(401, "Not authenticated.")
    db.execute("UPDATE device_sessions SET last_active_at = ? WHERE session_token = ?", (now(), token))
    db.commit()
    return token, session


@app.post("/signup")
def signup():
    email, password = credentials()
    if not EMAIL.match(email):
        fail(400, "That is not an email address.")
    if len(password) < 8:
        fail(400, "The password needs at least 8 characters.")
    try:
        cursor = db.execute(
            "INSERT INTO users (email, password_hash) VALUES (?, ?)", (email, hash_password(password))
        )
        db.commit()
    except sqlite3.IntegrityError:
        fail(409, "That email is already registered.")
    response.status = 201
    return {"id": cursor.lastrowid, "email": email}


@app.post("/login")
def login():
    email, password = credentials()
    user = db.execute("SELECT id, email, password_hash FROM users WHERE email = ?", (email,)).fetchone()
    if user is None or not check_password(password, user[2]):
        fail(401, "Invalid email or password.")
    token = secrets.token_urlsafe(32)
    user_agent = request.headers.get("User-Agent", "")
    db.execute(
        "INSERT INTO device_sessions (user_id, session_token, device_name, ip, user_agent, created_at,"
        " last_active_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user[0], token, device_name(user_agent), request.environ.get("REMOTE_ADDR", ""), user_agent, now(), now()),
    )
    db.commit()
    sessions[token] = {"user_id": user[0], "email": user[1]}
    response.set_cookie("session", token, httponly=True, path="/")
    return {"message": "Logged in."}


@app.post("/logout")
def logout():
    token = request.get_cookie("session")
    if token in sessions:
        del sessions[token]
        db.execute("DELETE FROM device_sessions WHERE session_token = ?", (token,))
        db.commit()
    response.set_cookie("session", "", httponly=True, path="/", max_age=0)
    return {"message": "Logged out."}


@app.get("/me")
def me():
    _, session = authenticate()
    return {"id": session["user_id"], "email": session["email"]}


@app.get("/me/sessions")
def list_sessions():
    token, session = authenticate()
    rows = db.execute(
        "SELECT id, device_name, ip, last_active_at, created_at, session_token FROM device_sessions"
        " WHERE user_id = ? ORDER BY last_active_at DESC, id DESC",
        (session["user_id"],),
    ).fetchall()
    response.content_type = "application/json"
    return json.dumps([
        {"id": row[0], "deviceName": row[1], "ip": row[2], "lastActiveAt": row[3], "createdAt": row[4],
         "isCurrent": row[5] == token}
        for row in rows
    ])


@app.delete("/me/sessions/<session_id>")
def revoke(session_id):
    token, session = authenticate()
    row = db.execute(
        "SELECT id, session_token FROM device_sessions WHERE id = ? AND user_id = ?",
        (session_id, session["user_id"]),
    ).fetchone()
    if row is not None and row[1] == token:
        fail(400, "Use POST /logout to end your current session.")
    if row is None:
        fail(404, "Session not found")
    db.execute("DELETE FROM device_sessions WHERE id = ?", (row[0],))
    db.commit()
    sessions.pop(row[1], None)
    return {"message": "Session revoked."}


@app.post("/me/sessions/revoke-all")
def revoke_all():
    token, session = authenticate()
    db.execute("DELETE FROM device_sessions WHERE user_id = ? AND session_token != ?", (session["user_id"], token))
    others = db.execute("SELECT session_token FROM device_sessions WHERE user_id = ? AND session_token != ?",
                        (session["user_id"], token)).fetchall()
    db.commit()
    for (other,) in others:
        sessions.pop(other, None)
    return {"message": "All other sessions have been revoked."}


def json_error(error: bottle.HTTPError) -> str:
    """Bottle's own errors (no such route, a body too large) as JSON, like every other answer."""
    response.content_type = "application/json"
    return json.dumps({"error": error.body if isinstance(error.body, str) and error.body else error.status_line})


for status in (400, 404, 405, 413, 500):
    app.error(status)(json_error)


def main(argv: list[str] | None = None) -> None:
    global db, scrypt_n
    parser = argparse.ArgumentParser(description="The lesson's sessions server (a starter, bug included).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3002, help="default 3002 (the reference uses 3000)")
    parser.add_argument("--db", default=":memory:",
                        help="SQLite file; default in memory, forgotten at exit like the in-memory sessions")
    parser.add_argument("--scrypt-n", type=int, default=scrypt_n,
                        help="scrypt cost of new password hashes (default 16384; the tests pass 1024 to stay quick)")
    options = parser.parse_args(argv)
    scrypt_n = options.scrypt_n
    db = sqlite3.connect(options.db)
    db.executescript(SCHEMA)
    # Bottle's own development server (wsgiref: one request at a time, one line on stderr for each),
    # built here to print the port that --port 0 picked.
    server = make_server(options.host, options.port, app)
    print(f"listening on http://{options.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
