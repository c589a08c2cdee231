"""Access schedules through the real app: a resident's car pushed to a gate outside its hours
waits in the guard's review queue (outside_schedule); inside its hours it opens. Real photos,
a real database, the simulated barrier."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controllers.schedule import WEEKDAYS
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_vehicle_entry import push, register_resident_car
from tests.conftest import LabelledPhoto

SHANGHAI = ZoneInfo("Asia/Shanghai")


def hours(start: datetime, end: datetime) -> str:
    """A window from ``start`` to ``end`` (local, whole minutes) as the settings write it."""
    closing = "24:00" if (end.hour, end.minute) == (0, 0) else f"{end:%H:%M}"
    return f"{start:%H:%M}-{closing}"


def community_with_hours() -> dict[str, Any]:
    """Two entries into zone A, written around the present minute so the test holds at any
    hour (a window that crosses midnight is one of the cases the schedule handles): the back
    gate opens for residents only two hours from now, the east gate since an hour ago."""
    now = datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    later = hours(now + timedelta(hours=2), now + timedelta(hours=3))
    around_now = hours(now - timedelta(hours=1), now + timedelta(hours=1))
    return {
        "name": "demo",
        "zones": [{"id": "A", "name": "A区地面", "capacity": 40}],
        "gates": [
            {"id": "back-in", "name": "后门入口", "kind": "vehicle", "direction": "in",
             "zone": "A", "schedule": {"resident": [later], "visitor": []}},
            {"id": "main-in", "name": "东门入口", "kind": "vehicle", "direction": "in",
             "zone": "A", "schedule": {"resident": [around_now]}},
            {"id": "main-out", "name": "东门出口", "kind": "vehicle", "direction": "out",
             "zone": "A"},
        ],
    }


@pytest.fixture
def client(app_factory: Any) -> Any:
    return app_factory(community=community_with_hours())


@pytest.fixture
def admin_headers(client: Any) -> dict[str, str]:
    return add_staff(client.app.state.services, "admin", "admin")


def test_a_resident_outside_the_gate_hours_waits_for_a_guard_and_inside_them_enters(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    register_resident_car(client, admin_headers, photo.plate)
    barriers = client.app.state.services.barriers

    held = push(client, "back-in", photo)
    assert held.status_code == 200, held.text
    body = held.json()
    assert (body["decision"], body["reason"]) == ("review", "outside_schedule")
    assert body["barrier"] == "closed" and str(barriers["back-in"].state) == "closed"

    queue = client.get("/api/v1/review", headers=admin_headers).json()
    assert [(p["id"], p["reason"]) for p in queue] == [(body["passage_id"], "outside_schedule")]
    assert "resident" in queue[0]["flags"] and queue[0]["household_id"] is not None

    entered = push(client, "main-in", photo).json()
    assert (entered["decision"], entered["reason"]) == ("allow", "resident")
    assert entered["barrier"] in ("opening", "open")

    # The guard's card says why the car waits and who it is.
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    card = client.get("/console/fragments/review").text
    assert f'data-passage="{body["passage_id"]}"' in card
    assert "不在通行时段" in card and "业主车辆" in card


def test_the_fire_alarm_keeps_a_gate_open_whatever_its_hours(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    register_resident_car(client, admin_headers, photo.plate)
    barrier = client.app.state.services.barriers["back-in"]
    alarm = client.post("/api/v1/safety/fire-alarm", json={"reason": "消防演练"},
                        headers=admin_headers)
    assert alarm.status_code == 200, alarm.text
    deadline = time.monotonic() + 5
    while str(barrier.state) not in ("held_open", "open") and time.monotonic() < deadline:
        time.sleep(0.05)

    body = push(client, "back-in", photo).json()

    # The passage still goes to a guard (the schedule decides who), but nobody is kept in or
    # out: the barrier stays held open by the fire alarm.
    assert (body["decision"], body["reason"]) == ("review", "outside_schedule")
    assert str(barrier.state) in ("held_open", "open")


def community_on_a_holiday() -> dict[str, Any]:
    """Today and tomorrow (so the test holds across midnight) are listed as public holidays,
    read as a weekday that is neither of them: the back gate opens to residents on today's and
    tomorrow's printed weekdays only, the east gate only on the weekday holidays are read as."""
    today = datetime.now(SHANGHAI).date()
    tomorrow = today + timedelta(days=1)
    printed = [WEEKDAYS[today.weekday()], WEEKDAYS[tomorrow.weekday()]]
    holiday_as = WEEKDAYS[(today.weekday() + 3) % 7]
    all_day = "00:00-24:00"
    return {
        "name": "demo",
        "zones": [{"id": "A", "name": "A区地面", "capacity": 40}],
        "calendar": {"holidays": [f"{today}..{tomorrow}"], "holiday_as": holiday_as},
        "gates": [
            {"id": "back-in", "kind": "vehicle", "direction": "in", "zone": "A",
             "schedule": {"resident": [{"hours": all_day, "days": printed}]}},
            {"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A",
             "schedule": {"resident": [{"hours": all_day, "days": [holiday_as]}]}},
            {"id": "main-out", "kind": "vehicle", "direction": "out", "zone": "A"},
        ],
    }


def test_on_a_listed_holiday_a_gate_keeps_the_hours_of_the_weekday_holidays_are_read_as(
    app_factory: Any, readable_photos: list[LabelledPhoto]
) -> None:
    client = app_factory(community=community_on_a_holiday())
    headers = add_staff(client.app.state.services, "admin", "admin")
    photo = readable_photos[0]
    register_resident_car(client, headers, photo.plate)

    # Open on today's printed weekday, but today is a holiday: the resident waits for a guard.
    held = push(client, "back-in", photo).json()
    assert (held["decision"], held["reason"]) == ("review", "outside_schedule"), held
    assert held["barrier"] == "closed"

    # Open only on the weekday holidays count as: the same car drives in.
    entered = push(client, "main-in", photo).json()
    assert (entered["decision"], entered["reason"]) == ("allow", "resident"), entered
    assert entered["barrier"] in ("opening", "open")
