"""The suite's command-line options, shared by the pytest plugin and `python -m conformance`."""

from __future__ import annotations

import argparse
from typing import Any

from conformance import rules

ENV_BASE_URL = "CONFORMANCE_BASE_URL"

# (flags, argparse keyword arguments): pytest_addoption and `python -m conformance`
# both build their options from this one table.
OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--base-url",),
        dict(
            metavar="URL",
            default=None,
            help="server under test, path prefix allowed (e.g. --base-url http://localhost:3000/api); "
            f"default: ${ENV_BASE_URL}; with neither (nor --start-reference) the suite refuses to run (exit 2)",
        ),
    ),
    (
        ("--start-reference",),
        dict(
            action="store_true",
            default=False,
            help="check the reference server instead: the suite starts `python -m impl` on a free port with a "
            "throw-away database and stops it afterwards; needs the reference server installed beside the suite "
            "(from a checkout of the repository: pip install -e .)",
        ),
    ),
    (
        ("--level",),
        dict(
            choices=list(rules.LEVELS),
            default=None,
            help="core (default): MUST rules decide the exit code, hardening failures show as WARN; "
            "hardening: the HARD-* (SHOULD) rules count too; extensions: the EXT-* (MAY) rules run and "
            "count as well (e.g. --level hardening)",
        ),
    ),
    (
        ("--rule",),
        dict(
            action="append",
            default=[],
            metavar="ID",
            help="run only this rule: an ID or a glob, repeatable (e.g. --rule CORE-REVOKE --rule 'HARD-*')",
        ),
    ),
    (
        ("--list-rules",),
        dict(action="store_true", default=False, help="print the rule table and exit"),
    ),
    (
        ("--cookie-name",),
        dict(
            metavar="NAME",
            default=None,
            help="the session cookie's name (e.g. --cookie-name sid); default: learnt from the first "
            "login's Set-Cookie, else `session`",
        ),
    ),
    (
        ("--user",),
        dict(
            action="append",
            default=[],
            metavar="EMAIL:PASSWORD",
            help="an existing account, for targets without /signup; give two "
            "(e.g. --user a@example.com:secret1 --user b@example.com:secret2); signup tests then skip",
        ),
    ),
    (
        ("--idle-timeout",),
        dict(
            type=float,
            default=None,
            metavar="S",
            help="the target's idle timeout in seconds; switches on the HARD-IDLE checks, which wait it out "
            "(e.g. --idle-timeout 4)",
        ),
    ),
    (
        ("--absolute-timeout",),
        dict(
            type=float,
            default=None,
            metavar="S",
            help="the target's absolute timeout in seconds; switches on the HARD-ABSOLUTE checks "
            "(e.g. --absolute-timeout 8)",
        ),
    ),
    (
        ("--touch-interval",),
        dict(
            type=float,
            default=None,
            metavar="S",
            help="how often the target refreshes lastActiveAt, in seconds; switches on the checks that "
            "lastActiveAt moves (e.g. --touch-interval 1)",
        ),
    ),
    (
        ("--https",),
        dict(
            action="store_true",
            default=False,
            help="the target is served over TLS (implied by an https:// base URL): the cookie must be Secure "
            "and the target's origin is https://",
        ),
    ),
    (
        ("--expect-failures",),
        dict(
            metavar="FILE",
            default=None,
            help="rules this implementation is known to fail, one `RULE-ID reason` per line; they show as "
            "XFAIL, and a listed rule that passes fails the run (e.g. --expect-failures known-gaps.txt)",
        ),
    ),
    (
        ("--require-complete",),
        dict(
            action="store_true",
            default=False,
            help="fail the run (exit 1) when a rule that counts at this level was skipped or only partly checked, "
            "e.g. HARD-IDLE without --idle-timeout",
        ),
    ),
    (
        ("--json-report",),
        dict(
            metavar="FILE",
            default=None,
            help="write the per-rule results as JSON (e.g. --json-report report.json)",
        ),
    ),
]


class _BaseUrls(argparse.Action):
    """--base-url, repeatable: the first is the suite's target; all of them are the instances --explore spreads devices over."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        urls = list(getattr(namespace, "base_urls", None) or [])
        urls.append(values)
        namespace.base_urls = urls
        if len(urls) == 1:
            setattr(namespace, self.dest, values)


def base_urls(option: Any) -> list[str]:
    """Every --base-url given, in order (one at most from the environment when none was)."""
    return list(getattr(option, "base_urls", None) or ([option.base_url] if option.base_url else []))


OPTIONS[0][1]["action"] = _BaseUrls
OPTIONS[0][1]["help"] += (
    "; repeat it to name several instances of one server (--base-url A --base-url B): the fixed checks use "
    "the first, --explore spreads its devices over all"
)
OPTIONS += [
    (
        ("--explore",),
        dict(
            action="store_true",
            default=False,
            help="also explore random multi-device histories and concurrent pairs against a model of the "
            "contract, shrinking any divergence to a short history and a curl script (e.g. --explore)",
        ),
    ),
    (
        ("--explore-only",),
        dict(
            action="store_true",
            default=False,
            help="explore only: run no fixed check (e.g. --explore-only --explore-seconds 20)",
        ),
    ),
    (
        ("--explore-examples",),
        dict(type=int, default=None, metavar="N",
             help="explore at most N histories (default 250; e.g. --explore-examples 30)"),
    ),
    (
        ("--explore-seconds",),
        dict(type=float, default=None, metavar="S",
             help="explore for at most S seconds, shrinking a divergence apart (default 45; e.g. --explore-seconds 20)"),
    ),
    (
        ("--explore-seed",),
        dict(type=int, default=None, metavar="SEED",
             help="replay the exploration of this seed, as printed by a run (e.g. --explore-seed 1234)"),
    ),
    (
        ("--explore-db",),
        dict(default=None, metavar="DIR",
             help="keep Hypothesis' failing histories in DIR and try them first next time "
             "(default: none kept; e.g. --explore-db .explore-db)"),
    ),
    (
        ("--explore-dir",),
        dict(default=None, metavar="DIR",
             help="write a failing history's curl script in DIR (default: the system's temporary folder; "
             "e.g. --explore-dir .)"),
    ),
]
