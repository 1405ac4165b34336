"""HARD-TOKEN: session tokens are long, random, meaningless when decoded and kept out of sight."""

import base64
import binascii
import math
import re
import struct
import time
from datetime import datetime, timezone

import pytest

from conformance import expect

URL_SAFE = re.compile(r"[A-Za-z0-9_~.-]+")
# The smallest usual alphabet a set of tokens fits in says how many bits each
# character can carry at most.
ALPHABETS = [
    ("decimal digits", set("0123456789")),
    ("hex digits", set("0123456789abcdef")),
    ("hex digits", set("0123456789ABCDEF")),
    ("base32", set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
    ("base32", set("abcdefghijklmnopqrstuvwxyz234567")),
    ("letters and digits", set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")),
    ("base64url", set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")),
]
LOGINS = 6


def _tokens(user, login, count):
    return [login(user).token for _ in range(count)]


@pytest.mark.rule("HARD-TOKEN")
def test_token_has_at_least_22_url_safe_chars(new_user, login):
    token = login(new_user()).token
    assert len(token) >= 22, f"a session token needs 22 or more characters, got {len(token)}"
    assert URL_SAFE.fullmatch(token), f"a session token must use URL-safe characters only, got {token[:4]!r}…"


@pytest.mark.rule("HARD-TOKEN")
def test_token_carries_at_least_128_bits(new_user, login):
    tokens = _tokens(new_user(), login, 3)
    used = set("".join(tokens))
    fits = [(name, chars) for name, chars in ALPHABETS if used <= chars]
    name, alphabet = fits[0] if fits else ("bytes", set(map(chr, range(256))))
    bits = min(len(token) for token in tokens) * math.log2(len(alphabet))
    assert bits >= 128, (
        f"tokens of {min(len(t) for t in tokens)} characters drawn from {name} carry at most {bits:.0f} bits; "
        "128 are needed"
    )


@pytest.mark.rule("HARD-TOKEN")
def test_tokens_never_repeat_across_logins(new_user, login):
    first, second = new_user(), new_user()
    tokens = _tokens(first, login, LOGINS // 2) + _tokens(second, login, LOGINS // 2)
    assert len(set(tokens)) == len(tokens), f"{len(tokens)} logins produced only {len(set(tokens))} distinct tokens"


def _decodings(token):
    """Yield (decoded?, bytes): the token's text, and what it decodes to as base64/base64url/hex, whole and per part."""
    for part in [token, *token.split(".")]:
        yield False, part.encode()
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                yield True, decode(part + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                pass
        try:
            yield True, bytes.fromhex(part)
        except ValueError:
            pass


@pytest.mark.rule("HARD-TOKEN")
def test_token_reveals_no_user_id_email_or_time(new_user, login):
    user = new_user()
    token = login(user).token
    now = int(time.time())
    today = datetime.now(timezone.utc)
    needles = {
        "the email": user.email.lower().encode(),
        "the email's local part": user.email.split("@")[0].lower().encode(),
        "today's date": today.strftime("%Y-%m-%d").encode(),
        "today's date, compact": today.strftime("%Y%m%d").encode(),
        # Seconds (or milliseconds) since 1970 in decimal, to the nearest 100 s.
        "the time": str(now)[:-2].encode(),
    }
    # Short ids ("7") occur in random bytes by chance; only ids of 6+ characters say something.
    if len(user.id) >= 6:
        needles["the user id"] = user.id.lower().encode()
    for decoded, data in _decodings(token):
        lowered = data.lower()
        for what, needle in needles.items():
            assert needle not in lowered, f"the session token carries {what} ({needle.decode()!r}) when decoded"
        if not decoded:
            # Four characters of text read as a number land near "now" by chance too often.
            continue
        for offset in range(len(data) - 3):
            for order in (">I", "<I"):
                value = struct.unpack(order, data[offset : offset + 4])[0]
                assert abs(value - now) > 120, "the session token carries the current time as a 32-bit number"


@pytest.mark.rule("HARD-TOKEN")
def test_token_never_appears_in_bodies_headers_or_urls(new_user, new_device):
    user, device = new_user(), new_device()
    responses = [device.login(user.email, user.password)]
    token = device.token
    assert token, "POST /login set no session cookie"
    responses += [device.me(), device.sessions(), device.revoke_all(), device.logout(cookie=token)]
    for response in responses:
        where = expect.what(response)
        assert token.encode() not in response.content, f"{where}: the session token appears in the response body"
        for name, value in response.headers.items():
            if name.lower() == "set-cookie":
                continue
            assert token not in value, f"{where}: the session token appears in the {name} header"
        location = response.headers.get("Location", "")
        assert token not in location, f"{where}: the session token appears in a Location URL"


@pytest.mark.rule("HARD-TOKEN")
def test_token_with_one_char_changed_gets_401(new_user, login):
    device = login(new_user())
    token = device.token
    # The first letter's case flipped too: a lookup that ignores case (a
    # COLLATE NOCASE column, a lower-cased key) lets that forgery through.
    first_letter = next((i for i, ch in enumerate(token) if ch.isalpha()), 0)
    for position in sorted({0, first_letter, len(token) // 2, len(token) - 1}):
        original = token[position]
        if original.isalpha():
            replacement = original.swapcase()
        else:
            replacement = "A" if original != "A" else "B"
        forged = token[:position] + replacement + token[position + 1 :]
        # All but one character of a live token: as secret as the token itself.
        device.target.redact.add(forged)
        expect.error(device.me(cookie=forged, follow_cookies=False), 401, why=f"token changed at character {position}")
    expect.alive(device)
