"""A failed login logs the name only when it is an account's.

The log-volume walk (d5f5969) noted that a failed login logged the name as typed: a guard who
types the password into the name box by mistake put it in the journal. A wrong password for a
real account still names it (an operator looking into guessing needs that); a name that is no
account's is logged by its length only. The audit log keeps the typed name, for the admins."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.api.test_console import CSRF_FIELD
from tests.conftest import add_user

PASSWORD = "Zx7-booth-night"  # typed into the name box


def _login_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "login" in r.getMessage()]


def test_a_password_typed_as_the_name_stays_out_of_the_log(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(client, "guard1", "guard")
    caplog.set_level(logging.DEBUG)
    api = client.post("/api/v1/auth/token", data={"username": PASSWORD, "password": "guard1"})
    token = CSRF_FIELD.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
    console = client.post("/console/login", data={"username": PASSWORD, "password": "guard1",
                                                  "csrf_token": token})
    assert (api.status_code, console.status_code) == (401, 401)
    assert not [r.getMessage() for r in caplog.records if PASSWORD in r.getMessage()]
    lines = _login_lines(caplog)
    assert any(f"an unknown name of {len(PASSWORD)} characters" in line for line in lines), lines


def test_a_wrong_password_for_an_account_names_it(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(client, "guard1", "guard")
    caplog.set_level(logging.INFO)
    answer = client.post("/api/v1/auth/token",
                         data={"username": "guard1", "password": "not-the-password"})
    assert answer.status_code == 401
    assert any("API login failed for 'guard1'" in line for line in _login_lines(caplog))
