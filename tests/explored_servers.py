"""Broken servers that only exploration finds: each bug needs a history nobody wrote a fixed check for.

Built as tests/broken_servers.py builds its variants (the reference app with
one bug put in from outside); kept apart because the fixed checks pass on
them, which that module's test would call a gap of the suite. Each names the
rule an exploration must blame, and the level and instances it needs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from impl import Config, create_app
from impl.sessions import Client, Session
from impl.store import CallerGone

from .broken_servers import TOUCH_INTERVAL, WsgiApp, serving, sql
from .conftest import FAST

# How long a password change takes: a login sent with it checks the old password inside that time.
RACE_WINDOW = 0.3
# What a login does between its password check and taking the user's row: a change sent with it is in flight by
# then. Wide enough that two requests sent together, but started apart on a loaded machine, still meet in it.
LOGIN_LOOKUP = 0.15


@dataclass(frozen=True)
class Explored:
    """A broken server for exploration: id, the rule it breaks, the bug, level, instances, and how to build it."""

    id: str
    breaks: str
    bug: str
    level: str
    instances: int
    build: Callable[[list[Any]], list[WsgiApp]]


def _apps(db_path: str, count: int) -> list[Any]:
    config = Config(db=db_path, **{**FAST, "touch_interval": TOUCH_INTERVAL})
    return [create_app(config) for _ in range(count)]


def _login_races_password_change(apps: list[Any]) -> list[WsgiApp]:
    """A login checks the password, waits out a password change in flight, then stores its session unchecked.

    As a server does that checks credentials, then blocks on the user's row
    (locked by the change) to store the session, with no second look at the
    password once it has the row.
    """
    app = apps[0]
    accounts, sessions, store = app.services.accounts, app.services.sessions, app.services.store
    check, change, start = accounts.check_credentials, accounts.change_password, sessions.start
    in_flight: dict[str, threading.Event] = {}

    def change_slowly(current: Session, *args: Any, **kwargs: Any) -> Any:
        done = in_flight.setdefault(current.user_id, threading.Event())
        try:
            time.sleep(RACE_WINDOW)  # hashing the new password
            return change(current, *args, **kwargs)
        finally:
            in_flight.pop(current.user_id, None)
            done.set()

    def check_then_wait(email: str, password: str, client: Client) -> Any:
        user = check(email, password, client)
        time.sleep(LOGIN_LOOKUP)  # looking the device up, before taking the user's row
        busy = in_flight.get(user.id)
        if busy is not None:
            busy.wait(timeout=5)
        return user

    def start_unguarded(user_id: str, client: Client, password_hash: Any = None) -> Any:
        # The reference stores the session only if the hash it checked is still the user's (its guard
        # against this very race); this server stores it whatever the hash is now.
        row = store.find_user_by_id(user_id)
        return start(user_id, client, row.password_hash if row is not None else password_hash)

    accounts.check_credentials, accounts.change_password, sessions.start = check_then_wait, change_slowly, start_unguarded
    return [app]


def _revoke_all_misses_other_instance_cache(apps: list[Any]) -> list[WsgiApp]:
    """Each instance caches the sessions it has seen; logout and revoke broadcast their ending, revoke-all does not."""
    caches: list[dict[str, Any]] = []
    # One lock over every look-up with its fill and every ending with its clearing, on all instances: without
    # it a fill racing a revoke would put an ended session back (another bug, found as CORE-REVOKE's).
    lock = threading.RLock()
    for app in apps:
        sessions = app.services.sessions
        authenticate, end, revoke = sessions.authenticate, sessions.end, sessions.revoke
        cache: dict[str, Session] = {}
        caches.append(cache)

        def through_cache(token: str | None, authenticate: Any = authenticate, cache: Any = cache,
                          lock: Any = lock) -> Session | None:
            with lock:
                session = authenticate(token)
                if session is not None and token:
                    cache[token] = session
                    return session
                return cache.get(token) if token else None

        def end_everywhere(token: str | None, client: Client, end: Any = end) -> bool:
            with lock:
                for each in caches:
                    each.pop(token, None)
                return end(token, client)

        def revoke_everywhere(current: Session, public_id: str, client: Client, revoke: Any = revoke) -> Any:
            with lock:
                outcome = revoke(current, public_id, client)
                for each in caches:
                    for token in [t for t, s in each.items() if s.id == public_id]:
                        del each[token]
                return outcome

        sessions.authenticate, sessions.end, sessions.revoke = through_cache, end_everywhere, revoke_everywhere
        # revoke-all clears this instance's cache only (the bug): the other's keeps the ended sessions.
        revoke_others = sessions.revoke_others

        def revoke_others_here(current: Session, client: Client, revoke_others: Any = revoke_others,
                               cache: Any = cache) -> Any:
            with lock:
                ended = revoke_others(current, client)
                for token in [t for t, s in cache.items() if s.user_id == current.user_id and s.id != current.id]:
                    del cache[token]
                return ended

        sessions.revoke_others = revoke_others_here
    return apps


def _ending_by_address(apps: list[Any]) -> list[WsgiApp]:
    """Logout ends the user's newest session from the caller's address, not the caller's own session."""
    app = apps[0]
    sessions = app.services.sessions
    store = sessions.store

    def end_newest_from_address(token: str | None, client: Client) -> bool:
        current = sessions.authenticate(token)
        if current is None:
            return False
        with contextlib.closing(sql(store)) as conn:
            row = conn.execute(
                "SELECT token_hash FROM sessions WHERE user_id = ? AND ip = ? AND end_reason IS NULL"
                " ORDER BY created_at DESC LIMIT 1",
                (current.user_id, client.ip),
            ).fetchone()
        if row is None:
            return False
        try:
            store.logout(row[0], sessions.cutoffs(), sessions.event("logout", client))
        except CallerGone:
            return False
        return True

    sessions.end = end_newest_from_address
    return [app]


def _touch_moves_same_device(apps: list[Any]) -> list[WsgiApp]:
    """Recording activity refreshes every session of the user on the same device name (`AND device_name = ?`)."""
    app = apps[0]
    store = app.services.store
    touch_session = store.touch_session

    def touch_the_device(token_hash: bytes, now: int, stale_before: int, cutoffs: Any) -> bool:
        touched = touch_session(token_hash, now, stale_before, cutoffs)
        if touched:
            with contextlib.closing(sql(store)) as conn:
                conn.execute(
                    "UPDATE sessions SET last_active_at = ? WHERE last_active_at < ? AND (user_id, device_name) ="
                    " (SELECT user_id, device_name FROM sessions WHERE token_hash = ?)",
                    (now, now, token_hash),
                )
        return touched

    store.touch_session = touch_the_device
    return [app]


EXPLORED = [
    Explored("login-races-password-change", "EXT-PASSWORD",
             "a login checks the password, then stores its session after a slow step without looking at the "
             "password again: a login racing a password change gets 200 with the old password, its session alive",
             "extensions", 1, _login_races_password_change),
    Explored("revoke-all-misses-other-instance-cache", "CORE-REVOKE-ALL",
             "two instances each cache the sessions they have seen; logout and revoke tell every instance, "
             "revoke-all clears only its own: a session the other instance cached outlives the revoke-all",
             "core", 2, _revoke_all_misses_other_instance_cache),
    Explored("logout-ends-newest-from-address", "CORE-LOGOUT",
             "logout ends the user's newest session from the caller's address: right for one device per "
             "address, wrong for the first of two devices behind one address (its own session goes on)",
             "core", 1, _ending_by_address),
    Explored("touch-moves-same-device-sessions", "CORE-LAST-ACTIVE",
             "recording activity refreshes every session of the user with the same device name: a session "
             "left on the device by a second login moves though nobody used it",
             "core", 1, _touch_moves_same_device),
]  # fmt: skip


@contextlib.contextmanager
def serving_explored(variant: Explored, db_path: str) -> Iterator[list[str]]:
    """Serve a variant's instances (on one SQLite file) in threads; yield their base URLs."""
    with contextlib.ExitStack() as stack:
        apps = variant.build(_apps(db_path, variant.instances))
        yield [stack.enter_context(serving(app)) for app in apps]


def serve_explored(variant_id: str, db_path: str, conn: Any) -> None:
    """Serve a variant's instances in this process; send their URLs through `conn`; stop when `conn` closes."""
    import logging

    logging.getLogger("impl").disabled = True  # these servers crash on purpose at times
    variant = next(v for v in EXPLORED if v.id == variant_id)
    with serving_explored(variant, db_path) as urls:
        conn.send(urls)
        try:
            conn.recv()
        except EOFError:  # the parent closed its end: the run is over
            pass
    conn.close()
