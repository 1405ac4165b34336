"""Two requests sent at the same moment, accepted only if one order of the two explains everything (Jepsen's check, for a pair).

A pair is linearizable when, for one of its two orders, the model taking the
first request and then the second predicts both answers, and then predicts
what the observation after the pair sees (who is alive, the lists, the
logs). The model is copied for each order (model.Model.copy); the order that
explains everything becomes the model from then on.

When no order explains the answers, the divergence is blamed on the pair's
ending action where it has one (of two, the one the likeliest order finds
broken) (the contract makes endings atomic under
concurrency: CORE-REVOKE-ALL for two revoke-alls, EXT-PASSWORD for a login
racing a password change), else on the first problem of the order that got
furthest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from conformance.explore.model import Answer, Model, Problem


@dataclass
class Outcome:
    model: Model | None  # the model after the order that explains the pair, or None
    order: str = ""
    problem: Problem | None = None


def check(
    model: Model,
    items: list[tuple[Any, dict[str, Any], Answer]],
    apply: Callable[[Model, Any, dict[str, Any], Answer], list[Problem]],
    observe: Callable[[Model], dict[str, Any]],
    check: Callable[[Model, dict[str, Any]], list[Problem]],
    blame: str | None,
    endings: tuple[str, ...] = (),
) -> Outcome:
    """Return the model of the first order of `items` that explains their answers and the observation after them."""
    orders = [(0, 1), (1, 0)]
    candidates: list[tuple[str, Model]] = []
    failures: list[tuple[int, Problem, str]] = []
    for order in orders:
        candidate = model.copy()
        name = " then ".join(("first", "second")[i] for i in order)
        explained = 0
        for i in order:
            step, request, answer = items[i]
            problems = apply(candidate, step, request, answer)
            if problems:
                failures.append((explained, problems[0], name))
                break
            explained += 1
        else:
            candidates.append((name, candidate))
    if not candidates:
        furthest = max(failures, key=lambda failure: failure[0])
        return Outcome(None, problem=_blamed(blame, endings, furthest[1], "no order of the two explains both answers"))
    seen = observe(candidates[0][1])
    first_problem = None
    for name, candidate in candidates:
        problems = check(candidate, seen)
        if not problems:
            return Outcome(candidate, name)
        first_problem = first_problem or problems[0]
    assert first_problem is not None
    return Outcome(None, problem=_blamed(blame, endings, first_problem, "no order of the two explains the state after them"))


def _blamed(blame: str | None, endings: tuple[str, ...], problem: Problem, what: str) -> Problem:
    # Of two endings, the one whose effect the likeliest order finds missing (a revoke beside a revoke-all whose
    # ended session still answers breaks CORE-REVOKE-ALL, not CORE-REVOKE).
    rule = problem.rule if problem.rule in endings else blame or problem.rule
    return Problem(rule, f"{what}; in the likeliest order: {problem.rule}: {problem.message}")
