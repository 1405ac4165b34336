"""Hypothesis' stateful testing drives the histories: it chooses the steps, the Runner runs and checks them.

A machine is made per run (`machine_for`): its rules are the contract's
requests at the level under test, each enabled only when it can mean
something (a login needs an account signed up; a wrong password is tried
at most twice in a row, so that HARD-THROTTLE's lock-out, which its own
checks cover, does not end the history). Hypothesis shrinks a failing
history by dropping and simplifying steps; every history it tries, shrinking
included, runs on fresh accounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from conformance import rules
from conformance.client import Target
from conformance.explore.history import DEVICES_PER_USER, HOSTILE, NAMES, USERS, Divergence, Runner, Step, step

# One use in four follows a pause (see _pause): rare, as each costs a second or more.
PAUSES = st.sampled_from([False] * 3 + [True])
# One core history in three is patient: it may come back later (come_back_later), two pauses that show the
# list's order by creation, a second and a half where a history takes a quarter of one. Only at core: at
# extensions patience cost half the histories and the login racing a password change went unfound; at
# hardening enum-no-such-user did.
PATIENT = st.integers(0, 2).map(lambda n: n == 2)
DEVICES = st.integers(0, USERS * DEVICES_PER_USER - 1)
TARGETS = st.sampled_from(["current", "sibling-0", "sibling-1", "foreign-0", "ended-0", "made-up"])
# A rename's target and name, drawn together. A name the contract refuses, sent for a session the caller may not
# rename, can show nothing (400 or 404 both fit: the contract does not order the two checks), so the refused
# names go to the caller's own sessions, and the others only valid names, which a server that skips the owner
# check would store. Hypothesis draws the first of a list most often (and shrinks toward it): first come the
# names a server most often gets wrong (escaping on input, control characters stripped instead of refused).
RENAMES = st.one_of(
    st.tuples(st.sampled_from(["current", "sibling-0", "sibling-1"]),
              st.sampled_from(["markup", "control", *sorted(set(NAMES) - {"markup", "control"})])),
    st.tuples(st.sampled_from(["foreign-0", "ended-0", "made-up"]), st.sampled_from(["plain", "markup", "null"])),
)
# A page of the security log: its cursor (an event of the caller's log, of another user's, or never issued), its
# limit and which of the caller's events is the cursor. Half are pages the server must serve (a cursor of the
# caller's own log, a limit in EXT-ACTIVITY's 1 to 200), the rest a cursor or a limit it must refuse.
_OWN_PAGES = st.tuples(st.just("own"), st.sampled_from([2, 1, 3]), st.integers(0, 2))
PAGES = st.one_of(
    _OWN_PAGES,
    _OWN_PAGES,
    st.tuples(st.sampled_from(["foreign", "made-up"]), st.sampled_from([2, 1, 3]), st.integers(0, 2)),
    st.tuples(st.just("own"), st.sampled_from([0, 201]), st.just(0)),
)
# Pairs of requests sent at the same moment from two devices of one account: each ends sessions, or races one
# that does, and the contract says what any order of the two may give.
CORE_PAIRS = [
    ("revoke-all", "revoke-all"),
    ("login", "revoke-all"),
    ("revoke", "me"),
    ("revoke", "revoke"),
    ("logout", "revoke-all"),
    ("revoke", "revoke-all"),
    ("login", "logout"),
]
# The race found by hand before exploration existed (a login slipping past a password change): drawn more often.
RACES = [("login", "password")] * 3
EXTENSION_PAIRS = [
    ("login", "password"),
    ("password", "revoke-all"),
    ("rename", "revoke"),
    ("password", "password"),
    ("recover", "revoke-all"),
    ("recover", "login"),
]


@dataclass
class Budget:
    """When to stop trying new histories, and what the run saw."""

    deadline: float
    shrink_seconds: float
    found_at: float | None = None
    histories: int = 0
    steps: int = 0
    requests: int = 0
    pairs: int = 0
    # The shortest failing history seen: (steps, records, divergence).
    finding: tuple[list[Step], list[Any], Divergence] | None = None

    def mode(self) -> str:
        """run a step; skip it (the budget is spent: Hypothesis runs out its examples without I/O); or fail it.

        Hypothesis must draw the same data for the same choices, so the budget
        never changes what is drawn, only whether steps run. A failure found,
        shrinking goes on until its time is up; after that every step fails at
        once, which ends the shrinking (the shortest real failure is kept).
        """
        now = time.monotonic()
        if self.found_at is not None:
            return "run" if now < max(self.deadline, self.found_at + self.shrink_seconds) else "fail"
        return "run" if now < self.deadline else "skip"


@dataclass
class Config:
    targets: list[Target]
    level: str
    touch_interval: float | None
    budget: Budget = field(default_factory=lambda: Budget(0.0, 0.0))
    # EXT-RECOVER's endOtherSessions in logins (at extensions); off for a server known to lack it.
    recover: bool = True


def machine_for(config: Config) -> type[RuleBasedStateMachine]:
    """Return a state machine class bound to this run's targets, level and budget."""
    extensions = config.level == rules.EXTENSIONS
    hardening = config.level in (rules.HARDENING, rules.EXTENSIONS)
    waits = config.touch_interval is not None and config.touch_interval <= 2.0

    class Exploration(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner: Runner | None = None
            self.history: list[Step] = []

        @initialize(second=st.booleans(), patient=PATIENT if config.level == rules.CORE else st.just(False))
        def fresh_accounts(self, second: bool, patient: bool) -> None:
            # Every history starts with its accounts signed up (the second one if drawn): Hypothesis switches
            # random rules off for a whole history (swarm testing), and without an account nothing else means much.
            self.runner = Runner(config.targets, config.level, config.touch_interval)
            self.counted = False
            self.pauses = 0
            self.patient = patient
            for user in range(2 if second else 1):
                self._run(step("signup", user=user, case="as-is"))

        def teardown(self) -> None:
            if self.runner is not None:
                config.budget.requests += self.runner.requests
                config.budget.pairs += self.runner.pairs
                self.runner.close()

        def _run(self, one: Step) -> None:
            assert self.runner is not None
            budget = config.budget
            mode = budget.mode()
            if mode == "skip":
                return
            if mode == "fail":
                assert budget.finding is not None
                raise budget.finding[2]
            if not self.counted:
                budget.histories += 1
                self.counted = True
            self.history.append(one)
            budget.steps += 1
            try:
                self.runner.run(one)
            except Divergence as divergence:
                budget = config.budget
                if budget.found_at is None:
                    budget.found_at = time.monotonic()
                if budget.finding is None or len(self.history) <= len(budget.finding[0]):
                    budget.finding = (list(self.history), list(self.runner.records), divergence)
                raise

        # --- what can be asked of a model's state ---

        def _account(self, user: int) -> Any:
            assert self.runner is not None
            return self.runner.model.accounts[user]

        def _registered(self, device: int) -> bool:
            return self._account(device // DEVICES_PER_USER).registered

        # --- the steps ---

        @rule(user=st.integers(0, USERS - 1), case=st.sampled_from(["as-is", "upper"]))
        def signup(self, user: int, case: str) -> None:
            if not self._account(user).registered:
                case = "as-is"
            self._run(step("signup", user=user, case=case))

        @precondition(lambda self: hardening)
        @rule(text=st.sampled_from(sorted(set(HOSTILE) - {"unknown"})))
        def signup_hostile(self, text: str) -> None:
            self._run(step("signup-hostile", user=0, text=text))

        @rule(device=DEVICES, password=st.sampled_from(["right", "right", "wrong", "old"]),
              end_others=st.sampled_from([None, None, True, False]) if extensions and config.recover else st.none())
        def login(self, device: int, password: str, end_others: bool | None) -> None:
            user = device // DEVICES_PER_USER
            account = self._account(user)
            # Steps that cannot mean anything yet become the step they need (no history is thrown away).
            if not account.registered:
                self._run(step("signup", user=user, case="as-is"))
                return
            if account.throttled:
                self._run(step("me", device))
                return
            if password != "right" and account.failures >= 2:
                password = "right"
            self._run(step("login", device, password=password, end_others=end_others))

        # Hypothesis tries rules with the fewest arguments first, by name: this one starts the simplest histories.
        @rule(device=DEVICES)
        def log_in(self, device: int) -> None:
            self.login(device, "right", None)

        @precondition(lambda self: hardening)
        @rule(device=DEVICES, text=st.sampled_from(sorted(HOSTILE)))
        def login_hostile(self, device: int, text: str) -> None:
            self._run(step("login-hostile", device, text=text))

        @rule(device=DEVICES)
        def logout(self, device: int) -> None:
            self._run(step("logout", device))

        @rule(device=DEVICES, pause=PAUSES)
        def me(self, device: int, pause: bool) -> None:
            self._pause(pause, device)
            self._run(step("me", device))

        @rule(device=DEVICES, pause=PAUSES)
        def list_sessions(self, device: int, pause: bool) -> None:
            self._pause(pause, device)
            self._run(step("list", device))

        # One argument, so among the rules Hypothesis tries first: a use after a pause, where it can show a move.
        @rule(device=DEVICES)
        def pause_then_use(self, device: int) -> None:
            self._pause(True, device)
            self._run(step("me", device))

        # Only in a patient history: the list's order by creation differs from its order by use only between
        # sessions created in different seconds, once the older is the more recently used. A device with no
        # session signs in a second after the account's other session began, and that older session is used a
        # second later. Two pauses in that order, which random draws almost never made.
        # Defined at core only: a rule more, even one never enabled, changes what every seed draws, and the other
        # levels' pinned seeds (tests/test_explore.py) were found without it.
        if config.level == rules.CORE:
            @precondition(lambda self: self.patient)
            @rule(device=DEVICES)
            def come_back_later(self, device: int) -> None:
                self._come_back_later(device)

        def _come_back_later(self, device: int) -> None:
            assert self.runner is not None
            model = self.runner.model
            user = device // DEVICES_PER_USER
            account = self._account(user)
            held = [s for s in model.alive_sessions(user) if model.session_of(s.device) is s and s.device != device]
            if (self.pauses or not account.registered or account.throttled or not held
                    or model.live_session_of(device) is not None):
                self.pause_then_use(device)
                return
            self._pause(True, device, signing_in=True)
            self._run(step("login", device, password="right", end_others=None))
            older = min(held, key=lambda s: s.key).device
            self._pause(True, older)
            self._run(step("me", older))

        def _pause(self, pause: bool, device: int, signing_in: bool = False) -> None:
            # A use after a pause long enough for a refresh interval and a second of timestamp resolution to
            # pass: lastActiveAt may move then, and only that session's. Only where the target declared its
            # refresh interval, and only where it can show something, at most twice a history: each costs a
            # second, where another step costs a few milliseconds. What it can show: a sibling listed and unused
            # since must keep its lastActiveAt, and the session used must move its own (CORE-LAST-ACTIVE); a
            # login beside a live session (come_back_later) is created in a later second than that session.
            if not (pause and waits and self.pauses < 2 and self.runner is not None):
                return
            model = self.runner.model
            own = model.live_session_of(device)
            siblings = [s for s in model.alive_sessions(device // DEVICES_PER_USER) if s is not own]
            if signing_in and (self.pauses or own is not None or not siblings):
                return  # a login with no session beside it shows no order; one pause goes to logins, one to a use
            if own is None and not signing_in:
                return  # a use with no session shows no move
            if own is not None and not any(s.last_seen is not None and not s.used_since_seen for s in siblings):
                return
            self.pauses += 1
            if signing_in:  # a new second is all a creation needs: half a second on average, not one
                self._run(step("wait", edge=True))
            else:
                self._run(step("wait", seconds=max(1.1, (config.touch_interval or 0) + 0.1)))

        def _caller(self, device: int) -> int:
            # A request that ends or renames another session is sent, where the account has one, from a device
            # holding a live session: drawn blindly, most went with no session (a 401, which the account with
            # none left still gets), and a revoke of a live session was too rare to meet the bugs it shows.
            assert self.runner is not None
            user = device // DEVICES_PER_USER
            own = range(user * DEVICES_PER_USER, (user + 1) * DEVICES_PER_USER)
            live = [d for d in own if self.runner.model.live_session_of(d) is not None]
            return device if device in live or not live else live[device % len(live)]

        @rule(device=DEVICES, victim=TARGETS)
        def revoke(self, device: int, victim: str) -> None:
            self._run(step("revoke", self._caller(device), target=victim))

        @rule(device=DEVICES)
        def revoke_all(self, device: int) -> None:
            self._run(step("revoke-all", device))

        @precondition(lambda self: extensions)
        @rule(device=DEVICES, current=st.sampled_from(["right", "right", "wrong"]),
              new=st.sampled_from(["fresh", "fresh", "short"]))
        def password(self, device: int, current: str, new: str) -> None:
            account = self._account(device // DEVICES_PER_USER)
            if account.throttled or account.failures >= 2:
                current = "right"
            self._run(step("password", device, current=current, new=new))

        @precondition(lambda self: extensions)
        @rule(device=DEVICES, renaming=RENAMES)
        def rename(self, device: int, renaming: tuple[str, str]) -> None:
            victim, name = renaming
            self._run(step("rename", self._live_caller(device), target=victim, name=name))

        def _live_caller(self, device: int) -> int:
            # A rename is about names, a page about the log: sent with no session, either only shows the 401 every
            # other request shows without one, and renames went so most of the time (drawn early in a history,
            # before any login). Where the account holds no live session, the device logs in first.
            caller = self._caller(device)
            account = self._account(caller // DEVICES_PER_USER)
            if (account.registered and not account.throttled and self.runner is not None
                    and self.runner.model.live_session_of(caller) is None):
                self._run(step("login", caller, password="right", end_others=None))
            return caller

        @precondition(lambda self: extensions)
        @rule(device=DEVICES)
        def read_activity(self, device: int) -> None:
            self._run(step("activity", device))

        @precondition(lambda self: extensions)
        @rule(device=DEVICES, paging=PAGES)
        def page_activity(self, device: int, paging: tuple[str, int, int]) -> None:
            cursor, limit, position = paging
            self._run(step("activity-page", self._live_caller(device), cursor=cursor, limit=limit,
                           position=position))

        @rule(user=st.integers(0, USERS - 1), first=st.integers(0, DEVICES_PER_USER - 1),
              offset=st.integers(1, DEVICES_PER_USER - 1),
              kinds=st.sampled_from(CORE_PAIRS + (EXTENSION_PAIRS * 2 + RACES if extensions else [])))
        def together(self, user: int, first: int, offset: int, kinds: tuple[str, str]) -> None:
            account = self._account(user)
            if not account.registered:
                self._run(step("signup", user=user, case="as-is"))
                return
            if "recover" in kinds and not config.recover:
                kinds = ("login", kinds[1])
            if account.throttled and ("login" in kinds or "recover" in kinds):
                kinds = ("revoke-all", "revoke-all")
            # A request that needs a session goes, where one can, from a device that holds one: a race
            # between a password change and a login means nothing if the change is refused a 401.
            own = list(range(user * DEVICES_PER_USER, (user + 1) * DEVICES_PER_USER))
            live = [d for d in own if self.runner is not None and self.runner.model.live_session_of(d) is not None]
            needs = [kind not in ("login", "recover") for kind in kinds]
            a = own[first]
            if needs[0] and live:
                a = live[first % len(live)]
            rest = [d for d in own if d != a]
            rest_live = [d for d in rest if d in live]
            b = rest[(offset - 1) % len(rest)]
            if needs[1] and rest_live:
                b = rest_live[(offset - 1) % len(rest_live)]
            # Two revoke-alls race only between two live sessions, which a history rarely has on two devices of
            # one account by chance: a device of theirs that holds none logs in first. (Only for this pair: for
            # the others a device without a session is a case worth sending, and more logins ahead of every
            # pair would change the histories each seed draws.)
            if kinds == ("revoke-all", "revoke-all") and not account.throttled:
                for device in (a, b):
                    if device not in live:
                        self._run(step("login", device, password="right", end_others=None))
            self._run(Step("pair", pair=(self._pair_step(kinds[0], a, b), self._pair_step(kinds[1], b, a))))

        @staticmethod
        def _pair_step(kind: str, device: int, other: int) -> Step:
            if kind == "login":
                return step("login", device, password="right", end_others=None)
            if kind == "recover":
                return step("login", device, password="right", end_others=True)
            if kind in ("revoke", "rename"):
                # The other device's session: the one a race would end or rename.
                extra = {"name": "plain"} if kind == "rename" else {}
                return step(kind, device, target=f"of-device-{other}", **extra)
            if kind == "password":
                return step("password", device, current="right", new="fresh")
            return step(kind, device)

    return Exploration
