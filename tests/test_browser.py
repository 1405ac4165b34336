"""The Sessions page in a real browser: Debian's headless Chromium, driven by Playwright.

Each simulated device is a browser context of its own (its own cookies and
User-Agent) against run_server.py started as a person starts it. The
exercises of the lesson (CORE-EX1..3) are done here with clicks instead of
curl. Without /usr/bin/chromium or the playwright package, every test skips.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from impl import Config, create_app

from .servers import ROOT, running_server
from .conftest import CHROME_MAC, FIREFOX_WIN, SAFARI_IPHONE

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install chromium chromium-driver)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
expect = sync_api.expect

# What works for headless Chromium here; Playwright adds --headless and a
# fresh profile (--user-data-dir) per browser itself.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
# ua-parser keeps the app name of a CFNetwork client verbatim, markup and all.
HOSTILE_UA = '<img src=x class=pwned onerror=alert(1)>&amp; "q"/1.0 CFNetwork/1.0 Darwin/20'
HOSTILE_DEVICE = '<img src=x class=pwned onerror=alert(1)>&amp; "q" on iOS'
PASSWORD = "correct horse"
SCREENSHOT = ROOT / "docs" / "sessions-page.png"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("server")) as url:
        yield url


class Device:
    """One browser context with its own cookies and User-Agent, and the page open in it."""

    def __init__(self, browser: Any, base_url: str, user_agent: str, **options: Any) -> None:
        self.base_url = base_url
        settings = {"viewport": {"width": 1000, "height": 760}, "locale": "en-US", "timezone_id": "UTC"}
        self.context = browser.new_context(user_agent=user_agent, **{**settings, **options})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        # Anything the page's own code gets wrong, or the CSP refuses.
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        self.page.on("dialog", lambda dialog: self.problems.append(f"dialog: {dialog.message}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # Chromium logs every 4xx the API answers as "Failed to load
        # resource"; those are expected answers, not faults of the page.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def open(self) -> None:
        self.page.goto(self.base_url + "/account/sessions")

    def sign_in(self, email: str) -> None:
        self.open()
        self.page.get_by_label("Email address").fill(email)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        expect(self.page.locator("#signed-in")).to_be_visible()

    def rows(self) -> Any:
        return self.page.locator("#session-list > li")

    def row(self, device_name: str) -> Any:
        return self.rows().filter(has=self.page.locator(".device-name", has_text=device_name))

    def expect_signed_out(self) -> None:
        expect(self.page.locator("#auth-form")).to_be_visible()
        expect(self.page.locator("#signed-in")).to_be_hidden()
        expect(self.page.locator("#account")).to_be_hidden()

    def flash(self) -> Any:
        return self.page.locator("#flash")


@pytest.fixture
def devices(browser, base_url) -> Iterator[Callable[..., Device]]:
    """Open devices on demand; at the end, none may have met a script error or a CSP refusal."""
    opened: list[Device] = []

    def open_device(user_agent: str, url: str | None = None, **options: Any) -> Device:
        device = Device(browser, url or base_url, user_agent, **options)
        opened.append(device)
        return device

    yield open_device
    problems = [p for device in opened for p in device.problems]
    for device in opened:
        device.context.close()
    assert problems == []


@pytest.fixture
def account(base_url) -> str:
    """A fresh account (signed up through the API); its email."""
    email = f"student-{uuid.uuid4().hex[:10]}@example.com"
    r = requests.post(f"{base_url}/signup", json={"email": email, "password": PASSWORD}, timeout=10)
    assert r.status_code == 201, r.text
    return email


def test_sign_up_on_the_page_and_see_this_device(devices):
    device = devices(CHROME_MAC)
    device.open()
    page = device.page
    device.expect_signed_out()
    page.get_by_role("button", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    email = f"new-{uuid.uuid4().hex[:10]}@example.com"
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    # The API's own words, and still the sign-up form.
    expect(device.flash()).to_have_text("password must be at least 8 characters.")
    expect(page.get_by_role("button", name="Create account")).to_be_visible()

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(device.flash()).to_have_text("Account created. You are signed in.")
    expect(page.locator("#account-email")).to_have_text(email)
    expect(device.rows()).to_have_count(1)
    only = device.row("Chrome on macOS")
    expect(only.locator(".badge")).to_have_text("This device")
    expect(only.locator(".device-kind")).to_have_text("Desktop")
    expect(only.locator(".session-ip")).to_have_text("127.0.0.1")
    expect(only.locator(".last-active")).to_have_text("Active now")
    expect(only.locator(".signed-in-at")).to_contain_text("Signed in ")
    expect(only.get_by_role("button", name="Revoke")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out of all other sessions")).to_be_disabled()


def test_wrong_password_and_log_out_are_told_in_words(devices, account):
    device = devices(FIREFOX_WIN)
    device.open()
    page = device.page
    page.get_by_label("Email address").fill(account)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(device.flash()).to_have_text("Invalid email or password.")
    device.expect_signed_out()

    device.sign_in(account)
    page.get_by_role("button", name="Log out").click()
    expect(device.flash()).to_have_text("Logged out.")
    device.expect_signed_out()
    page.reload()
    device.expect_signed_out()


def test_revoke_a_session_from_another_device(devices, account):
    """CORE-EX1 and CORE-EX2 in the browser: two devices, one revokes the other."""
    laptop = devices(FIREFOX_WIN)
    phone = devices(SAFARI_IPHONE)
    laptop.sign_in(account)
    phone.sign_in(account)

    # EX1: both listed, different names, exactly one "This device".
    expect(phone.rows()).to_have_count(2)
    expect(phone.page.locator(".badge")).to_have_count(1)
    mine = phone.row("Mobile Safari on iOS")
    expect(mine.locator(".badge")).to_have_text("This device")
    expect(mine.locator(".device-kind")).to_have_text("Mobile")
    expect(mine.locator(".device-icon.device-mobile")).to_have_count(1)
    other = phone.row("Firefox on Windows")
    expect(other.locator(".device-kind")).to_have_text("Desktop")
    expect(other.locator(".last-active")).to_have_text("Last active just now")

    # EX2: revoke the laptop from the phone; the list follows without a reload.
    phone.page.get_by_role("button", name="Revoke Firefox on Windows").click()
    expect(phone.flash()).to_have_text("Session revoked.")
    expect(phone.rows()).to_have_count(1)
    expect(phone.row("Firefox on Windows")).to_have_count(0)

    # The laptop is signed out on its next load, and its cookie is refused.
    laptop.page.reload()
    laptop.expect_signed_out()
    assert laptop.context.request.get(laptop.base_url + "/me").status == 401
    phone.page.reload()
    expect(phone.rows()).to_have_count(1)


def test_sign_out_of_all_other_sessions(devices, account):
    """CORE-EX3 in the browser: from the third device, revoke all; only it stays."""
    laptop = devices(FIREFOX_WIN)
    phone = devices(SAFARI_IPHONE)
    tablet = devices(CHROME_ANDROID_TABLET)
    for device in (laptop, phone, tablet):
        device.sign_in(account)
    expect(tablet.rows()).to_have_count(3)
    expect(tablet.page.get_by_role("button", name="Revoke")).to_have_count(2)

    tablet.page.get_by_role("button", name="Sign out of all other sessions").click()
    expect(tablet.flash()).to_have_text("All other sessions have been revoked.")
    expect(tablet.rows()).to_have_count(1)
    expect(tablet.page.locator(".badge")).to_have_count(1)
    expect(tablet.page.get_by_role("button", name="Sign out of all other sessions")).to_be_disabled()

    for device in (laptop, phone):
        device.page.reload()
        device.expect_signed_out()
    tablet.page.reload()
    expect(tablet.rows()).to_have_count(1)
    expect(tablet.row("Chrome on Android").locator(".badge")).to_have_text("This device")


def test_acting_on_a_stale_list_shows_the_api_error_and_the_new_state(devices, account):
    laptop = devices(FIREFOX_WIN)
    phone = devices(SAFARI_IPHONE)
    tablet = devices(CHROME_ANDROID_TABLET)
    for device in (tablet, phone, laptop):
        device.sign_in(account)
    expect(laptop.rows()).to_have_count(3)

    # The phone revokes the tablet; the laptop's page still shows it.
    phone.page.get_by_role("button", name="Revoke Chrome on Android").click()
    expect(phone.rows()).to_have_count(2)
    laptop.page.get_by_role("button", name="Revoke Chrome on Android").click()
    expect(laptop.flash()).to_have_text("Session not found")
    expect(laptop.rows()).to_have_count(2)

    # Now the phone revokes the laptop: the laptop's next action finds itself signed out.
    phone.page.get_by_role("button", name="Revoke Firefox on Windows").click()
    expect(phone.rows()).to_have_count(1)
    laptop.page.get_by_role("button", name="Sign out of all other sessions").click()
    expect(laptop.flash()).to_have_text("Not authenticated.")
    laptop.expect_signed_out()


def test_hostile_device_name_is_shown_as_text(devices, account):
    intruder = devices(HOSTILE_UA)
    owner = devices(CHROME_MAC)
    intruder.sign_in(account)
    owner.sign_in(account)
    row = owner.rows().filter(has_text="class=pwned")
    expect(row.locator(".device-name")).to_have_text(HOSTILE_DEVICE)
    expect(row.locator(".device-kind")).to_have_text("Mobile")
    # Text, not markup: no element came out of the name, so nothing ran.
    assert owner.page.locator("img").count() == 0
    assert owner.page.locator(".pwned").count() == 0
    expect(owner.page.get_by_role("button", name=f"Revoke {HOSTILE_DEVICE}")).to_have_count(1)


class ShiftedClock:
    """Real time minus `ago` seconds: sessions that started days ago, without waiting days."""

    def __init__(self) -> None:
        self.ago = 0.0

    def __call__(self) -> float:
        return time.time() - self.ago


def test_screenshot_of_the_signed_in_page(devices, serve, tmp_path):
    """Three sessions of one person, as the README shows them (docs/sessions-page.png).

    An in-process app with a shifted clock gives them different ages, and a
    trusted proxy lets each carry its own (documentation-range) address.
    Written to docs/ only with SESSIONS_UPDATE_SCREENSHOT=1, so that normal
    runs leave the tree clean.
    """
    clock = ShiftedClock()
    config = Config.from_mapping(
        {
            "db_path": str(tmp_path / "shot.db"),
            "scrypt_n": 2,
            "access_log": False,
            "idle_timeout": 7 * 86400,
            "absolute_timeout": 30 * 86400,
            "trusted_proxies": "127.0.0.1",
        }
    )
    url = serve(create_app(config, clock=clock))
    email = "ann@example.com"
    assert requests.post(f"{url}/signup", json={"email": email, "password": PASSWORD}, timeout=10).status_code == 201

    def session_on(user_agent: str, ip: str, signed_in_ago: float, active_ago: float) -> None:
        http = requests.Session()
        http.headers.update({"User-Agent": user_agent, "X-Forwarded-For": ip})
        clock.ago = signed_in_ago
        assert http.post(f"{url}/login", json={"email": email, "password": PASSWORD}, timeout=10).ok
        clock.ago = active_ago
        assert http.get(f"{url}/me", timeout=10).ok
        http.close()

    session_on(SAFARI_IPHONE, "198.51.100.23", signed_in_ago=2 * 86400 + 3600, active_ago=3 * 3600)
    session_on(FIREFOX_WIN, "203.0.113.54", signed_in_ago=26 * 3600, active_ago=3 * 60 + 5)
    clock.ago = 0
    laptop = devices(
        CHROME_MAC,
        url=url,
        extra_http_headers={"X-Forwarded-For": "192.0.2.10"},
        # full_page grows the shot to the content; a short window leaves no blank below it.
        viewport={"width": 1000, "height": 560},
    )
    laptop.sign_in(email)
    expect(laptop.rows()).to_have_count(3)
    expect(laptop.row("Firefox on Windows").locator(".last-active")).to_have_text("Last active 3 minutes ago")
    expect(laptop.row("Mobile Safari on iOS").locator(".last-active")).to_have_text("Last active 3 hours ago")

    target = SCREENSHOT if os.environ.get("SESSIONS_UPDATE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name
    laptop.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
