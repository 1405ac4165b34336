-- The PostgreSQL schema of impl/store/postgres.py as of eae68cd 2026-11-30 PostgreSQL store: every verb of the Store protocol on psycopg 3 and its pool; the contract tests run on it
-- (migration 1, schema_version 1), verbatim.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- The email as compared: lower-cased, so Ann@x.org and ann@x.org are one account.
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,  -- milliseconds since the Unix epoch, UTC
    -- Moved on by revoke-all and password change: sessions of older generations are dead.
    generation    BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    token_hash     BYTEA PRIMARY KEY,  -- sha256(cookie token); the token itself is never stored
    id             TEXT NOT NULL UNIQUE,  -- public id, shown in the list and used to revoke
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation     BIGINT NOT NULL,  -- the user's generation at login; alive while still current
    ip             TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    device_name    TEXT NOT NULL,
    created_at     BIGINT NOT NULL,  -- milliseconds
    last_active_at BIGINT NOT NULL,  -- milliseconds; only ever moves forward; not indexed (HOT touch)
    end_reason     TEXT,             -- why it ended (logout, revoke, eviction); NULL while alive
    ended_at       BIGINT,
    name           TEXT,             -- EXT-RENAME
    new_device     BOOLEAN NOT NULL DEFAULT false  -- EXT-NEW-DEVICE
);
-- Listing, counting and revoke-all read one user's current sessions.
CREATE INDEX sessions_by_user ON sessions (user_id, generation);
-- The purge finds what passed its absolute timeout without a scan.
CREATE INDEX sessions_by_created ON sessions (created_at);
-- Why each generation of a user was retired (revoke-all, password change).
CREATE TABLE retired_generations (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, generation)
);
-- Tokens that stopped working while their session went on (the old token of
-- a password change), kept until the session's absolute timeout.
CREATE TABLE ended_tokens (
    token_hash     BYTEA PRIMARY KEY,
    reason         TEXT NOT NULL,
    ended_at       BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL
);
-- EXT-ACTIVITY: the security log; ids increase, so newest-first and `before`
-- paging are one index range.
CREATE TABLE events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type             TEXT NOT NULL,
    at               BIGINT NOT NULL,
    ip               TEXT NOT NULL,
    device_name      TEXT NOT NULL,
    session_id       TEXT,
    actor_session_id TEXT,
    count            INTEGER,
    new_device       BOOLEAN
);
CREATE INDEX events_by_user ON events (user_id, id);
CREATE INDEX events_by_time ON events (at);
-- EXT-NEW-DEVICE: "has this account logged in from this pair lately" is one lookup.
CREATE INDEX logins_by_device ON events (user_id, device_name, ip, at) WHERE type = 'login';
-- HARD-THROTTLE: consecutive attempts per sha256(email key, client address).
CREATE TABLE login_attempts (
    key          BYTEA PRIMARY KEY,
    attempts     INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
