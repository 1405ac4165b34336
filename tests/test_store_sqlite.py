"""What only the SQLite backend has: the file itself, WAL, its schema versions, and its faults."""

from __future__ import annotations

import multiprocessing
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from impl import Config, create_app
from impl.sessions import Client, SessionManager, hash_token
from impl.store import StoreBusy, StoreUnavailable
from impl.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore

from .conftest import CHROME_MAC, FAST, Client as WsgiClient

HERE = Client.of("127.0.0.1", CHROME_MAC)


def rows(path: str, table: str = "sessions") -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        conn.close()


@pytest.fixture
def manager(db_path, clock) -> SessionManager:
    store = SqliteStore(db_path)
    store.add_user("u1", "ann@example.com", "ann@example.com", "scrypt$x", 0)
    return SessionManager(store, Config(db=db_path), clock)


def test_database_file_holds_only_token_hashes_never_tokens(manager, db_path):
    token = manager.start("u1", HERE)
    [row] = rows(db_path)
    assert hash_token(token) in row
    assert token not in repr(row)
    manager.store.checkpoint()  # everything into the main file, then read it raw
    with open(db_path, "rb") as f:
        raw = f.read()
    assert token.encode() not in raw
    assert hash_token(token) in raw


def test_schema_is_applied_once_and_wal_is_on(db_path):
    SqliteStore(db_path)
    store = SqliteStore(db_path)  # a second start on the same file
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert store.schema_version() == SCHEMA_VERSION


def test_a_version_1_file_is_upgraded_keeping_its_users_and_sessions(db_path, clock):
    conn = sqlite3.connect(db_path)
    conn.executescript(MIGRATIONS[1] + "PRAGMA user_version = 1;")
    now = int(clock() * 1000)
    conn.execute("INSERT INTO users (id, email, email_key, password_hash, created_at) VALUES ('u1', 'a@x', 'a@x', 'h', 0)")
    conn.execute(
        "INSERT INTO sessions VALUES (?, 'pub', 'u1', 0, '127.0.0.1', 'curl', 'curl on Unknown OS', ?, ?)",
        (hash_token("t" * 43), now, now),
    )
    conn.commit()
    conn.close()
    manager = SessionManager(SqliteStore(db_path), Config(db=db_path), clock)
    assert manager.store.schema_version() == SCHEMA_VERSION
    session = manager.authenticate("t" * 43)
    assert session is not None and session.id == "pub"
    assert [(s.name, s.new_device) for s in manager.list_for_user("u1")] == [(None, False)]


def _open(path: str) -> None:
    SqliteStore(path).close()


def test_processes_starting_together_upgrade_the_file_once(db_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(db_path,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert SqliteStore(db_path).schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused_rather_than_misread(db_path):
    SqliteStore(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        SqliteStore(db_path)


def test_revoke_all_keeps_retired_rows_until_their_absolute_timeout(manager, db_path, clock):
    keep = manager.start("u1", HERE)
    for _ in range(5):
        manager.start("u1", HERE)
    assert manager.revoke_others(manager.authenticate(keep), HERE) == 5
    assert len(rows(db_path)) == 6  # retired, not deleted: constant time, and the reason stays
    clock.advance(manager.config.absolute_timeout + 1)
    manager.purge_expired()
    assert rows(db_path) == []


def test_purge_deletes_in_small_batches(manager, db_path, clock):
    for _ in range(1200):
        manager.start("u1", HERE)
    clock.advance(manager.config.absolute_timeout + 1)
    assert manager.purge_expired() >= 1200
    assert rows(db_path) == []


# -- faults: 503, never 500, and healing by themselves ----------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A real 256 KiB filesystem (tmpfs) that the test can fill, grow, and make read-only."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs as root and must be able to mount a tmpfs: {done.stderr.decode().strip()}")
        pytest.skip("needs root to mount a small tmpfs (CI runs these)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def remount(mount_point: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount_point)], check=True)


def test_a_full_disk_answers_503_with_retry_after_and_heals_when_space_returns(small_disk, clock):
    web = WsgiClient(create_app(Config(db=str(small_disk / "s.db"), **FAST), clock=clock))
    answers = [web.signup(f"user{i:04d}-{'x' * 150}@example.com") for i in range(400)]
    statuses = {r.status for r in answers}
    assert 503 in statuses, "the disk never filled"
    assert statuses <= {201, 503}, statuses  # never a 500
    refused = [r for r in answers if r.status == 503]
    assert all(r.header("Retry-After") and r.json["error"] for r in refused)
    remount(small_disk, "size=8m")
    assert web.signup("after@example.com").status == 201


def test_a_worker_started_on_a_read_only_file_heals_when_it_is_writable_again(small_disk, clock):
    database = str(small_disk / "s.db")
    first = WsgiClient(create_app(Config(db=database, **FAST), clock=clock))
    assert first.signup("ann@example.com").status == 201
    remount(small_disk, "size=8m")  # room enough; only the permission is at stake here
    view = small_disk.parent / "view"  # the same files, seen through a read-only mount
    view.mkdir()
    subprocess.run(["mount", "--bind", str(small_disk), str(view)], check=True)
    try:
        remount(view, "bind,ro")
        worker = WsgiClient(create_app(Config(db=str(view / "s.db"), **FAST), clock=clock))
        refused = worker.signup("bob@example.com")
        assert refused.status == 503 and refused.header("Retry-After") and refused.json["error"]
        remount(view, "bind,rw")  # permissions are back: no restart
        assert worker.signup("bob@example.com").status == 201
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


class ReadingThread:
    """One long-lived thread that serves GETs, as the server's event loop does: its connection lives as long as it."""

    def __init__(self, web: WsgiClient) -> None:
        self.web = web
        self.jobs: queue.Queue = queue.Queue()
        self.busy = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if job == "loop":
                while self.busy.is_set():
                    self.web.request("GET", "/me")
                continue
            job.put(self.web.request("GET", "/me").status)

    def get(self) -> int:
        answer: queue.Queue = queue.Queue()
        self.jobs.put(answer)
        return answer.get(timeout=30)

    def keep_reading(self) -> None:
        self.busy.set()
        self.jobs.put("loop")

    def stop(self) -> None:
        self.busy.clear()
        self.jobs.put(None)
        self.thread.join(timeout=30)


@pytest.mark.parametrize("reads", ["idle reader", "reads during the fault"])
def test_a_read_only_start_heals_on_every_connection_once_writable(small_disk, clock, reads):
    # A connection opened while the file is read-only maps the WAL index
    # read-only, and SQLite shares that map with every later connection of
    # the process to the same file. A reader that never writes never faults;
    # unless a fault resets it too, writes keep failing after the cure.
    remount(small_disk, "size=8m")
    database = small_disk / "s.db"
    seed = WsgiClient(create_app(Config(db=str(database), **FAST), clock=clock))
    assert seed.signup("ann@example.com").status == 201
    assert seed.login("ann@example.com").status == 200
    seed.app.services.store.close()
    # Another process keeps the database open, so its -wal and -shm files
    # stay (a read-only WAL database cannot be opened without them).
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
         " c.execute('SELECT count(*) FROM users').fetchall(); print('ready', flush=True); sys.stdin.read()",
         str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "ready"
    view = small_disk.parent / "view"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(small_disk), str(view)], check=True)
    reader = None
    try:
        remount(view, "bind,ro")
        app = create_app(Config(db=str(view / "s.db"), **FAST), clock=clock)
        reader = ReadingThread(WsgiClient(app, token=seed.token))
        assert reader.get() == 200  # reads work on a read-only file
        writer = WsgiClient(app)
        assert writer.login("ann@example.com").status == 503
        if reads == "reads during the fault":
            reader.keep_reading()
        remount(view, "bind,rw")  # cured: no restart
        healed_after = None
        for attempt in range(50):
            if writer.login("ann@example.com").status == 200:
                healed_after = attempt
                break
            time.sleep(0.1)
        assert healed_after is not None, "no login succeeded within 5 s of the file becoming writable"
        statuses = [writer.login("ann@example.com").status for _ in range(100)]
        assert statuses == [200] * 100, f"{statuses.count(200)} of 100 logins succeeded after healing"
        reader.busy.clear()
        assert reader.get() == 200
    finally:
        if reader is not None:
            reader.stop()
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_a_lock_held_past_the_busy_timeout_is_store_busy(db_path):
    store = SqliteStore(db_path, busy_timeout_ms=50)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy):
            store.add_user("u1", "a@x", "a@x", "h", 0)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.add_user("u1", "a@x", "a@x", "h", 0) is True
