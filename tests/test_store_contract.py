"""The store's contract (impl/store/base.py), checked on every backend through its public verbs only.

Written once and run against each backend, as Django's SessionTestsMixin is
for each session engine: policy in SessionManager and Accounts above, the
store's verbs below, and nothing reaches into a backend's private parts.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from impl.accounts import Accounts, User
from impl.config import Config
from impl.errors import InvalidCredentials, TooManyAttempts
from impl.passwords import PasswordHasher
from impl.sessions import Client, SessionManager, hash_token, new_token
from impl.throttle import Throttle
from impl.store import CallerGone, Cutoffs, Event, Outcome, Store, open_store
from impl.store.base import EXPIRED, LOGGED_OUT, PASSWORD_CHANGED, REVOKED

from .conftest import CHROME_MAC
from .store_backends import BACKENDS

FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
HERE = Client.of("127.0.0.1", CHROME_MAC)
ALIVE = Cutoffs(idle=0, absolute=0)


@pytest.fixture(params=sorted(BACKENDS))
def database(request, tmp_path) -> str:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def store(database) -> Iterator[Store]:
    store = open_store(database)
    yield store
    store.close()


@pytest.fixture
def config(database) -> Config:
    return Config(db=database, touch_interval=60, scrypt_n=2, access_log=False)


@pytest.fixture
def manager(store, config, clock) -> SessionManager:
    store.add_user("u1", "ann@example.com", "ann@example.com", "scrypt$x", 0)
    store.add_user("u2", "bob@example.com", "bob@example.com", "scrypt$x", 0)
    return SessionManager(store, config, clock)


def login(manager: SessionManager, user: str = "u1", client: Client = HERE) -> str:
    return manager.start(user, client)


def ids(manager: SessionManager, user: str = "u1") -> list[str]:
    return [s.id for s in manager.list_for_user(user)]


# -- accounts -----------------------------------------------------------------


def test_duplicate_email_key_is_refused(store):
    assert store.add_user("a", "Ann@x.org", "ann@x.org", "h", 0) is True
    assert store.add_user("b", "ann@X.org", "ann@x.org", "h", 0) is False
    assert store.find_user("ann@x.org").email == "Ann@x.org"
    assert store.find_user_by_id("a").email == "Ann@x.org"


def test_password_hash_is_replaced_only_if_unchanged_meanwhile(store):
    store.add_user("a", "a@x.org", "a@x.org", "old", 0)
    assert store.replace_password_hash("a", "stale", "new") is False
    assert store.replace_password_hash("a", "old", "new") is True
    assert store.find_user_by_id("a").password_hash == "new"


# -- sessions: one copy, expiry inside the read ----------------------------------


def test_public_id_is_not_the_token_nor_derived_from_it(manager):
    token = login(manager)
    [listed] = manager.list_for_user("u1")
    assert listed.id != token and listed.id not in token and token not in listed.id


def test_tokens_are_256_bits_of_url_safe_text_and_never_repeat(manager):
    tokens = {login(manager) for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_malformed_tokens_are_refused_without_reaching_the_database(manager, monkeypatch):
    def boom(*args):
        raise AssertionError("database asked about a malformed token")

    monkeypatch.setattr(manager.store, "find_session", boom)
    for junk in ["", "x", "a" * 42, "a" * 44, "a" * 42 + "!", "ä" * 43, None]:
        assert manager.authenticate(junk) is None


def test_an_ended_session_is_gone_for_every_other_handle_on_the_same_database(manager, database, config, clock):
    # A second store on the same database stands for another worker or instance.
    other = SessionManager(open_store(database), config, clock)
    token, keep = login(manager), login(manager)
    assert other.authenticate(token) is not None  # used first, so any cache would hold it
    assert other.revoke_others(other.authenticate(keep), HERE) == 1
    assert manager.authenticate(token) is None
    assert manager.authenticate(keep) is not None


def test_revoke_matches_owner_and_id_together(manager):
    mine, other = login(manager), login(manager)
    me = manager.authenticate(mine)
    bob = manager.authenticate(login(manager, "u2"))
    other_id = next(i for i in ids(manager) if i != me.id)
    assert manager.revoke(bob, other_id, HERE) is Outcome.NOT_FOUND
    assert other_id in ids(manager)
    assert manager.revoke(me, other_id, HERE) is Outcome.DONE
    assert manager.revoke(me, other_id, HERE) is Outcome.NOT_FOUND  # a repeated revoke is safe
    assert manager.authenticate(other) is None
    assert ids(manager) == [me.id]


def test_revoke_never_ends_the_callers_own_session(manager):
    me = manager.authenticate(login(manager))
    assert manager.revoke(me, me.id, HERE) is Outcome.NOT_FOUND
    assert manager.authenticate(login(manager)) is not None


def test_revoke_others_leaves_other_users_alone(manager):
    keep = login(manager)
    for _ in range(3):
        login(manager)
    bob = login(manager, "u2")
    assert manager.revoke_others(manager.authenticate(keep), HERE) == 3
    assert len(manager.list_for_user("u1")) == 1
    assert manager.authenticate(bob) is not None


def test_expired_sessions_are_never_read_even_before_the_purge(manager, clock):
    token = login(manager)
    clock.advance(manager.config.idle_timeout + 1)
    assert manager.authenticate(token) is None
    assert manager.list_for_user("u1") == []


def test_purge_keeps_what_is_alive_and_what_is_still_owed_a_reason(manager, clock):
    old = login(manager)
    clock.advance(manager.config.idle_timeout + 1)
    fresh = login(manager)
    manager.purge_expired()
    assert manager.authenticate(fresh) is not None
    assert manager.why_not(old) == EXPIRED  # idled out, but not yet past its absolute timeout
    clock.advance(manager.config.absolute_timeout)
    assert manager.purge_expired() >= 2
    assert manager.why_not(old) == "unauthenticated"


def test_touch_writes_at_most_once_per_interval(manager, store, clock, monkeypatch):
    token = login(manager)
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
    token = login(manager)
    clock.advance(120)
    before = manager.authenticate(token).last_active_at
    clock.advance(-100)  # wall clock stepped back (NTP)
    assert manager.authenticate(token).last_active_at == before


def test_touch_never_revives_an_ended_session(manager, store):
    token = login(manager)
    manager.end(token, HERE)
    assert store.touch_session(hash_token(token), 10**15, 10**15, ALIVE) is False
    assert manager.authenticate(token) is None


def test_concurrent_logins_from_many_threads_lose_nothing(manager):
    tokens: list[str] = []
    lock = threading.Lock()

    def login_many():
        for _ in range(20):
            token = login(manager)
            assert manager.authenticate(token) is not None
            with lock:
                tokens.append(token)

    threads = [threading.Thread(target=login_many) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 120
    assert len(manager.list_for_user("u1")) == 120


def test_login_after_revoke_all_lives_in_the_new_generation(manager):
    keep = login(manager)
    login(manager)
    manager.revoke_others(manager.authenticate(keep), HERE)
    later = login(manager)
    assert manager.authenticate(later) is not None
    assert len(manager.list_for_user("u1")) == 2
    assert manager.revoke_others(manager.authenticate(keep), HERE) == 1
    assert manager.authenticate(later) is None


def test_retired_session_cannot_be_revoked_or_touched_back_to_life(manager, store, clock):
    keep = login(manager)
    gone = login(manager)
    me = manager.authenticate(keep)
    gone_id = next(i for i in ids(manager) if i != me.id)
    manager.revoke_others(me, HERE)
    assert manager.revoke(manager.authenticate(keep), gone_id, HERE) is Outcome.NOT_FOUND
    clock.advance(3600 * 2)
    assert store.touch_session(hash_token(gone), 10**15, 10**15, ALIVE) is False
    assert manager.authenticate(gone) is None


def test_revoke_all_counts_only_sessions_that_were_alive(manager, clock):
    login(manager)  # will be idle-expired
    clock.advance(manager.config.idle_timeout - 5)
    keep = login(manager)
    login(manager)
    clock.advance(10)
    assert manager.revoke_others(manager.authenticate(keep), HERE) == 1


# -- every ending action re-checks its caller, atomically --------------------------


def test_revoke_all_from_a_session_already_retired_does_nothing(manager):
    a, b, c = login(manager), login(manager), login(manager)
    session_a, session_b = manager.authenticate(a), manager.authenticate(b)
    assert manager.revoke_others(session_a, HERE) == 2
    # b was authenticated before a's revoke-all committed; its own must not act.
    with pytest.raises(CallerGone):
        manager.revoke_others(session_b, HERE)
    assert manager.authenticate(a) is not None
    assert manager.authenticate(b) is None and manager.authenticate(c) is None


def test_revoke_and_rename_from_an_ended_caller_are_refused(manager):
    a, b = login(manager), login(manager)
    session_a, session_b = manager.authenticate(a), manager.authenticate(b)
    manager.end(b, HERE)
    with pytest.raises(CallerGone):
        manager.revoke(session_b, session_a.id, HERE)
    with pytest.raises(CallerGone):
        manager.rename(session_b, session_a.id, "x", HERE)
    assert manager.authenticate(a) is not None


def test_of_two_concurrent_revoke_alls_exactly_one_wins(manager, database, config, clock):
    # Many trials, each with two handles on the database racing from two threads.
    handles = [SessionManager(open_store(database), config, clock) for _ in range(2)]
    for _ in range(30):
        tokens = [login(manager) for _ in range(3)]
        sessions = [handles[i].authenticate(tokens[i]) for i in range(2)]
        results: list[int | None] = [None, None]
        barrier = threading.Barrier(2)

        def race(i: int) -> None:
            barrier.wait()
            try:
                results[i] = handles[i].revoke_others(sessions[i], HERE)
            except CallerGone:
                results[i] = None  # refused: the other one retired this caller first

        threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i in range(2) if results[i] is not None]
        assert len(winners) == 1, results
        alive = [t for t in tokens if manager.authenticate(t) is not None]
        assert alive == [tokens[winners[0]]]


# -- why a session ended (EXT-REASON) -------------------------------------------------


def test_each_ending_leaves_its_own_reason(manager, store, clock):
    logged_out, revoked, retired, keep = (login(manager) for _ in range(4))
    me = manager.authenticate(keep)
    manager.end(logged_out, HERE)
    revoked_id = next(s.id for s in manager.list_for_user("u1") if manager.authenticate(revoked) and s.id == manager.authenticate(revoked).id)
    assert manager.revoke(me, revoked_id, HERE) is Outcome.DONE
    manager.revoke_others(me, HERE)
    assert manager.why_not(logged_out) == LOGGED_OUT
    assert manager.why_not(revoked) == REVOKED
    assert manager.why_not(retired) == REVOKED
    assert manager.why_not(new_token()[0]) == "unauthenticated"
    assert manager.why_not("junk") == "unauthenticated"
    assert manager.why_not(None) == "unauthenticated"


def test_a_session_that_expired_before_it_was_revoked_reads_expired(manager, clock):
    idle = login(manager)
    clock.advance(manager.config.idle_timeout + 5)
    keep = login(manager)
    manager.revoke_others(manager.authenticate(keep), HERE)
    assert manager.why_not(idle) == EXPIRED


def test_password_change_moves_the_caller_to_a_new_token_and_ends_the_rest(manager, store):
    mine, other = login(manager), login(manager)
    bob = login(manager, "u2")
    me = manager.authenticate(mine)
    token, token_hash = new_token()
    event = manager.event("password_changed", HERE)
    assert store.change_password(me.token_hash, "new-hash", token_hash, manager.cutoffs(), event) == 1
    assert store.find_user_by_id("u1").password_hash == "new-hash"
    assert manager.authenticate(mine) is None and manager.why_not(mine) == PASSWORD_CHANGED
    assert manager.authenticate(other) is None and manager.why_not(other) == PASSWORD_CHANGED
    moved = manager.authenticate(token)
    assert moved is not None and moved.id == me.id  # same public id, new token
    assert manager.authenticate(bob) is not None
    # The old token cannot change it again: exactly one change wins.
    with pytest.raises(CallerGone):
        store.change_password(me.token_hash, "other", new_token()[1], manager.cutoffs(), event)


def test_a_login_whose_checked_password_hash_changed_writes_no_session(manager, store):
    mine = login(manager)
    me = manager.authenticate(mine)
    event = manager.event("password_changed", HERE)
    store.change_password(me.token_hash, "new-hash", new_token()[1], manager.cutoffs(), event)
    logins = [e for e in store.list_events("u1", 50, None) if e.type == "login"]
    assert manager.start("u1", HERE, password_hash="scrypt$x") is None  # checked against the old hash
    assert [s.id for s in manager.list_for_user("u1")] == [me.id]
    assert [e for e in store.list_events("u1", 50, None) if e.type == "login"] == logins  # nothing logged
    token = manager.start("u1", HERE, password_hash="new-hash")
    assert token is not None and manager.authenticate(token) is not None


def test_a_login_that_ends_the_others_retires_them_in_the_same_step(manager, store):
    first, second = login(manager), login(manager)
    bob = login(manager, "u2")
    started = manager.start_alone("u1", HERE, password_hash="scrypt$x")
    assert started is not None
    token, ended = started
    me = manager.authenticate(token)
    assert ended == 2 and me is not None
    for old in (first, second):
        assert manager.authenticate(old) is None and manager.why_not(old) == REVOKED
    assert ids(manager) == [me.id]
    assert manager.authenticate(bob) is not None
    types = [(e.type, e.session_id, e.actor_session_id, e.count) for e in store.list_events("u1", 2, None)]
    assert types == [("sessions_revoked_all", None, me.id, 2), ("login", me.id, None, None)]
    # A later login in the new generation lives; a stale hash still writes nothing.
    assert manager.authenticate(login(manager)) is not None
    assert manager.start_alone("u1", HERE, password_hash="stale") is None
    assert manager.authenticate(token) is not None


# -- growth bound ---------------------------------------------------------------------------


def test_a_login_past_the_limit_ends_the_least_recently_active_session(store, database, clock):
    store.add_user("u1", "a@x.org", "a@x.org", "h", 0)
    manager = SessionManager(store, Config(db=database, max_sessions_per_user=3, scrypt_n=2), clock)
    tokens = []
    for _ in range(3):
        tokens.append(login(manager))
        clock.advance(120)
    manager.authenticate(tokens[0])  # the oldest login is now the most recently active
    newest = login(manager)
    assert len(manager.list_for_user("u1")) == 3
    assert manager.authenticate(tokens[1]) is None and manager.why_not(tokens[1]) == EXPIRED
    assert all(manager.authenticate(t) for t in (tokens[0], tokens[2], newest))


# -- names, new devices and the security log ----------------------------------------------------------


def test_rename_names_only_the_users_own_live_session(manager):
    me = manager.authenticate(login(manager))
    bob = manager.authenticate(login(manager, "u2"))
    listed = manager.rename(me, me.id, "Work laptop", HERE)
    assert listed.name == "Work laptop" and listed.device_name == "Chrome on macOS"
    assert manager.rename(bob, me.id, "mine now", HERE) is None
    assert [s.name for s in manager.list_for_user("u1")] == ["Work laptop"]
    assert manager.rename(me, me.id, None, HERE).name is None


def test_events_are_the_users_own_newest_first_and_page_by_id(manager, store):
    for _ in range(5):
        login(manager)
    login(manager, "u2")
    events = store.list_events("u1", 50, None)
    assert [e.type for e in events] == ["login"] * 5
    assert [int(e.id) for e in events] == sorted((int(e.id) for e in events), reverse=True)
    page = store.list_events("u1", 2, events[1].id)
    assert [e.id for e in page] == [events[2].id, events[3].id]
    assert len(store.list_events("u2", 50, None)) == 1


def test_ending_actions_write_their_event_in_the_same_step(manager, store):
    keep, other, _ = login(manager), login(manager), login(manager)
    me = manager.authenticate(keep)
    other_id = manager.authenticate(other).id
    manager.revoke(me, other_id, HERE)
    manager.revoke_others(me, HERE)
    manager.end(keep, HERE)
    types = [(e.type, e.session_id, e.actor_session_id, e.count) for e in store.list_events("u1", 50, None)]
    assert types[:3] == [
        ("logout", me.id, me.id, None),
        ("sessions_revoked_all", None, me.id, 1),
        ("session_revoked", other_id, me.id, None),
    ]
    # An ending refused (caller gone) writes nothing.
    with pytest.raises(CallerGone):
        manager.revoke_others(me, HERE)
    assert len(store.list_events("u1", 50, None)) == len(types)


def test_a_failing_event_write_fails_the_action(manager, store, monkeypatch):
    keep, other = login(manager), login(manager)
    bad = Event("sessions_revoked_all", 0, None, None)  # NOT NULL columns refuse it
    with pytest.raises(Exception):
        store.revoke_other_sessions(hash_token(keep), manager.cutoffs(), bad)
    assert manager.authenticate(other) is not None  # nothing was ended without its record


def test_new_device_is_a_known_account_on_an_unseen_device_name_and_ip_pair(manager, store):
    firefox = Client.of("127.0.0.1", FIREFOX_WIN)
    elsewhere = Client.of("203.0.113.9", CHROME_MAC)
    login(manager)  # the account's first login: never flagged
    login(manager)  # the same pair again
    login(manager, client=firefox)
    login(manager, client=elsewhere)
    login(manager, client=firefox)
    flags = [e.new_device for e in reversed(store.list_events("u1", 50, None))]
    assert flags == [False, False, True, True, False]
    assert sorted(s.new_device for s in manager.list_for_user("u1")) == [False, False, False, True, True]


# -- throttling counters -------------------------------------------------------------------


def throttle(store, config, clock) -> Throttle:
    return Throttle(store, dataclasses.replace(config, throttle_limit=3, throttle_lockout=60), clock)


def test_attempts_past_the_limit_are_refused_until_the_lockout_passes(store, config, clock):
    brake = throttle(store, config, clock)
    for _ in range(3):
        brake.attempt("ann@x.org", "203.0.113.1")
    with pytest.raises(TooManyAttempts) as refused:
        brake.attempt("ann@x.org", "203.0.113.1")
    assert refused.value.headers == {"Retry-After": "60"}
    clock.advance(30)
    with pytest.raises(TooManyAttempts) as still:
        brake.attempt("ann@x.org", "203.0.113.1")  # any password, and the lock is not prolonged
    assert still.value.headers == {"Retry-After": "30"}
    brake.attempt("ann@x.org", "198.51.100.7")  # another address: not affected
    brake.attempt("bob@x.org", "203.0.113.1")  # another account: not affected
    clock.advance(30)
    for _ in range(3):
        brake.attempt("ann@x.org", "203.0.113.1")  # served: counting starts afresh


def test_a_success_forgets_the_count(store, config, clock):
    brake = throttle(store, config, clock)
    for _ in range(3):
        key = brake.attempt("ann@x.org", "203.0.113.1")
    brake.succeeded(key)
    for _ in range(3):
        brake.attempt("ann@x.org", "203.0.113.1")


def test_concurrent_attempts_on_one_key_are_all_counted(store, database, config, clock):
    # One handle per thread, as workers or instances would have.
    handles = [Throttle(open_store(database), dataclasses.replace(config, throttle_limit=10), clock) for _ in range(8)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(brake: Throttle) -> None:
        for _ in range(3):
            try:
                brake.attempt("ann@x.org", "203.0.113.1")
                result = "counted"
            except TooManyAttempts:
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 24 attempts at once: exactly the limit got through, whatever the interleaving.
    assert outcomes.count("counted") == 10 and outcomes.count("refused") == 14


def test_a_verified_password_hash_is_what_accounts_store(store):
    hasher = PasswordHasher(n=2)
    store.add_user("u9", "z@x.org", "z@x.org", hasher.hash("correct horse"), 0)
    assert hasher.verify("correct horse", store.find_user("z@x.org").password_hash)


def test_a_login_whose_password_changed_after_its_check_is_refused_and_a_rehash_is_not(store, config, manager, clock):
    hasher = PasswordHasher(n=2)
    accounts = Accounts(store, hasher, manager, Throttle(store, config, clock), clock)
    accounts.signup("dee@x.org", "correct horse")
    check = accounts.check_credentials
    replaced: list[str] = []

    def check_then_replace(email: str, password: str, client: Client) -> User:
        # What a concurrent change (or rehash) does between the check and the write.
        user = check(email, password, client)
        assert store.replace_password_hash(user.id, user.password_hash, replaced[-1])
        return user

    accounts.check_credentials = check_then_replace
    replaced.append(hasher.hash("correct horse"))  # a rehash: same password, new hash
    token, _ = accounts.login("dee@x.org", "correct horse", HERE)
    assert manager.authenticate(token) is not None
    replaced.append(hasher.hash("battery staple"))  # a password change
    with pytest.raises(InvalidCredentials):
        accounts.login("dee@x.org", "correct horse", HERE, end_others=True)
    user_id = store.find_user("dee@x.org").id
    assert len(manager.list_for_user(user_id)) == 1  # nothing written, nothing ended
    assert store.list_events(user_id, 1, None)[0].type == "login_failed"
