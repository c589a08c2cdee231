"""Every change of who may pass reaches the gates' offline snapshot at the offline loop's next
wake, not up to ``offline_refresh_s`` later: a plate blocked, a car registered or deleted, a
pass registered or deleted, a household's spaces changed (by hand or by an import), a
resident's PIN set or cleared, a resident deleted (搬离). An outage that starts right after must
not decide by the old snapshot (a blocked car let in, a deleted car or a moved-out resident's
PIN still opening)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controllers.values import Reason
from tests.api.test_credentials import present, resident_with_pin
from tests.api.test_database_outage import push, wait_for
from tests.api.test_pass_hours import household
from tests.conftest import add_user, services_of
from tests.db_outage import DatabaseOutage
from wall_clock import utcnow

PIN = "482913"


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


@pytest.mark.parametrize("removal", ["resident", "pin"])
def test_a_pin_removed_just_before_an_outage_is_refused_during_it(
    app_factory: Any, outage: DatabaseOutage, removal: str
) -> None:
    """搬离: the office deletes a resident who has a PIN (or clears the PIN), then the
    database goes down. The keypad's offline check must not still know the PIN: it did for up
    to offline_refresh_s (an hour here), so a moved-out family's PIN opened the pedestrian gate
    through an outage that started within it."""
    client = app_factory(database_url=outage.url,
                         access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    services = services_of(client)
    offline = services.offline_credentials
    assert offline is not None
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    rid = resident_with_pin(client, admin, PIN)
    client.portal.call(services.refresh_offline)
    assert offline.check_pin(rid, PIN, utcnow()).reason is Reason.PIN  # the keypad knows it

    path = f"/api/v1/residents/{rid}" + ("/pin" if removal == "pin" else "")
    assert client.delete(path, headers=admin).status_code == 204
    # Each try that finds the PIN gone counts toward a lock-out, which is what it should be.
    wait_for(lambda: offline.check_pin(rid, PIN, utcnow()).reason is not Reason.PIN, 10.0)

    outage.cut(services.engine)
    refused = present(client, {"kind": "pin", "resident_id": rid, "pin": PIN}).json()
    outage.restore()
    assert refused["passage_id"] is None and refused["journal_id"]  # decided offline
    assert refused["decision"] == "deny", refused


def test_a_pin_set_just_before_an_outage_opens_during_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The resident who declined face entry sets a PIN at the office, and the database goes
    down on the way home: the PIN is their way in (PIPL asks for an alternative that works as
    well), so the keypad's offline check has it at the loop's next wake, not an hour later."""
    client = app_factory(database_url=outage.url,
                         access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    services = services_of(client)
    offline = services.offline_credentials
    assert offline is not None
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    rid = resident_with_pin(client, admin, PIN)
    wait_for(lambda: offline.check_pin(rid, PIN, utcnow()).reason is Reason.PIN, 10.0)

    outage.cut(services.engine)
    opened = present(client, {"kind": "pin", "resident_id": rid, "pin": PIN}).json()
    outage.restore()
    assert opened["passage_id"] is None and opened["journal_id"]
    assert (opened["decision"], opened["reason"]) == ("allow", "pin"), opened
