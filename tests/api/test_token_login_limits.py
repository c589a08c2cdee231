"""The API's token endpoint refuses a name or password longer than any account has (64 and 256
characters, as the console's login form does) before it logs, throttles or audits: it logged
the typed name whole, so a name as long as the body limit (1 MB) made a megabyte log line per
attempt, throttled attempts too, and one anonymous client could fill the log's disk."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from models.db import transaction
from models.events import AuditEntry
from tests.conftest import add_user

LONG = "guess" * 20_000  # 100,000 characters


def test_an_over_long_name_or_password_is_refused_unlogged(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(client, "guard1", "guard")
    caplog.set_level(logging.INFO)
    for form in ({"username": LONG, "password": "wrong"},
                 {"username": "guard" + "1" * 60, "password": "wrong"},  # 65 characters
                 {"username": "guard1", "password": "x" * 257}):
        answer = client.post("/api/v1/auth/token", data=form)
        assert answer.status_code == 422, answer.text
        assert "at most 64" in answer.json()["detail"]
    assert max(len(r.getMessage()) for r in caplog.records) < 500
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("api.")]
    assert not [line for line in logged if "login" in line], logged
    with transaction(client.app.state.services.sessions) as session:
        failures = session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == "auth.login_failed"))
    assert failures == 0
    # Not counted towards a pause either: the account's own login still works.
    assert client.post("/api/v1/auth/token",
                       data={"username": "guard1", "password": "correct-horse"}).status_code == 200


def test_the_longest_name_and_password_an_account_can_have_are_checked(client: Any) -> None:
    name, password = "g" * 64, "long pass phrase " * 15  # 64 and 255 characters
    add_user(client, name, "guard", password)
    assert client.post("/api/v1/auth/token",
                       data={"username": name, "password": password}).status_code == 200
    wrong = client.post("/api/v1/auth/token", data={"username": name, "password": "x" * 256})
    assert wrong.status_code == 401
