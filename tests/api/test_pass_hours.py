"""Recurring visitor passes through the real app: weekdays and daily hours on the passes API,
in the audit log, at the camera push path, at a pedestrian gate's QR reader, and from the
offline snapshot during a database outage.

The hours are written around the present minute in the community's zone (Asia/Shanghai, the
default), so each test holds at any hour: "now" is the real clock, as the gate sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controllers.schedule import WEEKDAYS
from hardware.base import ScreenLevel
from tests.api.test_console import console_login
from tests.api.test_credentials import present
from tests.api.test_database_outage import FAST, wait_for
from tests.api.test_database_outage import push as push_rendered
from tests.api.test_gate_screens import showing
from tests.api.test_vehicle_entry import push
from tests.conftest import LabelledPhoto, add_user
from tests.db_outage import DatabaseOutage

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_now() -> datetime:
    return datetime.now(SHANGHAI)


def around_now() -> tuple[str, str]:
    """Daily hours from an hour ago to an hour from now (past midnight when it must be)."""
    now = local_now()
    return f"{now - timedelta(hours=1):%H:%M}", f"{now + timedelta(hours=1):%H:%M}"


def later_today() -> tuple[str, str]:
    """Daily hours that do not hold now: two to three hours from now."""
    now = local_now()
    return f"{now + timedelta(hours=2):%H:%M}", f"{now + timedelta(hours=3):%H:%M}"


def other_days() -> list[str]:
    """Every weekday but today and yesterday (a window of yesterday's may run into today)."""
    today = local_now().weekday()
    return [d for i, d in enumerate(WEEKDAYS) if i not in (today, (today - 1) % 7)]


def household(client: Any, headers: dict[str, str]) -> int:
    response = client.post(
        "/api/v1/households", json={"building": "6栋", "unit": "802"}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def pass_body(plate: str | None, host: int, **schedule: Any) -> dict[str, Any]:
    """A pass's JSON; ``plate`` None: a walk-in pass (by QR code)."""
    now = datetime.now(UTC)
    return {
        "plate": plate,
        "host_household_id": host,
        "max_uses": None,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_to": (now + timedelta(days=90)).isoformat(),
        **schedule,
    }


def make_pass(
    client: Any, headers: dict[str, str], plate: str | None, host: int, **schedule: Any
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/passes", json=pass_body(plate, host, **schedule), headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_recurring_pass_is_created_listed_shown_and_audited(
    client: Any, admin_headers: dict[str, str]
) -> None:
    host = household(client, admin_headers)
    made = make_pass(
        client,
        admin_headers,
        "粤B88888",
        host,
        weekdays=["fri", "mon", "wed", "thu", "tue"],
        hours_from="8:00",
        hours_to="12:00",
    )
    assert (made["weekdays"], made["hours_from"], made["hours_to"]) == (
        ["mon", "tue", "wed", "thu", "fri"],
        "08:00",
        "12:00",
    )
    plain = make_pass(client, admin_headers, "粤B77777", host)
    assert (plain["weekdays"], plain["hours_from"], plain["hours_to"]) == (None, None, None)
    night = make_pass(client, admin_headers, "粤B66666", host, hours_from="18:00", hours_to="00:00")
    assert (night["weekdays"], night["hours_to"]) == (None, "24:00")

    shown = client.get(f"/api/v1/passes/{made['id']}", headers=admin_headers).json()
    assert (shown["weekdays"], shown["hours_from"], shown["hours_to"]) == (
        ["mon", "tue", "wed", "thu", "fri"],
        "08:00",
        "12:00",
    )
    listed = {p["id"]: p for p in client.get("/api/v1/passes", headers=admin_headers).json()}
    assert listed[made["id"]]["weekdays"] == ["mon", "tue", "wed", "thu", "fri"]
    assert listed[plain["id"]]["weekdays"] is None

    audit = client.get(
        "/api/v1/audit", params={"action": "pass.create"}, headers=admin_headers
    ).json()
    entries = audit["items"] if isinstance(audit, dict) else audit
    details = next(e["details"] for e in entries if e["target"] == f"pass:{made['id']}")
    assert (details["weekdays"], details["hours_from"], details["hours_to"]) == (
        "mon,tue,wed,thu,fri",
        "08:00",
        "12:00",
    )


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"weekdays": []}, "at least one day"),
        ({"weekdays": ["mon", "someday"]}, "unknown weekday"),
        ({"hours_from": "8点", "hours_to": "12:00"}, "HH:MM"),
        ({"hours_from": "08:00", "hours_to": "25:00"}, "00:00 to 24:00"),
        ({"hours_from": "08:00", "hours_to": "08:00"}, "no length"),
        ({"hours_from": "08:00"}, "together"),
    ],
)
def test_a_bad_schedule_is_a_422_with_a_message(
    client: Any, admin_headers: dict[str, str], schedule: dict[str, Any], message: str
) -> None:
    host = household(client, admin_headers)
    response = client.post(
        "/api/v1/passes", json=pass_body("粤B88888", host, **schedule), headers=admin_headers
    )
    assert response.status_code == 422, response.text
    assert message in response.text
    assert client.get("/api/v1/passes", headers=admin_headers).json() == []


def test_at_the_gate_a_pass_opens_in_its_hours_and_waits_for_a_guard_outside_them(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    now_photo, later_photo, other_day_photo = readable_photos[:3]
    host = household(client, admin_headers)
    start, end = around_now()
    make_pass(client, admin_headers, now_photo.plate, host, hours_from=start, hours_to=end)
    start, end = later_today()
    held = make_pass(client, admin_headers, later_photo.plate, host, hours_from=start, hours_to=end)
    make_pass(client, admin_headers, other_day_photo.plate, host, weekdays=other_days())

    entered = push(client, "main-in", now_photo).json()
    assert (entered["decision"], entered["reason"]) == ("allow", "visitor_pass")

    waiting = push(client, "main-in", later_photo).json()
    assert (waiting["decision"], waiting["reason"]) == ("review", "outside_schedule")
    assert waiting["barrier"] == "closed"
    row = client.get(f"/api/v1/passages/{waiting['passage_id']}", headers=admin_headers).json()
    assert row["pass_id"] == held["id"] and row["household_id"] == host
    assert "visitor_pass" in row["flags"]
    # Not used up by a car that did not get in.
    assert client.get(f"/api/v1/passes/{held['id']}", headers=admin_headers).json()["uses"] == 0

    other_day = push(client, "main-in", other_day_photo).json()
    assert (other_day["decision"], other_day["reason"]) == ("review", "outside_schedule")


def test_a_qr_code_is_refused_outside_its_pass_s_hours(
    client: Any, admin_headers: dict[str, str]
) -> None:
    host = household(client, admin_headers)
    start, end = later_today()
    later = make_pass(client, admin_headers, "粤B88888", host, hours_from=start, hours_to=end)
    start, end = around_now()
    now = make_pass(client, admin_headers, "粤B77777", host, hours_from=start, hours_to=end)

    def scan(pass_id: int) -> dict[str, Any]:
        code = client.get(f"/api/v1/passes/{pass_id}/qr", headers=admin_headers).json()["code"]
        return dict(present(client, {"kind": "qr", "code": code}).json())

    refused = scan(later["id"])
    assert (refused["decision"], refused["reason"]) == ("deny", "outside_schedule")
    allowed = scan(now["id"])
    assert (allowed["decision"], allowed["reason"]) == ("allow", "qr_pass")


def test_the_pedestrian_gate_s_screen_says_a_qr_pass_is_outside_its_hours(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """A walk-in cleaner's code scanned at ped-1 later than its hours: the gate's screen says
    why (not the generic 禁止通行 / 请联系保安) and names no host; the booth's passage row
    says 不在通行时段."""
    host = household(client, admin_headers)
    start, end = later_today()
    cleaner = make_pass(client, admin_headers, None, host, hours_from=start, hours_to=end)
    code = client.get(f"/api/v1/passes/{cleaner['id']}/qr", headers=admin_headers).json()
    refused = present(client, {"kind": "qr", "code": code["code"]}).json()
    assert (refused["decision"], refused["reason"]) == ("deny", "outside_schedule")

    shown = showing(client, "ped-1", ("不在通行时段", "请在约定时段再来"), "the reason")
    assert shown.level is ScreenLevel.STOP and shown.passage_id == refused["passage_id"]
    assert shown.speak == "不在通行时段，请在约定时段再来"
    assert not any("6栋" in line or "802" in line for line in shown.lines)

    passage = client.get(f"/api/v1/passages/{refused['passage_id']}", headers=admin_headers).json()
    assert (passage["credential"], passage["pass_id"]) == ("qr", cleaner["id"])
    add_user(client, "guard", "guard")
    console_login(client, "guard")
    row = client.get("/console/history", params={"passage": str(refused["passage_id"])})
    assert row.status_code == 200, row.text
    assert '<td class="reason-cell"><span class="nowrap">不在通行时段</span>' in row.text


def test_during_an_outage_the_snapshot_keeps_a_pass_s_hours(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    host = household(client, admin)
    start, end = later_today()
    make_pass(client, admin, "粤B88888", host, hours_from=start, hours_to=end)
    start, end = around_now()
    make_pass(client, admin, "粤B77777", host, hours_from=start, hours_to=end)
    client.portal.call(services.runtime.refresh_offline)
    # The snapshot on disk (what a restart during the outage decides from) has them too.
    saved = services.settings.data_dir / "journal" / "offline_snapshot.json"
    wait_for(lambda: f'"hours_from":"{start}"' in saved.read_text(), 10.0)

    outage.cut(services.engine)
    held = push_rendered(client, "main-in", "粤B88888").json()
    entered = push_rendered(client, "main-in", "粤B77777").json()
    outage.restore()

    assert held["passage_id"] is None and held["journal_id"]  # decided offline
    assert (held["decision"], held["reason"]) == ("review", "outside_schedule")
    assert (entered["decision"], entered["reason"]) == ("allow", "visitor_pass")
