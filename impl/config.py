"""Settings of the reference server: defaults, environment variables, validation."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from typing import Any

# Every setting can come from the environment as SESSIONS_<NAME IN CAPITALS>,
# so that worker processes started by the production server (which re-import
# the app in a fresh interpreter) see exactly what the command line said.
ENV_PREFIX = "SESSIONS_"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that may differ between two apps built by `create_app`."""

    # Where the single store of users and sessions lives: an absolute path
    # (see default_db_path) so that it never depends on the current folder.
    db_path: str = dataclasses.field(default_factory=lambda: default_db_path())
    # HARD-IDLE: a session unused for this many seconds is dead.
    idle_timeout: float = 30 * 60
    # HARD-ABSOLUTE: a session older than this is dead, however busy.
    absolute_timeout: float = 24 * 60 * 60
    # CORE-LAST-ACTIVE: write last_active_at at most once per this interval,
    # so a busy session costs one write a minute, not one per request.
    # Capped at half the idle timeout (see __post_init__).
    touch_interval: float = 60
    # Proxies whose X-Forwarded-For we believe (addresses or networks).
    # Empty: the socket's peer address is the client, whatever headers say.
    trusted_proxies: tuple[Network, ...] = ()
    # Served over HTTPS (directly or behind a TLS proxy): cookies get
    # `Secure` and the request's own origin is https://.
    https: bool = False
    # HARD-BAD-INPUT: bodies above this size are refused with 413.
    max_body_bytes: int = 64 * 1024
    # Slow clients (docs/decisions.md, "Slow clients"): a request's headers
    # must arrive within header_timeout seconds of its first byte, and its
    # whole body within body_timeout seconds of its headers, or the
    # connection is closed (a late body gets 408 first).
    header_timeout: float = 10
    body_timeout: float = 10
    # scrypt cost (N, a power of two). 2**14 with r=8, p=1 is Django's
    # default and ~60 ms here; raise it on faster machines.
    scrypt_n: int = 2**14
    scrypt_r: int = 8
    scrypt_p: int = 1
    # One line per request on stderr: method, path, status, duration.
    access_log: bool = True
    # How often the maintenance thread deletes expired sessions and
    # checkpoints the WAL (seconds); 0 disables it.
    purge_interval: float = 300
    # Growth bound: a login past this many live sessions of one user ends
    # the least recently active one (docs/decisions.md).
    max_sessions_per_user: int = 1000
    # HARD-THROTTLE: attempts allowed per (account email, client address)
    # without a success, and how long (seconds) the key is refused after.
    # A limit of 0 turns throttling off.
    throttle_limit: int = 10
    throttle_lockout: float = 300
    # EXT-ACTIVITY: security-log events are kept this long (seconds); the
    # contract asks for at least 90 days.
    event_retention: float = 90 * 24 * 3600

    def __post_init__(self) -> None:
        # Messages name the command-line flag, which is what a person typed
        # (each flag's SESSIONS_* variable is listed in --help).
        problems = []
        if not self.db_path:
            problems.append("--db must not be empty")
        if self.idle_timeout <= 0:
            problems.append("--idle-timeout must be positive")
        if self.absolute_timeout <= 0:
            problems.append("--absolute-timeout must be positive")
        if self.touch_interval < 0:
            problems.append("--touch-interval must not be negative")
        elif self.idle_timeout > 0 and self.touch_interval > self.idle_timeout / 2:
            # A session in constant use must never expire as idle, so its
            # recorded activity may lag by at most half the timeout. Capped
            # rather than refused: `--idle-timeout 4` alone (touch interval
            # left at its 60 s default) is what a tester naturally types.
            object.__setattr__(self, "touch_interval", self.idle_timeout / 2)
        if self.max_body_bytes < 1024:
            problems.append("max_body_bytes must be at least 1024")
        if self.header_timeout <= 0:
            problems.append("--header-timeout must be positive")
        if self.body_timeout <= 0:
            problems.append("--body-timeout must be positive")
        n = self.scrypt_n
        if n < 2 or n & (n - 1):
            problems.append("--scrypt-n must be a power of two, at least 2")
        if self.scrypt_r < 1 or self.scrypt_p < 1:
            problems.append("scrypt_r and scrypt_p must be at least 1")
        if self.purge_interval < 0:
            problems.append("--purge-interval must not be negative")
        if self.max_sessions_per_user < 1:
            problems.append("--max-sessions-per-user must be at least 1")
        if self.throttle_limit < 0 or self.throttle_limit > 10:
            problems.append("--throttle-limit must be between 0 and 10 (HARD-THROTTLE)")
        if not 0 < self.throttle_lockout <= 900:
            problems.append("--throttle-lockout must be more than 0 and at most 900 seconds (HARD-THROTTLE)")
        if self.event_retention < 90 * 24 * 3600:
            problems.append("--event-retention must be at least 90 days (EXT-ACTIVITY)")
        if problems:
            raise ValueError("; ".join(problems))

    def replace(self, **changes: Any) -> "Config":
        """Return a copy with some settings changed (and validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Config":
        """Build a Config from loosely typed values (strings from env or CLI)."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        typed = {name: _coerce(name, known[name].type, raw) for name, raw in values.items()}
        return cls(**typed)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Build a Config from SESSIONS_* environment variables over the defaults."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            key = ENV_PREFIX + field.name.upper()
            if key in environ:
                values[field.name] = environ[key]
        return cls.from_mapping(values)

    def to_env(self) -> dict[str, str]:
        """Render every setting as SESSIONS_* variables that from_env reads back."""
        env = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool):
                text = "1" if value else "0"
            elif field.name == "trusted_proxies":
                text = ",".join(str(net) for net in value)
            else:
                text = str(value)
            env[ENV_PREFIX + field.name.upper()] = text
        return env


_TRUE = {"1", "true", "yes", "on"}
_KIND = {"float": "number", "int": "whole number", "bool": "yes/no value"}

# Settings whose command-line flag is not simply --name-with-dashes.
_FLAGS = {"db_path": "--db", "trusted_proxies": "--trusted-proxy", "https": "--https-cookies"}


def flag_name(setting: str) -> str:
    """Return the command-line flag that sets `setting` ("idle_timeout" -> "--idle-timeout")."""
    return _FLAGS.get(setting, "--" + setting.replace("_", "-"))


def default_db_path(environ: Mapping[str, str] | None = None) -> str:
    """Return the per-user database file: $XDG_DATA_HOME/sessions-reference/sessions.db.

    Never relative to the current folder, so a server started from another
    folder finds the same data (XDG base directory specification; falls
    back to ~/.local/share as that specification says).
    """
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):  # the specification says to ignore a relative value
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "sessions-reference", "sessions.db")
_FALSE = {"0", "false", "no", "off", ""}


def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """Parse "127.0.0.1, 10.0.0.0/8" into networks; raise ValueError on junk."""
    nets = []
    for part in text.split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"--trusted-proxy: {part!r} is not an IP address or network") from None
    return tuple(nets)


def _coerce(name: str, annotation: str, raw: Any) -> Any:
    """Convert a raw setting to the type its field declares."""
    if not isinstance(raw, str):
        if name == "trusted_proxies" and isinstance(raw, (list, tuple)):
            return parse_trusted_proxies(",".join(str(x) for x in raw))
        return raw
    text = raw.strip()
    try:
        if annotation == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if annotation == "int":
            return int(text)
        if annotation == "float":
            return float(text)
    except ValueError:
        raise ValueError(f"{flag_name(name)}: {raw!r} is not a valid {_KIND.get(annotation, annotation)}") from None
    if name == "trusted_proxies":
        return parse_trusted_proxies(text)
    return text
