"""Answers with personal data are not kept in the browser's cache (Cache-Control: no-store):
the console's pages had it, but the API answers their scripts read and the office downloads
(residents with phones, passages and their snapshots, the audit log and its CSV, staff
accounts) had no caching header, and a snapshot said only ``private``, which a browser's disk
cache keeps, for the next person at a shared booth computer. Answers meant to be cached keep
their own header."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_console import cookie_login
from tests.api.test_database_outage import STRANGER, push

PERSONAL = (
    "/api/v1/residents",
    "/api/v1/residents/{resident}",
    "/api/v1/households",
    "/api/v1/passages",
    "/api/v1/passages/{passage}",
    "/api/v1/passages/{passage}/snapshot",
    "/api/v1/review",
    "/api/v1/audit",
    "/api/v1/audit.csv",
    "/api/v1/users",
    "/api/v1/alarms",
)


@pytest.fixture
def filled(client: Any, admin_headers: dict[str, str]) -> dict[str, int]:
    home = client.post("/api/v1/households", json={"building": "3栋", "unit": "1201"},
                       headers=admin_headers).json()["id"]
    resident = client.post("/api/v1/residents", json={
        "household_id": home, "name": "王芳", "phone": "13800001234"}, headers=admin_headers)
    passage = push(client, "main-in", STRANGER).json()["passage_id"]
    return {"resident": resident.json()["id"], "passage": passage}


def test_personal_answers_are_not_stored_by_the_browser(
    client: Any, admin_headers: dict[str, str], filled: dict[str, int]
) -> None:
    for path in PERSONAL:
        answer = client.get(path.format(**filled), headers=admin_headers)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers.get("cache-control") == "no-store", path
    # The same with the console's session cookie, as the admin pages' scripts read them.
    client.headers.pop("Authorization", None)
    cookie_login(client, "admin", "admin")
    answer = client.get(f"/api/v1/residents/{filled['resident']}")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    # Refusals too: a 401 or 404 body can name what was asked for.
    client.cookies.clear()
    assert client.get("/api/v1/residents").headers["cache-control"] == "no-store"


def test_answers_meant_to_be_cached_keep_their_header(client: Any) -> None:
    assert client.get("/api/v1/availability").headers["cache-control"].startswith("public")
    assert client.get("/console/static/live.js").headers["cache-control"] == "no-cache"
    assert "max-age=31536000" in client.get("/favicon.ico").headers["cache-control"]
