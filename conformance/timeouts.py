"""What the HARD-IDLE and HARD-ABSOLUTE checks share: the margin they wait, and the declared values they need."""

from __future__ import annotations

import pytest

# Timestamps have one-second resolution and clocks tick unevenly: wait this much
# beyond a deadline before calling a session late to die.
MARGIN = 1.5
# Contract default, assumed when --absolute-timeout is not declared.
DEFAULT_ABSOLUTE = 24 * 60 * 60


def require_declared(value: float | None, option: str) -> float:
    """Return the declared timeout, or skip the check, saying which option declares it."""
    if value is None:
        pytest.skip(f"declare the target's value with {option} S to check this (the check waits it out)")
    return value
