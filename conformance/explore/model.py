"""The contract's second statement: an executable model of what a conforming server answers, step by step.

Invariants (the whole model rests on them):

1. The model holds only what the contract makes observable: accounts and their
   passwords, sessions (alive or ended, why and by which rule), which session
   each device's cookie names, the security log of each account, consecutive
   failed logins. It never holds a server's private choices: public ids and
   device names are learnt from the server's answers (`bind_*`), once.
2. A transition takes the server's answer to one request and returns the
   problems it finds, each naming the rule it breaks; it then changes the
   model as the contract says the server changed. A transition with problems
   leaves a model nobody uses again (the history has diverged).
3. Every transition is deterministic and free of I/O, so that a copy of the
   model can try both orders of two concurrent requests (linearize.py).
4. Where the contract allows several answers (a 429 after a failed login, 400
   or 401 for a hostile email), the transition accepts each and follows the
   one the server gave.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from conformance import rules

# EXT-REASON's reasons, as the model names why a token stopped working.
REVOKED = "revoked"
PASSWORD_CHANGED = "password_changed"
LOGGED_OUT = "logged_out"
UNAUTHENTICATED = "unauthenticated"

# EXT-ACTIVITY's default page.
ACTIVITY_DEFAULT_LIMIT = 50
ACTIVITY_MAX_LIMIT = 200
# EXT-RENAME: a name holds 1 to 64 characters once trimmed.
NAME_MAX = 64


@dataclass
class Answer:
    """What the model needs of one HTTP answer: status, parsed JSON body (None if not JSON), cookie effect."""

    status: int
    body: Any = None
    # The session token the answer set, "" when it cleared the cookie, None when it set none.
    cookie: str | None = None
    retry_after: bool = False


@dataclass(frozen=True)
class Problem:
    """A divergence from the contract: the rule it breaks and what was expected instead."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass
class Account:
    index: int
    email: str
    password: str
    old_passwords: list[str] = field(default_factory=list)
    id: str | None = None  # the server's id, from the signup answer
    registered: bool = False
    # Consecutive failed logins, per client address (HARD-THROTTLE counts per account and address): a success
    # from one address resets that address's count only, as the contract's count is that pair's.
    failures_from: dict[str, int] = field(default_factory=dict)
    throttled: bool = False  # a 429 was seen: no login of this account is tried again
    agents_logged_in: list[str] = field(default_factory=list)  # EXT-NEW-DEVICE's devices, in order
    events: list["LogEvent"] = field(default_factory=list)
    last_ending: tuple[str, int] | None = None  # the rule and step of the last ending of one of its sessions

    @property
    def failures(self) -> int:
        """The most consecutive failures from any one address: what a lock-out would follow."""
        return max(self.failures_from.values(), default=0)


@dataclass
class Session:
    key: int  # the model's own number: s0, s1, …
    user: int
    device: int
    agent: str
    token: str
    public_id: str | None = None
    alive: bool = True
    ended_reason: str | None = None
    ended_rule: str | None = None
    ended_step: int | None = None
    # Tokens this session held before a password change rotated it: 401 with reason password_changed.
    old_tokens: list[str] = field(default_factory=list)
    name: str | None = None
    new_device: bool | None = False  # None: learnt from the first list that shows it
    # CORE-LAST-ACTIVE: the lastActiveAt last listed, and whether the session was used since.
    last_seen: str | None = None
    used_since_seen: bool = True
    last_ok_step: int = 0
    # CORE-LAST-ACTIVE's other half: after a pause longer than the declared refresh interval, the first use must
    # move lastActiveAt. `rested` from the pause to that use; then the stamp the next list must show it beyond.
    rested: bool = False
    must_pass: str | None = None


@dataclass
class LogEvent:
    """An EXT-ACTIVITY event as the model expects it; sessions are model keys (None for null)."""

    type: str
    step: int
    session: int | None = None
    actor: int | None = None
    count: int | None = None
    revoked: int | None = None
    new_device: bool | None = None
    check_session: bool = True


@dataclass
class Device:
    index: int
    agent: str
    # The client address the server sees. With the User-Agent it makes EXT-NEW-DEVICE's device: each simulated
    # device keeps one address and one User-Agent, so a device is new exactly when its User-Agent is.
    # "" is whatever address the suite's connections leave from by default.
    address: str = ""
    session: int | None = None  # the session whose token this device's cookie holds


def _error_body(answer: Answer) -> bool:
    body = answer.body
    return isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"].strip())


class Model:
    """Accounts, sessions, devices and logs, with one transition per request of the contract."""

    def __init__(self, level: str, accounts: list[tuple[str, str]], agents: list[str],
                 addresses: list[str] | None = None) -> None:
        self.level = level
        self.accounts = [Account(i, email, password) for i, (email, password) in enumerate(accounts)]
        addresses = addresses or [""] * len(agents)
        self.devices = [Device(i, agent, address) for i, (agent, address) in enumerate(zip(agents, addresses))]
        self.sessions: list[Session] = []
        self.step = 0
        # HARD-ENUM: the first body of a refused login, that every other one must equal.
        self.refused_login_body: Any = None
        # The device name each User-Agent gets, learnt from the first list that shows it (CORE-LIST).
        self.device_names: dict[str, str] = {}
        # Set while a pair of two logins is applied: EXT-NEW-DEVICE's flag is then whatever the server says.
        self.logins_together = False
        # The body of a 404 for a made-up id, that another user's id must equal (CORE-REVOKE, EXT-RENAME).
        self.not_found_bodies: dict[str, Any] = {}

    def copy(self) -> "Model":
        return copy.deepcopy(self)

    @property
    def extensions(self) -> bool:
        return self.level == rules.EXTENSIONS

    @property
    def hardening(self) -> bool:
        return self.level in (rules.HARDENING, rules.EXTENSIONS)

    # --- what a device holds -------------------------------------------------------------

    def session_of(self, device: int) -> Session | None:
        key = self.devices[device].session
        return None if key is None else self.sessions[key]

    def live_session_of(self, device: int) -> Session | None:
        session = self.session_of(device)
        return session if session is not None and session.alive else None

    def alive_sessions(self, user: int) -> list[Session]:
        return [s for s in self.sessions if s.user == user and s.alive]

    def by_public_id(self, public_id: str) -> Session | None:
        return next((s for s in self.sessions if s.public_id == public_id), None)

    def token_state(self, token: str) -> tuple[Session | None, str]:
        """Return (session, reason) for a token: reason "" when it works, else why it is 401."""
        for session in self.sessions:
            if session.token == token:
                return session, "" if session.alive else (session.ended_reason or UNAUTHENTICATED)
            if token in session.old_tokens:
                return session, PASSWORD_CHANGED
        return None, UNAUTHENTICATED

    # --- answers every protected route shares ------------------------------------------------

    def unauthenticated(self, answer: Answer, rule: str, reason: str) -> list[Problem]:
        """A protected route without a working session: 401, an error body, and at extensions its reason."""
        if answer.status != 401:
            return [Problem(rule, f"expected 401 (no working session: {reason}), got {answer.status}")]
        if not _error_body(answer):
            return [Problem(rule, "a 401 must carry a JSON object with a non-empty \"error\"")]
        if self.extensions and isinstance(answer.body, dict) and answer.body.get("reason") != reason:
            # A session that ended more than an absolute timeout ago may say "expired"; none lives that long here.
            return [Problem("EXT-REASON", f"expected \"reason\": {reason!r}, got {answer.body.get('reason')!r}")]
        return []

    def _guard(self, device: int, answer: Answer, rule: str) -> tuple[Session | None, list[Problem]]:
        """Return the device's live session, or the problems of an answer that had to be a 401."""
        session = self.live_session_of(device)
        if session is not None:
            return session, []
        held = self.session_of(device)
        reason = UNAUTHENTICATED if held is None else (held.ended_reason or UNAUTHENTICATED)
        return None, self.unauthenticated(answer, rule, reason)

    def _end(self, session: Session, reason: str, rule: str) -> None:
        self.accounts[session.user].last_ending = (rule, self.step)
        self.last_ending = (rule, self.step)
        session.alive = False
        session.ended_reason = reason
        session.ended_rule = rule
        session.ended_step = self.step

    def _log(self, user: int, event: LogEvent) -> None:
        if self.extensions:
            self.accounts[user].events.append(event)

    def used(self, session: Session | None, listing: bool = False) -> None:
        """A request the session made was answered. A list the request itself returns may show lastActiveAt
        before or after this use moved it (the contract says neither), so only a later list must show the move."""
        if session is not None:
            session.used_since_seen = True
            session.last_ok_step = self.step
            if session.rested:
                session.rested = False
                if not listing and session.last_seen is not None:
                    session.must_pass = session.last_seen

    def paused(self) -> None:
        """The client waited longer than the declared refresh interval: each live session's next use moves it."""
        for session in self.sessions:
            if session.alive:
                session.rested = True

    # --- CORE-SIGNUP -------------------------------------------------------------------------

    def signup(self, user: int, answer: Answer, email: str | None = None) -> list[Problem]:
        """POST /signup for an account of the model (its email, or `email` with other letter cases)."""
        account = self.accounts[user]
        if account.registered:
            if answer.status != 409 or not _error_body(answer):
                return [Problem("CORE-SIGNUP", f"{email or account.email} is registered already "
                                "(emails compare case-insensitively): expected 409 with an error, "
                                f"got {answer.status}")]
            return []
        if answer.status != 201 or not isinstance(answer.body, dict) or "id" not in answer.body:
            return [Problem("CORE-SIGNUP", f"expected 201 with the new account's id, got {answer.status}")]
        if answer.cookie:
            return [Problem("CORE-SIGNUP", "signup set a session cookie: it must not log in")]
        account.registered = True
        account.id = str(answer.body["id"])
        return []

    def refused_input(self, answer: Answer, rule: str, what: str) -> list[Problem]:
        """A request whose input the contract refuses: a 4xx with an error body, and nothing changes."""
        if not (400 <= answer.status < 500) or not _error_body(answer):
            return [Problem(rule, f"{what}: expected a 4xx with a JSON error, got {answer.status}")]
        return []

    # --- CORE-LOGIN, EXT-RECOVER -----------------------------------------------------------

    def login(self, device: int, user: int | None, password: str, answer: Answer, end_others: bool | None = None,
              token_used: str | None = None) -> list[Problem]:
        """POST /login from a device, as `user` with `password` (user None: an email that names no account)."""
        account = self.accounts[user] if user is not None else None
        address = self.devices[device].address
        rule = "EXT-RECOVER" if end_others else "CORE-LOGIN"
        if account is None or not account.registered:
            kind = "unknown"
        elif password == account.password:
            kind = "right"
        else:
            kind = "old" if password in account.old_passwords else "wrong"
        if answer.status == 429 and answer.retry_after and _error_body(answer):
            # HARD-THROTTLE allows a lock-out after even one failure: accept it, and try no login of it again.
            if kind == "unknown":
                return []
            # Any address's failures will do: a server behind NAT, or that counts per account alone, sees fewer.
            if account is not None and account.failures >= 1:
                account.throttled = True
                return []
        if kind == "unknown":
            if answer.status != 401 or not _error_body(answer):
                return [Problem("CORE-LOGIN", f"an unknown email: expected 401, got {answer.status}")]
            return self._same_refusal(answer)
        if kind in ("wrong", "old"):
            if answer.status != 401 or not _error_body(answer):
                why = "the password was changed since" if kind == "old" else "a wrong password"
                return [Problem(rule, f"{why}: expected 401, got {answer.status}")]
            if answer.cookie:
                return [Problem(rule, "a refused login set a session cookie")]
            account.failures_from[address] = account.failures_from.get(address, 0) + 1
            self._log(user, LogEvent("login_failed", self.step))
            return self._same_refusal(answer)
        if answer.status != 200:
            return [Problem(rule, f"the right email and password: expected 200, got {answer.status}")]
        if not answer.cookie:
            return [Problem(rule, "a 200 login set no session cookie")]
        if token_used is not None and answer.cookie == token_used:
            return [Problem("HARD-FIXATION", "the login kept the session cookie the device sent")]
        if any(answer.cookie == s.token or answer.cookie in s.old_tokens for s in self.sessions):
            return [Problem("HARD-TOKEN", "the login issued a token issued before")]
        account.failures_from[address] = 0
        agent = self.devices[device].agent
        new_device: bool | None = bool(account.agents_logged_in) and agent not in account.agents_logged_in
        if self.logins_together:
            # Two logins at once may each see the other's device as unseen, or not: the flag is learnt.
            new_device = None
        account.agents_logged_in.append(agent)
        session = Session(len(self.sessions), user, device, agent, answer.cookie, new_device=new_device)
        self.sessions.append(session)
        self.devices[device].session = session.key
        self._log(user, LogEvent("login", self.step, session=session.key, new_device=new_device))
        if end_others:
            ended = [s for s in self.alive_sessions(user) if s is not session]
            for other in ended:
                self._end(other, REVOKED, "EXT-RECOVER")
            self._log(user, LogEvent("sessions_revoked_all", self.step, actor=session.key, count=len(ended)))
            revoked = answer.body.get("revoked") if isinstance(answer.body, dict) else None
            if revoked is not None and revoked != len(ended):
                return [Problem("EXT-RECOVER", f"\"revoked\": {revoked!r}, but {len(ended)} other sessions ended")]
        return []

    def _same_refusal(self, answer: Answer) -> list[Problem]:
        if not self.hardening:
            return []
        if self.refused_login_body is None:
            self.refused_login_body = answer.body
        elif answer.body != self.refused_login_body:
            return [Problem("HARD-ENUM", f"refused logins answer different bodies: {self.refused_login_body!r} "
                            f"and {answer.body!r}")]
        return []

    # --- CORE-LOGOUT, CORE-ME ---------------------------------------------------------------

    def logout(self, device: int, answer: Answer) -> list[Problem]:
        if answer.status != 200:
            return [Problem("CORE-LOGOUT", f"expected 200 (with or without a session), got {answer.status}")]
        if self.devices[device].session is not None and answer.cookie != "":
            return [Problem("CORE-LOGOUT", "the answer did not clear the session cookie (Max-Age=0)")]
        session = self.live_session_of(device)
        self.devices[device].session = None
        if session is not None:
            self._end(session, LOGGED_OUT, "CORE-LOGOUT")
            self._log(session.user, LogEvent("logout", self.step, session=session.key, actor=session.key))
        return []

    def me(self, device: int, answer: Answer) -> list[Problem]:
        session, problems = self._guard(device, answer, "CORE-ME")
        if session is None:
            return problems
        self.used(session)
        account = self.accounts[session.user]
        if answer.status != 200:
            return [Problem(self._alive_rule(session), f"this session must work: expected 200, got {answer.status}")]
        body = answer.body if isinstance(answer.body, dict) else {}
        if str(body.get("id")) != account.id or str(body.get("email", "")).lower() != account.email.lower():
            return [Problem("CORE-ME", f"expected user {account.id} ({account.email}), got {answer.body!r}")]
        return []

    def _alive_rule(self, session: Session) -> str:
        """The rule to blame when a session the model holds alive is refused.

        The last ending of one of the account's sessions since this one last
        worked ended it too (a logout by user id, a revoke-all without `AND id
        != ?`); without one, the step under way did.
        """
        for ending in (self.accounts[session.user].last_ending, self.last_ending):
            # The account's own endings first; then anyone's (a revoke-all that forgot `WHERE user_id = ?`).
            if ending is not None and ending[1] >= session.last_ok_step:
                return ending[0]
        return self.current_rule or "CORE-LOGIN"

    current_rule: str | None = None
    last_ending: tuple[str, int] | None = None

    # --- CORE-LIST (the list's own content is checked in observe) ----------------------------

    def list(self, device: int, answer: Answer) -> list[Problem]:
        session, problems = self._guard(device, answer, "CORE-LIST")
        if session is None:
            return problems
        self.used(session, listing=True)
        if answer.status != 200:
            return [Problem(self._alive_rule(session), f"this session must work: expected 200, got {answer.status}")]
        return self.check_list(session, answer.body)

    def check_list(self, session: Session, body: Any) -> list[Problem]:
        """Compare a session list, as `session` got it, with the model; learn ids and device names."""
        if not isinstance(body, list) or not all(isinstance(item, dict) and "id" in item for item in body):
            return [Problem("CORE-LIST", f"expected a JSON array of session objects, got {body!r:.200}")]
        alive = self.alive_sessions(session.user)
        if not all(isinstance(item.get("isCurrent"), bool) for item in body):
            return [Problem("CORE-LIST", "every entry's \"isCurrent\" must be true or false, got "
                            f"{[item.get('isCurrent') for item in body]!r}")]
        current = [item for item in body if item.get("isCurrent") is True]
        if len(current) != 1:
            return [Problem("CORE-LIST", f"exactly one entry must be current, found {len(current)}")]
        current_id = str(current[0]["id"])
        if session.public_id is None:
            if self.by_public_id(current_id) is not None:
                return [Problem("CORE-LIST", f"the current entry {current_id} is another session's id")]
            session.public_id = current_id
        elif session.public_id != current_id:
            return [Problem("CORE-LIST", f"the current entry is {current_id}, not this session's {session.public_id}")]
        listed = {str(item["id"]): item for item in body}
        if len(listed) != len(body):
            return [Problem("CORE-LIST", "the list names a session twice")]
        known = {s.public_id: s for s in self.sessions if s.public_id is not None}
        for public_id in listed:
            other = known.get(public_id)
            if other is None:
                continue  # a session created this step, whose id is learnt when it lists (or never listed)
            if other.user != session.user:
                return [Problem("CORE-LIST", f"the list shows {public_id}, a session of another user")]
            if not other.alive:
                return [Problem(other.ended_rule or "CORE-LIST",
                                f"the list still shows {public_id}, ended at step {other.ended_step} "
                                f"({other.ended_reason})")]
        unlisted = [s for s in alive if s.public_id is not None and s.public_id not in listed]
        if unlisted:
            s = unlisted[0]
            return [Problem(self._alive_rule(s),
                            f"the list lacks {s.public_id} (session {s.key}), which is alive")]
        if len(listed) != len(alive):
            return [Problem(self.current_rule or "CORE-LIST",
                            f"the list holds {len(listed)} sessions, {len(alive)} are alive")]
        return self._check_entries(session, body)

    def _check_entries(self, session: Session, body: list[dict[str, Any]]) -> list[Problem]:
        from conformance.client import parse_timestamp

        stamps = []
        for item in body:
            try:
                last, created = parse_timestamp(item.get("lastActiveAt")), parse_timestamp(item.get("createdAt"))
            except ValueError as exc:
                return [Problem("CORE-LIST", str(exc))]
            if last < created:
                return [Problem("CORE-LAST-ACTIVE", f"session {item['id']}: lastActiveAt precedes createdAt")]
            stamps.append(last)
            owner = self.by_public_id(str(item["id"]))
            if owner is None:
                continue
            name = item.get("deviceName")
            learnt = self.device_names.setdefault(owner.agent, name)
            if learnt != name:
                return [Problem("CORE-LIST", f"the same User-Agent named {learnt!r} and then {name!r}")]
            if owner.last_seen is not None and not owner.used_since_seen and item.get("lastActiveAt") != owner.last_seen:
                return [Problem("CORE-LAST-ACTIVE", f"session {owner.key}'s lastActiveAt moved from "
                                f"{owner.last_seen} to {item.get('lastActiveAt')} though it was not used")]
            if owner.last_seen is not None and parse_timestamp(item.get("lastActiveAt")) < parse_timestamp(owner.last_seen):
                return [Problem("CORE-LAST-ACTIVE", f"session {owner.key}'s lastActiveAt went backwards")]
            if owner.must_pass is not None and last <= parse_timestamp(owner.must_pass):
                return [Problem("CORE-LAST-ACTIVE", f"session {owner.key} was used after a pause longer than the "
                                f"refresh interval, but its lastActiveAt stayed {item.get('lastActiveAt')}")]
            if self.extensions:
                if item.get("name", "missing") != owner.name:
                    return [Problem("EXT-RENAME", f"session {owner.key}: expected \"name\": {owner.name!r}, "
                                    f"got {item.get('name', '(missing)')!r}")]
                if owner.new_device is None and isinstance(item.get("newDevice"), bool):
                    owner.new_device = item["newDevice"]
                if item.get("newDevice") is not owner.new_device:
                    return [Problem("EXT-NEW-DEVICE", f"session {owner.key}: expected \"newDevice\": "
                                    f"{owner.new_device}, got {item.get('newDevice')!r}")]
        if any(a < b for a, b in zip(stamps, stamps[1:])):
            return [Problem("CORE-LIST", "the list is not ordered by lastActiveAt, most recent first")]
        names = {}
        for agent, name in self.device_names.items():
            if name in names.values():
                return [Problem("CORE-LIST", f"two different User-Agents share the device name {name!r}")]
            names[agent] = name
        for item in body:
            owner = self.by_public_id(str(item["id"]))
            if owner is not None:
                owner.last_seen = item.get("lastActiveAt")
                owner.used_since_seen = owner is session
                owner.must_pass = None
        return []

    # --- CORE-REVOKE, CORE-REVOKE-ALL ---------------------------------------------------------

    def revoke(self, device: int, target: str, answer: Answer) -> list[Problem]:
        """DELETE /me/sessions/{id}: target is a public id, or "made-up:…" for an id no session has."""
        session, problems = self._guard(device, answer, "CORE-REVOKE")
        if session is None:
            return problems
        self.used(session)
        victim = None if target.startswith("made-up:") else self.by_public_id(target)
        if victim is session:
            if answer.status != 400 or not _error_body(answer):
                return [Problem("CORE-REVOKE", f"revoking the current session: expected 400, got {answer.status}")]
            return []
        if victim is None or victim.user != session.user or not victim.alive:
            what = ("a made-up id" if victim is None else "another user's session" if victim.user != session.user
                    else f"a session ended at step {victim.ended_step}")
            if answer.status != 404 or not _error_body(answer):
                return [Problem("CORE-REVOKE", f"{what}: expected 404, got {answer.status}")]
            return self._same_not_found("CORE-REVOKE", answer, victim is None)
        if answer.status != 200:
            return [Problem("CORE-REVOKE", f"revoking {target}, alive: expected 200, got {answer.status}")]
        self._end(victim, REVOKED, "CORE-REVOKE")
        self._log(session.user, LogEvent("session_revoked", self.step, session=victim.key, actor=session.key))
        return []

    def _same_not_found(self, rule: str, answer: Answer, made_up: bool) -> list[Problem]:
        """The 404 for another user's id must equal the 404 for a made-up one (no oracle)."""
        first = self.not_found_bodies.setdefault(rule, answer.body)
        if first != answer.body:
            return [Problem(rule, f"two 404s differ: {first!r} and {answer.body!r} (an oracle on ids)")]
        return []

    def revoke_all(self, device: int, answer: Answer) -> list[Problem]:
        session, problems = self._guard(device, answer, "CORE-REVOKE-ALL")
        if session is None:
            return problems
        self.used(session)
        if answer.status != 200:
            return [Problem("CORE-REVOKE-ALL", f"expected 200, got {answer.status}")]
        ended = [s for s in self.alive_sessions(session.user) if s is not session]
        for other in ended:
            self._end(other, REVOKED, "CORE-REVOKE-ALL")
        self._log(session.user, LogEvent("sessions_revoked_all", self.step, actor=session.key, count=len(ended)))
        return []

    # --- EXT-PASSWORD, EXT-RENAME, EXT-ACTIVITY -----------------------------------------------

    def change_password(self, device: int, current: str, new: str, answer: Answer) -> list[Problem]:
        """POST /me/password with these strings (the current one right or not, the new one long enough or not)."""
        held = self.session_of(device)
        if (held is not None and not held.alive and held.ended_rule == "EXT-PASSWORD" and held.ended_step == self.step
                and current in self.accounts[held.user].old_passwords and answer.status == 403 and _error_body(answer)):
            # Sent at the same moment as the change that ended its session: a server that let the session in, then
            # checked the current password against the one the other change had just set, refuses with 403.
            # Nothing changed and the session stays ended, as the 401 would have said (decisions.md).
            return []
        session, problems = self._guard(device, answer, "EXT-PASSWORD")
        if session is None:
            return problems
        self.used(session)
        account = self.accounts[session.user]
        address = self.devices[device].address
        if current != account.password:
            if len(new) < 8 and answer.status == 400:
                # Both wrong: the contract names no order between its 400 and its 403, and a server that
                # validates the body first answers 400 (nothing changes, and no password was tried).
                return self.refused_input(answer, "EXT-PASSWORD", "a wrong current and a too short new password")
            if answer.status == 429 and account.failures >= 1:
                account.throttled = True
                return []
            if answer.status != 403 or not _error_body(answer):
                return [Problem("EXT-PASSWORD", f"a wrong current password: expected 403, got {answer.status}")]
            # HARD-THROTTLE counts these too (a counter of their own is as good).
            account.failures_from[address] = account.failures_from.get(address, 0) + 1
            return []
        if len(new) < 8:
            return self.refused_input(answer, "EXT-PASSWORD", "a new password shorter than 8")
        if answer.status != 200:
            return [Problem("EXT-PASSWORD", f"expected 200, got {answer.status}")]
        if not answer.cookie or answer.cookie == session.token:
            return [Problem("EXT-PASSWORD", "the current session must go on under a new token (a new cookie)")]
        ended = [s for s in self.alive_sessions(session.user) if s is not session]
        revoked = answer.body.get("revoked") if isinstance(answer.body, dict) else None
        for other in ended:
            self._end(other, PASSWORD_CHANGED, "EXT-PASSWORD")
        session.old_tokens.append(session.token)
        session.token = answer.cookie
        account.old_passwords.append(account.password)
        account.password = new
        account.failures_from[address] = 0
        self._log(session.user, LogEvent("password_changed", self.step, actor=session.key, revoked=len(ended),
                                         check_session=False))
        if revoked != len(ended):
            return [Problem("EXT-PASSWORD", f"\"revoked\": {revoked!r}, but {len(ended)} other sessions ended")]
        return []

    def rename(self, device: int, target: str, name: Any, answer: Answer) -> list[Problem]:
        session, problems = self._guard(device, answer, "EXT-RENAME")
        if session is None:
            return problems
        self.used(session)
        if name is not None:
            trimmed = name.strip()
            bad = not (1 <= len(trimmed) <= NAME_MAX) or any(ord(ch) < 32 or ord(ch) == 127 or
                                                             0xD800 <= ord(ch) <= 0xDFFF for ch in trimmed)
            if bad:
                rule = "HARD-BAD-INPUT" if any(ch in name for ch in "\x00") else "EXT-RENAME"
                return self.refused_input(answer, rule, f"the name {name!r:.40}")
        else:
            trimmed = None
        victim = None if target.startswith("made-up:") else self.by_public_id(target)
        if victim is None or victim.user != session.user or not victim.alive:
            if answer.status != 404 or not _error_body(answer):
                return [Problem("EXT-RENAME", f"renaming an unknown, ended or foreign id: expected 404, "
                                f"got {answer.status}")]
            return self._same_not_found("EXT-RENAME", answer, victim is None)
        if answer.status != 200 or not isinstance(answer.body, dict):
            return [Problem("EXT-RENAME", f"expected 200 with the session's object, got {answer.status}")]
        if answer.body.get("name") != trimmed or str(answer.body.get("id")) != victim.public_id:
            return [Problem("EXT-RENAME", f"expected the object of {victim.public_id} named {trimmed!r}, "
                            f"got {answer.body!r:.200}")]
        victim.name = trimmed
        self._log(session.user, LogEvent("session_renamed", self.step, session=victim.key, actor=session.key))
        return []

    def activity(self, device: int, answer: Answer) -> list[Problem]:
        session, problems = self._guard(device, answer, "EXT-ACTIVITY")
        if session is None:
            return problems
        self.used(session)
        if answer.status != 200:
            return [Problem("EXT-ACTIVITY", f"expected 200, got {answer.status}")]
        return self.check_events(session.user, answer.body)

    def activity_page(self, device: int, limit: int, cursor: str, kind: str, full: list[Any],
                      answer: Answer) -> list[Problem]:
        """GET /me/activity?limit=…&before=… (EXT-ACTIVITY's paging), against the whole log `full` just read.

        `kind` says what the cursor is: "own" (an event id of that log),
        "foreign" (another user's event id) or "made-up" (never issued). The
        page after an own event is the log's next `limit` events, as the
        whole log listed them; any other cursor, and a limit outside 1 to
        200, is a 400.
        """
        session, problems = self._guard(device, answer, "EXT-ACTIVITY")
        if session is None:
            return problems
        self.used(session)
        if not 1 <= limit <= ACTIVITY_MAX_LIMIT:
            return self.refused_input(answer, "EXT-ACTIVITY", f"?limit={limit}")
        if kind != "own":
            what = "another user's event id" if kind == "foreign" else "an event id never issued"
            return self.refused_input(answer, "EXT-ACTIVITY", f"?before={cursor} ({what})")
        if answer.status != 200 or not isinstance(answer.body, list):
            return [Problem("EXT-ACTIVITY", f"?limit={limit}&before={cursor} (an event of this user's log): "
                            f"expected 200 with a page of events, got {answer.status}")]
        ids = [str(item.get("id")) for item in full]
        start = ids.index(cursor) + 1
        expected = full[start:start + limit]
        got = answer.body
        # The whole log was read at its default page: past its end, what comes is not known here.
        cut = len(full) >= ACTIVITY_DEFAULT_LIMIT and start + limit > len(full)
        if (got[:len(expected)] != expected or len(got) > limit) if cut else got != expected:
            return [Problem("EXT-ACTIVITY", f"?limit={limit}&before={cursor}: expected the events after it in the "
                            f"log read just before ({[e.get('id') for e in expected]}), got "
                            f"{[e.get('id') if isinstance(e, dict) else e for e in got]!r:.200}")]
        return []

    def check_events(self, user: int, body: Any, limit: int = ACTIVITY_DEFAULT_LIMIT) -> list[Problem]:
        """Compare a page of the log (newest first) with the model's events; events of one step in any order.

        Failed logins may be one event each, or one event per address and
        spell carrying a `count` (the reference's way of keeping a guessing
        attack from flooding the log): they are compared by their total count,
        the other events one by one, in order.
        """
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            return [Problem("EXT-ACTIVITY", f"expected a JSON array of events, got {body!r:.200}")]
        everything = self.accounts[user].events
        failed_logins = sum(1 for e in everything if e.type == "login_failed")
        expected = [e for e in everything if e.type != "login_failed"]
        got = [item for item in reversed(body) if item.get("type") != "login_failed"]
        full_page = len(body) >= limit
        if full_page:
            expected = expected[len(expected) - len(got):] if len(got) <= len(expected) else expected
        else:
            counted = sum(item.get("count", 1) if isinstance(item.get("count", 1), int) else 1
                          for item in body if item.get("type") == "login_failed")
            if counted != failed_logins:
                return [Problem("EXT-ACTIVITY", f"expected {failed_logins} failed logins in the log, "
                                f"its login_failed events count {counted}")]
        if len(got) != len(expected):
            return [Problem("EXT-ACTIVITY", f"expected {len(expected)} events besides failed logins "
                            f"({[e.type for e in reversed(expected)]}), got {len(got)} "
                            f"({[item.get('type') for item in reversed(got)]})")]
        position = 0
        while position < len(expected):
            step = expected[position].step
            group = [e for e in expected[position:] if e.step == step]
            items = got[position:position + len(group)]
            for event in group:
                match = next((item for item in items if self._event_matches(event, item)), None)
                if match is None:
                    return [Problem("EXT-ACTIVITY", f"no {event.type} event of step {step} as expected "
                                    f"({self._describe(event)}); the log has {items!r:.300}")]
                items.remove(match)
            position += len(group)
        return []

    @staticmethod
    def _event_rule(expected: list[LogEvent], body: list[dict[str, Any]]) -> str:
        return "EXT-ACTIVITY"

    def _event_matches(self, event: LogEvent, item: dict[str, Any]) -> bool:
        if item.get("type") != event.type:
            return False
        for field_name, key in (("sessionId", event.session), ("actorSessionId", event.actor)):
            if field_name == "sessionId" and not event.check_session:
                continue
            value = item.get(field_name)
            if key is None:
                if value is not None:
                    return False
                continue
            session = self.sessions[key]
            if session.public_id is None and value is not None and self.by_public_id(str(value)) is None:
                session.public_id = str(value)  # learnt from the log: the session never listed
            if session.public_id != (None if value is None else str(value)):
                return False
        if event.count is not None and item.get("count") != event.count:
            return False
        if event.revoked is not None and item.get("revoked") != event.revoked:
            return False
        if event.new_device is not None and item.get("newDevice") is not event.new_device:
            return False
        return True

    def _describe(self, event: LogEvent) -> str:
        parts = []
        for what, key in (("session", event.session), ("actor", event.actor)):
            if key is not None:
                parts.append(f"{what} s{key}")
        for what, value in (("count", event.count), ("revoked", event.revoked), ("newDevice", event.new_device)):
            if value is not None:
                parts.append(f"{what} {value}")
        return ", ".join(parts)
