"""EXT-PASSWORD: POST /me/password changes the password, ends every other session, and rotates the current token.

A login with the old password in flight while the password changes must not
leave a session behind: the password a login checked must still be the
user's when its session is written. The race check asserts only what holds
whatever the interleaving (every such session is dead after the change; the
old password sent after the change's 200 is refused), so it never fails a
correct server; it spreads its logins over the time the server takes to
check a password, so a server that checks outside the step that writes the
session is caught in most runs, and one with a wider gap in every run.

These checks change passwords, so they run only on accounts the suite signs up
itself (never on --user accounts). Cross-site refusal of this route belongs to
HARD-CSRF, not to these checks.
"""

import threading
import time

import pytest

from conformance import expect
from conformance.client import random_password
from conformance.extensions.helpers import change_password, with_password
from conformance.preconditions import precondition

pytestmark = [pytest.mark.rule("EXT-PASSWORD"), pytest.mark.usefixtures("own_accounts")]


def _new_password():
    return random_password() + "-new"


def test_password_change_answers_200_and_counts_revoked(new_user, login, agents):
    user = new_user()
    actor = login(user, agents[0])
    others = [login(user, agents[1]), login(user, agents[2])]
    for device in [actor, *others]:
        expect.alive(device)
    body = expect.ok_object(change_password(actor, user.password, _new_password()))
    revoked = body.get("revoked")
    assert isinstance(revoked, int) and not isinstance(revoked, bool) and revoked == len(others), (
        f"\"revoked\" must count the other sessions that ended ({len(others)}), got {body!r}"
    )


def test_password_change_ends_every_other_session(new_user, login, agents):
    user, stranger = new_user(), new_user()
    actor = login(user, agents[0])
    others = [login(user, agents[1]), login(user, agents[2]), login(user, agents[0])]
    bystander = login(stranger, agents[1])
    # Each used first, so any cache or second copy holds it.
    for device in [actor, *others, bystander]:
        expect.alive(device)
    expect.status(change_password(actor, user.password, _new_password()), 200)
    for device in others:
        expect.dead(device, why="a password change ends every other session of the user at once")
    expect.alive(bystander, why="another user's session is untouched by this user's password change")
    ids = expect.listed_ids(actor)
    assert len(ids) == 1, f"after a password change the list must hold the current session only, got {ids}"


def test_current_session_goes_on_under_a_new_token(new_user, login):
    user = new_user()
    actor = login(user)
    expect.alive(actor)
    session_id = expect.current_id(actor)
    old_token = actor.token
    response = change_password(actor, user.password, _new_password())
    expect.status(response, 200)
    cookie = actor.session_cookie(response)
    assert cookie is not None and cookie[0], (
        f"a password change must set a new `{actor.target.cookie_name}` cookie for the current session"
    )
    assert cookie[0] != old_token, "the cookie set by a password change must be a new token, not the old one"
    expect.dead(actor, token=old_token, why="the old token of the session that changed the password")
    expect.alive(actor, why="the current session goes on under the new token")
    expect.dead(actor, token=old_token, why="the old token stays dead once the new one is in use")
    assert expect.current_id(actor) == session_id, (
        "the session that changed the password keeps its public id in the list"
    )


def test_login_works_with_new_password_and_not_the_old(new_user, login, new_device):
    user = new_user()
    actor = login(user)
    new_password = _new_password()
    expect.status(change_password(actor, user.password, new_password), 200)
    expect.error(new_device().login(user.email, user.password), 401, why="the old password no longer logs in")
    device = new_device()
    expect.status(device.login(user.email, new_password), 200, why="the new password logs in")
    expect.alive(device)


BAD_BODIES = {
    "not-json": b"currentPassword=x&newPassword=y",
    "json-array": ["current", "new-password-1"],
    "json-string": "change it",
    "no-current": {"newPassword": "new-password-1"},
    "no-new": {"currentPassword": "CURRENT"},
    "current-not-string": {"currentPassword": 12345678, "newPassword": "new-password-1"},
    "current-null": {"currentPassword": None, "newPassword": "new-password-1"},
    "new-not-string": {"currentPassword": "CURRENT", "newPassword": 1234567890},
    "new-null": {"currentPassword": "CURRENT", "newPassword": None},
    # Seven characters, with the right current password: the length alone is wrong.
    "new-too-short": {"currentPassword": "CURRENT", "newPassword": "short-7"},
}


def _fill(body, password):
    if isinstance(body, dict):
        return {key: password if value == "CURRENT" else value for key, value in body.items()}
    return body


@pytest.mark.parametrize("case", BAD_BODIES)
def test_bad_password_change_body_gets_400_and_changes_nothing(new_user, login, new_device, case):
    user = new_user()
    actor, other = login(user), login(user)
    expect.alive(other)
    token = actor.token
    body = _fill(BAD_BODIES[case], user.password)
    if isinstance(body, bytes):
        response = actor.post("/me/password", data=body, headers={"Content-Type": "application/json"}, follow_cookies=False)
    else:
        response = actor.post("/me/password", json=body, follow_cookies=False)
    expect.error(response, 400, why=case)
    expect.alive(actor, why="a refused password change leaves the current token working")
    assert actor.token == token
    expect.alive(other, why="a refused password change ends no session")
    expect.status(new_device().login(user.email, user.password), 200, why="a refused password change changes nothing")


def test_wrong_current_password_gets_403_and_changes_nothing(new_user, login, new_device):
    user = new_user()
    actor, other = login(user), login(user)
    expect.alive(other)
    token = actor.token
    proposed = _new_password()
    response = change_password(actor, user.password + "-wrong", proposed, follow_cookies=False)
    expect.error(response, 403, why="the current password is incorrect")
    expect.alive(actor, why="a refused password change leaves the current token working")
    assert actor.token == token
    expect.alive(other, why="a refused password change ends no session")
    expect.error(new_device().login(user.email, proposed), 401, why="the refused new password was not set")
    expect.status(new_device().login(user.email, user.password), 200, why="the old password still works")


def test_password_change_without_session_gets_401(new_user, login, new_device):
    user = new_user()
    keeper = login(user)
    response = change_password(new_device(), user.password, _new_password(), cookie=None)
    expect.error(response, 401)
    expect.alive(keeper, why="an unauthenticated password change changes nothing")
    with precondition("CORE-LOGIN", "logging in with the unchanged password"):
        expect.status(new_device().login(user.email, user.password), 200)


def test_second_change_works_from_the_rotated_session(new_user, login, new_device):
    # The rotated token is a full session: it can change the password again.
    user = new_user()
    actor = login(user)
    first, second = _new_password(), _new_password()
    expect.status(change_password(actor, user.password, first), 200)
    body = expect.ok_object(change_password(actor, first, second), why="the session goes on under its new token")
    assert body.get("revoked") == 0, f"no other session was alive, so \"revoked\" must be 0, got {body!r}"
    user = with_password(user, second)
    expect.status(new_device().login(user.email, user.password), 200)


# A few trials of a few logins: enough for a login that checks the password
# outside the step that writes its session to be caught in one, while a
# correct server passes whatever the interleaving (the check asserts nothing
# that depends on timing).
RACE_TRIALS = 3
# When each racing login is sent, in password checks (one login's time) after the change.
SPREAD = (-0.5, 0.0, 0.5, 0.75, 1.0)
RACE_LOGINS = len(SPREAD)


def test_no_login_with_the_old_password_outlives_a_concurrent_change(new_user, login, new_device, agents):
    for trial in range(1, RACE_TRIALS + 1):
        user = new_user()
        began = time.monotonic()
        actor = login(user, agents[0], label=f"owner (trial {trial})")
        # About what one password check costs this server: a change does two
        # (the current password, the new one's hash) before it is written.
        check = time.monotonic() - began
        expect.alive(actor)
        racers = [new_device(agents[1], label=f"old-password login {i + 1} (trial {trial})") for i in range(RACE_LOGINS)]
        statuses: list[int | None] = [None] * RACE_LOGINS
        failures: list[BaseException] = []
        start = threading.Barrier(RACE_LOGINS + 1)

        def race(i: int) -> None:
            try:
                start.wait()
                # Spread from before the change is sent to over its own work,
                # so that some login checks the old password just before the
                # change is written and writes its session just after.
                time.sleep(check * (SPREAD[i] - SPREAD[0]))
                statuses[i] = racers[i].login(user.email, user.password).status_code
            except BaseException as exc:  # reported below, not lost in a thread
                failures.append(exc)

        threads = [threading.Thread(target=race, args=(i,), daemon=True) for i in range(RACE_LOGINS)]
        for thread in threads:
            thread.start()
        start.wait()
        new_password = _new_password()
        time.sleep(check * -SPREAD[0])
        response = change_password(actor, user.password, new_password)
        for thread in threads:
            thread.join()
        assert not failures, f"trial {trial}: a racing login could not reach the target: {failures[0]}"
        expect.status(response, 200, why=f"trial {trial}: the password change racing {RACE_LOGINS} logins")
        unexpected = [status for status in statuses if status not in (200, 401)]
        assert not unexpected, f"trial {trial}: logins with the old password answered {statuses}: only 200 or 401 fit"
        # Sent after the change's 200: the old password is no longer current.
        expect.error(new_device().login(user.email, user.password), 401, why=f"trial {trial}: the old password after the change")
        for racer, status in zip(racers, statuses):
            if status == 200:
                expect.dead(
                    racer,
                    why=f"trial {trial}: a login with the old password that raced the change answered 200; "
                    "its session must not outlive the change (it was written after the change, or the change ended it)",
                )
        ids = expect.listed_ids(actor)
        assert len(ids) == 1, f"trial {trial}: after the change the list must hold the owner's session only, got {ids}"
