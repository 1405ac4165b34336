"""Settings of the reference server, each declared once: field, flag, environment variable, help, check.

How a setting works:
1. It is a field of `Config`, declared with `setting(...)`: its default, what
   it means (the help text), what values it accepts (a check and the words
   that say what it wants), and, where they are not the field's name, its
   command-line flag and its environment variable. The field's name is the
   setting's one name inside the program, from the flag to the store.
2. Everything else is derived from that declaration: `SETTINGS` lists them;
   impl/serve.py builds its command line from them; `Config.from_env` reads
   the variables; `_convert` turns text into the field's type; a refusal
   names the flag a person typed (or the variable, for a setting without
   one), never an internal field.
3. Precedence: the declared default, then the environment, then the command
   line. The server hands every setting to its worker processes through the
   environment (`Config.to_env`), because each worker is a fresh interpreter.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from typing import Any

from .store.base import is_store_url

ENV_PREFIX = "SESSIONS_"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_KIND = {"float": "number", "int": "whole number", "bool": "yes/no value"}
# The flag or variable name is derived from the field's name unless given.
_DERIVED = "derived"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting as declared: everything the command line, the environment and the checks need."""

    name: str  # the Config field
    kind: str  # its type: "str", "int", "float", "bool", or another for a setting with its own parse
    help: str
    flag: str | None  # None: set through the environment only
    env: str | None  # None: set on the command line only
    parse: Callable[[str], Any] | None  # text to value, where int(), float() or the yes/no words will not do
    check: Callable[[Any], bool] | None
    wants: str  # what the check wants, after the flag: "must be positive"
    shown_default: str | None  # the default as --help says it, where the value itself would mislead
    aliases: tuple[str, ...]  # older variable names, still read
    metavar: str | None
    negatable: bool  # a yes/no flag with a --no- form

    @property
    def label(self) -> str:
        """How messages name this setting: the flag a person types, or its variable."""
        return self.flag or self.env or self.name

    def convert(self, raw: Any) -> Any:
        """Return `raw` (text from a flag or a variable, or an already typed value) as this setting's type."""
        if isinstance(raw, (list, tuple)) and self.parse is not None:
            raw = ",".join(str(x) for x in raw)
        if not isinstance(raw, str):
            return raw
        return _convert(self, raw)


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    flag: str | None = _DERIVED,
    env: str | None = _DERIVED,
    parse: Callable[[str], Any] | None = None,
    check: Callable[[Any], bool] | None = None,
    wants: str = "",
    shown_default: str | None = None,
    aliases: tuple[str, ...] = (),
    metavar: str | None = None,
    negatable: bool = True,
) -> Any:
    """Declare a Config field as a setting (see the module's docstring)."""
    declared = dict(help=help, flag=flag, env=env, parse=parse, check=check, wants=wants, shown_default=shown_default,
                    aliases=aliases, metavar=metavar, negatable=negatable)  # fmt: skip
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"setting": declared})
    return dataclasses.field(default=default, metadata={"setting": declared})


def _cores() -> int:
    return os.cpu_count() or 1


def _power_of_two(n: int) -> bool:
    return n >= 2 and not n & (n - 1)


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of the server; an app built by `create_app` reads the ones it needs."""

    # -- where it listens and how it runs (impl/serve.py) ----------------------
    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(3000, "port; 0 picks a free one (shown in the first line)", parse=lambda t: port_number(t),
                        check=lambda p: 0 <= p <= 65535, wants="must be a port number (0 to 65535)")  # fmt: skip
    # Where the single store of users and sessions lives: an absolute path
    # (see default_db_path) so that it never depends on the current folder,
    # or a postgresql:// URL, which is left to the store untouched.
    db: str = setting(
        help="where the data lives: an SQLite file (an explicit one's folder must exist; the default folder is "
        "created, mode 0700), or a postgresql:// URL of a database that several instances share",
        factory=lambda: default_db_path(),
        parse=lambda text: db_location(text),
        metavar="FILE|URL",
        check=bool,
        wants="must not be empty",
        shown_default="sessions-reference/sessions.db in $XDG_DATA_HOME, or in ~/.local/share without it",
        # SESSIONS_DB_PATH was its name while the setting was called db_path; still read.
        aliases=("SESSIONS_DB_PATH",),
    )
    workers: int = setting(help="worker processes", factory=_cores, check=lambda n: n >= 1,
                           wants="must be at least 1", shown_default="one per core")  # fmt: skip
    # Two threads per worker, measured (wrk -c16, GET /me, 2 cores): one
    # thread gave the best p99 alone (4 ms) but 67 ms while logins ran, as a
    # login's scrypt holds the worker's only thread for ~75 ms; four threads
    # fought over the GIL (p99 8-13 ms); two gave 6 ms alone, 9 ms with logins.
    # Bodiless GETs run on the event loop (impl/bridge.py), not on these.
    threads: int = setting(2, "threads per worker process for requests with a body and for methods other than "
                           "GET and HEAD, which run on the worker's event loop",
                           check=lambda n: n >= 1, wants="must be at least 1")  # fmt: skip
    access_log: bool = setting(True, "one stderr line per request: method, path, status, duration")
    # Slow clients (docs/decisions.md, "Slow clients"): a request's headers
    # must arrive within header_timeout seconds of its first byte, and its
    # whole body within body_timeout seconds of its headers, or the
    # connection is closed (a late body gets 408 first).
    header_timeout: float = setting(10, "seconds a client has to send a request's headers; then the connection "
                                    "is closed", check=lambda s: s > 0, wants="must be positive")  # fmt: skip
    body_timeout: float = setting(10, "seconds a client has to send a request's body after its headers; then "
                                  "408 and the connection is closed", check=lambda s: s > 0,
                                  wants="must be positive")  # fmt: skip
    # How often the maintenance thread deletes expired sessions and
    # checkpoints the WAL (seconds); 0 disables it.
    purge_interval: float = setting(300, "seconds between deletions of expired sessions; 0 turns it off",
                                    check=lambda s: s >= 0, wants="must not be negative")  # fmt: skip
    # Past it, a request run in a worker's pool gets 503 while its thread
    # finishes (impl/bridge.py): a stalled database holds no client long.
    store_timeout: float = setting(10, "seconds a request run in a worker's thread pool may take, its wait for the "
                                   "database included; then it gets 503 with Retry-After", check=lambda s: s > 0,
                                   wants="must be positive")  # fmt: skip
    # A server whose workers never answer stops rather than stay up without
    # serving (impl/sidecars.py).
    start_timeout: float = setting(60, "seconds the workers have to answer their first request; then the server "
                                   "stops with exit status 1", check=lambda s: s > 0,
                                   wants="must be positive")  # fmt: skip
    metrics_port: int | None = setting(None, "serve Prometheus metrics at http://HOST:PORT/metrics, a port of their "
                                       "own (impl/metrics.py)", parse=lambda t: port_number(t) if t else None,
                                       metavar="PORT", shown_default="off")  # fmt: skip
    log_format: str = setting("text", "stderr lines as text (time, level, logger: message) or as one JSON object "
                              "each", check=lambda f: f in ("text", "json"), wants="must be text or json",
                              metavar="text|json")  # fmt: skip
    debug_server: bool = setting(False, "serve from this one process with the standard library's threaded "
                                 "server (for a debugger; slow, not for production)", env=None,
                                 negatable=False)  # fmt: skip

    # -- sessions (impl/sessions.py) ------------------------------------------
    # HARD-IDLE: a session unused for this many seconds is dead.
    idle_timeout: float = setting(30 * 60, "seconds a session may go unused before it ends (HARD-IDLE)",
                                  check=lambda s: s > 0, wants="must be positive")  # fmt: skip
    # HARD-ABSOLUTE: a session older than this is dead, however busy.
    absolute_timeout: float = setting(24 * 60 * 60, "seconds after login a session ends however busy; also the "
                                      "cookie's Max-Age (HARD-ABSOLUTE)", check=lambda s: s > 0, wants="must be positive")  # fmt: skip
    # CORE-LAST-ACTIVE: write last_active_at at most once per this interval,
    # so a busy session costs one write a minute, not one per request.
    # Capped at half the idle timeout (see __post_init__).
    touch_interval: float = setting(60, "seconds between two writes of a session's lastActiveAt; at most half "
                                    "the idle timeout, larger values are capped (CORE-LAST-ACTIVE)", check=lambda s: s >= 0,
                                    wants="must not be negative")  # fmt: skip
    # Growth bound: a login past this many live sessions of one user ends
    # the least recently active one (docs/decisions.md).
    max_sessions_per_user: int = setting(1000, "live sessions one user may hold; a login past it ends the least "
                                         "recently active", check=lambda n: n >= 1,
                                         wants="must be at least 1")  # fmt: skip

    # -- requests (impl/app.py, impl/web.py) ----------------------------------
    # Proxies whose X-Forwarded-For we believe (addresses or networks).
    # Empty: the socket's peer address is the client, whatever headers say.
    trusted_proxies: tuple[Network, ...] = setting(
        (), "proxies whose X-Forwarded-For, -Proto and -Host to believe, e.g. 127.0.0.1,10.0.0.0/8; none: the "
        "socket's peer is the client", flag="--trusted-proxy", parse=lambda text: parse_trusted_proxies(text),
        metavar="ADDR[,NET...]", shown_default="none",
    )
    # Served over HTTPS (directly or behind a TLS proxy): cookies get
    # `Secure` and the request's own origin is https://.
    https: bool = setting(False, "the public URL is https: cookies get Secure, the expected Origin is https://",
                          flag="--https-cookies")  # fmt: skip
    # HARD-BAD-INPUT: bodies above this size are refused with 413.
    max_body_bytes: int = setting(64 * 1024, "request bodies above this many bytes are refused with 413",
                                  flag=None, check=lambda n: n >= 1024, wants="must be at least 1024")  # fmt: skip

    # -- accounts (impl/accounts.py, impl/passwords.py, impl/throttle.py) -----
    # scrypt cost (N, a power of two). 2**14 with r=8, p=1 is Django's
    # default and ~60 ms here; raise it on faster machines.
    scrypt_n: int = setting(2**14, "scrypt cost N (a power of two) for new password hashes; older hashes are "
                            "upgraded at the next login", check=_power_of_two,
                            wants="must be a power of two, at least 2")  # fmt: skip
    scrypt_r: int = setting(8, "scrypt block size r for new password hashes", flag=None,
                            check=lambda n: n >= 1, wants="must be at least 1")  # fmt: skip
    scrypt_p: int = setting(1, "scrypt parallelism p for new password hashes", flag=None,
                            check=lambda n: n >= 1, wants="must be at least 1")  # fmt: skip
    # HARD-THROTTLE: attempts allowed per (account email, client address)
    # without a success, and how long (seconds) the key is refused after.
    throttle_limit: int = setting(10, "failed logins allowed per account and client address before 429; 0 "
                                  "turns throttling off", check=lambda n: 0 <= n <= 10,
                                  wants="must be between 0 and 10 (HARD-THROTTLE)")  # fmt: skip
    throttle_lockout: float = setting(300, "seconds an account and address are refused after too many "
                                      "failures", check=lambda s: 0 < s <= 900,
                                      wants="must be more than 0 and at most 900 seconds (HARD-THROTTLE)")  # fmt: skip
    # EXT-ACTIVITY: the contract asks for at least 90 days.
    event_retention: float = setting(90 * 24 * 3600, "seconds the security log keeps an event",
                                     check=lambda s: s >= 90 * 24 * 3600,
                                     wants="must be at least 90 days (EXT-ACTIVITY)")  # fmt: skip

    def __post_init__(self) -> None:
        problems = [
            f"{s.label} {s.wants}" for s in SETTINGS if s.check is not None and not s.check(getattr(self, s.name))
        ]
        if problems:
            raise ValueError("; ".join(problems))
        if self.touch_interval > self.idle_timeout / 2:
            # A session in constant use must never expire as idle, so its
            # recorded activity may lag by at most half the timeout. Capped
            # rather than refused: `--idle-timeout 4` alone (touch interval
            # left at its 60 s default) is what a tester naturally types.
            object.__setattr__(self, "touch_interval", self.idle_timeout / 2)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Config":
        """Build a Config from settings by field name, typed or as text, over the defaults."""
        unknown = sorted(set(values) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        return cls(**{name: BY_NAME[name].convert(raw) for name, raw in values.items()})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> "Config":
        """Build a Config from SESSIONS_* variables over the defaults, and `overrides` (by field name) over those."""
        return cls.from_mapping({**env_values(os.environ if environ is None else environ), **(overrides or {})})

    def to_env(self) -> dict[str, str]:
        """Render every setting that has a variable as the text `from_env` reads back."""
        env = {}
        for s in SETTINGS:
            if s.env is None:
                continue
            value = getattr(self, s.name)
            if value is None:
                env[s.env] = ""  # unset (a setting that is off, such as --metrics-port)
            elif isinstance(value, bool):
                env[s.env] = "1" if value else "0"
            elif isinstance(value, tuple):
                env[s.env] = ",".join(str(item) for item in value)
            else:
                env[s.env] = str(value)
        return env


def _declare(field: dataclasses.Field[Any]) -> Setting:
    declared = dict(field.metadata["setting"])
    kind = str(field.type)
    if declared["flag"] == _DERIVED:
        declared["flag"] = "--" + field.name.replace("_", "-")
    if declared["env"] == _DERIVED:
        declared["env"] = ENV_PREFIX + field.name.upper()
    return Setting(name=field.name, kind=kind, **declared)


SETTINGS: tuple[Setting, ...] = tuple(_declare(field) for field in dataclasses.fields(Config))
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the settings the environment sets, by field name (a current variable name beats an old alias)."""
    values = {}
    for s in SETTINGS:
        for key in (*reversed(s.aliases), s.env):
            if key is not None and key in environ:
                values[s.name] = environ[key]
    return values


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


def db_location(text: str) -> str:
    """Return where --db says the data lives: a URL as given, a file as an absolute path.

    Made absolute once, here, so that every worker opens the same file
    whatever its current folder. Empty means unset, as an empty variable in
    a unit file does: the per-user default.
    """
    if not text:
        return default_db_path()
    return text if is_store_url(text) else os.path.abspath(text)


def port_number(text: str) -> int:
    """Parse a TCP port, 0 to 65535 (0 picks a free one)."""
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a port number")
    port = int(text)
    if port > 65535:
        raise ValueError(f"{port} is not a port number (0 to 65535)")
    return port


def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """Parse "127.0.0.1, 10.0.0.0/8" into networks; raise ValueError on junk."""
    nets = []
    for part in text.split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(nets)


def _convert(s: Setting, raw: str) -> Any:
    """Convert the text of a flag or variable to the setting's type, or say which setting is wrong and why."""
    text = raw.strip()
    if s.parse is not None:
        try:
            return s.parse(text)
        except ValueError as exc:
            raise ValueError(f"{s.label}: {exc}") from None
    try:
        if s.kind == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if s.kind == "int":
            return int(text)
        if s.kind == "float":
            return float(text)
    except ValueError:
        raise ValueError(f"{s.label}: {raw!r} is not a valid {_KIND.get(s.kind, s.kind)}") from None
    return text
