"""Editing a resident (PATCH /residents/{id}, the console's 住户成员 edit) audits which fields
changed, never the new phone nor the new name (PIPL: the audit log is kept longer than
anything else, and a resident erased on request must not live on in it). As
``resident.create`` and 批量导入's ``resident.update`` already do; the 操作日志 page shows the
fields edited."""

from __future__ import annotations

from typing import Any

from models.events import AuditEntry
from tests.api.test_console import cookie_login

OLD_PHONE, NEW_PHONE = "13800138000", "13912345678"


def test_a_resident_edit_logs_the_fields_changed_not_the_phone_or_name(
    client: Any, admin_headers: dict[str, str]
) -> None:
    flats = [client.post("/api/v1/households", json={"building": "3栋", "unit": unit},
                         headers=admin_headers).json()["id"] for unit in ("1201", "1202")]
    created = client.post("/api/v1/residents", json={
        "household_id": flats[0], "name": "张伟", "phone": OLD_PHONE}, headers=admin_headers)
    assert created.status_code == 201, created.text
    resident = created.json()["id"]

    edits = [{"phone": NEW_PHONE}, {"name": "张卫", "household_id": flats[1]}, {"phone": None}]
    for edit in edits:
        done = client.patch(f"/api/v1/residents/{resident}", json=edit, headers=admin_headers)
        assert done.status_code == 200, done.text
    assert client.get(f"/api/v1/residents/{resident}",
                      headers=admin_headers).json()["name"] == "张卫"

    with client.app.state.services.sessions() as session:
        entries = list(session.query(AuditEntry).filter(AuditEntry.action == "resident.update")
                       .order_by(AuditEntry.id))
    assert [e.details for e in entries] == [
        {"fields": ["phone"]},  # as 批量导入 logs a phone it changes
        {"fields": ["household_id", "name"],
         "changes": {"household_id": [flats[0], flats[1]]}},
        {"fields": ["phone"]},
    ]
    everything = client.get("/api/v1/audit", headers=admin_headers).text
    for secret in (OLD_PHONE, NEW_PHONE, "张伟", "张卫"):
        assert secret not in everything, secret

    # The 操作日志 page: which fields were edited, by their labels; still no number.
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/audit", params={"action": "resident.update"}).text
    assert "修改项" in page and "电话" in page and "3栋 1202" in page
    assert NEW_PHONE not in page and OLD_PHONE not in page


def test_a_household_edit_logs_its_spaces_not_its_note(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """The note is free text about the family, kept out of household.create and of 批量导入's
    household.update; the page's edit logged it whole."""
    flat = client.post("/api/v1/households", json={"building": "3栋", "unit": "1201"},
                       headers=admin_headers).json()["id"]
    note = f"业主张伟 {NEW_PHONE}，轮椅"
    done = client.patch(f"/api/v1/households/{flat}", json={"spaces": 2, "note": note},
                        headers=admin_headers)
    assert done.status_code == 200, done.text
    with client.app.state.services.sessions() as session:
        entry = session.query(AuditEntry).filter(AuditEntry.action == "household.update").one()
        assert entry.details == {"fields": ["spaces", "note"], "changes": {"spaces": [1, 2]}}
    everything = client.get("/api/v1/audit", headers=admin_headers).text
    assert NEW_PHONE not in everything and "张伟" not in everything
