"""Device names: "<browser> on <OS or device>" from a real UA parser."""

import pytest

from impl.devices import MAX_USER_AGENT, clip_user_agent, device_name

from .conftest import CHROME_MAC, FIREFOX_WIN, SAFARI_IPHONE


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_MAC, "Chrome on macOS"),
        (SAFARI_IPHONE, "Mobile Safari on iOS"),
        (FIREFOX_WIN, "Firefox on Windows"),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.6099.43 Mobile Safari/537.36",
            "Chrome Mobile on Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
            "Edge on Windows",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on Linux"),
        # Tools are named by the parser too; their OS is unknowable.
        ("curl/8.4.0", "curl on Unknown OS"),
        ("", "Unknown browser on Unknown OS"),
        (None, "Unknown browser on Unknown OS"),
        ("<script>alert(1)</script>", "Unknown browser on Unknown OS"),
    ],
)
def test_device_name_reads_browser_on_os(user_agent, expected):
    assert device_name(user_agent) == expected


def test_two_different_browsers_get_different_names():
    assert device_name(CHROME_MAC) != device_name(FIREFOX_WIN)


def test_stored_user_agent_is_bounded_and_printable():
    clipped = clip_user_agent("Mozilla/5.0\x00\x1b[31m" + "x" * 5000)
    assert len(clipped) <= MAX_USER_AGENT
    assert clipped.isprintable()


def test_huge_user_agent_is_named_quickly_enough_to_not_matter():
    # Not a timing assertion: just that a 1 MB header does not crash or hang the parser.
    assert device_name("Mozilla/5.0 " + "(" * 1_000_000).endswith("Unknown OS")
