"""The benchmark's results: raw runs, medians, targets, and the Markdown report."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from typing import Any

from harness import HOST, Scenario, Served, log

# The project's performance goals, as bench/README.md states them.
TARGET_ME_RATIO = 0.6
TARGET_P99_MS = 20.0
TARGET_LIST_P50_MS = 20.0
TARGET_REVOKE_MS = 200.0
TARGET_FLAT = 1.2
NODE_LABEL = "examples/node-server (in-memory map, one process, no SQLite)"
# Rows of the headline table, in order: (server, scenario, server column, request column, access log).
HEADLINE_ROWS = [
    ("wsgi", "hello", "raw WSGI hello (granian)", "GET /healthz, 3-line WSGI app", "none"),
    ("bottle", "hello", "bare Bottle hello (granian)", "GET /healthz, one Bottle route", "none"),
    ("log", "healthz", "reference", "GET /healthz (ceiling)", "on"),
    ("log", "me", "reference", "GET /me, one session", "on"),
    ("log", "me_rotating", "reference", "GET /me, 1,000 sessions rotating", "on"),
    ("nolog", "healthz", "reference", "GET /healthz (ceiling)", "off"),
    ("nolog", "me", "reference", "GET /me, one session", "off"),
    ("nolog", "me_rotating", "reference", "GET /me, 1,000 sessions rotating", "off"),
    ("node", "me", NODE_LABEL, "GET /me, one session", "none"),
    ("node", "me_rotating", NODE_LABEL, "GET /me, 1,000 sessions rotating", "none"),
]
# Quoted from the team's earlier measurement on this kind of machine, not measured here.
NODE_REFERENCE = (
    "A Node.js implementation of the same contract (in-memory session map plus SQLite): "
    "~14,400 authenticated req/s, p99 3.4 ms"
)


@dataclass
class Results:
    """Everything one run measured; `runs` holds every wrk run, the rest is derived."""

    meta: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def record(self, group: str, server: Served, scenario: Scenario, rnd: int, figures: dict[str, Any]) -> None:
        self.runs.append(
            {"group": group, "server": server.name, "scenario": scenario.key, "round": rnd, **figures}
        )
        errors = figures["errors"]
        log(
            f"{group:9} {server.name:6} {scenario.label:34} round {rnd + 1}: {figures['rps']:8,.0f} req/s"
            f"  p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:7.2f} ms"
            f"  others' CPU {figures.get('foreign_cpu', 0):4.0%}" + (f"  ERRORS {errors}" if errors else "")
        )
        if errors:
            self.notes.append(f"{server.name} {scenario.label} round {rnd + 1}: wrk counted errors {errors}")

    def median(self, group: str, server: str, scenario: str) -> dict[str, Any]:
        """Return the median figures of one cell over its rounds, and the rounds' req/s."""
        rows = [r for r in self.runs if (r["group"], r["server"], r["scenario"]) == (group, server, scenario)]
        if not rows:
            return {}
        return {
            "rps": statistics.median(r["rps"] for r in rows),
            "p50_ms": statistics.median(r["p50_ms"] for r in rows),
            "p99_ms": statistics.median(r["p99_ms"] for r in rows),
            "rounds_rps": [round(r["rps"]) for r in rows],
            "requests": sum(r["requests"] for r in rows),
            "errors": sum(sum(r["errors"].values()) for r in rows),
            "foreign_cpu_max": max(r.get("foreign_cpu", 0.0) for r in rows),
        }


def pct(value: float) -> str:
    return f"{value:.0%}"


def ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def judge(results: Results, name: str, measured: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
    results.targets.append({"target": name, "measured": measured, "result": verdict})


def header_lines(results: Results, args: argparse.Namespace) -> list[str]:
    m = results.meta["machine"]
    lines = [
        f"Machine: {m['nproc']} cores (nproc), {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"Python {m['python']}, granian {m['granian']}, Bottle {m['bottle']}, SQLite {m['sqlite']}.",
        f"Server: `{results.meta['server']}` on {HOST}, temporary database, every other setting at its "
        "default (touch interval 60 s, purge interval 300 s); access log to a file.",
        f"Load generator: {m['load_generator']}, `-t{args.wrk_threads} -c{args.connections} -d{args.duration:g}s`, "
        f"on the same {m['nproc']} cores as the server. Latencies are wrk's (closed loop, no connect time).",
        others_line(results),
        f"Load average (1, 5, 15 min) before: {results.meta['loadavg_before']}; after: {results.meta['loadavg_after']}. "
        f"Run took {results.meta['elapsed_s']:.0f} s{' (quick smoke run: indicative only)' if args.quick else ''}.",
    ]
    return lines


def others_line(results: Results) -> str:
    """Say how much of the machine other processes took while the runs were measured."""
    shares = sorted(r.get("foreign_cpu", 0.0) for r in results.runs)
    if not shares:
        return "No wrk run."
    line = (f"Other processes on the machine used a median {pct(statistics.median(shares))}, at most "
            f"{pct(shares[-1])}, of its CPU during the measured runs (column \"others\").")
    if shares[-1] > 0.1:
        line += " Runs above ~10% were disturbed: compare figures within this report, not with other runs."
    return line


def report_main(results: Results, args: argparse.Namespace) -> str:
    r = results
    out = [f"# Benchmark of the reference server, {r.meta['started']}", ""]
    out += [f"- {line}" for line in header_lines(r, args)]
    out += headline_lines(r, args)

    out += ["## Other requests (server with access log on)", "",
            "| request | req/s | p50 ms | p99 ms | requests | errors | others |", "|---|---:|---:|---:|---:|---:|---:|"]
    for group, key, label in (("list", "list10", "GET /me/sessions, 10 sessions"),
                              ("list", "list1000", "GET /me/sessions, 1,000 sessions"),
                              ("list", "list1000_c1", "GET /me/sessions, 1,000 sessions, 1 connection (-t1 -c1)"),
                              ("login", "login", "POST /login")):
        cell = r.median(group, "log" if r.median(group, "log", key) else "nolog", key)
        if cell:
            r.summary[key] = cell
            out.append(f"| {label} | {cell['rps']:,.{1 if cell['rps'] < 100 else 0}f} | {ms(cell['p50_ms'])} | {ms(cell['p99_ms'])} | "
                       f"{cell['requests']:,} | {cell['errors']} | {pct(cell['foreign_cpu_max'])} |")
    ra = r.summary["revoke_all"]
    out += ["", "POST /me/sessions/revoke-all, one request at a time on an otherwise idle server, fresh user each time:", "",
            "| other sessions revoked | sessions in the table | median ms | each run, ms |", "|---:|---:|---:|---|"]
    for cell in (ra, r.summary.get("revoke_all_big")):
        if cell:
            out.append(f"| {cell['sessions']:,} | {cell['table_rows']:,} | {ms(cell['median_ms'])} | "
                       f"{', '.join(ms(t) for t in cell['ms'])} |")
    sc = r.summary["scrypt"]
    out += ["", f"Login is bounded by scrypt: the server stored `{sc['scheme']}` N={sc['n']} r={sc['r']} p={sc['p']} "
            f"(read from the signed-up user's hash); one such hash takes {sc['one_hash_ms']} ms here "
            f"(in the bench process, {sc['one_hash_ms'] and round(1000 / sc['one_hash_ms'] * r.meta['machine']['nproc'])}"
            " hashes/s at most on all cores).", ""]

    small, big = r.meta["table_servers"]
    cs, cb = r.median("table", small, "me_rotating"), r.median("table", big, "me_rotating")
    ip = r.summary["inprocess_lookup_us"]
    big_rows = f"{args.big_table:,}"
    out += [f"## Lookup against table size (GET /me, 1,000 rotating cookies, {args.lookup_rounds} interleaved round(s))", "",
            "| sessions in table | req/s | req/s per round | p50 ms | p99 ms | others | in-process authenticate, CPU µs |",
            "|---:|---:|---|---:|---:|---:|---:|"]
    for rows, cell, key in (("10,000", cs, "10000"), (big_rows, cb, str(args.big_table))):
        out.append(f"| {rows} | {cell['rps']:,.0f} | {' · '.join(f'{x:,}' for x in cell['rounds_rps'])} | "
                   f"{ms(cell['p50_ms'])} | {ms(cell['p99_ms'])} | {pct(cell['foreign_cpu_max'])} | {ip[key]} |")
    flat = {"rps_ratio": cb["rps"] / cs["rps"], "p50_ratio": cb["p50_ms"] / cs["p50_ms"],
            "inprocess_ratio": ip[str(args.big_table)] / ip["10000"]}
    r.summary["table"] = {small: cs, big: cb, **flat}
    out += ["", f"{big_rows} rows vs 10,000: req/s x{flat['rps_ratio']:.2f}, p50 x{flat['p50_ratio']:.2f}, "
            f"in-process lookup x{flat['inprocess_ratio']:.2f}.", ""]

    out += ["## Peak memory of the server processes (master + workers, RSS summed)", "",
            "| server | peak RSS MiB | processes | while | peak while serving GET /me, MiB |",
            "|---|---:|---:|---|---:|"]
    extras = r.meta.get("extra_servers", {})
    for name in sorted(r.memory, key=lambda n: n in extras):  # the reference's servers first
        mem = r.memory[name]
        me_peak = max((v for k, v in mem["by_phase_mib"].items() if "GET /me," in k), default=0)
        out.append(f"| {name}: `{mem['server']}` | {mem['peak_rss_mib']} | {mem['processes']} | {mem['during']} "
                   f"| {me_peak or '–'} |")
    out += ["", "POST /login runs up to workers x threads scrypt hashes at once, each with its own "
            "128 x r x N bytes (16 MiB at N=16384, r=8) of working memory.", ""]
    out.append("")

    head = r.summary["headline"]["log" if "log" in r.summary["headline"] else "nolog"]
    judge(r, f"GET /me >= {TARGET_ME_RATIO} x /healthz of the same server (one session)",
          f"{head['me']['ratio']:.2f} x ({head['me']['rps']:,.0f} / {head['healthz']['rps']:,.0f} req/s)",
          head["me"]["ratio"] >= TARGET_ME_RATIO)
    judge(r, f"GET /me p99 < {TARGET_P99_MS:g} ms at {args.connections} connections",
          f"{ms(head['me']['p99_ms'])} ms (1,000 sessions rotating: {ms(head['me_rotating']['p99_ms'])} ms)",
          max(head["me"]["p99_ms"], head["me_rotating"]["p99_ms"]) < TARGET_P99_MS)
    l1000 = r.summary.get("list1000")
    l1000c1 = r.summary.get("list1000_c1")
    judge(r, f"GET /me/sessions with 1,000 sessions p50 < {TARGET_LIST_P50_MS:g} ms at {args.connections} connections",
          f"{ms(l1000['p50_ms'])} ms (1 connection: {ms(l1000c1['p50_ms'])} ms)", l1000["p50_ms"] < TARGET_LIST_P50_MS)
    rb = r.summary.get("revoke_all_big")
    judge(r, f"revoke-all of {args.revoke_sessions:,} sessions < {TARGET_REVOKE_MS:g} ms",
          f"{ms(ra['median_ms'])} ms, median, {ra['table_rows']:,}-row table"
          + (f" ({ms(rb['median_ms'])} ms in the {rb['table_rows']:,}-row table)" if rb else ""),
          ra["median_ms"] < TARGET_REVOKE_MS)
    judge(r, f"GET /me p50 with {big_rows} rows within {TARGET_FLAT - 1:.0%} of 10,000 rows",
          f"x{flat['p50_ratio']:.2f} (req/s x{flat['rps_ratio']:.2f}; in-process x{flat['inprocess_ratio']:.2f})",
          flat["p50_ratio"] <= TARGET_FLAT)
    judge_node(r)
    out += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    out += [f"| {t['target']} | {t['measured']} | {t['result']} |" for t in r.targets]
    out += ["", f"Reference, quoted from an earlier measurement on this kind of machine and **not measured here**: {NODE_REFERENCE}.", ""]
    if args.big_table != 1_000_000:
        out += [f"Note: the large table held {big_rows} rows, not 1,000,000 (`--big-table`).", ""]
    return "\n".join(out + notes_lines(r))


def headline_lines(r: Results, args: argparse.Namespace) -> list[str]:
    """The headline: the reference's /healthz and /me beside the framework ceilings and the Node.js server.

    Fills r.summary["headline"] (every cell with its ratios) and r.summary["comparison"].
    """
    extras = r.meta.get("extra_servers", {})
    extra_s = r.meta.get("extra_duration_s", args.extra_duration)
    out = ["", f"## GET /me against its ceilings, and the Node.js implementation "
           f"({args.rounds} interleaved round(s), medians)", ""]
    out += ["| server | request | access log | req/s | req/s per round | p50 ms | p99 ms | / healthz | "
            "/ bare Bottle | / raw WSGI | others |",
            "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    wsgi = r.median("headline", "wsgi", "hello")
    bottle = r.median("headline", "bottle", "hello")
    headline = r.summary.setdefault("headline", {})
    for name, key, server, request, access in HEADLINE_ROWS:
        cell = r.median("headline", name, key)
        if not cell:
            continue
        own = r.median("headline", name, "healthz")
        ratios = {"ratio": cell["rps"] / own["rps"] if own else None,
                  "vs_bottle": cell["rps"] / bottle["rps"] if bottle else None,
                  "vs_wsgi": cell["rps"] / wsgi["rps"] if wsgi else None}
        headline.setdefault(name, {})[key] = {**cell, **ratios}
        shown = " | ".join("–" if v is None else f"{v:.2f}" for v in ratios.values())
        out.append(
            f"| {server} | {request} | {access} | {cell['rps']:,.0f} | "
            f"{' · '.join(f'{x:,}' for x in cell['rounds_rps'])} | {ms(cell['p50_ms'])} | {ms(cell['p99_ms'])} | "
            f"{shown} | {pct(cell['foreign_cpu_max'])} |"
        )
    out += ["", "The headline is the reference with access log **on**, its default."]
    touched = r.meta.get("rotation_sessions_touched")
    if touched is not None:
        out.append(f"Check: the warm-up's rotation used {touched:,} distinct sessions (expected 1,000).")
    out.append("")
    hellos = [f"`{extras[n]}`" for n in ("wsgi", "bottle") if n in extras]
    if hellos:
        out.append(f"- Framework ceilings: {' and '.join(hellos)}, from bench/ceilings.py (a bare WSGI callable; a "
                   "bare `bottle.Bottle()` with one route returning a dict), both answering `{\"status\":\"ok\"}` "
                   "like the reference's /healthz; served by granian's CLI with the reference's workers and threads, "
                   "no log. /healthz of the reference (access log off) over bare Bottle is what the reference app's "
                   "own machinery costs on a route that does nothing; bare Bottle over raw WSGI is Bottle's cost.")
    if "node" in extras:
        out.append(f"- {NODE_LABEL}: `{extras['node']}` on Node.js {r.meta.get('node_version', '?')}: sessions "
                   "in a JavaScript Map keyed by token, no database, no access log. Its sessions were made through "
                   "its own /signup and /login (one, then 250 users x 4 logins); the low scrypt cost only makes "
                   "those logins quick, GET /me hashes nothing.")
    else:
        out.append(f"- {NODE_LABEL}: not measured, {r.meta.get('node_skipped', 'left out')}.")
    if extras and extra_s != args.duration:
        out.append(f"- The comparison rows ran {extra_s:g} s per round (the reference's rows {args.duration:g} s) "
                   "to keep the run short; same wrk threads and connections, interleaved in the same rounds.")
    comparison = comparison_of(headline)
    r.summary["comparison"] = comparison
    if comparison:
        out.append("- " + comparison_sentence(comparison))
    out.append("")
    return out


def comparison_of(headline: dict[str, Any]) -> dict[str, float]:
    """Return the reference's /healthz and /me as fractions of each ceiling, and Node's /me over the reference's."""
    found: dict[str, float] = {}
    for mode in ("log", "nolog"):
        for key in ("healthz", "me"):
            cell = headline.get(mode, {}).get(key)
            for ceiling in ("vs_bottle", "vs_wsgi"):
                if cell and cell.get(ceiling) is not None:
                    found[f"{mode}_{key}_{ceiling}"] = cell[ceiling]
    node, ref = headline.get("node", {}).get("me"), headline.get("log", {}).get("me")
    if node and ref:
        found["node_me_over_reference_me"] = node["rps"] / ref["rps"]
    rot_node, rot_ref = headline.get("node", {}).get("me_rotating"), headline.get("log", {}).get("me_rotating")
    if rot_node and rot_ref:
        found["node_me_rotating_over_reference"] = rot_node["rps"] / rot_ref["rps"]
    return found


def comparison_sentence(c: dict[str, float]) -> str:
    parts = []
    if "log_me_vs_wsgi" in c:
        parts.append(f"The reference's GET /me (one session, access log on) runs at {c['log_me_vs_wsgi']:.2f} of "
                     f"raw WSGI and {c['log_me_vs_bottle']:.2f} of bare Bottle"
                     + (f" (access log off: {c['nolog_me_vs_wsgi']:.2f} and {c['nolog_me_vs_bottle']:.2f})"
                        if "nolog_me_vs_wsgi" in c else "")
                     + f"; its /healthz at {c['log_healthz_vs_wsgi']:.2f} and {c['log_healthz_vs_bottle']:.2f}"
                     + (f" (off: {c['nolog_healthz_vs_wsgi']:.2f} and {c['nolog_healthz_vs_bottle']:.2f})"
                        if "nolog_healthz_vs_wsgi" in c else "") + ".")
    if "node_me_over_reference_me" in c:
        parts.append(f"examples/node-server's GET /me serves x{c['node_me_over_reference_me']:.2f} the reference's "
                     "req/s (one session, access log on)"
                     + (f", x{c['node_me_rotating_over_reference']:.2f} with 1,000 sessions rotating"
                        if "node_me_rotating_over_reference" in c else "") + ".")
    return " ".join(parts)


def judge_node(r: Results) -> None:
    """Say whether the reference's GET /me beats the Node.js implementation's, measured in this run."""
    name = "GET /me (one session, access log on) beats examples/node-server's GET /me measured in this run"
    headline = r.summary.get("headline", {})
    ref, node = headline.get("log", {}).get("me"), headline.get("node", {}).get("me")
    if not (ref and node):
        judge(r, name, f"not measured: {r.meta.get('node_skipped', 'no Node.js run')}", None)
        return
    off = headline.get("nolog", {}).get("me")
    judge(r, name,
          f"{ref['rps']:,.0f} vs {node['rps']:,.0f} req/s (x{ref['rps'] / node['rps']:.2f}"
          + (f"; access log off {off['rps']:,.0f}, x{off['rps'] / node['rps']:.2f}" if off else "")
          + f"); p99 {ms(ref['p99_ms'])} vs {ms(node['p99_ms'])} ms",
          ref["rps"] > node["rps"])


def report_layouts(results: Results, args: argparse.Namespace) -> str:
    r = results
    out = [f"# Server layouts for GET /me, {r.meta['started']}", ""]
    out += [f"- {line}" for line in header_lines(r, args)]
    out += ["", f"{args.rounds} interleaved round(s); medians. One server per layout, all on one database.", "",
            "| --workers x --threads | /healthz req/s | /me req/s | /me p50 ms | /me p99 ms | / healthz | "
            "/me 1,000 rotating req/s | p99 ms | peak RSS MiB | others |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in r.meta["layouts"]:
        h, m, rot = (r.median("layouts", name, k) for k in ("healthz", "me", "me_rotating"))
        r.summary[name] = {"healthz": h, "me": m, "me_rotating": rot, "ratio": m["rps"] / h["rps"]}
        out.append(f"| {name} | {h['rps']:,.0f} | {m['rps']:,.0f} | {ms(m['p50_ms'])} | {ms(m['p99_ms'])} | "
                   f"{m['rps'] / h['rps']:.2f} | {rot['rps']:,.0f} | {ms(rot['p99_ms'])} | "
                   f"{r.memory[name]['peak_rss_mib']} | "
                   f"{pct(max(c['foreign_cpu_max'] for c in (h, m, rot)))} |")
    best = max(r.meta["layouts"], key=lambda n: r.summary[n]["me"]["rps"])
    out += ["", f"Most /me req/s: {best}.", ""]
    return "\n".join(out + notes_lines(r))


def notes_lines(results: Results) -> list[str]:
    if not results.notes:
        return ["No errors: every request of every run answered 2xx, and the servers logged no error."]
    return ["## Notes", ""] + [f"- {n}" for n in results.notes[:50]]
