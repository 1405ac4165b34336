"""HTTP client for the suite: the target, simulated devices, raw cookies, an exchange log."""

from __future__ import annotations

import http.cookiejar
import ipaddress
import json as jsonlib
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from conformance import schema

# Seconds before a request to the target is given up; generous for a slow CI
# host, short enough that a hung server does not hang the suite.
REQUEST_TIMEOUT = 10.0
# How much of each body a failure report shows.
BODY_EXCERPT = 300
# How much of each body the lesson runner shows after its curl command.
REPLAY_BODY_EXCERPT = 2000
# A failure shows at most this many exchanges (the last ones): the timeout
# checks make dozens of identical requests.
MAX_EXCHANGES_SHOWN = 40


@dataclass(frozen=True)
class Agent:
    """A realistic User-Agent, with the words a device name made from it must contain (CORE-LIST).

    `os` lists alternatives: the contract names "<browser> on <OS or device>", so
    "Mobile Safari on iPhone" is as right as "Mobile Safari on iOS".
    """

    key: str
    header: str
    browser: str
    os: tuple[str, ...]


AGENTS = [
    Agent(
        "chrome-macos",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "chrome",
        ("mac",),
    ),
    Agent(
        "safari-ios",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "safari",
        ("ios", "iphone"),
    ),
    Agent(
        "firefox-windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "firefox",
        ("windows",),
    ),
    Agent(
        "chrome-android",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "chrome",
        ("android", "pixel"),
    ),
]
AGENTS_BY_KEY = {agent.key: agent for agent in AGENTS}

# Headers worth showing in a failure report; the rest is noise.
_SHOWN_REQUEST_HEADERS = (
    "content-type",
    "origin",
    "sec-fetch-site",
    "access-control-request-method",
    "x-forwarded-for",
)
_SHOWN_RESPONSE_HEADERS = (
    "content-type",
    "cache-control",
    "location",
    "access-control-allow-origin",
    "access-control-allow-credentials",
)


class TransportError(AssertionError):
    """The target did not answer an HTTP request (refused, reset, timed out)."""


def describe_connection_error(exc: BaseException) -> str:
    """Return a short, human reason for a failed connection ("connection refused")."""
    seen = set()
    stack = [exc]
    reasons = []
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset by the target"
        if isinstance(current, TimeoutError) or isinstance(current, requests.Timeout):
            reasons.append(f"no answer within {REQUEST_TIMEOUT:g} s")
        if type(current).__name__ == "gaierror" or "Name or service not known" in str(current):
            return "host name not resolved"
        if isinstance(current, requests.exceptions.SSLError):
            reasons.append(_tls_failure(current))
        # `reason` is an exception in urllib3's errors but a plain string in
        # ssl.SSLError ("WRONG_VERSION_NUMBER"): follow exceptions only.
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += list(getattr(current, "args", ()))
        stack.extend(item for item in nested if isinstance(item, BaseException))
    if reasons:
        return reasons[0]
    return str(exc).splitlines()[0][:200] or type(exc).__name__


def _tls_failure(exc: BaseException) -> str:
    """Describe a failed TLS handshake; the commonest cause is an https:// URL for a plain-HTTP server."""
    text = str(exc)
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text or "wrong version number" in text:
        return "TLS handshake failed: the target does not speak TLS there (a plain-HTTP server? try http://)"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS handshake failed: the target's certificate is not trusted (CERTIFICATE_VERIFY_FAILED)"
    return "TLS handshake failed"


# --- pure helpers ---------------------------------------------------------------


def parse_set_cookie(raw: str) -> tuple[str, str, dict[str, str]]:
    """Split a raw Set-Cookie header into (name, value, attributes).

    Attribute names are lowercased; flags such as HttpOnly map to "". A value in
    double quotes is returned without them. A later duplicate attribute wins, as
    in browsers (RFC 6265 5.3).
    """
    pair, *parts = raw.split(";")
    if "=" in pair:
        name, value = pair.split("=", 1)
    else:
        name, value = "", pair
    name, value = name.strip(), value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    attrs: dict[str, str] = {}
    for part in parts:
        if not part.strip():
            continue
        key, _, attr_value = part.partition("=")
        attrs[key.strip().lower()] = attr_value.strip()
    return name, value, attrs


def cookie_seconds_left(attrs: dict[str, str], now: float | None = None) -> float | None:
    """Return how long a cookie lives from now (<= 0: it deletes the cookie), None if a session cookie.

    Max-Age wins over Expires, as in browsers; an unparseable Expires counts as
    absent, an unparseable Max-Age too.
    """
    now = time.time() if now is None else now
    if "max-age" in attrs:
        try:
            return float(int(attrs["max-age"]))
        except ValueError:
            pass
    if "expires" in attrs:
        when = http.cookiejar.http2time(attrs["expires"])
        if when is not None:
            return when - now
    return None


def parse_timestamp(value: Any) -> datetime:
    """Parse any ISO 8601 date-time into an aware UTC datetime; naive means UTC.

    Accepts "2026-11-26T19:40:00Z", SQLite's "2026-11-26 19:40:00", offsets and
    fractions. A bare date is refused: the contract promises second resolution.
    """
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string, got {type(value).__name__}: {value!r}")
    text = value.strip()
    if len(text) < 11 or text[10] not in "Tt ":
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text[:10] + "T" + text[11:])
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def shorten(secret: str) -> str:
    """Return a token cut to a recognisable stub that is useless as a credential."""
    return f"{secret[:4]}…({len(secret)} chars)"


class Redactor:
    """Replace every known token in text by its shortened form."""

    # Shorter values are garbage the suite made up, not credentials, and
    # replacing them would mangle ordinary words.
    MIN_SECRET = 12

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= self.MIN_SECRET:
            self.secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, shorten(secret))
        return text


def redact_cookie_header(value: str) -> str:
    """Shorten every long cookie value of a Cookie or Set-Cookie header."""
    out = []
    for index, part in enumerate(value.split(";")):
        name, eq, cookie_value = part.partition("=")
        # Only the first pair of a Set-Cookie is the cookie; attributes stay readable,
        # but in a Cookie header every pair is a cookie.
        is_value = eq and (index == 0 or not _looks_like_attribute(name))
        if is_value and len(cookie_value.strip()) > 8:
            out.append(f"{name}={shorten(cookie_value.strip())}")
        else:
            out.append(part)
    return ";".join(out)


def _looks_like_attribute(name: str) -> bool:
    return name.strip().lower() in {"path", "domain", "expires", "max-age", "samesite", "priority", "partitioned"}


def excerpt(data: bytes | str | None, limit: int = BODY_EXCERPT) -> str:
    """Return a bounded, printable excerpt of a body."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        text = data.decode("utf-8", "replace")
        total = len(data)
    else:
        text = data
        total = len(data.encode("utf-8", "replace"))
    if len(text) > limit:
        return repr(text[:limit])[1:-1] + f"… ({total} bytes)"
    return repr(text)[1:-1] if any(ch < " " for ch in text) else text


def random_email(tag: str = "conf") -> str:
    """Return an address no other test run will use."""
    return f"{tag}-{secrets.token_hex(8)}@example.com"


def random_password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


# --- the exchange log -----------------------------------------------------------


@dataclass
class Exchange:
    """One request and its answer (or the transport error), as a failure report shows it."""

    device: str
    method: str
    path: str
    request_headers: list[tuple[str, str]]
    request_body: str
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: str = ""
    error: str = ""
    # What a replay needs and a report must not show (the lesson runner
    # prints each exchange as a curl command): the full URL, the body as
    # sent, the User-Agent, and where the session cookie came from.
    url: str = ""
    sent_body: str = ""
    user_agent: str | None = None
    # "jar": the device's own cookie; "none": no session cookie; anything
    # else is a value the check chose (a made-up or an old token).
    cookie: str = "none"
    # Whether the answer set a session cookie that the device kept.
    kept_cookie: bool = False
    # The answer's body, longer than the report's excerpt (a list of sessions).
    received_body: str = ""

    def format(self, redact: Redactor, number: int) -> str:
        lines = [f"#{number} {self.method} {self.path}   [{self.device}]"]
        for name, value in self.request_headers:
            lines.append(f"   > {name}: {value}")
        if self.request_body:
            lines.append(f"   > body: {self.request_body}")
        if self.error:
            lines.append(f"   < no answer: {self.error}")
        else:
            lines.append(f"   < {self.status}")
            for name, value in self.response_headers:
                lines.append(f"   < {name}: {value}")
            if self.response_body:
                lines.append(f"   < body: {self.response_body}")
        return redact("\n".join(lines))


class ExchangeLog:
    """The exchanges of the current test, in order."""

    def __init__(self) -> None:
        self.items: list[Exchange] = []

    def clear(self) -> None:
        self.items = []

    def append(self, exchange: Exchange) -> None:
        self.items.append(exchange)

    def format(self, redact: Redactor) -> str:
        shown = self.items[-MAX_EXCHANGES_SHOWN:]
        first = len(self.items) - len(shown) + 1
        lines = []
        if first > 1:
            lines.append(f"({first - 1} earlier exchanges not shown)")
        lines.extend(exchange.format(redact, first + i) for i, exchange in enumerate(shown))
        return "\n".join(lines)


# --- target and devices ---------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class Target:
    """The server under test and what the user declared about it."""

    base_url: str
    cookie_name: str = "session"
    cookie_name_declared: bool = False
    https: bool = False
    idle_timeout: float | None = None
    absolute_timeout: float | None = None
    touch_interval: float | None = None
    users: list[tuple[str, str]] = field(default_factory=list)
    log: ExchangeLog = field(default_factory=ExchangeLog)
    redact: Redactor = field(default_factory=Redactor)
    # The rule of the check now running: a body that breaks the OpenAPI
    # description fails only the checks of the rules that own it (schema.py).
    rule: str | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"base URL must be an http:// or https:// URL with a host, got {self.base_url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"base URL must not carry a query or fragment, got {self.base_url!r}")
        if parts.scheme == "https":
            self.https = True

    @property
    def signup_available(self) -> bool:
        """Whether tests may create accounts (no --user accounts were given)."""
        return not self.users

    @property
    def _host(self) -> str:
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        return f"[{host}]" if ":" in host else host

    @property
    def _port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or _DEFAULT_PORTS[parts.scheme]

    @property
    def scheme(self) -> str:
        """The scheme a browser sees: https when declared so, even behind a plain-HTTP hop."""
        return "https" if self.https else urlsplit(self.base_url).scheme

    def _origin(self, scheme: str, port: int) -> str:
        if port == _DEFAULT_PORTS[scheme]:
            return f"{scheme}://{self._host}"
        return f"{scheme}://{self._host}:{port}"

    @property
    def origin(self) -> str:
        """The target's own origin, as a browser would send it in `Origin`."""
        port = self._port
        if self.scheme != urlsplit(self.base_url).scheme and port == _DEFAULT_PORTS[urlsplit(self.base_url).scheme]:
            port = _DEFAULT_PORTS[self.scheme]
        return self._origin(self.scheme, port)

    def foreign_origins(self) -> dict[str, str]:
        """Origins that differ from the target's in host, port or scheme, and `null`."""
        port = self._port
        other_scheme = "http" if self.scheme == "https" else "https"
        other_port = port + 1 if port < 65535 else port - 1
        return {
            "other-site": "https://evil.example",
            "other-port": self._origin(self.scheme, other_port),
            "other-scheme": f"{other_scheme}://{self._host}:{port}",
            # Starts with the target's own origin, but its host is evil.example
            # (what precedes "@" is userinfo): catches `startswith` checks.
            "own-origin-prefix": f"{self.origin}@evil.example",
            "null": "null",
        }

    def url(self, path: str) -> str:
        """Join a contract path ("/me/sessions") under the base URL, prefix included."""
        return self.base_url + "/" + path.lstrip("/")


_MISSING = object()


def session_path(session_id: Any) -> str:
    """Return /me/sessions/{id} with the id percent-encoded, as a browser client would send it."""
    return "/me/sessions/" + quote(str(session_id), safe="")


class _SourceAddressAdapter(HTTPAdapter):
    """Connections that leave from a given local address (bound before connecting)."""

    def __init__(self, address: str) -> None:
        self._source = (address, 0)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)


def second_loopback_address(target: Target) -> str | None:
    """Another address this machine can reach the target from, or None.

    Only for a target on an IPv4 loopback address: every 127.x.y.z address
    is the loopback interface's on Linux, so a connection can leave from
    another one and the server sees a second client. Elsewhere the suite
    cannot know that a second address would reach the server (and would be
    the one it sees).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        host = ipaddress.ip_address(urlsplit(target.base_url).hostname or "")
    except ValueError:
        return None
    if host.version != 4 or not host.is_loopback:
        return None
    return "127.0.0.3" if str(host) == "127.0.0.2" else "127.0.0.2"


class Device:
    """One simulated browser: its own User-Agent, connection pool and session token.

    Cookies never go through requests' cookie jar: the session cookie is parsed
    from the raw Set-Cookie headers and sent back by hand, so a `Secure` or
    `Domain`-scoped cookie still reaches http://localhost, and nothing is sent
    that the test did not mean to send.
    """

    _counter = 0

    def __init__(self, target: Target, agent: Agent | str | None = None, label: str | None = None,
                 source_address: str | None = None) -> None:
        if agent is None:
            agent = AGENTS[Device._counter % len(AGENTS)]
        elif isinstance(agent, str):
            agent = AGENTS_BY_KEY.get(agent) or Agent("custom", agent, "", ())
        Device._counter += 1
        self.target = target
        self.agent = agent
        self.label = label or f"{agent.key} #{Device._counter}"
        self.token: str | None = None
        self.http = requests.Session()
        # Refuse every cookie into the jar; the suite handles cookies itself.
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        # A second client address (exploration's devices behind another address): connections leave from it.
        self.source_address = source_address
        if source_address is not None:
            adapter = _SourceAddressAdapter(source_address)
            self.http.mount("http://", adapter)
            self.http.mount("https://", adapter)

    def close(self) -> None:
        self.http.close()

    # -- raw requests --

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _MISSING,
        data: Any = None,
        headers: dict[str, Any] | None = None,
        cookie: Any = _MISSING,
        follow_cookies: bool = True,
    ) -> requests.Response:
        """Send one request and record it; `cookie=None` sends no session cookie, a string sends that value.

        The session cookie, if any, goes in a hand-made `Cookie` header; a
        `Cookie` in `headers` replaces it. Set-Cookie headers for the session
        cookie in the answer update this device's token, as a browser would.
        """
        __tracebackhide__ = True
        sent = {"User-Agent": self.agent.header}
        token = self.token if cookie is _MISSING else cookie
        if token is not None:
            sent["Cookie"] = f"{self.target.cookie_name}={token}"
        if json is not _MISSING:
            data = jsonlib.dumps(json).encode("utf-8")
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        # requests drops a header whose value is None: that is how a test sends none.
        exchange = Exchange(
            device=self.label,
            method=method,
            path=self._shown_path(path),
            request_headers=self._shown_request_headers(sent),
            request_body=self._shown_request_body(json, data),
            url=self.target.url(path),
            sent_body=data.decode("utf-8", "replace") if isinstance(data, bytes) else data if isinstance(data, str) else "",
            user_agent=sent.get("User-Agent"),
            cookie=self._cookie_source(token, headers),
        )
        self.target.log.append(exchange)
        try:
            response = self.http.request(
                method,
                self.target.url(path),
                data=data,
                headers=sent,
                timeout=REQUEST_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            exchange.error = describe_connection_error(exc)
            message = f"{method} {exchange.path}: the target gave no HTTP answer: {exchange.error}"
            raise TransportError(message) from None
        exchange.status = response.status_code
        set_cookies = self.set_cookies(response)
        exchange.response_headers = [
            (name, value) for name in _SHOWN_RESPONSE_HEADERS for value in _header_values(response, name)
        ] + [("set-cookie", redact_cookie_header(raw)) for raw in set_cookies]
        exchange.response_body = excerpt(response.content)
        exchange.received_body = excerpt(response.content, REPLAY_BODY_EXCERPT)
        if follow_cookies:
            self._follow(set_cookies)
            exchange.kept_cookie = any(parse_set_cookie(raw)[0] == self.target.cookie_name for raw in set_cookies)
        schema.check(method, path, response.status_code, response.content, self.target.rule)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # -- the contract's calls --

    def signup(self, email: str, password: str, **kwargs: Any) -> requests.Response:
        return self.post("/signup", json={"email": email, "password": password}, **kwargs)

    def login(self, email: str, password: str, **kwargs: Any) -> requests.Response:
        """POST /login; on success this device holds the new token."""
        return self.post("/login", json={"email": email, "password": password}, **kwargs)

    def logout(self, **kwargs: Any) -> requests.Response:
        return self.post("/logout", **kwargs)

    def me(self, **kwargs: Any) -> requests.Response:
        return self.get("/me", **kwargs)

    def sessions(self, **kwargs: Any) -> requests.Response:
        return self.get("/me/sessions", **kwargs)

    def revoke(self, session_id: Any, **kwargs: Any) -> requests.Response:
        """DELETE /me/sessions/{id}, the id percent-encoded as a browser client would."""
        return self.delete(session_path(session_id), **kwargs)

    def revoke_all(self, **kwargs: Any) -> requests.Response:
        return self.post("/me/sessions/revoke-all", **kwargs)

    # -- cookies --

    @staticmethod
    def set_cookies(response: requests.Response) -> list[str]:
        """Return every raw Set-Cookie header of a response, unfolded."""
        raw_headers = getattr(response.raw, "headers", None)
        if raw_headers is not None and hasattr(raw_headers, "getlist"):
            return list(raw_headers.getlist("Set-Cookie"))
        return [value for name, value in response.headers.items() if name.lower() == "set-cookie"]

    def session_cookie(self, response: requests.Response) -> tuple[str, dict[str, str]] | None:
        """Return (value, attributes) of the last session cookie a response set, if any."""
        found = None
        for raw in self.set_cookies(response):
            name, value, attrs = parse_set_cookie(raw)
            if name == self.target.cookie_name:
                found = (value, attrs)
        return found

    def _follow(self, set_cookies: list[str]) -> None:
        for raw in set_cookies:
            name, value, attrs = parse_set_cookie(raw)
            if name != self.target.cookie_name:
                continue
            left = cookie_seconds_left(attrs)
            if (left is not None and left <= 0) or not value:
                self.token = None
            else:
                self.token = value
                self.target.redact.add(value)

    # -- what a failure report shows --

    def _cookie_source(self, token: Any, headers: dict[str, Any] | None) -> str:
        if any(name.lower() == "cookie" for name in headers or {}):
            return "header"
        if token is None:
            return "none"
        return "jar" if token == self.token else str(token)

    def _shown_path(self, path: str) -> str:
        # The path as sent, base URL prefix included: what a server log would show.
        shown = urlsplit(self.target.url(path)).path
        return shown if len(shown) <= 120 else shown[:100] + f"… ({len(shown)} chars)"

    @staticmethod
    def _shown_request_headers(sent: dict[str, Any]) -> list[tuple[str, str]]:
        shown = []
        for name, value in sent.items():
            if value is None:
                if name.lower() == "user-agent":
                    shown.append((name, "(none sent)"))
                continue
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            lower = name.lower()
            if lower == "cookie":
                text = redact_cookie_header(text)
                if len(text) > 200:
                    text = text[:120] + f"… ({len(value)} bytes)"
                shown.append((name, text))
            elif lower == "user-agent":
                # What the request carried, whatever device label it was logged under.
                shown.append((name, excerpt(text, 200)))
            elif lower in _SHOWN_REQUEST_HEADERS:
                shown.append((name, excerpt(text, 120)))
        return shown

    @staticmethod
    def _shown_request_body(json: Any, data: Any) -> str:
        if json is not _MISSING:
            if isinstance(json, dict) and isinstance(json.get("password"), str):
                json = {**json, "password": "…"}
            return excerpt(jsonlib.dumps(json, ensure_ascii=False), 200)
        if isinstance(data, (bytes, str)):
            return excerpt(data, 200)
        if data is not None:
            return "(streamed body)"
        return ""


def _header_values(response: requests.Response, name: str) -> list[str]:
    raw_headers = getattr(response.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "getlist"):
        return list(raw_headers.getlist(name))
    value = response.headers.get(name)
    return [] if value is None else [value]


@dataclass(frozen=True)
class User:
    """An account the suite may log in as."""

    email: str
    password: str
    id: str


def made_up_id(like: str) -> str:
    """Return an id no session has, shaped like a real one (same length and character classes).

    A server may answer 400 for an id that cannot be one of its ids; keeping the
    shape makes "unknown id" mean unknown, not malformed.
    """
    if like.isdigit():
        return str(int(like) + 1_000_000_000 + secrets.randbelow(1_000_000))
    hex_only = all(ch in "0123456789abcdefABCDEF-" for ch in like)
    for _ in range(10):
        made = "".join(_same_class(ch, hex_only) for ch in like)
        if made != like:
            return made
    return like + "0"


def _same_class(ch: str, hex_only: bool) -> str:
    if ch.isdigit():
        return secrets.choice("0123456789")
    if hex_only and ch.isalpha():
        return secrets.choice("abcdef" if ch.islower() else "ABCDEF")
    if ch.isascii() and ch.islower():
        return secrets.choice("abcdefghijklmnopqrstuvwxyz")
    if ch.isascii() and ch.isupper():
        return secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return ch
