"""黑白名单 (found walking the console as a property manager): the list says when an entry was
added and by whom, and every entry says why (the guide asks the reason 写清楚)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.test_console import add_staff, cookie_login


def test_the_list_shows_when_and_by_whom_in_community_time(client: Any) -> None:
    services = client.app.state.services
    headers = add_staff(services, "admin", "admin")
    listed = client.post(
        "/api/v1/lists",
        headers=headers,
        json={"plate": "沪K60613", "kind": "block", "reason": "欠费未缴 王先生"},
    )
    assert listed.status_code == 201, listed.text
    from models.db import transaction
    from models.vehicles import PlateListEntry

    with transaction(services.sessions) as session:
        entry = session.get(PlateListEntry, listed.json()["id"])
        assert entry is not None
        entry.created_at = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 01:30 on 2 March, Beijing
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/lists").text
    assert "<th>加入时间</th>" in page
    row = re.search(r"<tr><td[^>]*>\d+</td><td class=\"plate\"[^>]*>沪K60613</td>.*?</tr>", page,
                    re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert cells[3:6] == ["欠费未缴 王先生", "2026-03-02 01:30", "admin"]


@pytest.mark.parametrize("reason", [None, "", "   ", "欠", " 欠\t", "\u3000\u3000"])
def test_a_list_entry_needs_a_reason(client: Any, reason: str | None) -> None:
    headers = add_staff(client.app.state.services, "admin", "admin")
    body: dict[str, Any] = {"plate": "沪K60613", "kind": "block"}
    if reason is not None:
        body["reason"] = reason
    refused = client.post("/api/v1/lists", headers=headers, json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"][-1] == "reason"
    assert client.get("/api/v1/lists", headers=headers).json() == []
    kept = client.post("/api/v1/lists", headers=headers, json={**body, "reason": "  欠费  "})
    assert kept.status_code == 201 and kept.json()["reason"] == "欠费"


def test_the_console_form_asks_for_the_reason(client: Any) -> None:
    add_staff(client.app.state.services, "admin", "admin")
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/lists").text
    assert '<input name="reason" required minlength="2" maxlength="500">' in page
