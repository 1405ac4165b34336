"""The WSGI environ impl/bridge.py builds from an RSGI request: PEP 3333's, as granian's own WSGI interface builds it."""

from __future__ import annotations

from impl.bridge import WsgiBridge


class Scope:
    """What granian hands an RSGI app: the header list in arrival order, repeats included."""

    proto = "http"
    method = "GET"
    query_string = "a=1"
    server = "[::1]:3000"
    client = "[::1]:41234"
    scheme = "http"
    http_version = "1.1"
    authority = None

    def __init__(self, path: str, headers: list[tuple[str, str]]) -> None:
        self.path = path
        self._headers = headers

    @property
    def headers(self):
        scope = self

        class Headers:
            def items(self):
                return list(scope._headers)

        return Headers()


def environ(path: str = "/me", headers: list[tuple[str, str]] = ()) -> dict:
    return WsgiBridge._environ(Scope(path, list(headers)), b"")


def test_repeated_headers_are_joined_in_order_and_cookies_with_semicolons():
    env = environ(headers=[("accept", "a"), ("cookie", "x=1"), ("accept", "b"), ("cookie", "session=t")])
    assert env["HTTP_ACCEPT"] == "a,b"
    assert env["HTTP_COOKIE"] == "x=1;session=t"


def test_content_type_and_length_keep_their_first_value_without_http_prefix():
    env = environ(headers=[("content-type", "application/json"), ("content-length", "5"), ("content-type", "text/x")])
    assert env["CONTENT_TYPE"] == "application/json" and env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env


def test_a_header_name_with_an_underscore_cannot_pose_as_a_dashed_one():
    env = environ(headers=[("x-forwarded-for", "10.0.0.1"), ("x_forwarded_for", "6.6.6.6")])
    assert env["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"


def test_addresses_path_and_protocol():
    env = environ("/caf\u00e9")
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["REMOTE_ADDR"]) == ("::1", "3000", "::1")
    assert env["PATH_INFO"] == "/caf\u00e9".encode().decode("latin-1")  # the UTF-8 bytes, as latin-1 text
    assert environ("/me")["PATH_INFO"] == "/me"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["QUERY_STRING"] == "a=1"
    assert env["HTTP_HOST"] == ""  # no Host header and no authority
    assert env["wsgi.input"].read() == b""
