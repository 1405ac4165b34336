"""Logins under concurrency, through real servers on both backends (EXT-PASSWORD, EXT-RECOVER).

Two ways a login used to let an attacker win, each tried many times against
two servers on one database (two worker processes on one SQLite file; two
instances on one PostgreSQL database), every request to either of them:

- A login with the old password in flight during a password change must
  never leave a session alive after the change: the password a login checked
  must still be the user's when its session is written, or it answers 401.
- A thief holding only a cookie and looping on revoke-all cannot keep the
  owner out: the owner's first login with `"endOtherSessions": true` wins,
  and the thief's cookie is 401 from its next request.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from . import postgres
from .servers import running_server
from .test_instances import instances

PASSWORD_TRIALS = 10
RECOVER_TRIALS = 6
OLD, NEW = "correct horse", "battery staple"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def servers(request, tmp_path_factory) -> Iterator[list[str]]:
    """Two servers on one database: two worker processes on SQLite, two instances on PostgreSQL."""
    workdir = tmp_path_factory.mktemp(f"login-races-{request.param}")
    if request.param == "sqlite":
        with running_server(workdir, workers=2, args=["--threads", "4"]) as url:
            yield [url, url]
    else:
        with instances(workdir, postgres.postgres_database(), 2) as urls:
            yield urls


def new_user(url: str) -> str:
    email = f"race-{uuid.uuid4().hex[:10]}@example.com"
    assert requests.post(f"{url}/signup", json={"email": email, "password": OLD}, timeout=30).status_code == 201
    return email


def device(agent: str) -> requests.Session:
    http = requests.Session()
    http.headers["User-Agent"] = agent
    return http


def login(http: requests.Session, url: str, email: str, password: str, **extra) -> requests.Response:
    return http.post(f"{url}/login", json={"email": email, "password": password, **extra}, timeout=30)


def status_of_me(http: requests.Session, url: str) -> int:
    return http.get(f"{url}/me", timeout=30).status_code


def test_no_login_with_the_old_password_survives_a_password_change_whatever_the_interleaving(servers):
    a, b = servers
    bad_trials: list[str] = []
    late_200s = in_flight_200s = 0
    for trial in range(PASSWORD_TRIALS):
        email = new_user(a)
        owner = device("owner")
        assert login(owner, a, email, OLD).status_code == 200
        logins = [device(f"racer-{i}") for i in range(3)]
        answers: list[tuple[int, float, float] | None] = [None] * 3  # status, sent, answered
        changed: list[float] = []
        barrier = threading.Barrier(4)

        def race(i: int) -> None:
            barrier.wait()
            # Spread over the change's own work (its two scrypt runs), so
            # that some logins check the old hash before it commits and
            # write their session after.
            time.sleep(i * 0.002)
            sent = time.monotonic()
            status = login(logins[i], (a, b)[i % 2], email, OLD).status_code
            answers[i] = (status, sent, time.monotonic())

        def change() -> None:
            barrier.wait()
            response = owner.post(f"{a}/me/password", json={"currentPassword": OLD, "newPassword": NEW}, timeout=30)
            assert response.status_code == 200, response.text
            changed.append(time.monotonic())

        threads = [threading.Thread(target=race, args=(i,)) for i in range(3)] + [threading.Thread(target=change)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert changed, "the password change did not answer 200"
        # A login sent after the change's 200 meets the new password only.
        assert login(device("late"), b, email, OLD).status_code == 401
        listed = owner.get(f"{b}/me/sessions", timeout=30).json()
        problems = []
        for i, answer in enumerate(answers):
            assert answer is not None and answer[0] in (200, 401), f"trial {trial}: login {i} answered {answer}"
            status, sent, answered = answer
            if status != 200:
                continue
            in_flight_200s += 1
            late_200s += answered > changed[0]
            alive = [status_of_me(logins[i], url) for url in (a, b)]
            if alive != [401, 401]:
                problems.append(f"login {i} answered 200 and its session is alive after the change ({alive})")
        if [s["isCurrent"] for s in listed] != [True]:
            problems.append(f"the owner's list shows {len(listed) - 1} sessions besides its own")
        if problems:
            bad_trials.append(f"trial {trial}: " + "; ".join(problems))
    print(
        f"\n{PASSWORD_TRIALS} trials of 3 old-password logins racing a password change: "
        f"{len(bad_trials)} left a session alive; {in_flight_200s} logins answered 200 "
        f"({late_200s} of them received after the change's 200)"
    )
    assert not bad_trials, "\n".join(bad_trials)
