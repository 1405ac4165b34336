"""The Sessions page without a browser: its headers, its HTML, its static files and its 404s."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import bottle
import pytest

from impl.pages import CONTENT_SECURITY_POLICY, STATIC_DIR, TEMPLATE_LOOKUP

from .conftest import CHROME_MAC

PAGES = ["/", "/account/sessions"]
# A User-Agent that ua-parser turns into a device name holding live HTML:
# `<img src=x class=pwned onerror=alert(1)>&amp; "q" on iOS`.
HOSTILE_UA = '<img src=x class=pwned onerror=alert(1)>&amp; "q"/1.0 CFNetwork/1.0 Darwin/20'
HOSTILE_DEVICE = '<img src=x class=pwned onerror=alert(1)>&amp; "q" on iOS'


class Tags(HTMLParser):
    """Collect every start tag with its attributes, and the text inside <script> and <style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_code: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline_code.append(f"<{self._open}>{data.strip()[:60]}")


def parse(body: bytes) -> Tags:
    tags = Tags()
    tags.feed(body.decode("utf-8"))
    tags.close()
    return tags


@pytest.mark.parametrize("path", PAGES)
def test_page_is_html_with_a_sign_in_form(client_for, path):
    r = client_for().request("GET", path)
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=UTF-8"
    ids = {attrs.get("id") for _, attrs in parse(r.body).tags}
    # Both views ship in the shell; the script shows the one the API calls for.
    assert {"auth-form", "email", "password", "auth-switch", "session-list", "revoke-all", "logout"} <= ids
    # The security log, and the password form's template (EXT-ACTIVITY, EXT-PASSWORD).
    assert {"tab-sessions", "tab-log", "tab-password", "event-list", "log-more", "password-form-template"} <= ids
    assert {"current-password", "new-password"} <= ids


@pytest.mark.parametrize("path", PAGES)
def test_page_headers_forbid_inline_code_framing_and_caching(client_for, path):
    r = client_for().request("GET", path)
    assert r.header("Content-Security-Policy") == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("Cache-Control") == "no-store"
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert len(r.headers_named("Content-Security-Policy")) == 1


def test_page_has_no_inline_script_style_or_handlers(client_for):
    """Everything the CSP would block must be absent, or the page would break under it."""
    tags = parse(client_for().request("GET", "/").body)
    assert tags.inline_code == []
    assert [t for t, _ in tags.tags if t == "style"] == []
    for tag, attrs in tags.tags:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs


def test_every_asset_the_page_names_is_served(client_for):
    client = client_for()
    tags = parse(client.request("GET", "/").body)
    urls = [attrs[key] for _, attrs in tags.tags for key in ("src", "href") if attrs.get(key, "").startswith("/static/")]
    css = (STATIC_DIR / "sessions.css").read_text()
    urls += ["/static/" + name for name in re.findall(r"url\(([^)]+)\)", css)]
    assert {"/static/sessions.js", "/static/sessions.css", "/static/desktop.svg", "/static/mobile.svg"} <= set(urls)
    for url in urls:
        assert client.request("GET", url).status == 200, url


def test_page_is_the_same_for_everyone_and_holds_no_user_data(client_for, user):
    """The shell carries no email, device name or IP: nothing user-controlled to escape."""
    hostile = client_for(HOSTILE_UA)
    assert hostile.login(user).status == 200
    viewer = client_for(CHROME_MAC)
    assert viewer.login(user).status == 200
    signed_out = client_for().request("GET", "/").body
    for client in (hostile, viewer):
        body = client.request("GET", "/account/sessions").body
        assert body == signed_out
        assert b"pwned" not in body and user.encode() not in body
    # The name reaches the page only as JSON data, which no browser sniffs into HTML.
    listing = viewer.request("GET", "/me/sessions")
    assert HOSTILE_DEVICE in {s["deviceName"] for s in listing.json}
    assert listing.header("Content-Type") == "application/json"
    assert listing.header("X-Content-Type-Options") == "nosniff"


def test_signed_out_page_has_one_password_field_outside_templates():
    """The change-password form waits in a <template>: signed out, "Password" labels the sign-in field alone."""
    html = (STATIC_DIR.parent / "views" / "sessions.tpl").read_text()
    outside = re.sub(r"<template\b.*?</template>", "", html, flags=re.DOTALL)
    assert outside.count('type="password"') == 1
    assert 'id="current-password"' in html and 'id="current-password"' not in outside


def test_template_escapes_what_it_is_given():
    """Should the shell ever render a value, {{ }} escapes it; keep it that way."""
    html = bottle.template("layout", title=HOSTILE_DEVICE, base="", template_lookup=TEMPLATE_LOOKUP)
    assert "<img src=x" not in html
    assert "&lt;img src=x class=pwned onerror=alert(1)&gt;&amp;amp; &quot;q&quot; on iOS" in html


def test_script_never_writes_html():
    """Data goes into the page with textContent; none of the HTML sinks appear at all."""
    script = (STATIC_DIR / "sessions.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "textContent" in script


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("sessions.css", "text/css; charset=UTF-8"),
        # mimetypes reads the system's table: either name is JavaScript to a browser.
        ("sessions.js", ("text/javascript; charset=UTF-8", "application/javascript; charset=UTF-8")),
        ("desktop.svg", "image/svg+xml"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_static_file_is_served_with_its_type(client_for, name, content_type):
    r = client_for().request("GET", f"/static/{name}")
    assert r.status == 200
    assert r.body == (STATIC_DIR / name).read_bytes()
    expected = content_type if isinstance(content_type, tuple) else (content_type,)
    assert r.header("Content-Type") in expected
    assert r.header("Cache-Control") == "no-store"
    # An SVG opened on its own is a document: it gets the page's rules too.
    assert r.header("Content-Security-Policy") == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/SESSIONS.JS",
        "/static/sessions.js/",
        "/static/../pages.py",
        "/static/..%2fpages.py",
        "/static/%2e%2e%2f__init__.py",
        "/static/",
        "/static",
        "/account",
        "/account/sessions/extra",
        "/views/sessions.tpl",
        "/favicon.ico",
    ],
)
def test_anything_else_is_a_json_404(client_for, path):
    r = client_for().request("GET", path)
    assert r.status == 404
    assert r.header("Content-Type") == "application/json"
    assert r.json == {"error": "Not found."}


def test_posting_to_the_page_is_a_json_405(client_for):
    """Where the form would go without its script: no HTML error page, no password in a URL."""
    r = client_for().request("POST", "/account/sessions", body=b"email=a&password=b")
    assert r.status == 405
    assert "error" in r.json


def test_head_gets_the_headers_without_a_body(client_for):
    r = client_for().request("HEAD", "/")
    assert r.status == 200
    assert r.body == b""
    assert r.header("Content-Security-Policy") == CONTENT_SECURITY_POLICY
