"""Preconditions: what a check needs from another rule before it can check its own, and who is blamed when that fails.

A check of HARD-CSRF that a same-origin revoke-all is not refused needs
revoke-all to work (CORE-REVOKE-ALL) to see that the request went through. When
it does not, the fault lies with CORE-REVOKE-ALL, not with HARD-CSRF: the check
wraps that step in `precondition("CORE-REVOKE-ALL", ...)`, and a failure inside
becomes PreconditionFailed naming that rule. The plugin reports it as an error
of the check ("precondition failed (CORE-REVOKE-ALL): …"), not as a FAIL of
the rule under test; it still fails the run (nothing was checked), and the
blamed rule fails on its own checks when it is selected.

A precondition that names the rule under test is no precondition: its failure
is that rule's failure (the plugin decides, as only it knows the rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from conformance import rules


class PreconditionFailed(AssertionError):
    """A step that belongs to another rule failed inside a check; `rule_id` names that rule."""

    def __init__(self, rule_id: str, message: str) -> None:
        if rule_id not in rules.RULES:
            raise ValueError(f"precondition names no rule of the contract: {rule_id!r}")
        self.rule_id = rule_id
        self.detail = message
        super().__init__(f"precondition failed ({rule_id}): {message}")


@contextmanager
def precondition(rule_id: str, what: str) -> Iterator[None]:
    """Turn an assertion failing inside the block into PreconditionFailed blaming `rule_id`, saying `what` was needed."""
    __tracebackhide__ = True
    try:
        yield
    except PreconditionFailed:
        raise
    except AssertionError as exc:
        raise PreconditionFailed(rule_id, f"{what}: {_first_line(exc)}") from exc


def blamed_rule(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str | None:
    """Return the rule a failed check's precondition belongs to, or None when the check failed on its own."""
    if excinfo is None:
        return None
    value: Any = excinfo.value
    return value.rule_id if isinstance(value, PreconditionFailed) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
