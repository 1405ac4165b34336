"""Password hashing: scrypt with a per-user salt and its parameters stored beside the hash."""

import hashlib

import pytest

from impl import passwords
from impl.passwords import PasswordHasher

CHEAP = PasswordHasher(n=2**4, r=8, p=1)


def test_hash_records_scheme_parameters_salt_and_key():
    scheme, n, r, p, salt, key = CHEAP.hash("correct horse").split("$")
    assert (scheme, n, r, p) == ("scrypt", "16", "8", "1")
    assert salt and key


def test_same_password_hashes_differently_each_time():
    assert CHEAP.hash("correct horse") != CHEAP.hash("correct horse")


def test_right_password_verifies_and_wrong_one_does_not():
    stored = CHEAP.hash("correct horse")
    assert CHEAP.verify("correct horse", stored)
    assert not CHEAP.verify("correct horsf", stored)
    assert not CHEAP.verify("", stored)


def test_hash_made_with_other_parameters_still_verifies_and_asks_for_rehash():
    old = PasswordHasher(n=2**3).hash("correct horse")
    assert CHEAP.verify("correct horse", old)
    assert CHEAP.needs_rehash(old)
    assert not CHEAP.needs_rehash(CHEAP.hash("x" * 8))


@pytest.mark.parametrize("stored", ["", "garbage", "scrypt$1$2$3", "scrypt$16$8$1$!!$!!", "bcrypt$16$8$1$a$b"])
def test_corrupt_stored_hash_denies_instead_of_crashing(stored):
    assert CHEAP.verify("correct horse", stored) is False


def test_unknown_user_costs_one_scrypt_like_a_wrong_password(monkeypatch):
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(passwords.hashlib, "scrypt", lambda *a, **k: calls.append(k) or real(*a, **k))
    stored = CHEAP.hash("correct horse")
    calls.clear()
    CHEAP.verify("wrong password", stored)
    CHEAP.verify("wrong password", None)
    assert [(c["n"], c["r"], c["p"]) for c in calls] == [(16, 8, 1), (16, 8, 1)]


def test_non_ascii_and_surrogate_passwords_hash_without_error():
    for password in ["pässwörd✓✓", "\ud800\udfff-lone-surrogates"]:
        assert CHEAP.verify(password, CHEAP.hash(password))
