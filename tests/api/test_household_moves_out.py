"""搬离: a household moves out as the property office removes it (cars, residents, passes, then
the flat), and a new family is registered after it.

What the office and the guards read afterwards names the right family: passages and the audit
log keep the ids of rows that are gone, so an id must never be handed to the next household,
resident, car or pass (SQLite gave a deleted highest id to the next row; migration 0016)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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


@pytest.mark.parametrize("registered_by", ["form", "import"])
def test_a_car_sold_with_the_flat_while_parked_takes_the_new_familys_space(
    client: Any, admin_headers: dict[str, str], registered_by: str
) -> None:
    """The old family's car is parked inside when the office deletes it; the new family, who
    bought it, has it registered to their flat of one space. It is inside on that space from
    then on: their second car is over their spaces (业主超车位, for the guard), not let in on a
    space the first one already takes."""
    admin = admin_headers
    guard = {"Authorization": f"Bearer {add_user(client, 'guard1', 'guard')}"}

    def typed(gate: str, plate: str) -> dict[str, Any]:
        answer = client.post(f"/api/v1/gates/{gate}/typed-plate", headers=guard,
                             json={"plate": plate, "reason": "摄像头故障"})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    old = created(client.post("/api/v1/households", headers=admin,
                              json={"building": "3栋", "unit": "1201"}))
    sold = created(client.post("/api/v1/vehicles", headers=admin,
                               json={"plate": "闽A12345", "household_id": old}))
    assert typed("main-in", "闽A12345")["reason"] == "resident"
    assert client.delete(f"/api/v1/vehicles/{sold}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/households/{old}", headers=admin).status_code == 204

    if registered_by == "form":
        new = created(client.post("/api/v1/households", headers=admin,
                                  json={"building": "3栋", "unit": "1201", "spaces": 1}))
        for plate in ("闽A12345", "闽AD54321"):
            created(client.post("/api/v1/vehicles", headers=admin,
                                json={"plate": plate, "household_id": new}))
    else:
        sheet = "楼栋,房号,车牌,车位数\r\n3栋,1201,闽A12345,1\r\n3栋,1201,闽AD54321,1\r\n"
        imported = client.post("/api/v1/households/import", params={"dry_run": "false"},
                               headers=admin,
                               files={"file": ("总表.csv", sheet.encode(), "text/csv")})
        assert imported.json()["applied"], imported.text
    second = typed("main-in", "闽AD54321")
    assert (second["decision"], second["reason"]) == ("review", "resident_over_quota"), second
    entries = client.get("/api/v1/audit", params={"action": "vehicle.create"},
                         headers=admin).json()["items"]
    assert {e["details"]["plate"]: e["details"].get("inside") for e in entries[:2]} == {
        "闽A12345": "followed", "闽AD54321": None}
    # It leaves as the new family's car, and the zone count is back where it started.
    out = typed("main-out", "闽A12345")
    assert (out["decision"], out["reason"], out["household"]) == (
        "allow", "exit_known_inside", "3栋 1201")
