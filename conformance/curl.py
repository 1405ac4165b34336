"""Exchanges written as curl commands a person can paste, each followed by the answer it got.

Each simulated device keeps its session cookie in a file named after it
(`-c chrome-macos-3.txt` saves what a login set, `-b chrome-macos-3.txt`
sends it back), as the lesson's curl walkthrough does: pasted in order, in an
empty folder, the commands replay the check against the same server. Tokens
never appear in them; passwords of the throw-away accounts do, since a
replay needs them.
"""

from __future__ import annotations

import re
import shlex

from conformance.client import Exchange, Target

# Headers a replay must send besides User-Agent and the session cookie.
_REPLAYED_HEADERS = ("content-type", "origin", "sec-fetch-site", "x-forwarded-for", "access-control-request-method")


def cookie_file(device_label: str) -> str:
    """Return the cookie file of a device: "chrome-macos #3" keeps its cookie in chrome-macos-3.txt."""
    return re.sub(r"[^a-z0-9]+", "-", device_label.lower()).strip("-") + ".txt"


def command(exchange: Exchange, target: Target) -> str:
    """Return the curl command that sends what `exchange` sent."""
    jar = cookie_file(exchange.device)
    parts = ["curl", "-s"]
    if exchange.cookie == "jar":
        parts += ["-b", jar]
    elif exchange.cookie not in ("none", "header"):
        parts += ["-b", shlex.quote(f"{target.cookie_name}={exchange.cookie}")]
    if exchange.kept_cookie:
        parts += ["-c", jar]
    if exchange.user_agent:
        parts += ["-A", shlex.quote(exchange.user_agent)]
    if exchange.method != "GET":
        parts += ["-X", exchange.method]
    parts.append(shlex.quote(exchange.url or target.url(exchange.path)))
    for name, value in exchange.request_headers:
        lower = name.lower()
        if lower in _REPLAYED_HEADERS or (lower == "cookie" and exchange.cookie == "header"):
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if exchange.sent_body:
        parts += ["-d", shlex.quote(exchange.sent_body)]
    return " ".join(parts)


def answer(exchange: Exchange) -> str:
    """Return what came back, in one line: the status and the body, or why nothing did."""
    if exchange.error:
        return f"no answer: {exchange.error}"
    text = f"{exchange.status} {exchange.received_body or exchange.response_body}".rstrip()
    if exchange.kept_cookie:
        text += f"   (set the session cookie, saved in {cookie_file(exchange.device)})"
    return text
