"""What only the PostgreSQL backend has: row locks across connections, its schema lock, purge lock, and its faults.

Each handle (`open_store`) has its own connection pool, so two handles
stand for two workers or two instances: the races below meet only in the
database.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from impl import Config, create_app
from impl.sessions import Client, SessionManager, hash_token
from impl.store import CallerGone, StoreBusy, StoreUnavailable, open_store
from impl.store.postgres import PURGE_LOCK, SCHEMA_VERSION, PostgresStore

from . import postgres
from .conftest import CHROME_MAC, FAST, Client as WsgiClient, FakeClock
from .servers import ROOT

HERE = Client.of("127.0.0.1", CHROME_MAC)
TRIALS = 60


@pytest.fixture
def database() -> str:
    return postgres.postgres_database()


@pytest.fixture
def config(database) -> Config:
    return Config(db=database, scrypt_n=2, access_log=False, max_sessions_per_user=5000)


@pytest.fixture
def handles(database, config, clock) -> Iterator[list[SessionManager]]:
    """Three managers on the same database, each with its own pool: three instances."""
    managers = [SessionManager(open_store(database), config, clock) for _ in range(3)]
    managers[0].store.add_user("u1", "ann@example.com", "ann@example.com", "scrypt$x", 0)
    yield managers
    for manager in managers:
        manager.store.close()


def race(*actions) -> list:
    """Run the actions at the same moment, each in its own thread; return their results (None: its caller was gone)."""
    results: list = [None] * len(actions)
    barrier = threading.Barrier(len(actions))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = refused_as_none(actions[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def refused_as_none(action):
    """Run an ending action; None when it was refused because its caller was ended first."""
    try:
        return action()
    except CallerGone:
        return None


def query(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# -- locking across connections: atomic endings on PostgreSQL ---------------------------------------


def test_of_two_concurrent_revoke_alls_on_two_connections_exactly_one_wins(handles):
    a, b, checker = handles
    wins = [0, 0]
    for _ in range(TRIALS):
        tokens = [a.start("u1", HERE) for _ in range(3)]
        sessions = [a.authenticate(tokens[0]), b.authenticate(tokens[1])]
        results = race(lambda: a.revoke_others(sessions[0], HERE), lambda: b.revoke_others(sessions[1], HERE))
        winners = [i for i in range(2) if results[i] is not None]
        assert len(winners) == 1, results
        alive = [t for t in tokens if checker.authenticate(t) is not None]
        assert alive == [tokens[winners[0]]]
        wins[winners[0]] += 1
    print("revoke_all_winners:", {"first handle": wins[0], "second handle": wins[1]})


def test_lookups_keep_working_after_a_refused_ending_rolled_back_on_their_connection(database, config, clock):
    # psycopg ends a rolled-back transaction with DEALLOCATE ALL, which also
    # drops the statement the session lookup prepared on that connection
    # (one connection here, so that both meet on it).
    manager = SessionManager(PostgresStore(database, max_size=1), config, clock)
    try:
        manager.store.add_user("u1", "ann@example.com", "ann@example.com", "scrypt$x", 0)
        live = manager.start("u1", HERE)
        ghost = manager.authenticate(manager.start("u1", HERE))._replace(token_hash=b"\x00" * 32)
        for _ in range(3):
            for _ in range(6):  # psycopg prepares a statement of its own at its 5th run
                manager.start("u1", HERE)
            assert manager.authenticate(live) is not None
            assert refused_as_none(lambda: manager.revoke_others(ghost, HERE)) is None  # no such caller: rolled back
            assert manager.authenticate(live) is not None
    finally:
        manager.store.close()


def test_a_login_racing_revoke_all_is_either_dead_or_listed(handles):
    a, b, checker = handles
    keep = a.start("u1", HERE)
    outcomes = {"lived": 0, "died": 0}
    for _ in range(TRIALS):
        me = a.authenticate(keep)
        _, token = race(lambda: a.revoke_others(me, HERE), lambda: b.start("u1", HERE))
        session = checker.authenticate(token)
        listed = {s.id for s in checker.list_for_user("u1")}
        if session is None:
            outcomes["died"] += 1
        else:
            assert session.id in listed, "alive but not listed"
            outcomes["lived"] += 1
        assert checker.authenticate(keep) is not None
    assert sum(outcomes.values()) == TRIALS
    print("login_racing_revoke_all:", outcomes)


def test_a_thief_looping_revoke_all_cannot_outlive_the_owners(handles):
    owner, thief, checker = handles
    for _ in range(10):
        mine, stolen = owner.start("u1", HERE), thief.start("u1", HERE)
        me, them = owner.authenticate(mine), thief.authenticate(stolen)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set() and refused_as_none(lambda: thief.revoke_others(them, HERE)) is not None:
                pass

        looper = threading.Thread(target=loop)
        looper.start()
        owned = refused_as_none(lambda: owner.revoke_others(me, HERE))
        stop.set()
        looper.join()
        if owned is not None:  # the owner's 200: the thief is dead whatever was in flight
            assert checker.authenticate(stolen) is None
        else:
            assert checker.authenticate(mine) is None
        assert (checker.authenticate(mine) is None) != (checker.authenticate(stolen) is None)


# -- schema and housekeeping ---------------------------------------------------------------------------------


def _open(url: str) -> None:
    PostgresStore(url).close()


def test_processes_starting_together_create_the_schema_once(database):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(database,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert query(database, "SELECT version FROM schema_version ORDER BY version") == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)
    ]
    store = PostgresStore(database)
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_newer_schema_is_refused_rather_than_misread(database):
    PostgresStore(database).close()
    query(database, "INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        PostgresStore(database)


def test_database_holds_only_token_hashes_never_tokens(handles, database):
    token = handles[0].start("u1", HERE)
    [(stored,)] = query(database, "SELECT token_hash FROM sessions")
    assert bytes(stored) == hash_token(token)
    dump = repr(query(database, "SELECT * FROM sessions")) + repr(query(database, "SELECT * FROM events"))
    assert token not in dump


def test_revoke_all_retires_rows_in_place_and_the_purge_deletes_them_later(handles, database, clock):
    manager = handles[0]
    keep = manager.start("u1", HERE)
    for _ in range(1500):
        manager.start("u1", HERE)
    assert manager.revoke_others(manager.authenticate(keep), HERE) == 1500
    assert query(database, "SELECT count(*) FROM sessions") == [(1501,)]  # constant-time: nothing deleted
    clock.advance(manager.config.absolute_timeout + 1)
    assert manager.purge_expired() >= 1501  # in batches of 1000
    assert query(database, "SELECT count(*) FROM sessions") == [(0,)]


def test_the_purge_runs_on_one_instance_at_a_time(handles, database, clock):
    manager = handles[0]
    manager.start("u1", HERE)
    clock.advance(manager.config.absolute_timeout + 1)
    with psycopg.connect(database, autocommit=True) as other_instance:
        other_instance.execute("SELECT pg_advisory_lock(%s)", (PURGE_LOCK,))
        assert manager.purge_expired() == 0  # another instance is purging: skip this round
        assert query(database, "SELECT count(*) FROM sessions") == [(1,)]
        other_instance.execute("SELECT pg_advisory_unlock(%s)", (PURGE_LOCK,))
    assert manager.purge_expired() >= 1


# -- faults: bounded waits, 503 with Retry-After, and healing without a restart ---------------------------------------


def test_a_lock_held_past_the_lock_timeout_is_store_busy_not_a_hang(handles, database):
    manager = handles[0]
    me = manager.authenticate(manager.start("u1", HERE))
    with psycopg.connect(database) as blocker:  # a transaction holding the user's row
        blocker.execute("SELECT 1 FROM users WHERE id = 'u1' FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(StoreBusy):
            manager.revoke_others(me, HERE)
        assert time.monotonic() - started < 10
        blocker.rollback()
    assert manager.revoke_others(me, HERE) == 0


@pytest.fixture(scope="module")
def own_server() -> Iterator[postgres.Server]:
    """A server of this module's own, to stop and start: the session's one serves other tests."""
    server = postgres.start_own("stop")
    yield server
    server.close()


def test_a_stopped_database_answers_503_with_retry_after_and_the_same_app_recovers(own_server, closing):
    clock = FakeClock()
    app = closing(create_app(Config(db=own_server.new_database(), **FAST), clock=clock))
    web = WsgiClient(app)
    assert web.signup("ann@example.com").status == 201
    assert web.login("ann@example.com").status == 200
    assert web.request("GET", "/me").status == 200
    own_server.stop_server()
    try:
        for path in ("/me", "/me/sessions"):
            started = time.monotonic()
            refused = web.request("GET", path)
            waited = time.monotonic() - started
            assert refused.status == 503, (path, refused.status, refused.body)
            assert refused.header("Retry-After") and refused.json["error"]
            assert waited < 10, f"{path} took {waited:.1f} s to give up"
        refused = web.request("POST", "/me/sessions/revoke-all")
        assert refused.status == 503 and refused.header("Retry-After")
        assert WsgiClient(app).login("ann@example.com").status == 503
    finally:
        own_server.start_server()
    deadline = time.monotonic() + 60
    statuses = []
    while time.monotonic() < deadline:
        statuses.append(web.request("GET", "/me").status)
        if statuses[-1] == 200:
            break
        time.sleep(0.5)
    assert statuses[-1] == 200, statuses
    assert set(statuses) <= {200, 503}, statuses  # never a 500 on the way back
    assert web.request("GET", "/me/sessions").status == 200
    assert WsgiClient(app).login("ann@example.com").status == 200


def test_a_database_restarted_between_two_requests_costs_no_request_an_error(own_server, closing):
    # Every pooled connection died with the restart; the first read finds
    # its connection dead and is retried once on a fresh one.
    app = closing(create_app(Config(db=own_server.new_database(), **FAST), clock=FakeClock()))
    web = WsgiClient(app)
    assert web.signup("ann@example.com").status == 201
    assert web.login("ann@example.com").status == 200
    assert web.request("GET", "/me/sessions").status == 200
    own_server.stop_server()
    own_server.start_server()
    assert web.request("GET", "/me").status == 200
    assert web.request("GET", "/me/sessions").status == 200


def test_run_server_exits_with_one_line_when_postgres_cannot_be_reached():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(ROOT / "run_server.py"), "--port", "0",
             "--db", f"postgresql://nobody@127.0.0.1:{port}/sessions"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open database" in lines[0], result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII"])
def test_a_database_that_is_not_utf8_is_refused_at_start_in_one_line(encoding):
    # LATIN1 cannot hold an emoji; SQL_ASCII stores bytes unchecked. Either
    # would turn ordinary input into 500s later, so the server does not start.
    server = postgres.shared_server()
    name = f"sessions_test_{encoding.lower()}_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    server.created.append(name)
    url = server.url(name)
    with pytest.raises(StoreUnavailable, match=f"server_encoding {encoding}"):
        open_store(url)
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_server.py"), "--port", "0", "--db", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"server_encoding {encoding}" in lines[0] and "UTF8" in lines[0], result.stderr


@pytest.mark.parametrize("reads", ["no reads", "reads during the fault"])
def test_a_database_made_writable_again_heals_every_pooled_connection(database, clock, reads):
    # A connection opened while the database is read-only keeps that default
    # for its life and never dies of it: a pool that only drops dead
    # connections would go on failing writes after the cure.
    name = postgres.psycopg_conninfo(database)["dbname"]
    seed = create_app(Config(db=database, **FAST), clock=clock)
    assert WsgiClient(seed).signup("ann@example.com").status == 201
    seed.services.store.close()
    with psycopg.connect(postgres.shared_server().admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        web = WsgiClient(create_app(Config(db=database, **FAST), clock=clock))
        # Several connections, all opened read-only: logins from threads at once.
        statuses = race(*[lambda: WsgiClient(web.app).login("ann@example.com").status] * 6)
        assert set(statuses) == {503}, statuses
        stop = threading.Event()
        background = None
        if reads == "reads during the fault":
            def keep_reading() -> None:
                while not stop.is_set():
                    web.app.services.store.find_user("ann@example.com")
            background = threading.Thread(target=keep_reading, daemon=True)
            background.start()
        try:
            admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            healed = False
            for _ in range(50):
                if web.login("ann@example.com").status == 200:
                    healed = True
                    break
                time.sleep(0.1)
            assert healed, "no login succeeded within 5 s of the database becoming writable"
            statuses = [web.login("ann@example.com").status for _ in range(100)]
            assert statuses == [200] * 100, f"{statuses.count(200)} of 100 logins succeeded after healing"
        finally:
            stop.set()
            if background is not None:
                background.join(timeout=10)
            web.app.services.store.close()
