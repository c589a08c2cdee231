"""搬离: a household moves out as the property office removes it (cars, residents, passes, then
the flat), and a new family is registered after it.

What the office and the guards read afterwards names the right family: passages and the audit
log keep the ids of rows that are gone, so an id must never be handed to the next household,
resident, car or pass (SQLite gave a deleted highest id to the next row; migration 0016)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_console import cookie_login
from tests.conftest import add_user


def created(response: Any) -> int:
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_moved_out_familys_ids_are_not_handed_to_the_next_family(
    client: Any, admin_headers: dict[str, str]
) -> None:
    admin = admin_headers
    guard = {"Authorization": f"Bearer {add_user(client, 'guard1', 'guard')}"}
    now = datetime.now(UTC)
    window = {"valid_from": now.isoformat(), "valid_to": (now + timedelta(days=1)).isoformat()}

    def family(building: str, unit: str, name: str, plate: str, visitor: str) -> dict[str, int]:
        flat = created(client.post("/api/v1/households", headers=admin,
                                   json={"building": building, "unit": unit}))
        person = created(client.post("/api/v1/residents", headers=admin,
                                     json={"household_id": flat, "name": name}))
        car = created(client.post("/api/v1/vehicles", headers=admin, json={
            "plate": plate, "household_id": flat, "resident_id": person}))
        guest = created(client.post("/api/v1/passes", headers=admin, json={
            "plate": visitor, "host_household_id": flat, **window}))
        return {"households": flat, "residents": person, "vehicles": car, "passes": guest}

    old = family("3栋", "1201", "张伟", "闽A12345", "粤B88888")
    entered = client.post("/api/v1/gates/main-in/typed-plate", headers=guard,
                          json={"plate": "闽A12345", "reason": "摄像头故障"}).json()
    assert (entered["decision"], entered["household"]) == ("allow", "3栋 1201"), entered
    for kind in ("vehicles", "residents", "passes", "households"):  # the admin guide's order
        gone = client.delete(f"/api/v1/{kind}/{old[kind]}", headers=admin)
        assert gone.status_code == 204, gone.text

    new = family("8栋", "601", "王芳", "粤B12345", "粤B99999")
    assert {k: new[k] == old[k] for k in old} == dict.fromkeys(old, False), (old, new)

    # What the office reads: the old family's entry is not 8栋 601's, and the old resident's
    # deletion does not name 王芳.
    cookie_login(client, "admin", "admin")
    history = client.get("/console/history", params={"plate": "闽A12345"})
    assert history.status_code == 200 and "闽A12345" in history.text
    assert "8栋 601" not in history.text
    audit = client.get("/console/admin/audit", params={"action": "resident.delete"})
    assert audit.status_code == 200 and "王芳" not in audit.text


def test_the_audit_log_says_which_flat_was_deleted(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """The household.delete entry names the flat itself (as household.create does): once the
    row is gone the audit page has nothing else to name it by, and 删除住户 住户 #12 alone
    does not tell the office which family was removed."""
    flat = created(client.post("/api/v1/households", headers=admin_headers,
                               json={"building": "3栋", "unit": "1201", "spaces": 2}))
    assert client.delete(f"/api/v1/households/{flat}", headers=admin_headers).status_code == 204
    entry = client.get("/api/v1/audit", params={"action": "household.delete"},
                       headers=admin_headers).json()["items"][0]
    assert entry["details"] == {"building": "3栋", "unit": "1201", "spaces": 2}
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/audit", params={"action": "household.delete"})
    assert page.status_code == 200 and "1201" in page.text
