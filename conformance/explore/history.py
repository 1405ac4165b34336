"""A history: steps as data, run against a live server and checked against the model after every step.

Invariants:

1. A step is plain data (kind, device, arguments): Hypothesis chooses steps, the
   Runner runs them, and the same list of steps replays without Hypothesis
   (replay before blame) or as a curl script (script.py).
2. The model decides which cookie each request carries (never the device's own
   jar), so a server that sets an unexpected cookie cannot steer the history.
3. After every step the Runner observes what the step may have changed,
   without using any session the model holds alive and unused (a use would
   move its lastActiveAt and hide a server that moves it by itself): every
   ended token of the accounts concerned must be 401 (GET /me), the list of
   each acting session must hold exactly the sessions alive, and at extensions
   its security log must hold exactly the events of the model.
4. A divergence names the rule it breaks (model.Problem); the history up to
   and including that step is the failing history.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import requests

from conformance import rules
from conformance.client import (AGENTS, Device, Target, TransportError, cookie_seconds_left, parse_set_cookie,
                                second_loopback_address, session_path)
from conformance.explore import linearize
from conformance.explore.model import Answer, Model, Problem

USERS = 2
DEVICES_PER_USER = 3
# The device of each user that connects from a second client address, where the target allows one (a target on
# IPv4 loopback, client.second_loopback_address); its other two devices share one address, as two browsers
# behind one home router do.
SECOND_ADDRESS_DEVICE = 2
# Hostile strings (HARD-BAD-INPUT): what some databases refuse, what some renderers reorder, what fills a column.
# A cursor no log ever issued: numeric, as many servers' event ids are, so a server that reads `before` as a
# number and pages from it shows it (EXT-ACTIVITY wants a 400 for anything but the user's own event id).
MADE_UP_EVENT = "987654321987"
HOSTILE = {
    "nul": "a\x00b@example.com",
    "surrogate": "a\ud800b@example.com",
    "bidi": "\u202eelpmaxe@example.com",
    "long": "a" * 5000 + "@example.com",
    # Not hostile: an address with no account, whose refusal must read as a wrong password's (HARD-ENUM).
    "unknown": "nobody-{tag}@example.com",
}
NAMES = {
    "plain": "Work laptop",
    "markup": "<b>Work</b> & laptop",
    "padded": "  Phone  ",
    "null": None,
    "blank": "   ",
    "too-long": "n" * 65,
    "control": "Work\nlaptop",
    "nul": "Work\x00laptop",
    "surrogate": "Work\ud800",
}
# The rule each kind of step checks, for a step that gets no HTTP answer.
RULE_OF = {
    "signup": "CORE-SIGNUP", "signup-hostile": "HARD-BAD-INPUT", "login": "CORE-LOGIN",
    "login-hostile": "HARD-BAD-INPUT", "logout": "CORE-LOGOUT", "me": "CORE-ME", "list": "CORE-LIST",
    "revoke": "CORE-REVOKE", "revoke-all": "CORE-REVOKE-ALL", "password": "EXT-PASSWORD",
    "rename": "EXT-RENAME", "activity": "EXT-ACTIVITY", "activity-page": "EXT-ACTIVITY", "wait": "CORE-LAST-ACTIVE",
}  # fmt: skip
ENDINGS = {"logout": "CORE-LOGOUT", "revoke": "CORE-REVOKE", "revoke-all": "CORE-REVOKE-ALL",
           "password": "EXT-PASSWORD"}  # fmt: skip


class Divergence(AssertionError):
    """The server's answers left the contract at a step: the rule broken, and what was expected instead."""

    def __init__(self, problem: Problem, step: int) -> None:
        self.problem = problem
        self.step = step
        super().__init__(f"step {step}: {problem}")


@dataclass(frozen=True)
class Step:
    """One step of a history. `args` are plain values; `pair` holds two steps sent at the same moment."""

    kind: str
    device: int = -1
    args: tuple[tuple[str, Any], ...] = ()
    pair: tuple["Step", "Step"] | None = None

    def arg(self, name: str, default: Any = None) -> Any:
        return dict(self.args).get(name, default)

    def ending(self) -> bool:
        """Whether this step (or one of a pair) ends sessions: the contract makes those atomic."""
        steps = self.pair if self.pair is not None else (self,)
        return any(s.kind in ENDINGS or (s.kind == "login" and s.arg("end_others")) for s in steps)

    def endings(self) -> tuple[str, ...]:
        """The rules of the step's ending actions (both of a pair of two endings)."""
        steps = self.pair if self.pair is not None else (self,)
        return tuple(ENDINGS[s.kind] if s.kind in ENDINGS else "EXT-RECOVER" for s in steps
                     if s.kind in ENDINGS or (s.kind == "login" and s.arg("end_others")))

    def users(self) -> set[int]:
        """The users whose devices (or, for a signup, whose account) the step or its pair acts for."""
        return {s.device // DEVICES_PER_USER if s.device >= 0 else s.arg("user") for s in (self.pair or (self,))}

    def rule(self) -> str:
        if self.pair is not None:
            kinds = [s.kind for s in self.pair]
            ending = next((ENDINGS[k] for k in kinds if k in ENDINGS), None)
            if self.pair[0].kind == "login" and self.pair[0].arg("end_others"):
                ending = ending or "EXT-RECOVER"
            return ending or self.pair[0].rule()
        if self.kind == "login" and self.arg("end_others"):
            return "EXT-RECOVER"
        return RULE_OF[self.kind]


def pause_seconds(one: Step) -> float:
    """How long a wait step sleeps: its seconds, or (an edge) until a tenth past the clock's next second."""
    if one.arg("edge"):
        return 1.1 - time.time() % 1.0
    return float(one.arg("seconds"))


def step(kind: str, device: int = -1, **args: Any) -> Step:
    return Step(kind, device, tuple(sorted(args.items())))


@dataclass
class Record:
    """What one step did: the requests sent, and for each the answer the model expected and the one it got."""

    number: int
    step: Step
    text: str
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    at: float = 0.0  # the client's clock when the step began (time.time()): in which second its stamps fall


class Runner:
    """Runs steps against the targets (devices spread over them) and checks each against the model."""

    def __init__(self, targets: list[Target], level: str, touch_interval: float | None = None) -> None:
        self.targets = targets
        self.level = level
        self.touch_interval = touch_interval
        tag = secrets.token_hex(4)
        accounts = [(f"explore-{tag}-u{i}@example.com", f"pw-{tag}-u{i}-v0") for i in range(USERS)]
        agents = [AGENTS[d % DEVICES_PER_USER].key for d in range(USERS * DEVICES_PER_USER)]
        self.addresses = [
            second_loopback_address(targets[d % len(targets)]) if d % DEVICES_PER_USER == SECOND_ADDRESS_DEVICE
            else None for d in range(USERS * DEVICES_PER_USER)
        ]
        self.model = Model(level, accounts, agents, [address or "" for address in self.addresses])
        self.devices = [
            Device(targets[d % len(targets)], AGENTS[d % DEVICES_PER_USER], label=f"d{d}",
                   source_address=self.addresses[d])
            for d in range(USERS * DEVICES_PER_USER)
        ]
        self.records: list[Record] = []
        self.requests = 0
        self.pairs = 0
        self.password_versions = [0] * USERS
        self.tag = tag
        # Each user's event ids, as their log last read them: another user's are the cursors a page must refuse.
        self.event_ids: dict[int, list[str]] = {}

    def close(self) -> None:
        for device in self.devices:
            device.close()

    @staticmethod
    def user_of(device: int) -> int:
        return device // DEVICES_PER_USER

    def instance_of(self, device: int) -> int:
        return device % len(self.targets)

    # --- running a step ------------------------------------------------------------------

    def run(self, one: Step) -> None:
        """Run one step (or one concurrent pair) and check it; raise Divergence at the first problem."""
        self.model.step = len(self.records) + 1
        self.model.current_rule = one.rule()
        record = Record(self.model.step, one, self.describe(one), at=time.time())
        self.records.append(record)
        try:
            if one.pair is not None:
                problem = self._run_pair(one, record)
            else:
                problem = self._run_single(one, record)
        except TransportError as exc:
            problem = Problem(one.rule(), f"no HTTP answer: {exc}")
        if problem is not None:
            raise Divergence(problem, record.number)

    def _run_single(self, one: Step, record: Record) -> Problem | None:
        if one.kind == "wait":
            time.sleep(pause_seconds(one))
            if self.touch_interval is not None and not one.arg("edge") and one.arg("seconds") > self.touch_interval:
                self.model.paused()
            return None
        if one.kind == "activity-page":
            problems = self._page(one, record)
        else:
            request = self.request_for(self.model, one)
            answer = self.send(request, record)
            problems = self.apply(self.model, one, request, answer)
        if problems:
            return problems[0]
        plan = self.plan(self.model, [one], probe_alive=False)
        problems = self.check_plan(self.model, plan, self.observe(plan, record))
        return problems[0] if problems else None

    def _page(self, one: Step, record: Record) -> list[Problem]:
        """EXT-ACTIVITY's paging: read the whole log, then one page of it after a cursor; check both."""
        d = one.device
        session = self.model.session_of(d)
        cookie = session.token if session is not None else None
        full = self.send(dict(device=d, method="GET", path="/me/activity", cookie=cookie), record)
        problems = self.model.activity(d, full)
        if problems or full.status != 200:
            return problems
        user = self.user_of(d)
        ids = self._learn_events(d, full)
        kind, position = one.arg("cursor"), one.arg("position")
        others = [i for u, known in self.event_ids.items() if u != user for i in known]
        if kind == "own" and ids:
            cursor = ids[min(position, len(ids) - 1)]
        elif kind == "foreign" and others:
            cursor = others[position % len(others)]
        else:
            kind, cursor = "made-up", MADE_UP_EVENT
        limit = one.arg("limit")
        path = f"/me/activity?limit={limit}&before={urllib.parse.quote(cursor, safe='')}"
        request = dict(device=d, method="GET", path=path, cookie=cookie, cursor=cursor,
                       cursor_from=self._cursor_source(cursor, kind, cookie, d))
        answer = self.send(request, record)
        return self.model.activity_page(d, limit, cursor, kind, full.body, answer)

    def _cursor_source(self, cursor: str, kind: str, cookie: str | None, device: int) -> dict[str, Any] | None:
        """Where a re-run (the curl script, on fresh accounts) finds the same cursor: whose log, read with which
        live token, and the event's place counted from the oldest (a log grows at its newest end). None for a
        made-up cursor, or one whose user holds no live session to read the log with."""
        if kind == "made-up":
            return None
        for user, known in self.event_ids.items():
            if cursor not in known:
                continue
            holder = (self.model.live_session_of(device) if kind == "own"
                      else next(iter(self.model.alive_sessions(user)), None))
            if holder is None or (kind == "own" and holder.token != cookie):
                return None
            return {"token": holder.token, "instance": self.instance_of(holder.device),
                    "from_oldest": len(known) - 1 - known.index(cursor)}
        return None

    def _learn_events(self, device: int, answer: Answer) -> list[str]:
        """Keep the event ids of a whole log the device's user read (a 200); return them."""
        if answer.status != 200 or not isinstance(answer.body, list):
            return self.event_ids.get(self.user_of(device), [])
        ids = [str(item.get("id")) for item in answer.body if isinstance(item, dict)]
        self.event_ids[self.user_of(device)] = ids
        return ids

    def _run_pair(self, one: Step, record: Record) -> Problem | None:
        self.pairs += 1
        first, second = one.pair
        requests_ = [self.request_for(self.model, first), self.request_for(self.model, second)]
        answers = self.send_together(requests_, record)
        plans: dict[str, Any] = {}
        self.model.logins_together = first.kind == second.kind == "login"

        def observe(model: Model) -> dict[str, Any]:
            plans["plan"] = self.plan(model, [first, second], probe_alive=True)
            return self.observe(plans["plan"], record)

        outcome = linearize.check(
            self.model,
            [(first, requests_[0], answers[0]), (second, requests_[1], answers[1])],
            apply=self.apply,
            observe=observe,
            check=lambda model, seen: self.check_plan(model, plans["plan"], seen),
            blame=one.rule() if one.ending() else None,
            endings=one.endings(),
        )
        self.model.logins_together = False
        if outcome.model is not None:
            self.model = outcome.model
            self.model.logins_together = False
            record.text += f"   [explained by the order {outcome.order}]"
            return None
        return outcome.problem

    # --- requests ------------------------------------------------------------------------

    def request_for(self, model: Model, one: Step) -> dict[str, Any]:
        """Build the HTTP request of a step from the model's state: method, path, body, cookie, device."""
        d = one.device
        session = model.session_of(d) if d >= 0 else None
        cookie = session.token if session is not None else None
        user = self.user_of(d) if d >= 0 else one.arg("user")
        account = model.accounts[user]
        kind = one.kind
        if kind == "signup":
            email = account.email.upper() if one.arg("case") == "upper" else account.email
            return dict(device=d, method="POST", path="/signup", json={"email": email, "password": account.password},
                        cookie=None, user=user)
        if kind == "signup-hostile":
            return dict(device=d, method="POST", path="/signup",
                        json={"email": HOSTILE[one.arg("text")], "password": "long-enough-password"}, cookie=None)
        if kind == "login":
            password = {"right": account.password, "wrong": account.password + "-wrong",
                        "old": (account.old_passwords or [account.password + "-never"])[-1]}[one.arg("password")]
            body: dict[str, Any] = {"email": account.email, "password": password}
            if one.arg("end_others") is not None:
                body["endOtherSessions"] = one.arg("end_others")
            return dict(device=d, method="POST", path="/login", json=body, cookie=cookie, user=user, password=password)
        if kind == "login-hostile":
            return dict(device=d, method="POST", path="/login", cookie=cookie,
                        json={"email": HOSTILE[one.arg("text")].format(tag=self.tag), "password": account.password})
        if kind == "logout":
            return dict(device=d, method="POST", path="/logout", cookie=cookie)
        if kind == "me":
            return dict(device=d, method="GET", path="/me", cookie=cookie)
        if kind == "list":
            return dict(device=d, method="GET", path="/me/sessions", cookie=cookie)
        if kind == "revoke-all":
            return dict(device=d, method="POST", path="/me/sessions/revoke-all", cookie=cookie)
        if kind in ("revoke", "rename"):
            target = self.resolve(model, d, one.arg("target"))
            request = dict(device=d, method="DELETE" if kind == "revoke" else "PATCH",
                           path=session_path(target.removeprefix("made-up:")), cookie=cookie, target=target)
            if kind == "rename":
                request["json"] = {"name": NAMES[one.arg("name")]}
            return request
        if kind == "password":
            self.password_versions[user] += 1
            new = f"pw-{self.tag}-u{user}-v{self.password_versions[user]}"
            if one.arg("new") == "short":
                new = "short"
            current = account.password if one.arg("current") == "right" else account.password + "-wrong"
            return dict(device=d, method="POST", path="/me/password", json={"currentPassword": current,
                        "newPassword": new}, cookie=cookie)
        if kind == "activity":
            return dict(device=d, method="GET", path="/me/activity", cookie=cookie)
        raise ValueError(f"no such step: {kind}")

    def resolve(self, model: Model, device: int, spec: str) -> str:
        """Turn a target spec (current, sibling-N, foreign-N, ended-N, made-up) into a public id to send."""
        own = model.session_of(device)
        user = self.user_of(device)
        kind, _, number = spec.partition("-")
        index = int(number) if number.isdigit() else 0
        candidates: list[Any] = []
        if kind == "current" and own is not None:
            candidates = [own]
        elif kind == "sibling":
            candidates = [s for s in model.sessions if s.user == user and s.alive and s is not own]
        elif kind == "foreign":
            # Another user's live session first: the one a server that checks no owner would really end.
            foreign = [s for s in model.sessions if s.user != user]
            candidates = [s for s in foreign if s.alive] or foreign
        elif spec.startswith("of-device-"):
            held = model.session_of(int(spec.rsplit("-", 1)[1]))
            candidates = [held] if held is not None else []
        elif kind == "ended":
            candidates = [s for s in model.sessions if s.user == user and not s.alive]
        candidates = [s for s in candidates if s.public_id is not None]
        if not candidates:
            return "made-up:" + self._made_up(model)
        return candidates[index % len(candidates)].public_id

    @staticmethod
    def _made_up(model: Model) -> str:
        from conformance.client import made_up_id

        known = next((s.public_id for s in model.sessions if s.public_id), None)
        return made_up_id(known) if known else "0f3c9d2e7a1b4c5d"

    def send(self, request: dict[str, Any], record: Record) -> Answer:
        device = self.devices[request["device"]] if request["device"] >= 0 else self.devices[0]
        kwargs: dict[str, Any] = {"cookie": request.get("cookie"), "follow_cookies": False}
        if "json" in request:
            kwargs["json"] = request["json"]
        self.requests += 1
        response = device.request(request["method"], request["path"], **kwargs)
        answer = self.answer(device, response)
        record.exchanges.append({"request": request, "status": answer.status, "body": answer.body,
                                 "set_cookie": answer.cookie, "instance": self.instance_of(max(request["device"], 0)),
                                 "tag": self.tag, "source": device.source_address})
        return answer

    def send_together(self, requests_: list[dict[str, Any]], record: Record) -> list[Answer]:
        """Send two requests at the same moment from two threads; return both answers."""
        barrier = threading.Barrier(len(requests_))
        answers: list[Answer | BaseException | None] = [None] * len(requests_)
        scratch = [Record(0, Step("x"), "") for _ in requests_]

        def go(i: int) -> None:
            try:
                barrier.wait(timeout=10)
                answers[i] = self.send(requests_[i], scratch[i])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                answers[i] = exc

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(requests_))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, scratch_record in enumerate(scratch):
            for exchange in scratch_record.exchanges:
                exchange["together"] = True
                record.exchanges.append(exchange)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers  # type: ignore[return-value]

    def answer(self, device: Device, response: requests.Response) -> Answer:
        try:
            body = json.loads(response.content.decode("utf-8")) if response.content else None
        except (UnicodeDecodeError, ValueError):
            body = None
        cookie = None
        for raw in device.set_cookies(response):
            name, value, attrs = parse_set_cookie(raw)
            if name != device.target.cookie_name:
                continue
            left = cookie_seconds_left(attrs)
            cookie = "" if (left is not None and left <= 0) or not value else value
            if cookie:
                device.target.redact.add(cookie)
        return Answer(response.status_code, body, cookie, "Retry-After" in response.headers)

    # --- the model's side -----------------------------------------------------------------

    def apply(self, model: Model, one: Step, request: dict[str, Any], answer: Answer) -> list[Problem]:
        """Apply a step's answer to a model; return the problems the model finds in it."""
        d, kind = one.device, one.kind
        if kind == "signup":
            return model.signup(request["user"], answer, request["json"]["email"])
        if kind == "signup-hostile":
            return model.refused_input(answer, "HARD-BAD-INPUT", "signup with a hostile email")
        if kind == "login":
            return model.login(d, request["user"], request["password"], answer, one.arg("end_others"),
                               token_used=request.get("cookie"))
        if kind == "login-hostile":
            if one.arg("text") == "unknown":
                return model.login(d, None, request["json"]["password"], answer)
            if answer.status == 401:
                return []
            return model.refused_input(answer, "HARD-BAD-INPUT", "login with a hostile email")
        if kind == "logout":
            return model.logout(d, answer)
        if kind == "me":
            return model.me(d, answer)
        if kind == "list":
            return model.list(d, answer)
        if kind == "revoke":
            return model.revoke(d, request["target"], answer)
        if kind == "revoke-all":
            return model.revoke_all(d, answer)
        if kind == "password":
            return model.change_password(d, request["json"]["currentPassword"], request["json"]["newPassword"],
                                         answer)
        if kind == "rename":
            return model.rename(d, request["target"], request["json"]["name"], answer)
        if kind == "activity":
            return model.activity(d, answer)
        raise ValueError(kind)

    # --- observing ------------------------------------------------------------------------

    def plan(self, model: Model, steps: list[Step], probe_alive: bool) -> dict[str, Any]:
        """What to look at after these steps: tokens to probe with GET /me, sessions whose list to read."""
        users = sorted({self.user_of(s.device) for s in steps if s.device >= 0} |
                       {s.arg("user") for s in steps if s.arg("user") is not None})
        probes: list[tuple[int, str]] = []
        for session in model.sessions:
            if session.user not in users:
                continue
            if not session.alive or probe_alive:
                probes.append((session.device, session.token))
            probes += [(session.device, token) for token in session.old_tokens]
        listers = {}
        for s in steps:
            session = model.session_of(s.device) if s.device >= 0 else None
            if session is not None:
                listers[s.device] = session.token
        return {"users": users, "probes": probes, "listers": listers}

    def observe(self, plan: dict[str, Any], record: Record) -> dict[str, Any]:
        """Make the plan's requests; return {"probes": {token: Answer}, "lists": …, "logs": …} by device."""
        seen: dict[str, Any] = {"probes": {}, "lists": {}, "logs": {}}
        for device, token in plan["probes"]:
            seen["probes"][token] = self._look(device, "/me", token, record)
        for device, token in plan["listers"].items():
            seen["lists"][token] = self._look(device, "/me/sessions", token, record)
        if self.level == rules.EXTENSIONS:
            for device, token in plan["listers"].items():
                seen["logs"][token] = self._look(device, "/me/activity", token, record)
        return seen

    def _look(self, device: int, path: str, token: str, record: Record) -> Answer:
        self.requests += 1
        response = self.devices[device].get(path, cookie=token, follow_cookies=False)
        answer = self.answer(self.devices[device], response)
        if path == "/me/activity":
            self._learn_events(device, answer)
        record.exchanges.append({"request": {"device": device, "method": "GET", "path": path, "cookie": token,
                                             "look": True},
                                 "status": answer.status, "body": answer.body, "set_cookie": answer.cookie,
                                 "instance": self.instance_of(device), "tag": self.tag,
                                 "source": self.devices[device].source_address})
        return answer

    def check_plan(self, model: Model, plan: dict[str, Any], seen: dict[str, Any]) -> list[Problem]:
        """Compare what the plan saw with a model (the one model, or a candidate order of a pair)."""
        for token, answer in seen["probes"].items():
            session, reason = model.token_state(token)
            if session is None:
                continue
            if reason:
                if answer.status == 200:
                    rule = session.ended_rule if token == session.token else "EXT-PASSWORD"
                    why = (f"ended at step {session.ended_step} ({session.ended_reason})" if token == session.token
                           else "replaced by a password change")
                    return [Problem(rule or "CORE-LOGOUT", f"GET /me with the token of session s{session.key} "
                                    f"answered 200, but that token was {why}")]
                problems = model.unauthenticated(answer, session.ended_rule or "CORE-ME", reason)
                if problems:
                    return problems
            else:
                model.used(session)
                if answer.status != 200:
                    return [Problem(model._alive_rule(session), f"GET /me with the token of session s{session.key}, "
                                    f"alive, answered {answer.status}")]
        for token, answer in seen["lists"].items():
            session, reason = model.token_state(token)
            if session is None:
                continue
            if reason:
                problems = model.unauthenticated(answer, session.ended_rule or "CORE-LIST", reason)
            elif answer.status != 200:
                problems = [Problem(model._alive_rule(session), f"GET /me/sessions with session s{session.key}, "
                                    f"alive, answered {answer.status}")]
            else:
                model.used(session, listing=True)
                problems = model.check_list(session, answer.body)
            if problems:
                return problems
        for token, answer in seen["logs"].items():
            session, reason = model.token_state(token)
            if session is None or reason or answer.status != 200:
                continue
            problems = model.check_events(session.user, answer.body)
            if problems:
                return problems
        return []

    # --- words ------------------------------------------------------------------------------

    def describe(self, one: Step) -> str:
        if one.pair is not None:
            return " ∥ ".join(self.describe(s) for s in one.pair) + "   (sent at the same moment)"
        if one.kind == "wait":
            return "wait into the next second" if one.arg("edge") else f"wait {one.arg('seconds'):g} s"
        if one.device < 0:
            who = f"u{one.arg('user')}" if one.arg("user") is not None else "anyone"
        else:
            where = f", instance {self.instance_of(one.device) + 1}" if len(self.targets) > 1 else ""
            if self.addresses[one.device] is not None:
                where += f", from {self.addresses[one.device]}"
            who = f"d{one.device} (u{self.user_of(one.device)}, {AGENTS[one.device % DEVICES_PER_USER].key}{where})"
        words = {
            "signup": lambda: "POST /signup" + (" (the email upper-cased)" if one.arg("case") == "upper" else ""),
            "signup-hostile": lambda: f"POST /signup with a hostile email ({one.arg('text')})",
            "login": lambda: f"POST /login with the {one.arg('password')} password"
            + ("" if one.arg("end_others") is None else f", endOtherSessions {str(one.arg('end_others')).lower()}"),
            "login-hostile": lambda: f"POST /login with a hostile email ({one.arg('text')})",
            "logout": lambda: "POST /logout",
            "me": lambda: "GET /me",
            "list": lambda: "GET /me/sessions",
            "revoke": lambda: f"DELETE /me/sessions/<{one.arg('target')}>",
            "revoke-all": lambda: "POST /me/sessions/revoke-all",
            "password": lambda: f"POST /me/password (current {one.arg('current')}, new {one.arg('new')})",
            "rename": lambda: f"PATCH /me/sessions/<{one.arg('target')}> name {one.arg('name')}",
            "activity": lambda: "GET /me/activity",
            "activity-page": lambda: f"GET /me/activity, then ?limit={one.arg('limit')}&before=<{one.arg('cursor')} "
                                     f"event {one.arg('position')}>",
        }
        return f"{who}: {words[one.kind]()}"


def run_history(targets: list[Target], level: str, history: list[Step],
                touch_interval: float | None) -> tuple[Divergence | None, list[Record]]:
    """Run a history on fresh accounts; return its divergence (None when it passes) and the records of its steps."""
    runner = Runner(targets, level, touch_interval)
    try:
        for one in history:
            runner.run(one)
    except Divergence as divergence:
        return divergence, runner.records
    finally:
        runner.close()
    return None, runner.records


def replay(targets: list[Target], level: str, history: list[Step], touch_interval: float | None) -> Divergence | None:
    """Run a history again on fresh accounts; return its divergence, or None when it passes now."""
    return run_history(targets, level, history, touch_interval)[0]
