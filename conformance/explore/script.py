"""A failing history as a shell script of curl commands, runnable as is against the same server.

Every run of the script signs up fresh accounts (the history's emails and
passwords with the run's own tag), so it can be run again and again. Session
tokens and public ids differ from run to run: the script keeps each token
the server sets in a shell variable, and learns a session's public id from
its own list (one extra GET /me/sessions, said in a comment), as the suite
did, and a page's cursor from the same place in the log, counted from its
oldest event (one extra GET /me/activity). Requests the suite sent at the same moment run in the background
together. Each request prints what the model expected beside the status.
"""

from __future__ import annotations

import json
import shlex
import urllib.parse
from typing import Any

from conformance.client import Target

_ID_OF_CURRENT = (
    "python3 -c 'import json,sys; print(next(e[\"id\"] for e in json.load(sys.stdin) if e.get(\"isCurrent\")))'"
)


def short_json(body: Any, limit: int = 160) -> str:
    if body is None:
        return ""
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + "…"


def curl_script(targets: list[Target], records: list[Any], divergence: Any) -> str:
    cookie = targets[0].cookie_name
    lines = [
        "#!/bin/sh",
        "# A history the conformance suite's exploration found diverging from the contract:",
        f"#   {divergence}",
        "# Run it against the same server; it signs up fresh accounts each time.",
        "set -u",
        'RUN="$(date +%s)$$"',
        'HDR="$(mktemp)"; trap \'rm -f "$HDR" "$HDR".*\' EXIT',
    ]
    for i, target in enumerate(targets):
        lines.append(f'BASE{i + 1}="${{BASE{i + 1}:-{target.base_url}}}"')
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    last = len(records)
    for record in records:
        lines.append("")
        lines.append(f"echo {shlex.quote(f'== step {record.number}: {record.text}')}")
        if record.step.kind == "wait":  # into the next second at least, as the suite's run did
            lines.append(f"sleep {max(1.1, float(record.step.arg('seconds') or 0)):g}")
        exchanges = [x for x in record.exchanges if not x["request"].get("look") or record.number == last]
        together = [x for x in exchanges if x.get("together")]
        after: list[str] = []
        for exchange in together:
            now, later = _curl(exchange, cookie, tokens, ids, True)
            lines += now
            after += later
        if together:
            lines.append("wait")
        lines += after
        for exchange in exchanges:
            if exchange not in together:
                lines += _curl(exchange, cookie, tokens, ids, False)[0]
        for exchange in record.exchanges:
            _learn_ids(exchange, tokens, ids)
    lines.append("")
    return "\n".join(lines)


def _learn_ids(exchange: dict[str, Any], tokens: dict[str, str], ids: dict[str, str]) -> None:
    """A list the suite read maps the current session's public id to the token that read it."""
    request = exchange["request"]
    body = exchange.get("body")
    if request["path"] != "/me/sessions" or exchange["status"] != 200 or not isinstance(body, list):
        return
    token = request.get("cookie")
    current = next((item.get("id") for item in body if isinstance(item, dict) and item.get("isCurrent")), None)
    if token in tokens and current is not None:
        ids.setdefault(str(current), "ID_" + tokens[token])


def _cursor(request: dict[str, Any], cookie: str, tokens: dict[str, str]) -> list[str]:
    """A page's cursor is an event id of the suite's run: a re-run reads its own at the same place in the log."""
    source = request.get("cursor_from")
    if not source or source["token"] not in tokens:
        return []  # a made-up cursor, sent as it is
    holder, place = tokens[source["token"]], int(source["from_oldest"])
    return [
        f"# the cursor: event {place} from the oldest in the log read with ${holder} (one more request)",
        f'CURSOR=$(curl -s -H "Cookie: {cookie}=${holder}" "$BASE{source["instance"] + 1}/me/activity" | '
        f"python3 -c 'import json,sys; ids=[e[\"id\"] for e in json.load(sys.stdin)]; print(ids[len(ids) - 1 - {place}])'"
        " 2>/dev/null)",
    ]


def _curl(exchange: dict[str, Any], cookie: str, tokens: dict[str, str], ids: dict[str, str],
          background: bool) -> tuple[list[str], list[str]]:
    request = exchange["request"]
    tag = exchange.get("tag", "")
    path = request["path"]
    target = request.get("target")
    if target and not target.startswith("made-up:") and target in ids:
        path = path.replace(target, "${" + ids[target] + "}")
    learn_cursor = _cursor(request, cookie, tokens)
    if learn_cursor:
        path = path.replace("before=" + urllib.parse.quote(request["cursor"], safe=""), "before=${CURSOR}")
    args = ["curl", "-s", "-X", request["method"]]
    if exchange.get("source"):
        args += ["--interface", exchange["source"]]  # the device's second client address
    out: list[str] = learn_cursor
    sent = request.get("cookie")
    if sent:
        if sent not in tokens:
            tokens[sent] = f"GONE{len(tokens)}"
            out.append(f"{tokens[sent]}=never-issued-in-this-run")
        args += ["-H", f'"Cookie: {cookie}=${tokens[sent]}"']
    if "json" in request:
        body = json.dumps(request["json"], ensure_ascii=True)
        if tag:
            body = body.replace(tag, "'\"$RUN\"'")
        args += ["-H", "'Content-Type: application/json'", "--data", "'" + body + "'"]
    learn = bool(exchange.get("set_cookie"))
    header_file = f'"$HDR.{len(tokens)}"' if background else '"$HDR"'
    if learn:
        args += ["-D", header_file]
    args += ["-w", "' -> %{http_code}\\n'", f'"$BASE{exchange.get("instance", 0) + 1}{path}"']
    expected = f"# the server answered {exchange['status']} {short_json(exchange['body'], 120)}"
    out.append(expected)
    command = " ".join(args) + "; echo"
    out.append(f"( {command} ) &" if background else command)
    later: list[str] = []
    if learn:
        name = f"T{len(tokens)}"
        tokens[exchange["set_cookie"]] = name
        later.append(f"{name}=$(sed -n 's/^[Ss]et-[Cc]ookie: {cookie}=\\([^;]*\\).*/\\1/p' {header_file} | tail -n 1)")
        later.append("# the new session's public id, from its own list (one more request)")
        later.append(f"ID_{name}=$(curl -s -H \"Cookie: {cookie}=${name}\" \"$BASE{exchange.get('instance', 0) + 1}"
                     f"/me/sessions\" | {_ID_OF_CURRENT} 2>/dev/null)")
    if not background:
        out += later
        later = []
    return out, later

