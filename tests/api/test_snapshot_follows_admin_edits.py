"""Every change of who may pass reaches the gates' offline snapshot at the offline loop's next
wake, not up to ``offline_refresh_s`` later: a plate blocked, a car registered or deleted, a
pass registered or deleted, a household's spaces changed (by hand or by an import). An outage
that starts right after must not decide by the old snapshot (a blocked car let in, a deleted
car still opening)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.api.test_database_outage import push, wait_for
from tests.api.test_pass_hours import household
from tests.conftest import add_user
from tests.db_outage import DatabaseOutage


def snapshot(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):  # being replaced: read it again
        return {}


def plates(path: Path) -> dict[str, Any]:
    return dict(snapshot(path).get("permits", {}))


def test_each_admin_edit_is_in_the_snapshot_within_moments(app_factory: Any) -> None:
    client = app_factory(access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    saved = client.app.state.services.settings.data_dir / "journal" / "offline_snapshot.json"
    wait_for(saved.is_file, 10.0)  # taken at start; the next refresh is an hour away
    host = household(client, admin)

    car = client.post("/api/v1/vehicles", json={"household_id": host, "plate": "闽A12345"},
                      headers=admin)
    assert car.status_code == 201, car.text
    wait_for(lambda: "vehicle" in plates(saved).get("闽A12345", {}), 10.0)

    spaces = client.patch(f"/api/v1/households/{host}", json={"spaces": 3}, headers=admin)
    assert spaces.status_code == 200, spaces.text
    wait_for(lambda: plates(saved)["闽A12345"]["vehicle"]["household_spaces"] == 3, 10.0)
    # An import that only updates what is on file (the office's sheet says 2 spaces).
    sheet = "楼栋,房号,车牌,车位数\r\n6栋,802,闽A12345,2\r\n".encode()
    imported = client.post("/api/v1/households/import", params={"dry_run": "false"},
                           headers=admin, files={"file": ("总表.csv", sheet, "text/csv")})
    assert imported.json()["households"]["update"] == 1, imported.text
    wait_for(lambda: plates(saved)["闽A12345"]["vehicle"]["household_spaces"] == 2, 10.0)

    now = datetime.now(UTC)
    visitor = client.post("/api/v1/passes", headers=admin, json={
        "plate": "粤B88888", "host_household_id": host,
        "valid_from": now.isoformat(), "valid_to": (now + timedelta(days=1)).isoformat(),
    })
    assert visitor.status_code == 201, visitor.text
    wait_for(lambda: "passes" in plates(saved).get("粤B88888", {}), 10.0)
    gone = client.delete(f"/api/v1/passes/{visitor.json()['id']}", headers=admin)
    assert gone.status_code == 204
    wait_for(lambda: "粤B88888" not in plates(saved), 10.0)

    listed = client.post("/api/v1/lists", headers=admin,
                         json={"plate": "闽A12345", "kind": "block", "reason": "欠费停车"})
    assert listed.status_code == 201, listed.text
    wait_for(lambda: plates(saved)["闽A12345"].get("list") == "block", 10.0)
    unlisted = client.delete(f"/api/v1/lists/{listed.json()['id']}", headers=admin)
    assert unlisted.status_code == 204
    wait_for(lambda: "list" not in plates(saved)["闽A12345"], 10.0)

    deleted = client.delete(f"/api/v1/vehicles/{car.json()['id']}", headers=admin)
    assert deleted.status_code == 204
    wait_for(lambda: "闽A12345" not in plates(saved), 10.0)


def test_a_plate_blocked_just_before_an_outage_is_refused_during_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url,
                         access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    saved = services.settings.data_dir / "journal" / "offline_snapshot.json"
    host = household(client, admin)
    car = client.post("/api/v1/vehicles", json={"household_id": host, "plate": "闽A12345"},
                      headers=admin)
    assert car.status_code == 201, car.text
    wait_for(lambda: "闽A12345" in plates(saved), 10.0)
    listed = client.post("/api/v1/lists", headers=admin,
                         json={"plate": "闽A12345", "kind": "block", "reason": "欠费停车"})
    assert listed.status_code == 201, listed.text
    wait_for(lambda: plates(saved)["闽A12345"].get("list") == "block", 10.0)

    outage.cut(services.engine)
    refused = push(client, "main-in", "闽A12345").json()
    outage.restore()
    assert refused["passage_id"] is None and refused["journal_id"]  # decided offline
    assert (refused["decision"], refused["reason"]) == ("deny", "blocked")
