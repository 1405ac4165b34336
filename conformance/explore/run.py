"""One exploration: histories within a budget, the shortest failing one replayed before it is blamed.

A divergence is reported only if its shrunk history diverges again when run
once more on fresh accounts (up to REPLAYS times): timing on a loaded
machine must never be reported as a bug. One that does not reproduce is
reported as a note, with its history, and does not fail the run. A history
that ends at a concurrent pair is first tried with the pair's two requests
one after the other (_unpair): where the bug shows without the race, that
is the history reported.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import run_state_machine_as_test

from conformance.client import Target
from conformance.explore import script
from conformance.explore.history import Divergence, Record, Step, replay, run_history, step
from conformance.explore.machine import Budget, Config, machine_for

# Time is the budget that binds (45 s): a fast server runs about 220 histories at extensions in it. The cap only
# bounds the examples Hypothesis still draws, without I/O, once the time is spent (about 7 ms each).
DEFAULT_EXAMPLES = 250
DEFAULT_SECONDS = 45.0
# Shrinking gets this long beyond the budget, so a failure found late is still shrunk.
SHRINK_SECONDS = 15.0
STEPS_PER_HISTORY = 25
REPLAYS = 3
# A pause put where a history's run crossed into a new second (_pin_seconds): surely across one second's edge.
CROSSING_SECONDS = 1.1


@dataclass
class Result:
    """What an exploration did and found."""

    seed: int
    histories: int = 0
    steps: int = 0
    requests: int = 0
    pairs: int = 0
    seconds: float = 0.0
    rule: str = ""  # the rule a reproduced divergence breaks ("" when none)
    message: str = ""
    history: list[Record] = field(default_factory=list)
    steps_of_history: list[Step] = field(default_factory=list)
    reproduced: str = ""  # "2 of 3 replays", or "" when nothing was found
    flaky: bool = False  # found once, never again in REPLAYS replays: not blamed
    script_path: str = ""
    replay_command: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.rule) and not self.flaky


def explore(
    targets: list[Target],
    level: str,
    *,
    touch_interval: float | None = None,
    examples: int = DEFAULT_EXAMPLES,
    seconds: float = DEFAULT_SECONDS,
    seed: int | None = None,
    database: str | None = None,
    steps: int = STEPS_PER_HISTORY,
    shrink: bool = True,
    script_dir: str | None = None,
    command: list[str] | None = None,
    recover: bool = True,
    shrink_seconds: float = SHRINK_SECONDS,
) -> Result:
    """Explore histories against the targets; return what was run and the shortest reproduced divergence."""
    seed = random.SystemRandom().randrange(1, 2**31) if seed is None else seed
    result = Result(seed)
    started = time.monotonic()
    budget = Budget(started + seconds, shrink_seconds if shrink else 0.0)
    config = Config(targets, level, touch_interval, budget, recover)
    machine = hypothesis_seed(seed)(machine_for(config))
    phases = [Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    run_settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=False,
        database=DirectoryBasedExampleDatabase(database) if database else None,
        phases=phases,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    try:
        run_state_machine_as_test(machine, settings=run_settings)
    except Divergence:
        pass
    except Exception as exc:  # noqa: BLE001 - Hypothesis' Flaky and friends: the finding speaks, if any
        if budget.finding is None:
            raise
        del exc
    result.histories, result.steps = budget.histories, budget.steps
    result.requests, result.pairs = budget.requests, budget.pairs
    if budget.finding is not None:
        history, records, divergence = budget.finding
        if shrink:
            history, records, divergence = _pin_seconds(targets, level, touch_interval, history, records, divergence)
            history, records, divergence = _drop_steps(targets, level, touch_interval, history, records, divergence,
                                                       time.monotonic() + shrink_seconds)
            unpaired = _unpair(targets, level, touch_interval, history, records, divergence)
            if unpaired[0] is not history:  # one step longer, and another rule's steps may go now
                history, records, divergence = _drop_steps(targets, level, touch_interval, *unpaired,
                                                           time.monotonic() + shrink_seconds)
        result.rule = divergence.problem.rule
        result.message = str(divergence)
        result.history, result.steps_of_history = records, history
        hits = 0
        for attempt in range(1, REPLAYS + 1):
            again = replay(targets, level, history, touch_interval)
            if again is not None:
                hits += 1
                break
        result.reproduced = f"reproduced at replay {attempt} of {REPLAYS}" if hits else f"not reproduced in {REPLAYS} replays"
        result.flaky = hits == 0
        if script_dir is not None:
            path = Path(script_dir) / f"explore-{seed}.sh"
            path.write_text(script.curl_script(targets, records, divergence), encoding="utf-8")
            path.chmod(0o755)
            result.script_path = str(path)
    if command is not None:
        result.replay_command = " ".join(_quote(arg) for arg in [*command, "--explore-seed", str(seed)])
    result.seconds = time.monotonic() - started
    return result


def _drop_steps(targets: list[Target], level: str, touch_interval: float | None, history: list[Step],
                records: list[Record], divergence: Divergence, deadline: float) -> tuple[Any, Any, Divergence]:
    """Finish Hypothesis' shrinking: drop single steps while the history still breaks the same rule.

    Hypothesis stops when its time is up; a history of concurrent pairs on a
    live server shrinks slowly there. One step at a time, last to first, is
    cheap and keeps each step's meaning (steps name devices, not sessions).
    The pauses go first, each costs a second in every history tried after it;
    a history without one must diverge twice, not once by a second's chance.
    A history that ends in a race gets two tries, as a race may not fire.
    """
    history, records, divergence = _drop_bystanders(targets, level, touch_interval, history, records, divergence)
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for pauses in (True, False):
            for index in range(len(history) - 2, -1, -1):  # a drop moves only the steps already tried
                if time.monotonic() > deadline:
                    break
                if (history[index].kind == "wait") != pauses:
                    continue
                shorter = history[:index] + history[index + 1:]
                again, shorter_records = run_history(targets, level, shorter, touch_interval)
                if again is None and shorter[-1].pair is not None:
                    # A race need not come out the same way on the first try: a second before the step is kept.
                    again, shorter_records = run_history(targets, level, shorter, touch_interval)
                if pauses and _same(again, divergence, len(shorter)):
                    # Without a pause, a second's edge may have fallen at the right place by chance: twice, then.
                    again, shorter_records = run_history(targets, level, shorter, touch_interval)
                if _same(again, divergence, len(shorter)):
                    history, records, divergence = shorter, shorter_records, again
                    changed = True
    return history, records, divergence


def _drop_bystanders(targets: list[Target], level: str, touch_interval: float | None, history: list[Step],
                     records: list[Record], divergence: Divergence) -> tuple[Any, Any, Divergence]:
    """Drop, in one try each, the steps that most likely do not matter: the other user's, and those refused.

    A history of twenty steps with two pauses costs three seconds a run, and
    dropping its steps one by one would take a minute; most of its steps are
    the other user's or refusals (a 4xx changes nothing but counts). Tried
    together first, then each kind alone; the first that still diverges the
    same way is kept.
    """
    involved = history[-1].users()

    def other_user(one: Step) -> bool:
        if one.kind == "wait":
            return False  # a pause is everyone's: it moves the clock under every user's sessions
        return not one.users() & involved

    def refused(record: Record) -> bool:
        sent = [x for x in record.exchanges if not x["request"].get("look")]
        return bool(sent) and all(400 <= x["status"] < 500 for x in sent)

    bystanders = [other_user(one) for one in history[:-1]]
    refusals = [refused(record) for record in records[:-1]]
    for drop in ([a or b for a, b in zip(bystanders, refusals)], bystanders, refusals):
        if not any(drop):
            continue
        shorter = [one for one, dropped in zip(history, drop + [False]) if not dropped]
        again, shorter_records = run_history(targets, level, shorter, touch_interval)
        if _same(again, divergence, len(shorter)):
            return shorter, shorter_records, again
    return history, records, divergence


def _pin_seconds(targets: list[Target], level: str, touch_interval: float | None, history: list[Step],
                 records: list[Record], divergence: Divergence) -> tuple[Any, Any, Divergence]:
    """The history with a pause wherever its run crossed into a new second of the clock, if it diverges so too.

    Timestamps have a second's resolution: a list in the wrong order, or a lastActiveAt that moved, shows only
    between sessions whose stamps fall in different seconds. A history of quick steps crosses a second's edge
    at a random step, so the bug it found comes back in one replay of ten; with the crossing made a pause (a
    step of its own), it comes back in every one. The step-dropping tries the pauses first, and keeps one
    only if the history without it fails twice.
    """
    # Where the run crossed between steps. Else, if the history does not come back as it is: the edge may have
    # fallen inside the last step (between a pair's requests and the looks after them), so before that step.
    timed = crossings_paused(history, records)
    if len(timed) == len(history):
        if len(history) < 2 or history[-2].kind == "wait":
            return history, records, divergence
        if run_history(targets, level, history, touch_interval)[0] is not None:
            return history, records, divergence
        timed = history[:-1] + [step("wait", seconds=CROSSING_SECONDS), history[-1]]
    again, again_records = run_history(targets, level, timed, touch_interval)
    # At the same step, though perhaps another rule: a pair that no order explained by chance is blamed on one
    # of its endings, where the pair run across a pause shows the bug as it is (a list in the wrong order).
    if again is not None and again.step == len(timed):
        return timed, again_records, again
    return history, records, divergence


def crossings_paused(history: list[Step], records: list[Record]) -> list[Step]:
    """The history with a pause before each step its run began in a later second than the step before."""
    timed: list[Step] = []
    for i, (one, record) in enumerate(zip(history, records)):
        if i and "wait" not in (one.kind, history[i - 1].kind) and int(record.at) != int(records[i - 1].at):
            timed.append(step("wait", seconds=CROSSING_SECONDS))
        timed.append(one)
    return timed


def _same(again: Divergence | None, divergence: Divergence, steps: int) -> bool:
    """Whether a run again broke the same rule at its last step."""
    return again is not None and again.problem.rule == divergence.problem.rule and again.step == steps


def _unpair(targets: list[Target], level: str, touch_interval: float | None, history: list[Step],
            records: list[Record], divergence: Divergence) -> tuple[Any, Any, Divergence]:
    """Where a history diverges at a concurrent pair, try the pair's two requests one after the other, each order.

    A pair that no order explains is blamed on one of its endings, and two
    endings can be equally guilty on what the pair shows: a logout racing a
    revoke-all, after which the revoke-all's own session is refused, breaks
    CORE-LOGOUT if the logout ended it and CORE-REVOKE-ALL if the revoke-all
    did. If the same bug shows with no concurrency, that history says which,
    needs no timing to come back, and is what a person can act on; a bug
    that only a race shows (a login slipping past a password change) keeps
    its pair.
    """
    last = history[-1]
    if last.pair is None:
        return history, records, divergence
    for first, second in (last.pair, last.pair[::-1]):
        sequential = history[:-1] + [first, second]
        again, sequential_records = run_history(targets, level, sequential, touch_interval)
        if again is not None and again.step >= len(history):  # at one of the two, not before them
            return sequential, sequential_records, again
    return history, records, divergence


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def summary(result: Result) -> str:
    """One line: what ran, and what was found."""
    ran = (f"{result.histories} histories, {result.steps} steps ({result.pairs} concurrent pairs), "
           f"{result.requests} requests in {result.seconds:.0f} s, seed {result.seed}")
    if not result.rule:
        return f"no divergence: {ran}"
    if result.flaky:
        return f"a divergence did not reproduce ({result.reproduced}), not blamed: {result.message}; {ran}"
    return f"{result.rule} breaks at step {len(result.history)} of a shrunk history: {result.message}; {ran}"


def numbered(result: Result, redact: Any = None) -> str:
    """The failing history as numbered steps, each with its requests, the model's verdict and the answers."""
    lines = []
    last = len(result.history)
    for record in result.history:
        lines.append(f"{record.number}. {record.text}")
        for exchange in record.exchanges:
            request = exchange["request"]
            if request.get("look") and record.number != last:
                continue
            mark = "  ⇉ " if exchange.get("together") else "    "
            what = "look: " if request.get("look") else ""
            body = script.short_json(exchange["body"])
            lines.append(f"{mark}{what}{request['method']} {request['path']} [d{request['device']}] → "
                         f"{exchange['status']} {body}")
    if result.rule:
        lines.append(f"   ✗ {result.message}")
    text = "\n".join(lines)
    return redact(text) if redact is not None else text
