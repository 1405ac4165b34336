"""The exploration's model says what docs/sessions-api.md says, on the contract's own examples, with no server.

Each test plays a sequence the contract writes out (the lesson's three
exercises, EXT-REASON's reasons, EXT-RECOVER, EXT-PASSWORD) as the answers a
conforming server gives, and expects no problem; then the same sequence with
one answer a broken server gives, and expects the rule the contract names.
A model that accepted everything would pass the first half and fail the second.
"""

from __future__ import annotations

import itertools

from conformance import rules
from conformance.explore.model import Answer, Model

EMAIL, PASSWORD, NEW_PASSWORD = "ada@example.com", "correct horse battery", "staple battery horse"
FIREFOX, CHROME, CURL = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", \
    "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", "curl/8.5.0"
ERROR = {"error": "Not authenticated."}
NAMES = {FIREFOX: "Firefox on Linux", CHROME: "Chrome on Windows", CURL: "curl"}


class Server:
    """Plays a conforming server's answers into a model, one step at a time, and collects the problems."""

    def __init__(self, level: str = rules.CORE, agents: tuple[str, ...] = (FIREFOX, CHROME, CURL)) -> None:
        self.model = Model(level, [(EMAIL, PASSWORD), ("bob@example.com", "bobs own password")], list(agents))
        self.tokens = (f"tok{n:030d}" for n in itertools.count(1))
        self.ids = (f"s{n}" for n in itertools.count(1))
        self.public: dict[int, str] = {}  # model session key -> the server's public id

    def step(self, rule: str | None = None) -> None:
        # As the runner does: each step is numbered and names its rule; the looks after it keep its number.
        self.model.step += 1
        self.model.current_rule = rule

    def signup(self, user: int = 0) -> list:
        self.step("CORE-SIGNUP")
        return self.model.signup(user, Answer(201, {"id": str(100 + user)}))

    def login(self, device: int, user: int = 0, password: str = PASSWORD, end_others: bool | None = None,
              revoked: int | None = None) -> list:
        self.step("EXT-RECOVER" if end_others else "CORE-LOGIN")
        body = {"message": "Logged in."} if revoked is None else {"message": "Logged in.", "revoked": revoked}
        problems = self.model.login(device, user, password, Answer(200, body, cookie=next(self.tokens)), end_others)
        session = self.model.session_of(device)
        if session is not None and session.key not in self.public:
            self.public[session.key] = next(self.ids)
        return problems

    def listing(self, device: int) -> list[dict]:
        """What a conforming list shows the device: the user's live sessions, most recent first."""
        current = self.model.session_of(device)
        alive = self.model.alive_sessions(current.user)
        return [self.entry(s, s is current) for s in alive]

    def entry(self, session, current: bool) -> dict:
        item = {"id": self.public[session.key], "deviceName": NAMES[session.agent],
                "createdAt": "2026-12-06T10:00:00Z", "lastActiveAt": "2026-12-06T10:00:00Z", "isCurrent": current}
        if self.model.extensions:
            item.update(name=None, newDevice=bool(session.new_device))
        return item

    def list(self, device: int, body: list[dict] | None = None, status: int = 200, look: bool = False) -> list:
        if not look:
            self.step("CORE-LIST")
        return self.model.list(device, Answer(status, self.listing(device) if body is None else body))

    def learn(self) -> None:
        """Every device lists its sessions (each list tells the model its current session's public id)."""
        for device in range(len(self.model.devices)):
            if self.model.live_session_of(device) is not None:
                assert self.list(device) == []

    def me(self, device: int, status: int = 200, body: dict | None = None, look: bool = False) -> list:
        if not look:
            self.step("CORE-ME")
        if body is None:
            session = self.model.session_of(device)
            user = self.model.accounts[session.user if session is not None else 0]
            body = {"id": user.id, "email": user.email} if status == 200 else ERROR
        return self.model.me(device, Answer(status, body))

    def public_id(self, device: int) -> str:
        return self.public[self.model.session_of(device).key]


def rules_of(problems: list) -> list[str]:
    return [problem.rule for problem in problems]


def two_devices() -> Server:
    server = Server()
    assert server.signup() == []
    assert server.login(0) == [] and server.login(1) == []
    return server


# --- CORE-EX1 -----------------------------------------------------------------------------------

def test_two_devices_list_both_sessions_exactly_one_current():
    server = two_devices()
    assert server.list(0) == [] and server.list(1) == []


def test_a_list_with_two_current_entries_breaks_core_list():
    server = two_devices()
    body = server.listing(0)
    body[1]["isCurrent"] = True
    assert rules_of(server.list(0, body)) == ["CORE-LIST"]


def test_a_list_lacking_a_live_session_breaks_core_list():
    server = two_devices()
    server.learn()
    body = server.listing(0)
    assert rules_of(server.list(0, [item for item in body if item["isCurrent"]])) == ["CORE-LIST"]


# --- CORE-LAST-ACTIVE ---------------------------------------------------------------------------

def stamped(server: Server, device: int, stamp: str) -> list[dict]:
    """The device's list with its own session's lastActiveAt at `stamp` (the others' unchanged, older)."""
    body = server.listing(device)
    for item in body:
        if item["isCurrent"]:
            item["lastActiveAt"] = stamp
    return body


def test_after_a_pause_longer_than_the_refresh_interval_a_use_must_move_last_active_at():
    server = two_devices()
    server.learn()
    server.model.paused()
    assert server.me(0) == []
    assert rules_of(server.list(0, stamped(server, 0, "2026-12-06T10:00:00Z"))) == ["CORE-LAST-ACTIVE"]


def test_after_a_pause_a_moved_last_active_at_passes_and_without_one_nothing_need_move():
    server = two_devices()
    server.learn()
    server.model.paused()
    assert server.me(0) == []
    assert server.list(0, stamped(server, 0, "2026-12-06T10:00:02Z")) == []
    assert server.me(0) == []  # no pause since its last use: its stamp may stay
    assert server.list(0, stamped(server, 0, "2026-12-06T10:00:02Z")) == []


def test_a_list_that_is_itself_the_first_use_after_a_pause_may_show_the_stamp_before_the_move():
    server = two_devices()
    server.learn()
    server.model.paused()
    assert server.list(0) == []
    assert server.list(0) == []  # not rested any more: the move was due at the first use, which the list was


# --- CORE-EX2, CORE-REVOKE ----------------------------------------------------------------------

def revoke(server: Server, device: int, victim: str, status: int, body: dict | None = None) -> list:
    server.step("CORE-REVOKE")
    return server.model.revoke(device, victim, Answer(status, body or {"message": "Session revoked."}))


def test_revoking_one_of_two_devices_makes_its_cookie_401():
    server = two_devices()
    server.learn()
    assert revoke(server, 0, server.public_id(1), 200) == []
    assert server.me(1, 401) == []
    assert server.me(0) == []


def test_a_revoked_session_that_still_answers_200_breaks_core_revoke():
    server = two_devices()
    server.learn()
    assert revoke(server, 0, server.public_id(1), 200) == []
    # Its looks, within the revoke's step, find the revoked session still answering.
    assert rules_of(server.me(1, 200, look=True)) == ["CORE-ME"]


def test_revoking_the_current_session_is_400_and_another_users_is_404():
    server = two_devices()
    assert server.signup(1) == [] and server.login(2, user=1, password="bobs own password") == []
    server.learn()
    assert revoke(server, 0, server.public_id(0), 400, {"error": "Use logout."}) == []
    not_found = {"error": "No such session."}
    assert revoke(server, 0, server.public_id(2), 404, not_found) == []
    assert revoke(server, 0, "made-up:x", 404, not_found) == []
    assert rules_of(revoke(server, 0, server.public_id(2), 200)) == ["CORE-REVOKE"]


# --- CORE-EX3, CORE-REVOKE-ALL ------------------------------------------------------------------

def test_revoke_all_from_one_of_three_keeps_it_and_ends_the_other_two():
    server = two_devices()
    assert server.login(2) == []
    server.step("CORE-REVOKE-ALL")
    assert server.model.revoke_all(0, Answer(200, {"message": "Other sessions revoked."})) == []
    assert server.me(0) == []
    assert server.me(1, 401) == [] and server.me(2, 401) == []
    assert server.list(0) == []


def test_revoke_all_that_ends_the_current_session_too_is_blamed_on_core_revoke_all():
    server = two_devices()
    server.step("CORE-REVOKE-ALL")
    assert server.model.revoke_all(0, Answer(200, {"message": "Other sessions revoked."})) == []
    assert rules_of(server.me(0, 401, look=True)) == ["CORE-REVOKE-ALL"]


def test_revoke_all_that_spares_another_session_breaks_core_revoke_all():
    server = two_devices()
    server.learn()
    server.step("CORE-REVOKE-ALL")
    assert server.model.revoke_all(0, Answer(200, {"message": "Other sessions revoked."})) == []
    stale = [{"id": server.public[s.key], "deviceName": name, "createdAt": "2026-12-06T10:00:00Z",
              "lastActiveAt": "2026-12-06T10:00:00Z", "isCurrent": s.device == 0}
             for s, name in zip(server.model.sessions, ["Firefox on Linux", "Chrome on Windows"])]
    assert rules_of(server.list(0, stale, look=True)) == ["CORE-REVOKE-ALL"]


# --- CORE-LOGOUT, EXT-REASON --------------------------------------------------------------------

def reason(server: Server, device: int, why: str) -> list:
    return server.me(device, 401, {"error": "Not authenticated.", "reason": why})


def test_each_ending_gives_its_own_401_reason():
    server = Server(rules.EXTENSIONS)
    assert server.signup() == []
    assert server.login(0) == [] and server.login(1) == [] and server.login(2) == []
    server.learn()
    assert revoke(server, 0, server.public_id(1), 200) == []
    assert reason(server, 1, "revoked") == []
    server.step()
    assert server.model.logout(2, Answer(200, {"message": "Logged out."}, cookie="")) == []
    # The device cleared its cookie: a request without one is "unauthenticated".
    assert reason(server, 2, "unauthenticated") == []
    old_token = server.model.session_of(0).token
    server.step()
    assert server.model.change_password(0, PASSWORD, NEW_PASSWORD,
                                        Answer(200, {"message": "Password changed.", "revoked": 0},
                                               cookie="tok-after-change-000000000000")) == []
    assert server.model.token_state(old_token)[1] == "password_changed"
    assert server.me(0) == []


def test_a_revoked_session_answering_reason_logged_out_breaks_ext_reason():
    server = Server(rules.EXTENSIONS)
    assert server.signup() == [] and server.login(0) == [] and server.login(1) == []
    server.learn()
    assert revoke(server, 0, server.public_id(1), 200) == []
    assert rules_of(reason(server, 1, "logged_out")) == ["EXT-REASON"]


def test_a_logout_that_ends_another_session_is_blamed_on_core_logout():
    server = two_devices()
    server.step("CORE-LOGOUT")
    assert server.model.logout(0, Answer(200, {"message": "Logged out."}, cookie="")) == []
    assert rules_of(server.me(1, 401, look=True)) == ["CORE-LOGOUT"]


def test_a_logout_that_keeps_the_cookie_breaks_core_logout():
    server = two_devices()
    server.step()
    assert rules_of(server.model.logout(0, Answer(200, {"message": "Logged out."}))) == ["CORE-LOGOUT"]


# --- EXT-PASSWORD -------------------------------------------------------------------------------

def test_a_password_change_ends_the_others_and_the_old_password_is_refused():
    server = Server(rules.EXTENSIONS)
    assert server.signup() == [] and server.login(0) == [] and server.login(1) == []
    server.step()
    assert server.model.change_password(0, PASSWORD, NEW_PASSWORD,
                                        Answer(200, {"message": "Password changed.", "revoked": 1},
                                               cookie="tok-after-change-000000000000")) == []
    assert reason(server, 1, "password_changed") == []
    server.step()
    assert server.model.login(2, 0, PASSWORD, Answer(401, {"error": "Wrong email or password."})) == []
    assert rules_of(server.login(2, password=PASSWORD)) == ["CORE-LOGIN"]


def test_a_password_change_miscounting_revoked_breaks_ext_password():
    server = Server(rules.EXTENSIONS)
    assert server.signup() == [] and server.login(0) == [] and server.login(1) == []
    server.step()
    assert rules_of(server.model.change_password(
        0, PASSWORD, NEW_PASSWORD, Answer(200, {"message": "Password changed.", "revoked": 0},
                                          cookie="tok-after-change-000000000000"))) == ["EXT-PASSWORD"]


# --- EXT-RECOVER --------------------------------------------------------------------------------

def test_a_login_with_end_other_sessions_ends_every_other_session_as_revoked():
    server = Server(rules.EXTENSIONS)
    assert server.signup() == [] and server.login(0) == [] and server.login(1) == []
    assert server.login(2, end_others=True, revoked=2) == []
    assert reason(server, 0, "revoked") == [] and reason(server, 1, "revoked") == []
    assert server.me(2) == []
    assert server.list(2) == []


def test_a_recovering_login_that_leaves_a_session_alive_is_blamed_on_ext_recover():
    server = Server(rules.EXTENSIONS)
    assert server.signup() == [] and server.login(0) == []
    assert server.login(1, end_others=True, revoked=1) == []
    # The model holds session 0 ended: a 200 for it is a problem (the runner's looks name EXT-RECOVER).
    assert server.model.session_of(0).ended_rule == "EXT-RECOVER"
    assert rules_of(server.me(0, 200, look=True)) == ["CORE-ME"]
    fresh = Server(rules.EXTENSIONS)
    assert fresh.signup() == [] and fresh.login(0) == [] and fresh.login(1) == []
    assert rules_of(fresh.login(2, end_others=True, revoked=0)) == ["EXT-RECOVER"]


def test_a_wrong_current_and_a_short_new_password_may_be_400_or_403():
    # The contract names no order between the two refusals: either answer changes nothing.
    for status, body in ((400, {"error": "New password too short."}), (403, {"error": "Current password is incorrect."})):
        server = Server(rules.EXTENSIONS)
        assert server.signup() == [] and server.login(0) == []
        server.step("EXT-PASSWORD")
        assert server.model.change_password(0, "wrong", "short", Answer(status, body)) == []
        assert server.model.accounts[0].password == PASSWORD
        assert server.me(0) == []
    server.step("EXT-PASSWORD")
    assert rules_of(server.model.change_password(0, "wrong", "long enough new", Answer(400, {"error": "x"}))) == [
        "EXT-PASSWORD"]


def test_of_two_password_changes_at_once_the_loser_may_be_403():
    # Both from the same account, each with the password then in force: the one applied second finds its
    # session ended (401) or, checked against the password just set, its current password wrong (403).
    server = Server(rules.EXTENSIONS)
    assert server.signup() == [] and server.login(0) == [] and server.login(1) == []
    server.step("EXT-PASSWORD")
    assert server.model.change_password(0, PASSWORD, NEW_PASSWORD,
                                        Answer(200, {"message": "Password changed.", "revoked": 1},
                                               cookie="tok-after-change-000000000000")) == []
    later = server.model.copy()
    assert later.change_password(1, PASSWORD, "another new password", Answer(403, {"error": "Incorrect."})) == []
    # A step later, that session's requests are 401 again, whatever they carry.
    server.step("EXT-PASSWORD")
    assert rules_of(server.model.change_password(1, PASSWORD, "another new password",
                                                 Answer(403, {"error": "Incorrect."}))) == ["EXT-PASSWORD"]


def test_of_two_endings_at_once_the_blame_goes_to_the_one_whose_effect_is_missing():
    from conformance.explore import linearize
    from conformance.explore.model import Problem

    def outcome(endings: tuple[str, ...]) -> str:
        missing = Problem("CORE-REVOKE-ALL", "a session it ended still answers 200")
        result = linearize.check(Model(rules.CORE, [(EMAIL, PASSWORD)], [FIREFOX]),
                                 [("revoke", {}, Answer(200)), ("revoke-all", {}, Answer(200))],
                                 apply=lambda *_: [], observe=lambda _: {}, check=lambda *_: [missing],
                                 blame="CORE-REVOKE", endings=endings)
        assert result.model is None and result.problem is not None
        return result.problem.rule

    assert outcome(("CORE-REVOKE", "CORE-REVOKE-ALL")) == "CORE-REVOKE-ALL"
    # A pair with one ending (a login racing a revoke-all) is blamed on that ending, whatever the order found.
    assert outcome(("CORE-REVOKE",)) == "CORE-REVOKE"


def test_failed_logins_count_per_client_address_and_a_success_resets_only_its_own():
    # HARD-THROTTLE counts "for one account from one client address": device 2 logs in from a second address.
    model = Model(rules.HARDENING, [(EMAIL, PASSWORD)], [FIREFOX, CHROME, CURL], ["", "", "127.0.0.2"])
    model.signup(0, Answer(201, {"id": "100"}))
    refused = Answer(401, {"error": "Wrong email or password."})
    assert model.login(2, 0, "wrong", refused) == []
    assert model.login(2, 0, "wrong", refused) == []
    assert model.login(0, 0, PASSWORD, Answer(200, {"message": "Logged in."}, cookie="tok1")) == []
    # The success from the first address leaves the second's two failures standing (a lock-out follows those).
    assert model.accounts[0].failures == 2
    assert model.login(2, 0, PASSWORD, Answer(200, {"message": "Logged in."}, cookie="tok2")) == []
    assert model.accounts[0].failures == 0
    # A server that counts per account only (or sees one address behind NAT) may lock out the first address
    # after the second's failures: a 429 is accepted after any failure from any address.
    assert model.login(2, 0, "wrong", refused) == []
    locked = Answer(429, {"error": "Too many attempts."}, retry_after=True)
    assert model.login(0, 0, PASSWORD, locked) == []
    assert model.accounts[0].throttled


# --- EXT-ACTIVITY's pages ---------------------------------------------------------------------------

LOG = [{"id": str(n), "type": "login", "at": "2026-12-06T10:00:00Z", "ip": "127.0.0.1",
        "deviceName": "Firefox on Linux", "sessionId": f"s{n}", "actorSessionId": None} for n in (3, 2, 1)]


def logged_in_at_extensions() -> Server:
    server = Server(rules.EXTENSIONS)
    assert server.signup() == [] and server.login(0) == []
    server.step("EXT-ACTIVITY")
    return server


def test_a_page_after_one_of_the_users_events_is_the_next_events_of_the_whole_log():
    model = logged_in_at_extensions().model
    assert model.activity_page(0, 1, "3", "own", LOG, Answer(200, [LOG[1]])) == []
    assert model.activity_page(0, 2, "3", "own", LOG, Answer(200, LOG[1:])) == []
    assert model.activity_page(0, 3, "1", "own", LOG, Answer(200, [])) == []


def test_a_page_that_repeats_its_cursor_skips_an_event_or_overruns_its_limit_breaks_ext_activity():
    model = logged_in_at_extensions().model
    assert rules_of(model.activity_page(0, 2, "3", "own", LOG, Answer(200, LOG[:2]))) == ["EXT-ACTIVITY"]
    assert rules_of(model.activity_page(0, 1, "3", "own", LOG, Answer(200, [LOG[2]]))) == ["EXT-ACTIVITY"]
    assert rules_of(model.activity_page(0, 1, "3", "own", LOG, Answer(200, LOG[1:]))) == ["EXT-ACTIVITY"]


def test_another_users_event_an_id_never_issued_or_a_limit_outside_1_to_200_is_a_400():
    model = logged_in_at_extensions().model
    refused = Answer(400, {"error": "before must be the id of one of your events."})
    for limit, cursor, kind in ((2, "77", "foreign"), (2, "987654321987", "made-up"), (0, "3", "own"),
                                (201, "3", "own")):
        assert model.activity_page(0, limit, cursor, kind, LOG, refused) == []
        assert rules_of(model.activity_page(0, limit, cursor, kind, LOG, Answer(200, LOG[1:]))) == ["EXT-ACTIVITY"]
