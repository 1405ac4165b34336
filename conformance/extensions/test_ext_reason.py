"""EXT-REASON: every 401 on a protected route says why the cookie no longer works.

A server may forget why a session ended once its absolute timeout has passed;
when --absolute-timeout declares a value short enough for that to happen
during a check, "expired" and "unauthenticated" are let pass from then on.
The "expired" reason itself is checked only when --idle-timeout or
--absolute-timeout declares a timeout to wait out; without one that check
skips, saying so, and the rule is checked in part.
"""

import secrets
import time

import pytest

from conformance import expect
from conformance.client import made_up_id, random_password, session_path
from conformance.extensions.helpers import REASONS, Born, change_password, reason_of
from conformance.preconditions import precondition
from conformance.timeouts import MARGIN

pytestmark = pytest.mark.rule("EXT-REASON")

# Protected routes of the core contract, each with a request a stale cookie may send.
ROUTES = [("GET", "/me"), ("GET", "/me/sessions"), ("POST", "/me/sessions/revoke-all")]


def _expect_reason(device, token, wanted, born, why):
    """Fail unless every protected route answers the token with 401 and reason `wanted`."""
    allowed = {wanted}
    for method, path in [*ROUTES, ("DELETE", session_path(made_up_id("abcdefghijklmnopqrstuv")))]:
        response = device.request(method, path, cookie=token, follow_cookies=False)
        reason = reason_of(response, why=why)
        if born is not None and born.past_absolute():
            # Past the absolute timeout a server may have forgotten why it ended.
            allowed |= {"expired", "unauthenticated"}
        assert reason in allowed, (
            f"{method} {path}: a 401 for a session {why} must carry \"reason\": {wanted!r}, got {reason!r}"
            + ("" if reason in REASONS or reason is None else f" (not one of the contract's reasons {list(REASONS)})")
        )


def test_no_cookie_says_unauthenticated(new_device):
    device = new_device()
    for method, path in ROUTES:
        reason = reason_of(device.request(method, path, cookie=None), why="no cookie at all")
        assert reason == "unauthenticated", f"{method} {path} without a cookie: reason must be \"unauthenticated\", got {reason!r}"


def test_token_never_issued_says_unauthenticated(new_user, login):
    device = login(new_user())
    # Shaped like a token the server issues (same length and alphabet), and like a common random one.
    for forged in (made_up_id(device.token), secrets.token_urlsafe(32)):
        _expect_reason(device, forged, "unauthenticated", None, "whose token the server never issued")
    expect.alive(device)


def test_revoked_session_says_revoked(new_user, login):
    user = new_user()
    keeper, victim = login(user), login(user)
    born = Born(keeper.target.absolute_timeout)
    expect.alive(victim)
    with precondition("CORE-REVOKE", "revoking a session"):
        expect.status(keeper.revoke(expect.current_id(victim)), 200)
    _expect_reason(victim, victim.token, "revoked", born, "revoked from another session")


def test_revoke_all_says_revoked(new_user, login):
    user = new_user()
    keeper, victims = login(user), [login(user), login(user)]
    born = Born(keeper.target.absolute_timeout)
    for victim in victims:
        expect.alive(victim)
    with precondition("CORE-REVOKE-ALL", "revoking all other sessions"):
        expect.status(keeper.revoke_all(), 200)
    for victim in victims:
        _expect_reason(victim, victim.token, "revoked", born, "ended by revoke-all from another session")


def test_logged_out_session_says_logged_out(new_user, login):
    user = new_user()
    device = login(user)
    born = Born(device.target.absolute_timeout)
    expect.alive(device)
    token = device.token
    with precondition("CORE-LOGOUT", "logging out"):
        expect.status(device.logout(), 200)
    _expect_reason(device, token, "logged_out", born, "ended by POST /logout")


@pytest.mark.usefixtures("own_accounts")
def test_password_change_says_password_changed(new_user, login):
    user = new_user()
    actor, other = login(user), login(user)
    born = Born(actor.target.absolute_timeout)
    expect.alive(other)
    expect.alive(actor)
    old_token = actor.token
    with precondition("EXT-PASSWORD", "changing the password"):
        expect.status(change_password(actor, user.password, random_password()), 200)
        expect.alive(actor)
    _expect_reason(other, other.token, "password_changed", born, "ended by a password change elsewhere")
    _expect_reason(actor, old_token, "password_changed", born, "whose token a password change replaced")


def test_expired_session_says_expired(new_user, login, target):
    declared = [value for value in (target.idle_timeout, target.absolute_timeout) if value is not None]
    if not declared:
        pytest.skip(
            "not fully checked: the \"expired\" reason needs a timeout to wait out; "
            "declare the target's with --idle-timeout S or --absolute-timeout S"
        )
    device = login(new_user())
    expect.alive(device)
    wait = min(declared)
    if wait == target.idle_timeout:
        wait += target.touch_interval or 0
    time.sleep(wait + MARGIN)
    reason = reason_of(device.me(follow_cookies=False), why=f"unused for {wait:g} s, past a declared timeout")
    assert reason == "expired", f"a session past its timeout must say \"reason\": \"expired\", got {reason!r}"
