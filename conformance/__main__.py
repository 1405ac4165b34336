"""Command line: `python -m conformance [options] [-- extra pytest args]` runs the suite through pytest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.options import ENV_BASE_URL, OPTIONS, base_urls

PACKAGE_DIR = Path(__file__).resolve().parent

EPILOG = f"""\
For a student after the lesson: `python -m conformance lesson --base-url URL` takes your
server through the lesson's steps, with each request as a curl command and a hint at the
first failure (`python -m conformance lesson --help`).

examples:
  python -m conformance --base-url http://localhost:3000
  python -m conformance --base-url http://localhost:3000/api --level hardening --json-report out.json
  python -m conformance --rule CORE-REVOKE --rule 'HARD-*' --base-url http://localhost:3000
  python -m conformance --user a@example.com:secret123 --user b@example.com:secret456 --base-url URL
  python -m conformance --idle-timeout 4 --absolute-timeout 10 --touch-interval 1 --base-url URL
  python -m conformance --level extensions --require-complete --base-url URL
  python -m conformance --start-reference    # checks the reference server (python -m impl), started here
  python -m conformance --base-url URL -- -x -v   # anything after -- goes to pytest

The base URL may also come from ${ENV_BASE_URL}. With neither, nor --start-reference,
the suite refuses to run (exit 2): a gate whose URL is unset must not pass. With
--start-reference it starts the reference server on a free port with a temporary
database (and --scrypt-n 1024, only to keep that run fast) and stops it afterwards.

exit status: 0 every selected MUST rule passed (HARD rules too at --level hardening,
EXT rules too at --level extensions);
1 a rule failed, an --expect-failures entry is stale or unknown, or with
--require-complete a rule was skipped or only partly checked;
2 the suite could not run (no target named, target unreachable or not this API,
bad options, nothing collected).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Check a server against the sessions API contract (docs/sessions-api.md), over HTTP only.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="synonym for --level hardening",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="write each failed check in full: its traceback, the rule's text and its HTTP exchanges "
        "(tokens shortened), as the JSON and JUnit reports hold them (e.g. -v)",
    )
    parser.add_argument(
        "--junit-xml",
        metavar="FILE",
        help="also write a JUnit XML report; each test carries its rule ID as a property (e.g. --junit-xml out.xml)",
    )
    return parser


def pytest_arguments(namespace: argparse.Namespace, extra: list[str]) -> list[str]:
    """Translate parsed options into pytest's argument list."""
    args = [
        str(PACKAGE_DIR),
        "-p", "conformance.plugin",
        "--rootdir", str(PACKAGE_DIR),
        "-p", "no:cacheprovider",
        "-q",
        "-rN",
    ]  # fmt: skip
    for flags, kwargs in OPTIONS:
        flag = flags[0]
        value = getattr(namespace, flag.lstrip("-").replace("-", "_"))
        if flag == "--base-url":
            for url in base_urls(namespace):
                args += [flag, url]
        elif kwargs.get("action") == "append":
            for item in value:
                args += [flag, item]
        elif kwargs.get("action") == "store_true":
            if value:
                args.append(flag)
        elif value is not None:
            args += [flag, str(value)]
    if namespace.strict:
        args += ["--level", "hardening"]
    if namespace.verbose:
        # pytest's own failure reports, each with the rule's text and the exchanges.
        args.append("--tb=short")
    if namespace.junit_xml:
        args += ["--junit-xml", namespace.junit_xml]
    return args + extra


def main(argv: list[str] | None = None) -> int:
    """Run the suite; return 0 (all MUST rules passed), 1 (a rule failed) or 2 (could not run)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["lesson"]:
        from conformance import lesson

        # The command the student typed, so that "run the same command again" is that command.
        typed = "python -m conformance" if Path(sys.argv[0]).name == "__main__.py" else "sessions-conformance"
        return lesson.main(argv[1:], prog=f"{typed} lesson")
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    try:
        namespace = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits 0 for --help and 2 for a bad option, as we want.
        return int(exc.code or 0)
    if namespace.strict and namespace.level == "core":
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: --strict contradicts --level core", file=sys.stderr)
        return 2
    import pytest  # imported late so that --help stays quick

    code = int(pytest.main(pytest_arguments(namespace, extra)))
    return code if code in (0, 1) else 2


if __name__ == "__main__":
    sys.exit(main())
