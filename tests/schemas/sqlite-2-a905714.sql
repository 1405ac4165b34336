-- The SQLite schema of impl/store/sqlite.py as of a905714 2026-11-30 Store behind one interface; every ending action re-checks its caller in the same transaction
-- (migrations 1 and 2, PRAGMA user_version = 2), verbatim.
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- The email as compared: lower-cased, so Ann@x.org and ann@x.org are one account.
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,  -- milliseconds since the Unix epoch, UTC
    -- Moved on by revoke-all and password change: sessions of older generations are dead.
    generation    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash     BLOB PRIMARY KEY,  -- sha256(cookie token); the token itself is never stored
    id             TEXT NOT NULL UNIQUE,  -- public id, shown in the list and used to revoke
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation     INTEGER NOT NULL,  -- the user's generation at login; alive while still current
    ip             TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    device_name    TEXT NOT NULL,
    created_at     INTEGER NOT NULL,  -- milliseconds
    last_active_at INTEGER NOT NULL   -- milliseconds; only ever moves forward
) WITHOUT ROWID;
-- Listing, counting and revoke-all read one user's current sessions. The
-- purge, which would want an expiry index, scans instead, in the background.
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, generation);
-- Why and when a session ended (logout, revoke, eviction); NULL while alive.
ALTER TABLE sessions ADD COLUMN end_reason TEXT;
ALTER TABLE sessions ADD COLUMN ended_at INTEGER;
-- EXT-RENAME: the owner's name for the session; EXT-NEW-DEVICE: its login's flag.
ALTER TABLE sessions ADD COLUMN name TEXT;
ALTER TABLE sessions ADD COLUMN new_device INTEGER NOT NULL DEFAULT 0;
-- Why each generation of a user was retired (revoke-all, password change).
CREATE TABLE retired_generations (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    retired_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, generation)
) WITHOUT ROWID;
-- Tokens that stopped working while their session went on (the old token of
-- a password change), kept until the session's absolute timeout.
CREATE TABLE ended_tokens (
    token_hash     BLOB PRIMARY KEY,
    reason         TEXT NOT NULL,
    ended_at       INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL
) WITHOUT ROWID;
-- EXT-ACTIVITY: the security log. Ids are the rowid: increasing, so the
-- newest-first order and `before` paging are one index range.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type             TEXT NOT NULL,
    at               INTEGER NOT NULL,
    ip               TEXT NOT NULL,
    device_name      TEXT NOT NULL,
    session_id       TEXT,
    actor_session_id TEXT,
    count            INTEGER,
    new_device       INTEGER
);
CREATE INDEX events_by_user ON events (user_id, id);
CREATE INDEX events_by_time ON events (at);
-- EXT-NEW-DEVICE: "has this account logged in from this pair lately" is one lookup.
CREATE INDEX logins_by_device ON events (user_id, device_name, ip, at) WHERE type = 'login';
-- HARD-THROTTLE: consecutive attempts per sha256(email key, client address).
CREATE TABLE login_attempts (
    key          BLOB PRIMARY KEY,
    attempts     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
