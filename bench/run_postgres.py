#!/usr/bin/env python3
"""Benchmark of the PostgreSQL store against the SQLite one: one command, loopback only.

How to run
----------
    .venv/bin/python bench/run_postgres.py           # ~6 min: bench/results/postgres.md + postgres.json
    .venv/bin/python bench/run_postgres.py --quick   # ~3 min smoke run (100,000-row large table)

It needs wrk (as bench/run.py) and PostgreSQL's server binaries (Debian's
`postgresql`): it starts a throwaway PostgreSQL server of its own
(tests/postgres.py, pytest-postgresql's executor) with PostgreSQL's default
settings (fsync and synchronous_commit on) in a temporary folder, on the
same two cores as everything else, and stops it at the end.

What it measures (wrk -t2 -c16, medians of interleaved rounds)
--------------------------------------------------------------
- GET /healthz of the PostgreSQL-backed server, GET /me on the SQLite
  backend and GET /me on the PostgreSQL backend (over its Unix socket, and
  once over TCP loopback), one session and 1,000 rotating, interleaved in one run: the issue's target is PostgreSQL /me at
  least 0.6 x SQLite /me. Both servers run `run_server.py` with the same
  defaults (two workers of two threads), access log off (it costs both the
  same and is not what is compared).
- GET /me/sessions for a user with 1,000 sessions, one connection (-t1 -c1):
  p50 on each backend (target under 20 ms).
- POST /me/sessions/revoke-all ending 10,000 sessions, wall time seen by the
  client, on an otherwise idle server; fresh users, median (target 50 ms).
- GET /me over 1,000 rotating cookies on two PostgreSQL databases holding
  10,000 and 1,000,000 sessions (interleaved), and the same lookup
  in-process (SessionManager.authenticate, wall µs: the database is another
  process; 21 passes alternating between the tables, median): flat means a
  ratio near 1 (target +-20%). The in-process figure is the steadier one
  on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import seed
from harness import ROOT, Load, Scenario, Server, check_me, find_wrk, log, request, server_defaults
from seed_postgres import PostgresSeeder

# The tests' throwaway PostgreSQL server: tests/ is not an installed package,
# so the checkout's root has to be on the path for this one import.
sys.path.insert(0, ROOT)
from tests import postgres  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))

RESULTS = os.path.join(BENCH, "results")


def write_cookies(path: str, tokens: Sequence[str]) -> str:
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    return path


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def run_cells(load: Load, cells: Sequence[tuple[str, Server, Scenario]], rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Run every cell once per round, round after round; return each cell's runs."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in cells}
    for rnd in range(rounds):
        for name, server, scenario in cells:
            figures = load.run(server.url + scenario.path, scenario.args, duration=scenario.duration)
            if figures["errors"]:
                raise RuntimeError(f"{name}: wrk saw errors {figures['errors']}")
            runs[name].append(figures)
            log(f"round {rnd + 1}: {name}: {figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.2f} ms")
    return runs


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: round(median_of(runs, k), 2) for k in ("rps", "p50_ms", "p99_ms")}


def time_revoke_all(server: Server, tokens: Sequence[str], expected: int) -> list[float]:
    times = []
    for token in tokens:
        status, _, body, seconds = request(server.url, "POST", "/me/sessions/revoke-all", cookie=token)
        if status != 200 or body.get("revoked") != expected:
            raise RuntimeError(f"revoke-all on {server.name} answered {status} {body}")
        check_me(server.url, token, "the session that revoked all others")
        times.append(round(seconds * 1000, 1))
        log(f"revoke-all on {server.name}: {seconds * 1000:.1f} ms")
    return times


def inprocess_lookups(tables: dict[str, tuple[str, list[str]]], passes: int = 21) -> dict[str, float]:
    """Median wall µs of SessionManager.authenticate per table, passes alternating between tables.

    Wall time, since the database is another process; alternating pass by
    pass so that the machine's other load falls on every table alike.
    """
    from impl.config import Config
    from impl.sessions import SessionManager
    from impl.store import open_store

    managers = {name: SessionManager(open_store(db), Config(db=db)) for name, (db, _) in tables.items()}
    try:
        for name, (_, tokens) in tables.items():
            for token in tokens:  # the first use of each writes its last-active time
                if managers[name].authenticate(token) is None:
                    raise RuntimeError("a seeded session did not authenticate")
        per_call: dict[str, list[float]] = {name: [] for name in tables}
        for _ in range(passes):
            for name, (_, tokens) in tables.items():
                manager = managers[name]
                started = time.perf_counter()
                for token in tokens:
                    manager.authenticate(token)
                per_call[name].append((time.perf_counter() - started) / len(tokens) * 1e6)
        return {name: round(statistics.median(times), 1) for name, times in per_call.items()}
    finally:
        for manager in managers.values():
            manager.store.close()


def seed_main(seeder: seed.Seeder, revokers: int, per_revoke: int) -> dict[str, Any]:
    rotation = seeder.add_sessions(seeder.add_users(250, "rotation"), 4, keep_tokens=1000)
    list1000 = seeder.add_sessions(seeder.add_users(1, "list1000"), 1000, stale=False, keep_tokens=1)[0]
    revoking = []
    for i in range(revokers):
        user = seeder.add_users(1, f"revoker{i}")
        revoking.append(seeder.add_sessions(user, 1, stale=False, keep_tokens=1)[0])
        seeder.add_sessions(user, per_revoke, keep_tokens=0)
    rows = seeder.sessions
    seeder.write()
    return {"rotation": rotation, "list1000": list1000, "revokers": revoking, "rows": rows}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs, 1 round, 100,000-row large table")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 8; 3 with --quick)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 1 with --quick)")
    p.add_argument("--big-table", type=int, help="sessions in the large table (default 1,000,000; 100,000 quick)")
    p.add_argument("--revoke-sessions", type=int, default=10_000)
    p.add_argument("--revoke-repeats", type=int, default=3)
    p.add_argument("--out", help="output path without extension (default bench/results/postgres[-quick])")
    args = p.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 8.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.big_table = args.big_table or (100_000 if args.quick else 1_000_000)
    args.out = args.out or os.path.join(RESULTS, "postgres-quick" if args.quick else "postgres")

    wrk = find_wrk()
    defaults = server_defaults()
    load = Load(wrk, args.duration, 16, 2)
    workdir = tempfile.mkdtemp(prefix="sessions-bench-pg-")
    started = time.monotonic()
    result: dict[str, Any] = {
        "meta": {
            "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "settings": vars(args),
            "server": f"run_server.py --workers {defaults.workers} --threads {defaults.threads} --no-access-log",
            "cpus": os.cpu_count(),
        }
    }
    log("starting a throwaway PostgreSQL server (default settings)")
    pg = postgres.start(options="-c max_connections=200")
    servers: list[Server] = []
    try:
        import psycopg

        with psycopg.connect(pg.admin_url) as conn:
            result["meta"]["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]

        def server(name: str, db: str) -> Server:
            s = Server(name, db, workdir, workers=defaults.workers, threads=defaults.threads, access_log=False)
            servers.append(s)
            s.start()
            return s

        log(f"seeding both backends: 1,000 rotating sessions, a 1,000-session user, "
            f"{args.revoke_repeats} x {args.revoke_sessions:,} sessions to revoke")
        sqlite_db = os.path.join(workdir, "main.db")
        # Over the Unix socket, as a database on the same machine is reached;
        # the same database over TCP loopback is measured beside it.
        pg_tcp = pg.new_database()
        pg_db = pg.socket_url(pg_tcp)
        on_sqlite = seed_main(seed.Seeder(sqlite_db), args.revoke_repeats, args.revoke_sessions)
        on_pg = seed_main(PostgresSeeder(pg_db), args.revoke_repeats, args.revoke_sessions)
        result["meta"]["main_table_sessions"] = on_pg["rows"]
        sq, pq, pt = server("sqlite", sqlite_db), server("postgres", pg_db), server("postgres-tcp", pg_tcp)
        load.servers = [sq, pq, pt]
        scenarios = {}
        for backend, s, seeded in (("sqlite", sq, on_sqlite), ("postgres", pq, on_pg)):
            hot = request(s.url, "POST", "/signup", {"email": "hot@bench.example", "password": "bench-password-1"})
            from harness import login

            token = login(s.url, "hot@bench.example", signup=False)
            cookies = write_cookies(os.path.join(workdir, f"rotation-{backend}.txt"), seeded["rotation"])
            scenarios[backend] = {
                "me": Scenario("me", "GET /me, one session", "/me", ["header", "Cookie", f"session={token}"]),
                "me_rot": Scenario("me_rot", "GET /me, 1,000 rotating", "/me", ["cookies", cookies]),
            }
            del hot
            # Warm-up: every worker, and the first (stale) use of each rotating session writes once.
            load.run(s.url + "/me", scenarios[backend]["me_rot"].args, duration=2)
        healthz = Scenario("healthz", "GET /healthz", "/healthz", [])
        cells = [
            ("postgres /healthz", pq, healthz),
            ("sqlite /me, one session", sq, scenarios["sqlite"]["me"]),
            ("postgres /me, one session", pq, scenarios["postgres"]["me"]),
            ("postgres over TCP /me, one session", pt, scenarios["postgres"]["me"]),
            ("sqlite /me, 1,000 rotating", sq, scenarios["sqlite"]["me_rot"]),
            ("postgres /me, 1,000 rotating", pq, scenarios["postgres"]["me_rot"]),
        ]
        log(f"headline: {args.rounds} interleaved round(s) of {args.duration:g} s")
        headline = run_cells(load, cells, args.rounds)
        result["headline"] = {name: summary(runs) for name, runs in headline.items()}

        log("GET /me/sessions, 1,000 sessions, one connection")
        single = Load(wrk, args.duration, 1, 1, [sq, pq])
        result["list1000_c1"] = {}
        for backend, s, seeded in (("sqlite", sq, on_sqlite), ("postgres", pq, on_pg)):
            status, _, body, _ = request(s.url, "GET", "/me/sessions", cookie=seeded["list1000"])
            if status != 200 or len(body) != 1000:
                raise RuntimeError(f"{backend}: GET /me/sessions gave {status}, {len(body or [])} sessions")
            scn = Scenario("list", "list", "/me/sessions", ["header", "Cookie", f"session={seeded['list1000']}"])
            result["list1000_c1"][backend] = summary([single.run(s.url + scn.path, scn.args)])

        log(f"revoke-all of {args.revoke_sessions:,} sessions")
        result["revoke_all_ms"] = {
            backend: time_revoke_all(s, seeded["revokers"], args.revoke_sessions)
            for backend, s, seeded in (("sqlite", sq, on_sqlite), ("postgres", pq, on_pg))
        }
        for s in (sq, pq, pt):
            s.stop()

        log(f"lookup vs table size on PostgreSQL: 10,000 and {args.big_table:,} sessions")
        tables = {}
        for size in (10_000, args.big_table):
            db = pg.socket_url(pg.new_database())
            begun = time.monotonic()
            seeder = PostgresSeeder(db)
            users = seeder.add_users(max(1, size // 200), "user")
            tokens = seeder.add_sessions(users, max(1, size // len(users)), keep_tokens=1000)
            seeder.write()
            log(f"seeded {size:,} sessions in {time.monotonic() - begun:.0f} s")
            name = f"{size:,} sessions"
            tables[name] = (db, tokens)
        result["inprocess_lookup_us"] = inprocess_lookups(tables)
        table_cells = []
        for name, (db, tokens) in tables.items():
            s = server(f"table-{len(table_cells)}", db)
            cookies = write_cookies(os.path.join(workdir, f"table-{len(table_cells)}.txt"), tokens)
            scn = Scenario("me_rot", name, "/me", ["cookies", cookies])
            load.run(s.url + "/me", scn.args, duration=2)  # warm-up and first touches
            table_cells.append((f"postgres /me, {name}", s, scn))
        load.servers = [c[1] for c in table_cells]
        result["table"] = {name: summary(runs) for name, runs in run_cells(load, table_cells, max(1, args.rounds - 1)).items()}
        problems = [line for s in servers for line in s.problems()]
        result["server_problems"] = problems[:20]
    finally:
        for s in servers:
            s.stop()
        pg.close()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    result["meta"]["elapsed_s"] = round(time.monotonic() - started)
    text = report(result)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(text + "\n")
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1, default=str)
        f.write("\n")
    print(text)
    return 0


def report(r: dict[str, Any]) -> str:
    h = r["headline"]
    me_ratio = h["postgres /me, one session"]["rps"] / h["sqlite /me, one session"]["rps"]
    rot_ratio = h["postgres /me, 1,000 rotating"]["rps"] / h["sqlite /me, 1,000 rotating"]["rps"]
    health = h["postgres /healthz"]["rps"]
    lines = [
        f"# PostgreSQL store vs SQLite store ({r['meta']['started']}, PostgreSQL {r['meta'].get('postgresql')},"
        f" {r['meta']['cpus']} CPUs shared by server, database and wrk)",
        "",
        f"Server: `{r['meta']['server']}`; wrk -t2 -c16, medians of {r['meta']['settings']['rounds']} interleaved"
        f" round(s) of {r['meta']['settings']['duration']:g} s.",
        "",
        "| request | req/s | p50 ms | p99 ms | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in h.items():
        ratio = ""
        if name.startswith("postgres over TCP"):
            ratio = f"{f['rps'] / h['sqlite /me, one session']['rps']:.2f} of SQLite, {f['rps'] / health:.2f} of /healthz"
        elif name.startswith("postgres /me"):
            ratio = f"{f['rps'] / h[name.replace('postgres', 'sqlite')]['rps']:.2f} of SQLite, {f['rps'] / health:.2f} of /healthz"
        elif name.startswith("sqlite /me"):
            ratio = f"{f['rps'] / health:.2f} of /healthz"
        lines.append(f"| {name} | {f['rps']:,.0f} | {f['p50_ms']:.2f} | {f['p99_ms']:.1f} | {ratio} |")
    lines += ["", "| other | SQLite | PostgreSQL |", "|---|---:|---:|"]
    lines.append(
        f"| GET /me/sessions, 1,000 sessions, one connection, p50 ms | {r['list1000_c1']['sqlite']['p50_ms']:.1f}"
        f" | {r['list1000_c1']['postgres']['p50_ms']:.1f} |"
    )
    rv = r["revoke_all_ms"]
    lines.append(
        f"| revoke-all of {r['meta']['settings']['revoke_sessions']:,} sessions, median ms ({r['meta']['main_table_sessions']:,}-row table)"
        f" | {statistics.median(rv['sqlite']):.1f} | {statistics.median(rv['postgres']):.1f} |"
    )
    t = r["table"]
    names = list(t)
    lines += [
        "",
        "| PostgreSQL lookup vs table size | req/s | p50 ms | in-process µs |",
        "|---|---:|---:|---:|",
    ]
    for name in names:
        size = name.split(", ", 1)[1]
        lines.append(f"| {size} | {t[name]['rps']:,.0f} | {t[name]['p50_ms']:.2f} | {r['inprocess_lookup_us'][size]:.0f} |")
    small, big = names
    lines += [
        "",
        f"- PostgreSQL /me at {me_ratio:.2f} of SQLite /me (one session), {rot_ratio:.2f} (1,000 rotating); target 0.6.",
        f"- Large table vs 10,000: req/s x{t[big]['rps'] / t[small]['rps']:.2f}, p50 x{t[big]['p50_ms'] / t[small]['p50_ms']:.2f},"
        f" in-process x{r['inprocess_lookup_us'][big.split(', ', 1)[1]] / r['inprocess_lookup_us'][small.split(', ', 1)[1]]:.2f}; target within 20%.",
        f"- Server log problems: {len(r.get('server_problems', []))}. Elapsed {r['meta']['elapsed_s']} s.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
