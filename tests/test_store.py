"""The one store: what reaches the database, expiry inside the SELECT, concurrency, idempotence."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from impl.config import Config
from impl.sessions import SessionManager, hash_token
from impl.store import Cutoffs, SqliteStore

from .conftest import CHROME_MAC, FakeClock

ALIVE = Cutoffs(idle=0, absolute=0)


@pytest.fixture
def store(db_path) -> SqliteStore:
    return SqliteStore(db_path)


@pytest.fixture
def manager(store, clock) -> SessionManager:
    store.add_user("u1", "ann@example.com", "ann@example.com", "scrypt$x", 0)
    store.add_user("u2", "bob@example.com", "bob@example.com", "scrypt$x", 0)
    return SessionManager(store, Config(db_path=store.path, touch_interval=60), clock)


def all_rows(path: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM sessions").fetchall()
    finally:
        conn.close()


def test_database_holds_only_token_hashes_never_tokens(manager, store):
    token = manager.start("u1", "203.0.113.7", CHROME_MAC)
    rows = all_rows(store.path)
    assert len(rows) == 1
    assert hash_token(token) in rows[0]
    flat = repr(rows)
    assert token not in flat
    store.checkpoint()  # everything into the main file, then read it raw
    with open(store.path, "rb") as f:
        raw = f.read()
    assert token.encode() not in raw
    assert hash_token(token) in raw


def test_public_id_is_not_the_token_nor_derived_from_it(manager):
    token = manager.start("u1", "127.0.0.1", CHROME_MAC)
    [listed] = manager.list_for_user("u1")
    assert listed.id != token
    assert listed.id not in token and token not in listed.id


def test_token_is_256_bits_of_url_safe_text_and_never_repeats(manager):
    tokens = {manager.start("u1", "127.0.0.1", CHROME_MAC) for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_malformed_tokens_are_refused_without_reaching_the_database(manager, monkeypatch):
    def boom(*args):
        raise AssertionError("database asked about a malformed token")

    monkeypatch.setattr(manager.store, "find_session", boom)
    for junk in ["", "x", "a" * 42, "a" * 44, "a" * 42 + "!", "ä" * 43, None]:
        assert manager.authenticate(junk) is None


def test_revoked_session_is_gone_for_every_other_store_on_the_same_file(manager, store, clock, db_path):
    # Two stores on one file stand for two worker processes: no copy anywhere.
    other_worker = SessionManager(SqliteStore(db_path), manager.config, clock)
    token = manager.start("u1", "127.0.0.1", CHROME_MAC)
    keep = manager.start("u1", "127.0.0.1", CHROME_MAC)
    assert other_worker.authenticate(token) is not None
    session = other_worker.authenticate(keep)
    assert other_worker.revoke_others(session) == 1
    assert manager.authenticate(token) is None
    assert manager.authenticate(keep) is not None


def test_revoke_matches_owner_and_id_together(manager):
    manager.start("u1", "127.0.0.1", CHROME_MAC)
    [ann] = manager.list_for_user("u1")
    assert manager.revoke("u2", ann.id) is False
    assert [s.id for s in manager.list_for_user("u1")] == [ann.id]
    assert manager.revoke("u1", ann.id) is True
    assert manager.revoke("u1", ann.id) is False  # a repeated revoke is safe
    assert manager.list_for_user("u1") == []


def test_revoke_others_leaves_other_users_alone(manager):
    keep = manager.start("u1", "127.0.0.1", CHROME_MAC)
    for _ in range(3):
        manager.start("u1", "127.0.0.1", CHROME_MAC)
    bob = manager.start("u2", "127.0.0.1", CHROME_MAC)
    assert manager.revoke_others(manager.authenticate(keep)) == 3
    assert len(manager.list_for_user("u1")) == 1
    assert manager.authenticate(bob) is not None


def test_expired_rows_are_never_read_even_before_the_purge(manager, store, clock):
    token = manager.start("u1", "127.0.0.1", CHROME_MAC)
    clock.advance(manager.config.idle_timeout + 1)
    assert len(all_rows(store.path)) == 1  # still on disk...
    assert manager.authenticate(token) is None  # ...but never authenticated
    assert manager.list_for_user("u1") == []
    assert manager.purge_expired() == 1
    assert all_rows(store.path) == []


def test_purge_keeps_live_sessions(manager, clock):
    old = manager.start("u1", "127.0.0.1", CHROME_MAC)
    clock.advance(manager.config.idle_timeout - 10)
    fresh = manager.start("u1", "127.0.0.1", CHROME_MAC)
    clock.advance(20)
    assert manager.purge_expired() == 1
    assert manager.authenticate(old) is None
    assert manager.authenticate(fresh) is not None


def test_touch_writes_at_most_once_per_interval(manager, store, clock, monkeypatch):
    token = manager.start("u1", "127.0.0.1", CHROME_MAC)
    writes = []
    real_touch = store.touch_session
    monkeypatch.setattr(store, "touch_session", lambda *a: writes.append(a) or real_touch(*a))
    for _ in range(5):
        clock.advance(10)
        manager.authenticate(token)
    assert writes == []  # 50 s < 60 s interval
    clock.advance(11)
    session = manager.authenticate(token)
    assert len(writes) == 1
    assert session.last_active_at == clock.now


def test_last_active_never_moves_backwards_when_the_clock_does(manager, clock):
    token = manager.start("u1", "127.0.0.1", CHROME_MAC)
    clock.advance(120)
    before = manager.authenticate(token).last_active_at
    clock.advance(-100)  # wall clock stepped back (NTP)
    assert manager.authenticate(token).last_active_at == before


def test_touch_never_revives_an_ended_session(manager, store, clock):
    token = manager.start("u1", "127.0.0.1", CHROME_MAC)
    token_hash = hash_token(token)
    manager.end(token)
    assert store.touch_session(token_hash, 10**15, 10**15, ALIVE) is False
    assert all_rows(store.path) == []


def test_duplicate_email_key_is_refused(store):
    assert store.add_user("a", "Ann@x.org", "ann@x.org", "h", 0) is True
    assert store.add_user("b", "ann@X.org", "ann@x.org", "h", 0) is False


def test_schema_is_applied_idempotently_and_wal_is_on(db_path):
    SqliteStore(db_path)
    store = SqliteStore(db_path)  # a second start on the same file
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    store.close()


def test_newer_schema_is_refused_rather_than_misread(db_path):
    SqliteStore(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        SqliteStore(db_path)


def test_concurrent_logins_from_many_threads_lose_nothing(manager):
    tokens: list[str] = []
    lock = threading.Lock()

    def login_many():
        for _ in range(25):
            token = manager.start("u1", "127.0.0.1", CHROME_MAC)
            assert manager.authenticate(token) is not None
            with lock:
                tokens.append(token)

    threads = [threading.Thread(target=login_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 200
    assert len(manager.list_for_user("u1")) == 200


def _login_in_process(db_path: str, count: int, queue) -> None:
    manager = SessionManager(SqliteStore(db_path), Config(db_path=db_path), FakeClock())
    queue.put([manager.start("u1", "127.0.0.1", CHROME_MAC) for _ in range(count)])


def test_concurrent_writers_in_several_processes_lose_nothing(manager, db_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_login_in_process, args=(db_path, 100, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    tokens = [t for _ in procs for t in queue.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(set(tokens)) == 400
    assert len(manager.list_for_user("u1")) == 400


def test_purge_deletes_in_batches_and_spares_the_living(manager, store, clock):
    for _ in range(25):
        manager.start("u1", "127.0.0.1", CHROME_MAC)
    clock.advance(manager.config.idle_timeout + 1)
    alive = manager.start("u2", "127.0.0.1", CHROME_MAC)
    assert store.purge_expired(manager._cutoffs(manager._now_ms()), batch=4) == 25
    assert manager.authenticate(alive) is not None
    assert len(all_rows(store.path)) == 1


def test_revoke_all_retires_sessions_at_once_and_the_purge_deletes_them(manager, store):
    keep = manager.start("u1", "127.0.0.1", CHROME_MAC)
    others = [manager.start("u1", "127.0.0.1", CHROME_MAC) for _ in range(5)]
    bob = manager.start("u2", "127.0.0.1", CHROME_MAC)
    assert manager.revoke_others(manager.authenticate(keep)) == 5
    assert len(all_rows(store.path)) == 7  # still on disk...
    assert all(manager.authenticate(t) is None for t in others)  # ...but dead from this commit on
    assert [s.id for s in manager.list_for_user("u1")] == [manager.authenticate(keep).id]
    assert manager.purge_expired() == 5
    assert len(all_rows(store.path)) == 2
    assert manager.authenticate(keep) is not None and manager.authenticate(bob) is not None


def test_login_after_revoke_all_lives_in_the_new_generation(manager):
    keep = manager.start("u1", "127.0.0.1", CHROME_MAC)
    manager.start("u1", "127.0.0.1", CHROME_MAC)
    manager.revoke_others(manager.authenticate(keep))
    later = manager.start("u1", "127.0.0.1", CHROME_MAC)
    assert manager.authenticate(later) is not None
    assert len(manager.list_for_user("u1")) == 2
    assert manager.revoke_others(manager.authenticate(keep)) == 1
    assert manager.authenticate(later) is None


def test_retired_session_cannot_be_revoked_or_touched_back_to_life(manager, store, clock):
    keep = manager.start("u1", "127.0.0.1", CHROME_MAC)
    gone = manager.start("u1", "127.0.0.1", CHROME_MAC)
    gone_id = next(s.id for s in manager.list_for_user("u1") if manager.authenticate(keep).id != s.id)
    manager.revoke_others(manager.authenticate(keep))
    assert manager.revoke("u1", gone_id) is False  # "already revoked": 404
    clock.advance(3600 * 2)
    assert store.touch_session(hash_token(gone), 10**15, 10**15, ALIVE) is False
    assert manager.authenticate(gone) is None


def test_revoke_all_counts_only_sessions_that_were_alive(manager, clock):
    manager.start("u1", "127.0.0.1", CHROME_MAC)  # will be idle-expired
    clock.advance(manager.config.idle_timeout - 5)
    keep = manager.start("u1", "127.0.0.1", CHROME_MAC)
    manager.start("u1", "127.0.0.1", CHROME_MAC)
    clock.advance(10)
    assert manager.revoke_others(manager.authenticate(keep)) == 1
