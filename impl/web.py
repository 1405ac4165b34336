"""Reading requests safely: JSON bodies, the session cookie, the client address, the origin."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .config import Config
from .errors import BadRequest, PayloadTooLarge
from .inputs import check_body

COOKIE_NAME = "session"
# Browsers cap a Cookie header near 8 KiB per cookie; anything longer is junk
# we will not even split.
MAX_COOKIE_HEADER = 16 * 1024


def declared_length(environ: Mapping[str, Any], limit: int) -> int | None:
    """Return the Content-Length, None if absent; raise BadRequest or PayloadTooLarge."""
    raw_length = environ.get("CONTENT_LENGTH") or ""
    if not raw_length:
        return None
    try:
        length = int(raw_length)
    except ValueError:
        raise BadRequest("Content-Length is not a number.") from None
    if length < 0:
        raise BadRequest("Content-Length is not a number.")
    if length > limit:
        raise PayloadTooLarge(f"Request body must be at most {limit} bytes.")
    return length


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """Return the request body, or raise PayloadTooLarge past `limit` bytes.

    The declared length is checked before a byte is read; a chunked body is
    read to at most limit + 1 bytes, so no client can make us buffer more.
    """
    stream = environ.get("wsgi.input")
    length = declared_length(environ, limit)
    if length is not None:
        return stream.read(length) if stream is not None and length else b""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    # Without a length, WSGI allows reading to the end only where the server
    # says the stream is terminated (granian does; wsgiref has no chunking).
    if stream is None or not (chunked or environ.get("wsgi.input_terminated")):
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"Request body must be at most {limit} bytes.")
    return data


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Return the body as a JSON object, or raise BadRequest saying what is wrong."""
    if not body.strip():
        raise BadRequest("Request body must be a JSON object.")
    try:
        value = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("Request body is not valid JSON.") from None
    except RecursionError:
        # Thousands of nested brackets: malformed for our purposes, not a crash.
        raise BadRequest("Request body is nested too deeply.") from None
    if not isinstance(value, dict):
        raise BadRequest("Request body must be a JSON object.")
    return check_body(value)


def require_string(body: Mapping[str, Any], field: str) -> str:
    """Return body[field] as a string, or raise BadRequest."""
    if field not in body:
        raise BadRequest(f"{field} is required.")
    value = body[field]
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can carry lone surrogates ("\ud800"); no database column can.
        raise BadRequest(f"{field} is not valid Unicode.") from None
    return value


def session_cookie(environ: Mapping[str, Any], name: str = COOKIE_NAME) -> str | None:
    """Return the value of the first `name` cookie in the Cookie header, or None.

    Parsed by hand: http.cookies gives up on the whole header at the first
    pair it dislikes, so one junk cookie from another app would log us out.
    """
    header = environ.get("HTTP_COOKIE")
    if not header or len(header) > MAX_COOKIE_HEADER:
        return None
    for pair in header.split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def client_ip(environ: Mapping[str, Any], config: Config) -> str:
    """Return the client's address, canonical: the socket peer, or, behind trusted proxies, X-Forwarded-For.

    X-Forwarded-For is read right to left, skipping our own proxies: the
    first address not in the trusted set is the client. Anything to its left
    was written by the client itself and proves nothing. A hop on that way
    that is not an address makes the whole header worthless: the peer is
    the client, as if there were no header. The address is returned in one
    form (RFC 5952, no zone, IPv4-mapped as IPv4), so that 2001:DB8::1 and
    2001:0db8::0001%eth0 are one client to the throttle and the log.
    """
    peer = environ.get("REMOTE_ADDR") or "unknown"
    peer_ip = canonical_ip(peer)
    peer = str(peer_ip) if peer_ip is not None else peer
    if not config.trusted_proxies or peer_ip is None or not _in_trusted(peer_ip, config):
        return peer
    hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        ip = canonical_ip(hop)
        if ip is None:
            return peer
        client = str(ip)
        if not _in_trusted(ip, config):
            break
    return client


def canonical_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the address `text` names, without zone and with IPv4-mapped as IPv4; None if it is not one."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return ipaddress.IPv6Address(ip.packed)
    return ip


def _in_trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, config: Config) -> bool:
    return any(ip in net for net in config.trusted_proxies)


def _is_trusted(address: str, config: Config) -> bool:
    ip = canonical_ip(address)
    return ip is not None and _in_trusted(ip, config)


def own_origin(environ: Mapping[str, Any], config: Config) -> tuple[str, str, int]:
    """Return (scheme, host, port) of this request as the browser addressed it.

    Behind a trusted proxy, X-Forwarded-Proto and X-Forwarded-Host say how
    the browser addressed the proxy (a proxy that rewrites Host to the
    backend's address would otherwise make every same-site request look
    cross-site). From anyone else both headers are ignored: a client could
    otherwise name any origin it likes as ours.
    """
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    from_proxy = bool(config.trusted_proxies) and _is_trusted(environ.get("REMOTE_ADDR", ""), config)
    if config.https:
        scheme = "https"
    elif from_proxy:
        scheme = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower() or "http"
    else:
        scheme = environ.get("wsgi.url_scheme", "http")
    if from_proxy:
        # The last value is the one our own proxy wrote; any before it came
        # from further out (as with X-Forwarded-For, read from the right).
        forwarded = environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[-1].strip()
        if forwarded:
            host = forwarded
    return _split_origin(f"{scheme}://{host}") or (scheme, "", 0)


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    # An origin is scheme, host and port (RFC 6454): "http://x@host" names
    # no origin at all, and must not pass for host's own.
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def is_cross_site(environ: Mapping[str, Any], config: Config) -> bool:
    """Tell whether a request comes from another origin (HARD-CSRF).

    Refused: `Sec-Fetch-Site: cross-site`; an `Origin` whose scheme, host or
    port differ from the request's own; `Origin: null` (sandboxed frames,
    some redirects) and any Origin we cannot parse. A request without Origin
    (curl, old browsers, same-origin GETs) is not refused on that ground.
    """
    if environ.get("HTTP_SEC_FETCH_SITE", "").strip().lower() == "cross-site":
        return True
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return False
    theirs = _split_origin(origin.strip())
    return theirs is None or theirs != own_origin(environ, config)
