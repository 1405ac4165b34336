-- The SQLite schema of impl/store.py as of 27fb394 2026-11-27 Reference server: the whole contract on Bottle, SQLite and granian
-- (PRAGMA user_version = 1), verbatim.
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- The email as compared: lower-cased, so Ann@x.org and ann@x.org are one account.
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL   -- milliseconds since the Unix epoch, UTC
);

CREATE TABLE IF NOT EXISTS sessions (
    token_hash     BLOB PRIMARY KEY,  -- sha256(cookie token); the token itself is never stored
    id             TEXT NOT NULL UNIQUE,  -- public id, shown in the list and used to revoke
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip             TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    device_name    TEXT NOT NULL,
    created_at     INTEGER NOT NULL,  -- milliseconds
    last_active_at INTEGER NOT NULL   -- milliseconds; only ever moves forward
) WITHOUT ROWID;

-- Listing and revoke-all read one user's sessions; the purge finds old ones.
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, last_active_at);
CREATE INDEX IF NOT EXISTS sessions_by_created ON sessions (created_at);
CREATE INDEX IF NOT EXISTS sessions_by_last_active ON sessions (last_active_at);
