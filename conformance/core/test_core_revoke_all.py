"""CORE-REVOKE-ALL: POST /me/sessions/revoke-all ends every other session of the user, and only those.

Every check that a revoke-all ends sessions first uses them (see
conformance/endings.py): a cache or second copy of sessions holds only
sessions that were used.
"""

import secrets
import threading

import pytest

from conformance import endings, expect
from conformance.client import TransportError

pytestmark = pytest.mark.rule("CORE-REVOKE-ALL")

# Concurrent trials of two revoke-alls from two sessions of one user. A server
# that authenticates in one transaction and ends sessions in another lets both
# through in most trials (both callers are alive when each is checked); ten
# keep the check to a second or two on a server that gets it right.
RACE_TRIALS = 10
RACE_TIMEOUT = 30.0


def test_revoke_all_answers_200_and_ends_every_other_session(new_user, login):
    user = new_user()
    keeper, *others = login(user), login(user), login(user)
    endings.use(*others)
    other_ids = [expect.current_id(other) for other in others]
    expect.ok_object(keeper.revoke_all())
    endings.kept_after_revoke_all(keeper)
    endings.all_over(list(zip(others, other_ids)), "revoke-all ends every other session at once", observer=keeper)
    for other in others:
        expect.error(other.sessions(follow_cookies=False), 401, why="revoke-all ends every other session at once")


def test_revoke_all_leaves_only_the_current_session_listed(new_user, login):
    user = new_user()
    keeper, *others = login(user), login(user), login(user)
    endings.use(*others)
    keeper_id = expect.current_id(keeper)
    expect.status(keeper.revoke_all(), 200)
    endings.kept_after_revoke_all(keeper)
    entries = expect.session_list(keeper)
    assert [str(entry["id"]) for entry in entries] == [keeper_id], (
        f"after revoke-all the list must hold only the current session {keeper_id}, got {entries!r}"
    )
    assert entries[0].get("isCurrent") is True, "the remaining session is the current one"


def test_revoke_all_leaves_other_users_sessions_alone(new_user, login):
    user, other = new_user(), new_user()
    keeper, _ = login(user), login(user)
    other_devices = [login(other), login(other)]
    endings.use(*other_devices)
    expect.status(keeper.revoke_all(), 200)
    for device in other_devices:
        expect.alive(device, why="revoke-all must not touch another user's sessions")
    assert len(expect.listed_ids(other_devices[0])) == 2, "another user's sessions must all still be listed"


def test_revoke_all_without_other_sessions_answers_200(new_user, login):
    device = login(new_user())
    expect.ok_object(device.revoke_all())
    endings.kept_after_revoke_all(device)


def test_revoke_all_without_valid_cookie_gets_401(new_user, login, new_device):
    user = new_user()
    devices = [login(user), login(user)]
    expect.error(new_device().revoke_all(cookie=None), 401)
    expect.error(new_device().revoke_all(cookie=secrets.token_urlsafe(32)), 401)
    for device in devices:
        expect.alive(device, why="an unauthenticated revoke-all must not act")


def test_new_login_after_revoke_all_works(new_user, login):
    user = new_user()
    keeper, other = login(user), login(user)
    endings.use(other)
    expect.status(keeper.revoke_all(), 200)
    endings.kept_after_revoke_all(keeper)
    newcomer = login(user)
    expect.alive(newcomer, why="revoke-all ends existing sessions, not future logins")
    expect.alive(keeper)
    assert len(expect.listed_ids(keeper)) == 2, "the list must hold the current session and the new login"
    endings.over(other, "revoke-all ended this session; a later login must not bring it back")


def _send_together(devices, send):
    """Send send(device) from every device in its own thread, released together by a barrier; return the answers.

    An answer is a response, or the TransportError of a request that got none.
    """
    barrier = threading.Barrier(len(devices))
    answers = [None] * len(devices)

    def run(index, device):
        try:
            barrier.wait(timeout=RACE_TIMEOUT)
            answers[index] = send(device)
        except (TransportError, threading.BrokenBarrierError) as exc:
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i, device), daemon=True) for i, device in enumerate(devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RACE_TIMEOUT)
    return answers


def test_simultaneous_revoke_alls_leave_one_winner_signed_in(new_user, login):
    user = new_user()
    for trial in range(1, RACE_TRIALS + 1):
        racers = [login(user), login(user)]
        bystander = login(user)
        # In use, with their connections open, so that the two requests leave at once.
        endings.use(*racers, bystander)
        answers = _send_together(racers, lambda device: device.revoke_all(follow_cookies=False))
        for racer, answer in zip(racers, answers):
            if not hasattr(answer, "status_code"):
                raise AssertionError(f"trial {trial}: the revoke-all of {racer.label} got no answer: {answer}")
        statuses = [answer.status_code for answer in answers]
        winners = [racer for racer, answer in zip(racers, answers) if answer.status_code == 200]
        assert len(winners) <= 1, (
            f"trial {trial} of {RACE_TRIALS}: two revoke-alls sent at the same moment from two sessions of one "
            f"user both answered 200 (statuses {statuses}): the second caller's session was ended by the first, "
            "so it had no right to act any more. Check the caller and end the others in one transaction."
        )
        if not winners:
            continue
        winner = winners[0]
        expect.alive(winner, why=f"trial {trial}: its revoke-all answered 200, so it stays signed in")
        for device in [*racers, bystander]:
            if device is not winner:
                endings.over(device, f"trial {trial}: the revoke-all of {winner.label} answered 200")
        # Leave the account clean for the next trial.
        expect.status(winner.logout(), 200)
