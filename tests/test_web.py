"""Request reading: bodies, JSON, the cookie header, client address, origin checks."""

import io
import ipaddress

import pytest

from impl.config import Config
from impl.errors import BadRequest, PayloadTooLarge
from impl.web import client_ip, is_cross_site, parse_json_object, read_body, require_string, session_cookie

PROXIED = Config(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))


def env(**kw):
    base = {"wsgi.url_scheme": "http", "HTTP_HOST": "localhost:3000", "REMOTE_ADDR": "127.0.0.1"}
    return {**base, **kw}


def test_declared_oversized_body_is_refused_before_reading():
    class Unreadable(io.BytesIO):
        def read(self, *a):
            raise AssertionError("body read despite its declared size")

    with pytest.raises(PayloadTooLarge):
        read_body({"CONTENT_LENGTH": "65537", "wsgi.input": Unreadable()}, 65536)


def test_body_of_exactly_the_limit_is_accepted():
    assert len(read_body({"CONTENT_LENGTH": "65536", "wsgi.input": io.BytesIO(b"x" * 65536)}, 65536)) == 65536


def test_chunked_body_is_read_to_the_limit_and_no_further():
    stream = io.BytesIO(b"x" * 1_000_000)
    with pytest.raises(PayloadTooLarge):
        read_body({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream}, 65536)
    assert stream.tell() == 65537


def test_body_without_length_on_a_non_terminated_stream_is_empty():
    assert read_body({"wsgi.input": io.BytesIO(b"{}")}, 65536) == b""


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_nonsense_content_length_is_a_bad_request(length):
    with pytest.raises(BadRequest):
        read_body({"CONTENT_LENGTH": length, "wsgi.input": io.BytesIO()}, 65536)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b"[]",
        b'"text"',
        b"null",
        b"42",
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion limit
        b'{"n": ' + b"9" * 5000 + b"}",  # longer than int() accepts
    ],
)
def test_anything_but_a_json_object_is_a_bad_request(body):
    with pytest.raises(BadRequest):
        parse_json_object(body)


def test_json_object_with_utf8_bom_is_accepted():
    assert parse_json_object(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(("body", "message"), [({}, "is required"), ({"email": 1}, "must be a string"),
                                               ({"email": None}, "must be a string"),
                                               ({"email": "\ud800"}, "is not valid Unicode")])
def test_required_string_field_errors_name_the_field(body, message):
    with pytest.raises(BadRequest, match="email " + message):
        require_string(body, "email")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("session=abc", "abc"),
        ("theme=dark; session=abc; other=1", "abc"),
        ('session="abc"', "abc"),
        ("garbage; ;;=; session=abc", "abc"),  # junk before ours does not hide it
        ("sessionx=abc; xsession=def", None),
        ("session=first; session=second", "first"),
        ("", None),
        ("session=" + "a" * 20_000, None),  # oversized header: not even split
    ],
)
def test_session_cookie_is_found_in_any_cookie_header(header, expected):
    assert session_cookie({"HTTP_COOKIE": header}) == expected


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a trusted proxy: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),  # left of the client is forgeable
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "not-an-ip, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1, garbage", "10.0.0.2"),  # a garbled hop: as if no header
        ("10.0.0.2", "198.51.100.1, 10.0.0.3, garbage", "10.0.0.2"),
        ("10.0.0.2", "2001:DB8::1", "2001:db8::1"),  # one canonical form (RFC 5952)
        ("10.0.0.2", "2001:0db8::0001", "2001:db8::1"),
        ("10.0.0.2", "2001:db8::1%eth0", "2001:db8::1"),  # a zone names a link of the proxy, not a client
        ("10.0.0.2", "2001:db8::1%" + "x" * 2800, "2001:db8::1"),
        ("10.0.0.2", "::ffff:198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "198.51.100." + "1" * 2800, "10.0.0.2"),
        ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),  # a dual-stack socket's peer is trusted too
    ],
)
def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(remote, forwarded, expected):
    assert client_ip(env(REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded), PROXIED) == expected


def test_client_ip_ignores_forwarded_for_without_trusted_proxies():
    assert client_ip(env(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4"), Config()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("headers", "cross"),
    [
        ({}, False),
        ({"HTTP_ORIGIN": "http://localhost:3000"}, False),
        ({"HTTP_ORIGIN": "HTTP://LOCALHOST:3000"}, False),
        ({"HTTP_ORIGIN": "http://localhost:3001"}, True),
        ({"HTTP_ORIGIN": "https://localhost:3000"}, True),
        ({"HTTP_ORIGIN": "http://evil.example"}, True),
        ({"HTTP_ORIGIN": "null"}, True),
        ({"HTTP_ORIGIN": ""}, True),
        ({"HTTP_ORIGIN": "http://localhost:99999"}, True),
        ({"HTTP_ORIGIN": "http://x@localhost:3000"}, True),  # userinfo: not an origin at all
        ({"HTTP_ORIGIN": "http://x:y@localhost:3000"}, True),
        ({"HTTP_ORIGIN": "http://@localhost:3000"}, True),
        ({"HTTP_ORIGIN": "http://localhost:3000/path"}, True),
        ({"HTTP_ORIGIN": "http://localhost:3000?q"}, True),
        ({"HTTP_SEC_FETCH_SITE": "cross-site"}, True),
        ({"HTTP_SEC_FETCH_SITE": "same-origin"}, False),
        ({"HTTP_SEC_FETCH_SITE": "same-site"}, False),
        ({"HTTP_SEC_FETCH_SITE": "none"}, False),
    ],
)
def test_cross_site_means_another_scheme_host_or_port(headers, cross):
    assert is_cross_site(env(**headers), Config()) is cross


def test_default_ports_are_the_same_origin():
    assert not is_cross_site(env(HTTP_HOST="example.org", HTTP_ORIGIN="http://example.org:80"), Config())
    https = Config(https=True)
    assert not is_cross_site(env(HTTP_HOST="example.org", HTTP_ORIGIN="https://example.org"), https)
    assert is_cross_site(env(HTTP_HOST="example.org", HTTP_ORIGIN="http://example.org"), https)


def test_behind_a_trusted_tls_proxy_the_forwarded_scheme_is_ours():
    e = env(REMOTE_ADDR="10.0.0.2", HTTP_HOST="example.org", HTTP_X_FORWARDED_PROTO="https",
            HTTP_ORIGIN="https://example.org")
    assert not is_cross_site(e, PROXIED)
    assert is_cross_site({**e, "REMOTE_ADDR": "203.0.113.9"}, PROXIED)


def test_behind_a_trusted_proxy_that_rewrites_host_the_forwarded_host_is_ours():
    # nginx with `proxy_pass http://127.0.0.1:3000` sends Host: 127.0.0.1:3000.
    e = env(REMOTE_ADDR="10.0.0.2", HTTP_HOST="127.0.0.1:3000", HTTP_X_FORWARDED_HOST="sessions.example.org",
            HTTP_X_FORWARDED_PROTO="https", HTTP_ORIGIN="https://sessions.example.org")
    assert not is_cross_site(e, PROXIED)
    assert is_cross_site({**e, "HTTP_ORIGIN": "https://evil.example"}, PROXIED)


def test_forwarded_host_is_read_from_the_right_like_forwarded_for():
    e = env(REMOTE_ADDR="10.0.0.2", HTTP_HOST="127.0.0.1:3000", HTTP_X_FORWARDED_PROTO="https",
            HTTP_X_FORWARDED_HOST="evil.example, sessions.example.org", HTTP_ORIGIN="https://evil.example")
    assert is_cross_site(e, PROXIED)


def test_forwarded_host_from_an_untrusted_peer_is_ignored():
    e = env(REMOTE_ADDR="203.0.113.9", HTTP_HOST="sessions.example.org", HTTP_X_FORWARDED_HOST="evil.example",
            HTTP_ORIGIN="http://evil.example")
    assert is_cross_site(e, PROXIED)
    assert is_cross_site(e, Config())
    assert not is_cross_site({**e, "HTTP_ORIGIN": "http://sessions.example.org"}, PROXIED)
