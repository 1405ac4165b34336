"""Makers of simulated devices, users and logged-in devices: what a check asks for, in pytest or in the lesson runner.

The pytest fixtures `new_device`, `new_user` and `login` (plugin.py) are
these makers; the lesson runner (lesson.py) builds the same ones to call the
same check functions outside pytest. One copy, so a check behaves alike in both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance import expect
from conformance.client import Agent, Device, Target, User, random_email, random_password


class Devices:
    """A maker of fresh, logged-out devices: devices(agent=None, label=None); close() closes them all."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.made: list[Device] = []

    def __call__(self, agent: Agent | str | None = None, label: str | None = None) -> Device:
        device = Device(self.target, agent, label)
        self.made.append(device)
        return device

    def close(self) -> None:
        for device in self.made:
            device.close()


def user_maker(target: Target, new_device: Callable[..., Device]) -> Callable[[], User]:
    """Return new_user(): signs up a random account, or hands out the next --user account."""
    handed_out = 0

    def make() -> User:
        nonlocal handed_out
        if target.users:
            if handed_out >= len(target.users):
                pytest.skip(f"this check needs {handed_out + 1} accounts: give --user EMAIL:PASSWORD once more")
            email, password = target.users[handed_out]
            handed_out += 1
            return _reset_account(new_device, email, password)
        email, password = random_email(), random_password()
        device = new_device(label="signup helper")
        body = expect.ok_object(device.signup(email, password), 201, why="setting up a user for this check")
        if "id" not in body:
            raise AssertionError(f"POST /signup answered 201 without an \"id\": {body!r}")
        return User(email, password, str(body["id"]))

    return make


def _reset_account(new_device: Callable[..., Device], email: str, password: str) -> User:
    """Log in to a shared --user account and end its other sessions, so each check starts clean."""
    device = new_device(label="account reset")
    response = device.login(email, password)
    if response.status_code != 200 or device.token is None:
        raise AssertionError(f"cannot log in to --user account {email}: POST /login answered {response.status_code}")
    body = expect.ok_object(device.me())
    device.revoke_all()
    device.logout()
    return User(email, password, str(body.get("id")))


def login_maker(new_device: Callable[..., Device]) -> Callable[..., Device]:
    """Return login(user, agent=None, label=None): a new device, logged in as `user`."""

    def make(user: User, agent: Agent | str | None = None, label: str | None = None, **kwargs: Any) -> Device:
        device = new_device(agent, label)
        response = device.login(user.email, user.password, **kwargs)
        expect.status(response, 200, why="logging in for this check")
        if device.token is None:
            cookie = device.target.cookie_name
            raise AssertionError(f"POST /login answered 200 but set no usable `{cookie}` cookie")
        return device

    return make
