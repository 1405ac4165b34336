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


class DerivationClock:
    """A fake clock that scrypt moves forward: each derivation costs n * r * p microseconds."""

    def __init__(self, monkeypatch) -> None:
        self.now = 0.0
        self.derivations: list[int] = []
        real = hashlib.scrypt

        def counted(*args, **kwargs):
            self.derivations.append(kwargs["n"])
            self.now += kwargs["n"] * kwargs["r"] * kwargs["p"] * 1e-6
            return real(*args, **kwargs)

        monkeypatch.setattr(passwords.hashlib, "scrypt", counted)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def cost(self, action) -> float:
        started = self.now
        action()
        return self.now - started


def test_wrong_password_on_an_older_cheaper_hash_costs_what_an_unknown_email_costs(monkeypatch):
    clock = DerivationClock(monkeypatch)
    old = PasswordHasher(n=2**4).hash("correct horse")  # before --scrypt-n was raised
    current = PasswordHasher(n=2**8, clock=clock, sleep=clock.sleep)
    unknown = clock.cost(lambda: current.verify("correct horse", None))
    wrong = clock.cost(lambda: current.verify("wrong password", old))
    assert unknown == pytest.approx(2**8 * 8e-6)
    assert wrong == pytest.approx(unknown)


def test_right_password_on_an_older_hash_still_verifies_after_the_padding(monkeypatch):
    clock = DerivationClock(monkeypatch)
    old = PasswordHasher(n=2**4).hash("correct horse")
    current = PasswordHasher(n=2**8, clock=clock, sleep=clock.sleep)
    current.verify("x", None)
    assert current.verify("correct horse", old)
    assert current.needs_rehash(old)


def test_padding_before_any_measurement_is_a_real_current_derivation(monkeypatch):
    clock = DerivationClock(monkeypatch)
    old = PasswordHasher(n=2**4).hash("correct horse")
    clock.derivations.clear()
    current = PasswordHasher(n=2**8, clock=clock, sleep=clock.sleep)
    current.verify("wrong password", old)
    # Never cheaper than an unknown email: the stored parameters, then ours.
    assert clock.derivations == [2**4, 2**8]


def test_an_older_costlier_hash_is_not_padded_further(monkeypatch):
    clock = DerivationClock(monkeypatch)
    old = PasswordHasher(n=2**8).hash("correct horse")  # --scrypt-n was lowered
    current = PasswordHasher(n=2**4, clock=clock, sleep=clock.sleep)
    current.verify("x", None)
    assert clock.cost(lambda: current.verify("wrong password", old)) == pytest.approx(2**8 * 8e-6)


@pytest.mark.parametrize("stored", ["", "garbage", "bcrypt$16$8$1$a$b", "scrypt$16$8$1$!!$!!", "scrypt$15$8$1$AA$AA"])
def test_an_unreadable_stored_hash_costs_one_current_derivation(monkeypatch, stored):
    clock = DerivationClock(monkeypatch)
    current = PasswordHasher(n=2**4, clock=clock, sleep=clock.sleep)
    assert current.verify("correct horse", stored) is False
    assert clock.derivations == [2**4]
