"""EXT-RECOVER: POST /login with "endOtherSessions": true creates the session and ends every other one, atomically.

The case the rule exists for: a thief holding only a cookie loops on
POST /me/sessions/revoke-all, so that every session its owner opens is ended
before it can be used. Logging in and then revoking all loses that race; the
recovery login must win it the first time, and the thief's cookie must be 401
from its next request. A server that creates the session and then ends the
others in a second step (a revoke-all of its own) lets the thief's revoke-all
land in between: the owner's new session dies, and the thief lives on.

These checks end every session of an account, so they run only on accounts
the suite signs up itself (never on --user accounts).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from conformance import expect
from conformance.client import Device, User
from conformance.extensions.helpers import events, reason_of
from conformance.preconditions import precondition

pytestmark = [pytest.mark.rule("EXT-RECOVER"), pytest.mark.usefixtures("own_accounts")]

# Recovery logins per thief check, each against a fresh thief loop: a server
# that is not atomic loses some of them, a correct one none.
THIEF_ROUNDS = 3
THIEF_LOOPS = 3
# A loop stops at its first 401; these bound it on a server where the thief never loses.
THIEF_MAX_REQUESTS = 300
THIEF_MAX_SECONDS = 15.0


def recover(device: Device, user: User, end_others: Any = True, **kwargs: Any) -> Any:
    """POST /login with endOtherSessions; on success the device holds the new token."""
    body = {"email": user.email, "password": user.password, "endOtherSessions": end_others}
    return device.post("/login", json=body, **kwargs)


def _check_ended(device: Device, why: str) -> None:
    """The session is 401 (with `reason` "revoked" when the server says why at all: EXT-REASON)."""
    reason = reason_of(device.me(follow_cookies=False), why=why)
    assert reason in (None, "revoked"), f"{why}: a session ended this way is `revoked`, the 401 said {reason!r}"


def test_recovery_login_ends_every_other_session_of_the_user(new_user, login, new_device, agents):
    user, stranger = new_user(), new_user()
    others = [login(user, agents[0]), login(user, agents[1]), login(user, agents[2])]
    bystander = login(stranger, agents[1])
    for device in [*others, bystander]:
        expect.alive(device)  # used first, so any cache or second copy holds it
    owner = new_device(agents[0], label="owner (recovery login)")
    response = recover(owner, user)
    body = expect.ok_object(response, why="a login with \"endOtherSessions\": true and the right password")
    assert owner.session_cookie(response) is not None and owner.token, "the recovery login must set a session cookie"
    if "revoked" in body:
        assert body["revoked"] == len(others) and not isinstance(body["revoked"], bool), (
            f"\"revoked\" must count the other sessions that ended ({len(others)}), got {body!r}"
        )
    expect.alive(owner, why="the session the recovery login created")
    for device in others:
        _check_ended(device, "every session of the user that existed before the recovery login")
    expect.alive(bystander, why="another user's session is untouched")
    ids = expect.listed_ids(owner)
    assert ids == [expect.current_id(owner)], f"after a recovery login the list must hold its session only, got {ids}"
    # A login after it is an ordinary one, and lives beside it.
    later = login(user, agents[1])
    expect.alive(later)
    expect.alive(owner)


def test_endothersessions_false_is_an_ordinary_login(new_user, login, new_device):
    user = new_user()
    other = login(user)
    expect.alive(other)
    device = new_device()
    expect.status(recover(device, user, end_others=False), 200)
    expect.alive(device)
    expect.alive(other, why="\"endOtherSessions\": false ends nothing")


@pytest.mark.parametrize("value", ["true", 1, 0, None, [], {}], ids=["string", "one", "zero", "null", "array", "object"])
def test_non_boolean_endothersessions_gets_400_and_changes_nothing(new_user, login, new_device, value):
    user = new_user()
    other = login(user)
    expect.alive(other)
    device = new_device()
    response = recover(device, user, end_others=value, follow_cookies=False)
    expect.error(response, 400, why=f"\"endOtherSessions\": {value!r} is not a boolean")
    assert device.session_cookie(response) is None or not device.session_cookie(response)[0], (
        "a refused login must not set a session cookie"
    )
    expect.alive(other, why="a refused recovery login ends nothing")


def test_wrong_password_with_endothersessions_gets_401_and_ends_nothing(new_user, login, new_device):
    user = new_user()
    other = login(user)
    expect.alive(other)
    response = new_device().post(
        "/login", json={"email": user.email, "password": user.password + "-wrong", "endOtherSessions": True}
    )
    expect.error(response, 401, why="a wrong password, with \"endOtherSessions\": true")
    expect.alive(other, why="a refused recovery login ends nothing")


def test_security_log_records_the_login_and_one_sessions_revoked_all(new_user, login, new_device):
    user = new_user()
    others = [login(user), login(user)]
    for device in others:
        expect.alive(device)
    owner = new_device(label="owner (recovery login)")
    expect.status(recover(owner, user), 200)
    mine = expect.current_id(owner)
    with precondition("EXT-ACTIVITY", "reading the security log"):
        recent = events(owner, limit=2)
    kinds = [item.get("type") for item in recent]
    assert kinds == ["sessions_revoked_all", "login"], (
        f"a recovery login writes `login` then one `sessions_revoked_all` (newest first), the log's last two are {kinds}"
    )
    revoked_all, logged_in = recent
    assert str(logged_in.get("sessionId")) == mine, f"the `login` event names the new session: {logged_in!r}"
    assert str(revoked_all.get("actorSessionId")) == mine, (
        f"the `sessions_revoked_all` event's actorSessionId is the new session ({mine}): {revoked_all!r}"
    )
    assert revoked_all.get("count") == len(others), f"its count is the sessions ended ({len(others)}): {revoked_all!r}"


class ThiefLoop:
    """Loop on POST /me/sessions/revoke-all with one stolen cookie from several threads, each until its first 401."""

    def __init__(self, thieves: list[Device], token: str) -> None:
        self.thieves = thieves
        self.token = token
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent: list[tuple[float, int]] = []  # when each request was sent, and its status
        self.threads = [threading.Thread(target=self._loop, args=(thief,), daemon=True) for thief in thieves]
        self.errors: list[BaseException] = []

    def _loop(self, thief: Device) -> None:
        deadline = time.monotonic() + THIEF_MAX_SECONDS
        try:
            for _ in range(THIEF_MAX_REQUESTS):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                sent = time.monotonic()
                status = thief.revoke_all(cookie=self.token, follow_cookies=False).status_code
                with self.lock:
                    self.sent.append((sent, status))
                if status == 401:
                    return
        except BaseException as exc:  # reported by the check, not lost in a thread
            self.errors.append(exc)

    def __enter__(self) -> "ThiefLoop":
        for thread in self.threads:
            thread.start()
        # The owner starts once the thief is in full swing.
        deadline = time.monotonic() + THIEF_MAX_SECONDS
        while len(self.sent) < len(self.threads) and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def wait(self, seconds: float) -> bool:
        """Wait for every loop to stop by itself; True if they all did."""
        deadline = time.monotonic() + seconds
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self.threads)

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(THIEF_MAX_SECONDS)


def test_thief_looping_on_revoke_all_loses_to_the_first_recovery_login(new_user, login, new_device, agents):
    for round_ in range(1, THIEF_ROUNDS + 1):
        user = new_user()
        stolen = login(user, agents[2], label=f"thief's session (round {round_})")
        expect.alive(stolen)
        thieves = [new_device(agents[2], label=f"thief loop {i + 1} (round {round_})") for i in range(THIEF_LOOPS)]
        with ThiefLoop(thieves, stolen.token) as thief:
            with precondition("CORE-REVOKE-ALL", "the thief's revoke-all loop running before the owner logs in"):
                assert thief.sent and all(status == 200 for _, status in thief.sent), (
                    f"revoke-all from the thief's session answered {[status for _, status in thief.sent[:5]]}"
                )
            owner = new_device(agents[0], label=f"owner (round {round_})")
            expect.status(recover(owner, user), 200, why=f"round {round_}: the owner's recovery login")
            won_at = time.monotonic()
            expect.alive(owner, why=f"round {round_}: the owner's first recovery login must win against the thief's loop")
            stopped = thief.wait(THIEF_MAX_SECONDS)
            late = [status for sent, status in thief.sent if sent > won_at and status != 401]
            assert not late, (
                f"round {round_}: revoke-alls the thief sent after the recovery login's 200 answered {late}: "
                "its session must be over from its next request"
            )
            assert stopped, f"round {round_}: the thief's loop was never refused: its session outlived the recovery login"
        assert not thief.errors, f"round {round_}: the thief's loop could not reach the target: {thief.errors[0]}"
        _check_ended(stolen, f"round {round_}: the thief's cookie after the recovery login")
        expect.alive(owner, why=f"round {round_}: the owner's session after the thief gave up")
