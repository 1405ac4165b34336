#!/usr/bin/env python3
"""Where the time of one GET /me goes, measured in-process (no HTTP server, no wrk).

    .venv/bin/python bench/profile_me.py                 # breakdown table, access log on and off
    .venv/bin/python bench/profile_me.py --profile pyinstrument   # also a call tree (pip install pyinstrument)
    .venv/bin/python bench/profile_me.py --profile cprofile       # also cProfile's top functions
    .venv/bin/python bench/profile_me.py --path /me/sessions --sessions 1000

It builds the app with create_app on a temporary database seeded by
bench/seed.py, then calls the WSGI callable in a loop with a valid cookie, as
a granian worker thread would (one thread: no contention, no GIL hand-offs).
The breakdown times each step of the request on its own, with the same
objects the app uses, so the parts can be compared with the whole; they do
not add up exactly (the whole has call overheads and cache effects the
parts lack). The access log goes to a file, as it does under the benchmark.
"""

from __future__ import annotations

import argparse
import io
import logging
import logging.config
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import seed


def environ_for(path: str, token: str | None) -> dict[str, Any]:
    """Return the environ granian would pass for a small GET on loopback."""
    env = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:3000",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        env["HTTP_COOKIE"] = f"session={token}"
    return env


def per_call_us(fn: Callable[[], Any], n: int, repeats: int = 5) -> float:
    """Return the median over `repeats` of the CPU µs per call of `fn`, called `n` times.

    CPU time of this thread, not wall time: other work on a shared machine
    then inflates the figures much less.
    """
    results = []
    for _ in range(repeats):
        started = time.thread_time()
        for _ in range(n):
            fn()
        results.append((time.thread_time() - started) / n * 1e6)
    return statistics.median(results)


def configure_logging(access_log_path: str) -> None:
    """Use the server's own logging set-up, with stderr pointed at a file."""
    from impl.logs import logging_config

    config = logging_config()
    for handler in config["handlers"].values():
        handler.pop("stream", None)
        handler.update({"class": "logging.FileHandler", "filename": access_log_path})
    logging.config.dictConfig(config)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/profile_me.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--path", default="/me", help="route to call")
    p.add_argument("--sessions", type=int, default=1, help="sessions of the calling user (for /me/sessions)")
    p.add_argument("--table", type=int, default=10_000, help="other sessions in the table")
    p.add_argument("-n", type=int, default=20_000, help="calls per measurement")
    p.add_argument("--profile", choices=("none", "cprofile", "pyinstrument"), default="none")
    args = p.parse_args(argv)

    from impl import create_app
    from impl.app import json_body
    from impl.sessions import Session, hash_token, is_well_formed_token
    from impl.store import SessionRow
    from impl.web import session_cookie

    workdir = tempfile.mkdtemp(prefix="sessions-profile-")
    db = os.path.join(workdir, "profile.db")
    seeder = seed.Seeder(db)
    token = seeder.add_sessions(seeder.add_users(1, "me"), args.sessions, stale=False, keep_tokens=1)[0]
    seeder.add_sessions(seeder.add_users(max(1, args.table // 200), "other"), 200)
    seeder.write()
    configure_logging(os.path.join(workdir, "access.log"))

    apps = {flag: create_app({"db": db, "access_log": flag}) for flag in (True, False)}
    app = apps[True]
    # The access log writes to stderr, as the server's does; here, to a file.
    access_file = open(os.path.join(workdir, "access.log"), "a")  # noqa: SIM115 (open for the whole run)
    app.access_log.stream = access_file
    sink = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        sink.append(status)
        return sink.append

    def call(a: Any, path: str, tok: str | None) -> Callable[[], Any]:
        def once() -> Any:
            body = b"".join(a(environ_for(path, tok), start_response))
            sink.clear()
            return body

        return once

    first = call(app, args.path, token)()
    if not first.startswith((b"{", b"[")) or b"error" in first[:20]:
        raise SystemExit(f"{args.path} did not answer as expected: {first[:200]!r}")

    manager = app.services.sessions
    store = app.services.store
    cutoffs = manager.cutoffs(manager.now_ms())
    token_hash = hash_token(token)
    row = store.find_session(token_hash, cutoffs)
    env = environ_for(args.path, token)
    n = args.n

    rows: list[tuple[str, float]] = [
        (f"whole request, access log on: app(environ) {args.path}", per_call_us(call(apps[True], args.path, token), n)),
        (f"whole request, access log off: app(environ) {args.path}", per_call_us(call(apps[False], args.path, token), n)),
        ("whole request, access log off: /healthz (no session, no SQL)", per_call_us(call(apps[False], "/healthz", None), n)),
        ("whole request, access log off: /me without cookie (401)", per_call_us(call(apps[False], "/me", None), n)),
        ("  building the environ dict (bench overhead, not the app's)", per_call_us(lambda: environ_for(args.path, token), n)),
        ("  bottle routing: app.router.match(environ)", per_call_us(lambda: app.router.match(env), n)),
        ("  access-log line: AccessLog.write(...) to a file", per_call_us(
            lambda: app.access_log.write(env, "200", 0.0001234), n)),
        ("  SessionManager.authenticate(token) (parse → SQL → Session)", per_call_us(lambda: manager.authenticate(token), n)),
        ("    session_cookie(environ)", per_call_us(lambda: session_cookie(env), n)),
        ("    is_well_formed_token (regex)", per_call_us(lambda: is_well_formed_token(token), n)),
        ("    hash_token (sha256)", per_call_us(lambda: hash_token(token), n)),
        ("    manager.cutoffs(now)", per_call_us(lambda: manager.cutoffs(manager.now_ms()), n)),
        ("    store.find_session (SQLite: cursor, PK read + join)", per_call_us(
            lambda: store.find_session(token_hash, cutoffs), n)),
        ("    Session.from_row", per_call_us(lambda: Session.from_row(SessionRow(*row), token_hash), n)),
        ("  json_body({id, email})", per_call_us(lambda: json_body({"id": row.user_id, "email": row.email}), n)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"CPU time per call, median of 5 x {n:,} calls, one thread (Python {sys.version.split()[0]}):")
    for name, us in rows:
        print(f"  {name:<{width}}  {us:8.1f} µs")

    if args.profile != "none":
        once = call(app, args.path, token)
        if args.profile == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0001)
            profiler.start()
            for _ in range(n):
                once()
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        else:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
            for _ in range(n):
                once()
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
