"""A community whose clock is not Beijing's (``community.timezone``; Xinjiang communities often
keep Urumqi time, UTC+6) sees its own time everywhere a person reads one: the console's
passages, the day a report or a filter means, the pass form, the audit export. Beijing stays
the default (tests/api/test_day_report.py)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from models.db import transaction
from models.events import AuditEntry, Passage
from settings import demo_community
from tests.api.test_console import add_staff, cookie_login

URUMQI = ZoneInfo("Asia/Urumqi")
# 23:30 on the 20th in Urumqi is 01:30 on the 21st in Beijing: the two clocks disagree on the
# day as well as the hour.
LATE = datetime(2026, 11, 20, 23, 30, tzinfo=URUMQI).astimezone(UTC)


def urumqi_community() -> dict[str, Any]:
    return {**demo_community().model_dump(), "timezone": "Asia/Urumqi"}


def test_a_community_on_urumqi_time_reads_its_own_times_and_days(app_factory: Any) -> None:
    client = app_factory(community=urumqi_community())
    services = client.app.state.services
    with transaction(services.sessions) as session:
        session.add(Passage(at=LATE, gate_id="main-in", direction="in", zone_id="A",
                            plate="新A12345", decision="allow", reason="resident"))
        session.add(AuditEntry(at=LATE, username="guard1", action="gate.open",
                               gate_id="main-in", reason="送医的车，先放行"))
    admin = add_staff(services, "boss", "admin")

    # The report counts the car on the 20th, the community's day (Beijing: the 21st).
    day = client.get("/api/v1/reports/2026-11-20", headers=admin).json()
    assert day["passages"] == 1 and day["entries"] == 1
    hours = {(h["zone"], h["hour"]): h for h in day["hours"]}
    assert hours[("A", "23:00")]["entries"] == 1
    assert client.get("/api/v1/reports/2026-11-21", headers=admin).json()["passages"] == 0

    cookie_login(client, "boss", "admin")
    # The history filter's day is the community's day, and the row shows its hour.
    page = client.get("/console/history", params={"since": "2026-11-20", "until": "2026-11-20"})
    assert page.status_code == 200 and "新A12345" in page.text
    when = re.search(r'<td class="when">(.*?)</td>', page.text)
    assert when is not None and re.sub(r"<[^>]+>", "", when.group(1)).split() == [
        "11-20", "23:30:00"]  # Beijing would say 11-21 01:30:00
    assert "新A12345" not in client.get(
        "/console/history", params={"since": "2026-11-21", "until": "2026-11-21"}).text
    # The pass form sends typed times with the community's offset and says so.
    passes = client.get("/console/admin/passes").text
    assert 'data-tz="+06:00"' in passes
    assert "当地时间 Asia/Urumqi（UTC+06:00）" in passes
    # The audit page and its CSV export show the community's time with its offset.
    audit = client.get("/console/admin/audit", params={"since": "2026-11-20",
                                                       "until": "2026-11-20"})
    assert "2026-11-20 23:30:00" in audit.text
    exported = client.get("/api/v1/audit.csv", headers=admin)
    assert exported.status_code == 200, exported.text
    (row,) = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert row["at"] == "2026-11-20T23:30:00+06:00"


def test_beijing_time_is_named_as_guards_call_it(client: Any) -> None:
    add_staff(client.app.state.services, "boss", "admin")
    cookie_login(client, "boss", "admin")
    assert "时间均为北京时间（UTC+08:00）" in client.get("/console/admin/passes").text
