"""Ending actions under concurrency, through the real server and its worker processes.

"After revoke-all answers 200, every other session is dead" must hold
whatever else is in flight: two revoke-alls from two sessions of one user
(exactly one 200, the other 401), and a thief's session looping on
revoke-all while its owner signs out everywhere else.
"""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
import requests

from .servers import running_server

TRIALS = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("races"), workers=2, args=["--threads", "4"]) as url:
        yield url


def login(url: str, email: str, agent: str) -> requests.Session:
    device = requests.Session()
    device.headers["User-Agent"] = agent
    assert device.post(f"{url}/login", json={"email": email, "password": "correct horse"}, timeout=10).status_code == 200
    return device


def signup(url: str, email: str) -> None:
    assert requests.post(f"{url}/signup", json={"email": email, "password": "correct horse"}, timeout=10).status_code == 201


def me(device: requests.Session, url: str) -> int:
    return device.get(f"{url}/me", timeout=10).status_code


def test_of_two_concurrent_revoke_alls_exactly_one_answers_200_and_only_it_lives(server):
    outcomes = {"first": 0, "second": 0}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for trial in range(TRIALS):
            email = f"race{trial}@example.com"
            signup(server, email)
            a, b, c = (login(server, email, f"agent-{i}") for i in range(3))
            for device in (a, b, c):
                assert me(device, server) == 200  # every session in use first
            barrier = threading.Barrier(2)

            def revoke_all(device: requests.Session) -> int:
                barrier.wait()
                return device.post(f"{server}/me/sessions/revoke-all", timeout=10).status_code

            statuses = list(pool.map(revoke_all, (a, b)))
            assert sorted(statuses) == [200, 401], f"trial {trial}: {statuses}"
            winner, loser = (a, b) if statuses[0] == 200 else (b, a)
            outcomes["first" if winner is a else "second"] += 1
            assert me(winner, server) == 200
            assert me(loser, server) == 401 and me(c, server) == 401
            listed = winner.get(f"{server}/me/sessions", timeout=10).json()
            assert [s["isCurrent"] for s in listed] == [True]
    print(f"\n{TRIALS} trials of two concurrent revoke-alls: exactly one 200 each time; winners {outcomes}")


def test_a_session_looping_on_revoke_all_never_survives_its_owners(server):
    for trial in range(TRIALS // 4):
        email = f"thief{trial}@example.com"
        signup(server, email)
        owner, thief = login(server, email, "owner"), login(server, email, "thief")
        assert me(owner, server) == 200 and me(thief, server) == 200
        stop = threading.Event()
        thief_wins: list[int] = []

        def loop() -> None:
            while not stop.is_set():
                status = thief.post(f"{server}/me/sessions/revoke-all", timeout=10).status_code
                if status == 401:
                    return
                thief_wins.append(status)

        looper = threading.Thread(target=loop)
        looper.start()
        try:
            status = owner.post(f"{server}/me/sessions/revoke-all", timeout=10).status_code
        finally:
            stop.set()
            looper.join(timeout=20)
        # Whoever got the last 200 is the one alive; if the owner got 200, the thief is dead.
        if status == 200:
            assert me(thief, server) == 401, f"trial {trial}: the thief survived the owner's revoke-all"
            assert me(owner, server) == 200
        else:
            assert status == 401 and me(owner, server) == 401 and me(thief, server) == 200
