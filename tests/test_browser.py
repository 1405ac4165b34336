"""The Sessions page in a real browser: Debian's headless Chromium, driven by Playwright.

Each simulated device is a browser context of its own (its own cookies and
User-Agent) against run_server.py started as a person starts it. The
exercises of the lesson (CORE-EX1..3) are done here with clicks instead of
curl. Without /usr/bin/chromium or the playwright package, every test skips.
"""

from __future__ import annotations

import os
import re
import threading
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
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
NEW_PASSWORD = "battery staple"
# What the page says above its sign-in form, from a 401's reason (EXT-REASON).
REVOKED_MESSAGE = "This device was signed out from another session."
PASSWORD_CHANGED_MESSAGE = "This device was signed out because the password was changed."
EXPIRED_MESSAGE = "Your session expired."
LOGGED_OUT_MESSAGE = "You signed out."
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

    def sign_in(self, email: str, password: str = PASSWORD, *, reload: bool = True) -> None:
        if reload:
            self.open()
        self.page.get_by_label("Email address").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        expect(self.page.locator("#signed-in")).to_be_visible()

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()
        expect(self.page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")

    def events(self) -> Any:
        return self.page.locator("#event-list > li")

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
    # No cookie at all ("unauthenticated"): nothing to explain to a newcomer.
    expect(device.flash()).to_be_hidden()
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
    expect(phone.flash()).to_have_text("Signed out Firefox on Windows: that device has to sign in again.")
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
    expect(laptop.flash()).to_have_text(REVOKED_MESSAGE)
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


def test_rename_a_session_in_place(devices, account):
    """EXT-RENAME by clicks: the name above, the device name kept beneath; the API's errors shown; cleared again."""
    laptop = devices(FIREFOX_WIN)
    phone = devices(SAFARI_IPHONE)
    laptop.sign_in(account)
    phone.sign_in(account)
    page = phone.page

    page.get_by_role("button", name="Rename Firefox on Windows").click()
    name_box = page.get_by_label("Session name")
    expect(name_box).to_be_focused()
    name_box.fill("  Work laptop  ")
    page.get_by_role("button", name="Save").click()
    expect(phone.flash()).to_have_text("Renamed to “Work laptop”.")
    row = phone.row("Firefox on Windows")
    expect(row.locator(".session-name")).to_have_text("Work laptop")
    expect(row.locator(".device-name")).to_have_text("Firefox on Windows")
    # The name is above the device name.
    name_box_y = row.locator(".session-name").bounding_box()["y"]
    assert name_box_y < row.locator(".device-name").bounding_box()["y"]
    expect(page.get_by_role("button", name="Revoke Work laptop (Firefox on Windows)")).to_be_visible()
    # The other device sees the same name: it is the server's, not the page's.
    laptop.page.reload()
    expect(laptop.row("Firefox on Windows").locator(".session-name")).to_have_text("Work laptop")

    # Bad input: the API's own words beside the field, the row still being edited.
    page.get_by_role("button", name="Rename Work laptop").click()
    page.get_by_label("Session name").fill("evil\u202etxt.exe")
    page.get_by_role("button", name="Save").click()
    expect(phone.row("Firefox on Windows").get_by_role("alert")).to_have_text("name must not contain control characters.")
    expect(page.get_by_label("Session name")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Session name").fill("x" * 65)
    page.get_by_role("button", name="Save").click()
    expect(phone.row("Firefox on Windows").get_by_role("alert")).to_have_text("name must hold 1 to 64 characters.")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_label("Session name")).to_have_count(0)
    expect(row.locator(".session-name")).to_have_text("Work laptop")

    # The current session can be named too; Escape gives up an edit.
    page.get_by_role("button", name="Rename Mobile Safari on iOS").click()
    page.get_by_label("Session name").fill("Pocket")
    page.get_by_label("Session name").press("Escape")
    expect(phone.row("Mobile Safari on iOS").locator(".session-name")).to_have_count(0)
    page.get_by_role("button", name="Rename Mobile Safari on iOS").click()
    page.get_by_label("Session name").fill("Pocket")
    page.get_by_label("Session name").press("Enter")
    expect(phone.row("Mobile Safari on iOS").locator(".session-name")).to_have_text("Pocket")

    # An empty name removes it: the device name is the title again.
    page.get_by_role("button", name="Rename Work laptop").click()
    expect(page.get_by_label("Session name")).to_have_value("Work laptop")
    page.get_by_label("Session name").fill("")
    page.get_by_role("button", name="Save").click()
    expect(phone.flash()).to_have_text("Name removed.")
    expect(row.locator(".session-name")).to_have_count(0)
    expect(row.locator(".session-title .device-name")).to_have_text("Firefox on Windows")


def test_log_tells_the_name_a_rename_gave(devices, account):
    owner = devices(CHROME_MAC)
    owner.sign_in(account)
    page = owner.page
    for name in ("Desk", "Office desk"):
        page.get_by_role("button", name=re.compile("^Rename ")).click()
        page.get_by_label("Session name").fill(name)
        page.get_by_role("button", name="Save").click()
        expect(owner.flash()).to_have_text(f"Renamed to “{name}”.")
    owner.tab("Security log")
    # The newest rename gave the name the list shows; the older one is said to be superseded.
    expect(owner.events().nth(0)).to_contain_text("Chrome on macOS was renamed to “Office desk”")
    expect(owner.events().nth(1)).to_contain_text("Chrome on macOS was renamed (renamed again since)")


def test_name_with_markup_is_shown_as_text_in_the_list_and_the_log(devices, account):
    owner = devices(CHROME_MAC)
    owner.sign_in(account)
    page = owner.page
    page.get_by_role("button", name="Rename Chrome on macOS").click()
    page.get_by_label("Session name").fill(HOSTILE_NAME)
    page.get_by_role("button", name="Save").click()
    expect(owner.flash()).to_have_text(f"Renamed to “{HOSTILE_NAME}”.")
    expect(owner.row("Chrome on macOS").locator(".session-name")).to_have_text(HOSTILE_NAME)
    owner.tab("Security log")
    expect(owner.events().first).to_contain_text(f"Chrome on macOS was renamed to “{HOSTILE_NAME}”")
    expect(owner.events().last).to_contain_text(f"{HOSTILE_NAME} signed in")
    page.reload()
    expect(owner.events().first).to_contain_text(f"Chrome on macOS was renamed to “{HOSTILE_NAME}”")
    # Text, not markup: no element came out of the name, so nothing ran.
    assert page.locator("img").count() == 0


def test_security_log_tells_who_did_what_and_pages_back(devices, account, base_url):
    """EXT-ACTIVITY by clicks: sentences, device and address, names resolved as far as the events go, ?before paging."""
    phone = devices(SAFARI_IPHONE)
    phone.sign_in(account)  # the account's first login: not a new device
    tablet = requests.Session()
    tablet.headers["User-Agent"] = CHROME_ANDROID_TABLET
    assert tablet.post(f"{base_url}/login", json={"email": account, "password": PASSWORD}, timeout=10).ok
    # 22 more events, so that the tablet's login falls off the first page of 20.
    for _ in range(11):
        mac = requests.Session()
        mac.headers["User-Agent"] = CHROME_MAC
        assert mac.post(f"{base_url}/login", json={"email": account, "password": PASSWORD}, timeout=10).ok
        assert mac.post(f"{base_url}/logout", timeout=10).ok
    for _ in range(2):  # two failures from one address: one event that counts them
        wrong = requests.post(
            f"{base_url}/login", json={"email": account, "password": "not it"}, headers={"User-Agent": FIREFOX_WIN},
            timeout=10,
        )
        assert wrong.status_code == 401
    phone.page.reload()
    phone.page.get_by_role("button", name="Revoke Chrome on Android").click()
    expect(phone.flash()).to_have_text("Signed out Chrome on Android: that device has to sign in again.")

    phone.tab("Security log")
    events = phone.events()
    expect(events).to_have_count(20)
    # The tablet's login is not on this page and its session is gone: said so.
    expect(events.nth(0).locator(".event-text")).to_have_text("Mobile Safari on iOS signed out a session that has since ended")
    expect(events.nth(0).locator(".event-device")).to_have_text("Mobile Safari on iOS")
    expect(events.nth(0).locator(".event-ip")).to_have_text("127.0.0.1")
    expect(events.nth(0).locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(events.nth(1).locator(".event-text")).to_have_text("2 failed sign-ins (wrong password) from Firefox on Windows")
    expect(events.nth(1).locator(".event-last time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    # A logout names the session by its own login event, two lines further down.
    expect(events.nth(2).locator(".event-text")).to_have_text("Chrome on macOS signed out")
    expect(events.nth(3).locator(".event-text")).to_have_text("Chrome on macOS signed in")

    phone.page.get_by_role("button", name="Show older events").click()
    expect(events).to_have_count(26)
    # Now the tablet's login is loaded: the revoke names it.
    expect(events.nth(0).locator(".event-text")).to_have_text("Mobile Safari on iOS signed out Chrome on Android")
    tablet_login = events.nth(24)
    expect(tablet_login.locator(".event-text")).to_have_text("Chrome on Android signed in")
    expect(tablet_login.locator(".flag-new")).to_have_text("New device")
    first_login = events.nth(25)
    expect(first_login.locator(".event-text")).to_have_text("Mobile Safari on iOS signed in")
    expect(first_login.locator(".flag-new")).to_have_count(0)
    expect(phone.page.get_by_role("button", name="Show older events")).to_be_hidden()
    expect(phone.page.locator("#log-status")).to_have_text("That is everything in the log.")
    # The view is in the address: a reload opens the log again.
    phone.page.reload()
    expect(phone.page.get_by_role("tab", name="Security log")).to_have_attribute("aria-selected", "true")
    expect(events).to_have_count(20)


def test_change_password_signs_out_the_others_and_they_say_why(devices, account):
    """EXT-PASSWORD and EXT-REASON by clicks: the result in words; the others told why; this device goes on."""
    laptop = devices(FIREFOX_WIN)
    phone = devices(SAFARI_IPHONE)
    tablet = devices(CHROME_ANDROID_TABLET)
    for device in (phone, tablet, laptop):
        device.sign_in(account)
    page = laptop.page
    laptop.tab("Password")
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(laptop.flash()).to_have_text("Current password is incorrect.")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(laptop.flash()).to_have_text("newPassword must be at least 8 characters.")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(laptop.flash()).to_have_text("Password changed. 2 other sessions were signed out.")
    expect(page.get_by_label("Current password")).to_have_value("")
    # The new cookie came with the answer: this device goes on, reload or not.
    laptop.tab("Sessions")
    expect(laptop.rows()).to_have_count(1)
    page.reload()
    expect(laptop.rows()).to_have_count(1)

    # The phone learns it at its next request, here a click on a tab.
    phone.page.get_by_role("tab", name="Security log").click()
    expect(phone.flash()).to_have_text(PASSWORD_CHANGED_MESSAGE)
    phone.expect_signed_out()
    tablet.page.reload()
    expect(tablet.flash()).to_have_text(PASSWORD_CHANGED_MESSAGE)
    tablet.expect_signed_out()

    # The phone signs in with the new password and changes it back: one other session (the laptop).
    phone.sign_in(account, NEW_PASSWORD, reload=False)
    phone.tab("Password")
    phone.page.get_by_label("Current password").fill(NEW_PASSWORD)
    phone.page.get_by_label("New password").fill(PASSWORD)
    phone.page.get_by_role("button", name="Change password").click()
    expect(phone.flash()).to_have_text("Password changed. 1 other session was signed out.")
    page.get_by_role("tab", name="Security log").click()
    expect(laptop.flash()).to_have_text(PASSWORD_CHANGED_MESSAGE)
    laptop.expect_signed_out()
    # Signing in again (with the password now in force) returns to the view it was in.
    laptop.sign_in(account, PASSWORD, reload=False)
    expect(page.get_by_role("tab", name="Security log")).to_have_attribute("aria-selected", "true")
    expect(laptop.events().first.locator(".event-text")).to_have_text("Firefox on Windows signed in")

    # The log of it, seen from the phone.
    phone.tab("Security log")
    expect(phone.events().nth(1).locator(".event-text")).to_have_text(
        "Mobile Safari on iOS changed the password and signed out 1 other session"
    )
    expect(phone.events().nth(3).locator(".event-text")).to_have_text(
        "Firefox on Windows changed the password and signed out 2 other sessions"
    )


def test_sign_in_and_sign_out_everywhere_else_wins_against_a_thief(devices, account, base_url):
    """EXT-RECOVER by clicks: with the box checked, the sign-in ends every other session, a looping thief's too."""
    phone = devices(SAFARI_IPHONE)
    phone.sign_in(account)
    # The thief holds only a copy of a cookie, and loops on revoke-all with it.
    thief = requests.Session()
    assert thief.post(f"{base_url}/login", json={"email": account, "password": PASSWORD}, timeout=10).status_code == 200
    answers: list[int] = []

    def loop() -> None:
        while len(answers) < 2000:
            answers.append(thief.post(f"{base_url}/me/sessions/revoke-all", timeout=10).status_code)
            if answers[-1] == 401:
                return

    looper = threading.Thread(target=loop, daemon=True)
    looper.start()
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert answers and answers[0] == 200, f"the thief's loop is not running: {answers}"
    laptop = devices(FIREFOX_WIN)
    laptop.open()
    page = laptop.page
    box = page.get_by_label("Sign out everywhere else")
    expect(box).not_to_be_checked()
    # Not offered when creating an account: a new one has no other session.
    page.get_by_role("button", name="Create an account").click()
    expect(box).to_be_hidden()
    page.locator("#auth-switch").click()
    expect(box).to_be_visible()
    page.get_by_label("Email address").fill(account)
    page.get_by_label("Password").fill(PASSWORD)
    box.check()
    page.get_by_role("button", name="Sign in", exact=True).click()
    # The thief's loop had already ended the phone: the thief's session is the one other.
    expect(laptop.flash()).to_have_text("Signed in. 1 other session was signed out.")
    looper.join(timeout=20)
    assert answers and answers[-1] == 401, f"the thief's loop was not stopped: {answers[-5:]}"
    # This device alone, for good: the thief's loop did not end it.
    expect(laptop.rows()).to_have_count(1)
    page.reload()
    expect(laptop.rows()).to_have_count(1)
    expect(laptop.row("Firefox on Windows").locator(".badge")).to_have_text("This device")
    assert thief.get(f"{base_url}/me", timeout=10).status_code == 401
    phone.page.reload()
    expect(phone.flash()).to_have_text(REVOKED_MESSAGE)
    phone.expect_signed_out()
    # The log says what happened, and the box is not left checked for next time.
    laptop.tab("Security log")
    expect(laptop.events().first.locator(".event-text")).to_have_text("Firefox on Windows signed out 1 other session")
    expect(laptop.events().nth(1).locator(".event-text")).to_have_text("Firefox on Windows signed in")
    page.get_by_role("button", name="Log out").click()
    laptop.expect_signed_out()
    expect(box).not_to_be_checked()


def test_revoked_device_says_why_without_a_reload(devices, account):
    laptop = devices(FIREFOX_WIN)
    phone = devices(SAFARI_IPHONE)
    laptop.sign_in(account)
    phone.sign_in(account)
    phone.page.get_by_role("button", name="Revoke Firefox on Windows").click()
    expect(phone.flash()).to_have_text("Signed out Firefox on Windows: that device has to sign in again.")
    # Any request of the laptop's page finds out, here a rename.
    laptop.page.get_by_role("button", name="Rename Firefox on Windows").click()
    laptop.page.get_by_label("Session name").fill("Mine")
    laptop.page.get_by_role("button", name="Save").click()
    expect(laptop.flash()).to_have_text(REVOKED_MESSAGE)
    laptop.expect_signed_out()
    # Opened afresh with the dead cookie, the page still knows why.
    laptop.page.reload()
    expect(laptop.flash()).to_have_text(REVOKED_MESSAGE)
    # And the log of the one who revoked says who did it.
    phone.tab("Security log")
    expect(phone.events().first.locator(".event-text")).to_have_text("Mobile Safari on iOS signed out Firefox on Windows")


def test_a_copied_cookie_after_log_out_says_you_signed_out(devices, account):
    """EXT-REASON's logged_out: a second window holding the same cookie (copied here) after the first logs out."""
    first = devices(CHROME_MAC)
    first.sign_in(account)
    second = devices(CHROME_MAC)
    second.context.add_cookies(first.context.cookies())
    second.open()
    expect(second.rows()).to_have_count(1)
    first.page.get_by_role("button", name="Log out").click()
    expect(first.flash()).to_have_text("Logged out.")
    second.page.get_by_role("tab", name="Security log").click()
    expect(second.flash()).to_have_text(LOGGED_OUT_MESSAGE)
    second.expect_signed_out()


def test_a_cookie_gone_from_the_browser_says_the_session_ended(devices, account):
    """No cookie sent ("unauthenticated") while the page showed a signed-in list: said in general words."""
    laptop = devices(FIREFOX_WIN)
    laptop.sign_in(account)
    laptop.context.clear_cookies()
    laptop.page.get_by_role("tab", name="Password").click()
    laptop.page.get_by_role("tab", name="Security log").click()
    expect(laptop.flash()).to_have_text("This session has ended. Sign in again to manage your sessions.")
    laptop.expect_signed_out()


def test_new_devices_are_marked_in_the_list(devices, account):
    """EXT-NEW-DEVICE: the account's first device is not new; a second browser is; the same one again is not."""
    laptop = devices(FIREFOX_WIN)
    laptop.sign_in(account)
    expect(laptop.row("Firefox on Windows").locator(".flag-new")).to_have_count(0)
    phone = devices(SAFARI_IPHONE)
    phone.sign_in(account)
    expect(phone.row("Mobile Safari on iOS").locator(".flag-new")).to_have_text("New device")
    again = devices(FIREFOX_WIN)
    again.sign_in(account)
    expect(again.rows()).to_have_count(3)
    expect(again.page.locator("#session-list .flag-new")).to_have_count(1)
    expect(again.rows().locator(".badge")).to_have_count(1)


class ShiftedClock:
    """Real time minus `ago` seconds: sessions that started days ago, without waiting days."""

    def __init__(self) -> None:
        self.ago = 0.0

    def __call__(self) -> float:
        return time.time() - self.ago


def idle_app_url(serve: Callable[[Any], str], tmp_path: Path, clock: "ShiftedClock") -> str:
    config = Config.from_mapping(
        {"db": str(tmp_path / "idle.db"), "scrypt_n": 2, "access_log": False, "idle_timeout": 600}
    )
    return serve(create_app(config, clock=clock))


def test_expired_session_says_so(devices, serve, tmp_path):
    clock = ShiftedClock()
    url = idle_app_url(serve, tmp_path, clock)
    email = "idle@example.com"
    assert requests.post(f"{url}/signup", json={"email": email, "password": PASSWORD}, timeout=10).status_code == 201
    laptop = devices(FIREFOX_WIN, url=url)
    laptop.sign_in(email)
    clock.ago = -601  # eleven minutes later, with the idle timeout at ten
    laptop.page.get_by_role("tab", name="Security log").click()
    expect(laptop.flash()).to_have_text(EXPIRED_MESSAGE)
    laptop.expect_signed_out()


@pytest.mark.parametrize("width", [360, 1000])
def test_every_view_fits_the_width(devices, account, base_url, width):
    """Phone and desktop widths: nothing overflows sideways, in any view, with a long name."""
    other = requests.Session()
    other.headers["User-Agent"] = HOSTILE_UA
    assert other.post(f"{base_url}/login", json={"email": account, "password": PASSWORD}, timeout=10).ok
    device = devices(SAFARI_IPHONE, viewport={"width": width, "height": 800})
    device.sign_in(account)
    device.page.get_by_role("button", name=f"Rename {HOSTILE_DEVICE}").click()
    device.page.get_by_label("Session name").fill("A-rather-long-name-without-spaces-for-this-session-1234567890")
    device.page.get_by_role("button", name="Save").click()
    expect(device.flash()).to_contain_text("Renamed to")
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert device.page.evaluate(overflow) <= 0
    device.page.get_by_role("button", name="Rename Mobile Safari on iOS").click()
    assert device.page.evaluate(overflow) <= 0
    for tab in ("Security log", "Password"):
        device.tab(tab)
        assert device.page.evaluate(overflow) <= 0, tab
        if os.environ.get("DEBUG_SHOT"):
            device.page.screenshot(path=f"/tmp/w{width}-{tab[0]}.png", full_page=True)
    # Keyboard: arrows move between the tabs.
    device.page.get_by_role("tab", name="Password").press("ArrowLeft")
    expect(device.page.get_by_role("tab", name="Security log")).to_be_focused()
    expect(device.page.get_by_role("tab", name="Security log")).to_have_attribute("aria-selected", "true")


def test_screenshot_of_the_signed_in_page(devices, serve, tmp_path):
    """Three sessions of one person, as the tutorial shows them (docs/sessions-page.png).

    An in-process app with a shifted clock gives them different ages, and a
    trusted proxy lets each carry its own (documentation-range) address.
    Written to docs/ only with SESSIONS_UPDATE_SCREENSHOT=1, so that normal
    runs leave the tree clean.
    """
    clock = ShiftedClock()
    config = Config.from_mapping(
        {
            "db": str(tmp_path / "shot.db"),
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

    def session_on(user_agent: str, ip: str, signed_in_ago: float, active_ago: float, name: str | None = None) -> None:
        http = requests.Session()
        http.headers.update({"User-Agent": user_agent, "X-Forwarded-For": ip})
        clock.ago = signed_in_ago
        assert http.post(f"{url}/login", json={"email": email, "password": PASSWORD}, timeout=10).ok
        clock.ago = active_ago
        assert http.get(f"{url}/me", timeout=10).ok
        if name:
            mine = [s["id"] for s in http.get(f"{url}/me/sessions", timeout=10).json() if s["isCurrent"]]
            assert http.patch(f"{url}/me/sessions/{mine[0]}", json={"name": name}, timeout=10).ok
        http.close()

    # The account's first login (not a new device), named by its owner.
    session_on(SAFARI_IPHONE, "198.51.100.23", signed_in_ago=2 * 86400 + 3600, active_ago=3 * 3600, name="Ann’s iPhone")
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
    expect(laptop.row("Mobile Safari on iOS").locator(".session-name")).to_have_text("Ann’s iPhone")
    expect(laptop.page.locator("#session-list .flag-new")).to_have_count(2)

    target = SCREENSHOT if os.environ.get("SESSIONS_UPDATE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name
    laptop.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
