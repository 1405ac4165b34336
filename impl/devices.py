"""Human-readable device names ("Chrome on macOS") made from a User-Agent by ua-parser."""

from __future__ import annotations

import functools

import ua_parser

UNKNOWN_BROWSER = "Unknown browser"
UNKNOWN_OS = "Unknown OS"

# Longest User-Agent we parse or store: real ones stay under ~300 bytes, and
# bounding the input bounds the regex work an attacker can ask of a login.
MAX_USER_AGENT = 512
# Families are regex captures of client text; keep names short for the list.
_MAX_PART = 60

# ua-parser's names that read poorly on a "where am I logged in" page.
_OS_NAMES = {
    "Mac OS X": "macOS",
    "Mac OS": "macOS",
    "Chrome OS": "ChromeOS",
}
# Devices worth naming when the OS is unknown ("Safari on iPhone").
_GENERIC_DEVICES = {"Other", "Generic Smartphone", "Generic Feature Phone", "Generic Tablet", "Spider"}


def device_name(user_agent: str | None) -> str:
    """Return "<browser> on <OS or device>" for a raw User-Agent header."""
    return _device_name(clip_user_agent(user_agent))


def clip_user_agent(user_agent: str | None) -> str:
    """Return the User-Agent as stored: bounded, without control characters."""
    text = (user_agent or "")[:MAX_USER_AGENT]
    return "".join(ch for ch in text if ch.isprintable())


@functools.lru_cache(maxsize=1024)
def _device_name(user_agent: str) -> str:
    result = ua_parser.parse(user_agent) if user_agent else None
    browser = _clean(result.user_agent.family if result and result.user_agent else None)
    os_name = _clean(result.os.family if result and result.os else None)
    if os_name:
        where = _OS_NAMES.get(os_name, os_name)
    else:
        device = _clean(result.device.family if result and result.device else None)
        where = device if device and device not in _GENERIC_DEVICES else UNKNOWN_OS
    return f"{browser or UNKNOWN_BROWSER} on {where}"


def _clean(family: str | None) -> str | None:
    """Return a family name fit for display, or None when it says nothing."""
    if not family or family == "Other":
        return None
    return " ".join(family.split())[:_MAX_PART] or None


def warm_up() -> None:
    """Load ua-parser's rules now (~0.25 s) rather than in the first login."""
    device_name("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")
