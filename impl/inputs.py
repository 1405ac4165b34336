"""What text a request may carry, checked once at the edge, before any database sees it (HARD-BAD-INPUT).

Invariants:
- No string of a JSON body, key or value, at any depth, holds a NUL
  character or a lone surrogate. JSON can carry both (`\\u0000`, `\\ud800`);
  PostgreSQL refuses NUL in text, no UTF-8 column can hold a surrogate, and
  SQLite would store either. Refused here, both backends see the same text.
- No string of a JSON body is longer than MAX_TEXT characters. Every field
  the API knows is far shorter (a password at most 1,024, an email 254, a
  name 64); a longer one is refused as a whole with a 400 rather than
  reaching an index that cannot hold it.
- The refusal names the field, never echoes the value.
"""

from __future__ import annotations

from typing import Any

from .errors import BadRequest

# Four times the longest field (a password): room for any honest value.
MAX_TEXT = 4096


def unstorable(text: str) -> str | None:
    """Say what makes `text` unfit for any database column, or None when it is fine."""
    if len(text) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_body(body: dict[str, Any]) -> dict[str, Any]:
    """Return a parsed JSON object unchanged, or raise BadRequest at its first unstorable string.

    Walked with a stack, not recursion: json.loads already bounded the
    depth, and this adds no frame per level.
    """
    stack: list[tuple[str, Any]] = [(key, value) for key, value in body.items()]
    for key in body:
        problem = unstorable(key)
        if problem:
            raise BadRequest(f"A field name of the body {problem}.")
    while stack:
        field, value = stack.pop()
        if isinstance(value, str):
            problem = unstorable(value)
            if problem:
                raise BadRequest(f"{field} {problem}.")
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = unstorable(key)
                if problem:
                    raise BadRequest(f"A field name inside {field} {problem}.")
                stack.append((field, item))
        elif isinstance(value, list):
            stack.extend((field, item) for item in value)
    return body
