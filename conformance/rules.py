"""The contract's rules, read from the contract itself: ID, level, title and the contract's own text.

The contract ships inside the package (`conformance/sessions-api.md`, a copy of
the repository's `docs/sessions-api.md` that a test keeps byte-identical), so
the suite installed alone still quotes each rule word for word, and the rule
texts in the suite cannot drift from the contract: there is only one text.

A rule is defined in the contract in one of two ways:
- a heading `### CORE-SIGNUP `POST /signup``, whose text runs to the next heading;
- a bullet `- **HARD-COOKIE** …` (or `- **HARD-IDLE / HARD-ABSOLUTE** …`, one text
  for two rules), whose text runs to the end of that bullet.
Titles are the suite's one-line labels for its rule table; they are not rule text.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from importlib import resources

CORE = "core"
HARDENING = "hardening"
EXTENSIONS = "extensions"
# Each level runs the rules of the levels before it too.
LEVELS = (CORE, HARDENING, EXTENSIONS)
PREFIXES = {"CORE-": CORE, "HARD-": HARDENING, "EXT-": EXTENSIONS}
CONTRACT_FILE = "sessions-api.md"

RULE_ID = r"(?:CORE|HARD|EXT)-[A-Z0-9]+(?:-[A-Z0-9]+)*"
_HEADING = re.compile(rf"### ({RULE_ID})\b")
_BULLET = re.compile(rf"- \*\*({RULE_ID}(?: / {RULE_ID})*)\*\*")

# The suite's short labels, one per rule of the contract (a test checks both ways).
TITLES = {
    "CORE-SIGNUP": "POST /signup creates an account",
    "CORE-LOGIN": "POST /login opens a new session",
    "CORE-LOGOUT": "POST /logout ends the current session",
    "CORE-ME": "GET /me names the session's user",
    "CORE-LIST": "GET /me/sessions lists the user's active sessions",
    "CORE-LAST-ACTIVE": "lastActiveAt follows use",
    "CORE-REVOKE": "DELETE /me/sessions/{id} revokes one session",
    "CORE-REVOKE-ALL": "POST /me/sessions/revoke-all signs out everywhere else",
    "CORE-EX1": "Exercise 1: two browsers, two named sessions",
    "CORE-EX2": "Exercise 2: revoke one session from the other",
    "CORE-EX3": "Exercise 3: revoke all from one of three sessions",
    "HARD-COOKIE": "The session cookie has safe attributes",
    "HARD-TOKEN": "Session tokens are long, random and kept out of sight",
    "HARD-FIXATION": "Login never adopts a cookie it was sent",
    "HARD-PUBLIC-ID": "Listed session ids are not tokens",
    "HARD-CSRF": "Cross-site state changes are refused",
    "HARD-IDLE": "An idle session expires",
    "HARD-ABSOLUTE": "A session dies at the absolute timeout",
    "HARD-CORS": "No credentialed CORS for foreign origins",
    "HARD-ENUM": "Login does not reveal which accounts exist",
    "HARD-NO-STORE": "Authenticated responses are not cached",
    "HARD-BAD-INPUT": "Bad input gets a JSON 4xx and changes nothing",
    "HARD-THROTTLE": "Password guessing is slowed down",
    "EXT-PASSWORD": "POST /me/password changes it and ends the other sessions",
    "EXT-RENAME": "PATCH /me/sessions/{id} names a session",
    "EXT-ACTIVITY": "GET /me/activity is the account's security log",
    "EXT-REASON": "A 401 says why the session stopped working",
    "EXT-NEW-DEVICE": "A login from a new device is flagged",
    "EXT-RECOVER": "A login can end every other session in the same step",
}


@dataclass(frozen=True)
class Rule:
    """One requirement of the contract, named by its stable ID, with the contract's text for it."""

    id: str
    title: str
    text: str

    @property
    def level(self) -> str:
        """Return "core" for CORE-* (MUST), "hardening" for HARD-* (SHOULD), "extensions" for EXT-* (MAY)."""
        return level_of(self.id)


def level_of(rule_id: str) -> str:
    """Return the level a rule ID belongs to, read from its prefix."""
    for prefix, level in PREFIXES.items():
        if rule_id.startswith(prefix):
            return level
    raise ValueError(f"{rule_id!r} is not a rule ID (CORE-…, HARD-… or EXT-…)")


def contract_text() -> str:
    """Return the contract as shipped inside the package."""
    return resources.files("conformance").joinpath(CONTRACT_FILE).read_text(encoding="utf-8")


def parse_contract(text: str) -> dict[str, str]:
    """Return {rule ID: the contract's text defining it}, in the contract's order.

    The text is the defining heading or bullet and what belongs to it, lines
    exactly as written (trailing blank lines dropped).
    """
    lines = text.splitlines()
    found: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        heading, bullet = _HEADING.match(line), _BULLET.match(line)
        if not heading and not bullet:
            index += 1
            continue
        end = index + 1
        if heading:
            ids = [heading.group(1)]
            while end < len(lines) and not lines[end].startswith("#"):
                end += 1
        else:
            ids = bullet.group(1).split(" / ")
            # A bullet goes on over its indented continuation lines.
            while end < len(lines) and lines[end].startswith("  ") and lines[end].strip():
                end += 1
        block = "\n".join(lines[index:end]).rstrip()
        for rule_id in ids:
            if rule_id in found:
                raise ValueError(f"the contract defines {rule_id} twice")
            found[rule_id] = block
        index = end
    return found


def _title(rule_id: str, text: str) -> str:
    # A rule added to the contract before the suite names it still gets a
    # label: its first sentence, without the defining markup.
    if rule_id in TITLES:
        return TITLES[rule_id]
    first = re.sub(r"^(?:### |- \*\*)[^*`]*?(?:\*\* )?", "", text).split(". ")[0]
    return first.splitlines()[0][:70]


def _load() -> dict[str, Rule]:
    return {rule_id: Rule(rule_id, _title(rule_id, text), text) for rule_id, text in parse_contract(contract_text()).items()}


RULES: dict[str, Rule] = _load()


def in_level(rule_id: str, level: str) -> bool:
    """Whether a run at `level` runs this rule: core and hardening run CORE and HARD, extensions all."""
    if level_of(rule_id) == EXTENSIONS:
        return level == EXTENSIONS
    return True


def select(patterns: list[str] | None, level: str = EXTENSIONS) -> list[str]:
    """Return the rule IDs a run at `level` runs that match any pattern (exact IDs or globs), in contract order.

    No patterns means every rule of the level. A pattern that matches nothing
    raises ValueError, so a typo in `--rule` is an error rather than an empty,
    green run; so does one that names only rules above the level.
    """
    scope = [rule_id for rule_id in RULES if in_level(rule_id, level)]
    if not patterns:
        return scope
    chosen: set[str] = set()
    for pattern in patterns:
        wanted = pattern.strip().upper()
        matched = [rule_id for rule_id in RULES if fnmatch.fnmatchcase(rule_id, wanted)]
        if not matched:
            raise ValueError(f"--rule {pattern!r} matches no rule (see --list-rules)")
        allowed = [rule_id for rule_id in matched if rule_id in scope]
        if not allowed:
            raise ValueError(f"--rule {pattern!r} names {EXTENSIONS} rules only: add --level {EXTENSIONS}")
        chosen.update(allowed)
    return [rule_id for rule_id in scope if rule_id in chosen]


def format_table() -> str:
    """Return the rule table as text, one rule per line: ID, level, title."""
    width = max(len(rule_id) for rule_id in RULES)
    lines = [f"{'ID':<{width}}  {'LEVEL':<10}  TITLE"]
    for rule in RULES.values():
        lines.append(f"{rule.id:<{width}}  {rule.level:<10}  {rule.title}")
    return "\n".join(lines)
