"""The property office's day report: the figures of one Beijing day, over the API and on the
console's reports page with its chart and CSV, from a known history in a real database."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.console.i18n import Lang
from api.console.reports import chart_labels
from controllers.ports import ADMISSION_UNDONE
from models.db import transaction
from models.events import Alarm, AuditEntry, Passage
from models.site import OccupancySample
from tests.api.test_console import add_staff, cookie_login

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = "2026-11-28"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def car(at: datetime, direction: str, decision: str, reason: str, **extra: Any) -> Passage:
    gate = "main-in" if direction == "in" else "main-out"
    return Passage(
        at=at,
        gate_id=gate,
        direction=direction,
        zone_id="A",
        plate="粤B12345",
        decision=decision,
        reason=reason,
        **extra,
    )


@pytest.fixture
def history(client: Any) -> Any:
    """One day of a small community, with the cases a report gets wrong: a car late the day
    before (23:30 Beijing is 15:30 UTC the same date), a barrier that failed after an allow,
    a review a guard let in and one nobody dealt with, a guard opening by hand."""
    with transaction(client.app.state.services.sessions) as session:
        session.add_all(
            [
                car(local(27, 23, 30), "in", "allow", "resident"),  # the day before
                car(local(28, 7, 5), "out", "allow", "exit_known_inside"),
                car(local(28, 8, 0), "in", "allow", "resident"),
                car(local(28, 8, 1), "in", "allow", "visitor_pass"),
                car(local(28, 9, 0), "in", "allow", "resident", flags=[ADMISSION_UNDONE]),
                car(local(28, 10, 0), "in", "deny", "blocked"),
                car(
                    local(28, 11, 0),
                    "in",
                    "review",
                    "unknown_plate",
                    resolution="allowed_once",
                    resolved_by="guard1",
                ),
                car(local(28, 12, 0), "in", "review", "no_plate"),
                car(local(28, 23, 59), "out", "allow", "exit_known_inside"),
                car(local(29, 0, 1), "in", "allow", "resident"),  # the day after
                OccupancySample(at=local(27, 23, 30), zone_id="A", occupied=3, capacity=40),
                OccupancySample(at=local(28, 8, 0), zone_id="A", occupied=4, capacity=40),
                OccupancySample(at=local(28, 8, 1), zone_id="A", occupied=5, capacity=40),
                OccupancySample(at=local(28, 11, 0), zone_id="A", occupied=6, capacity=40),
                OccupancySample(at=local(28, 23, 59), zone_id="A", occupied=5, capacity=40),
                Alarm(at=local(28, 10, 0), kind="blocked_plate", gate_id="main-in"),
                Alarm(at=local(28, 9, 0), kind="hardware_fault", gate_id="main-in"),
                Alarm(at=local(29, 1, 0), kind="hardware_fault", gate_id="main-in"),
                AuditEntry(
                    at=local(28, 9, 1),
                    username="guard1",
                    action="gate.open",
                    gate_id="main-in",
                    reason="barrier stuck, opened by hand",
                ),
                AuditEntry(
                    at=local(28, 11, 0),
                    username="guard1",
                    action="passage.resolve",
                    gate_id="main-in",
                    reason="delivery van",
                ),
                AuditEntry(at=local(28, 14, 0), username="admin", action="household.create"),
                AuditEntry(at=local(28, 7, 59), username="guard1", action="auth.login"),
                *[
                    AuditEntry(at=local(28, 3, n), username=f"guess{n}", action="auth.login_failed")
                    for n in range(3)
                ],
                AuditEntry(at=local(29, 3, 0), username="x", action="auth.login_failed"),
            ]
        )
    return client


def test_the_day_in_figures_counts_beijing_hours_and_only_cars_that_went_through(
    history: Any,
) -> None:
    admin = add_staff(history.app.state.services, "boss", "admin")
    report = history.get(f"/api/v1/reports/{DAY}", headers=admin)
    assert report.status_code == 200, report.text
    day = report.json()

    assert day["passages"] == 8  # 27th 23:30 and 29th 00:01 belong to other days
    assert day["by_decision"] == {"allow": 5, "deny": 1, "review": 2}
    assert day["by_reason"]["review"] == {"unknown_plate": 1, "no_plate": 1}
    # In: 08:00 resident, 08:01 visitor, 11:00 let in by the guard. The 09:00 car's barrier
    # failed (admission undone), the 10:00 car was refused, the 12:00 one is still waiting.
    assert (day["entries"], day["exits"]) == (3, 2)
    assert day["automatic_share"] == pytest.approx(2 / 3)
    assert day["reviews"] == {"allowed_once": 1, "unresolved": 1}
    assert day["guard_actions"] == {"guard1": {"gate.open": 1, "passage.resolve": 1}}
    assert day["alarms"] == {"blocked_plate": 1, "hardware_fault": 1}
    # Logins are not hand actions; the night's failed ones are the day's, the next day's not.
    assert day["logins"] == {"auth.login": 1, "auth.login_failed": 3}

    zone_a = next(z for z in day["zones"] if z["zone"] == "A")
    assert (zone_a["peak"], zone_a["capacity"]) == (6, 40)
    assert datetime.fromisoformat(zone_a["peak_at"]) == local(28, 11, 0)
    zone_b = next(z for z in day["zones"] if z["zone"] == "B")
    assert (zone_b["peak"], zone_b["peak_at"]) == (0, None)

    hours = {(h["zone"], h["hour"]): h for h in day["hours"]}
    assert len(hours) == 48  # two zones, 24 Beijing hours each
    assert (hours[("A", "08:00")]["entries"], hours[("A", "09:00")]["entries"]) == (2, 0)
    assert hours[("A", "23:00")]["exits"] == 1
    assert hours[("A", "00:00")]["occupied_start"] == 3  # carried over from the 27th


def test_reports_are_for_admins_and_refuse_days_that_have_not_begun(history: Any) -> None:
    guard = add_staff(history.app.state.services, "guard1", "guard")
    admin = add_staff(history.app.state.services, "boss", "admin")
    assert history.get(f"/api/v1/reports/{DAY}").status_code == 401
    assert history.get(f"/api/v1/reports/{DAY}", headers=guard).status_code == 403

    future = history.get("/api/v1/reports/2099-01-01", headers=admin)
    assert future.status_code == 422
    assert "has not started yet" in future.json()["detail"]
    for bad in ("2026-13-01", "20261128", "1999-12-31"):
        response = history.get(f"/api/v1/reports/{bad}", headers=admin)
        assert response.status_code == 422, bad


def test_the_reports_page_shows_the_figures_a_chart_and_a_csv_for_excel(history: Any) -> None:
    add_staff(history.app.state.services, "boss", "admin")
    cookie_login(history, "boss", "admin")

    page = history.get(f"/console/admin/reports?day={DAY}")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="fig-entries">3<' in html and 'id="fig-exits">2<' in html
    assert 'id="fig-automatic">67%<' in html
    assert "黑名单" in html and "未处理" in html  # reasons and review outcomes in Chinese
    assert 'data-user="guard1"' in html and 'data-user="admin"' not in html
    assert "控制台和接口登录 1 次，登录失败 3 次" in html
    assert (
        f'href="/console/admin/audit?action=auth.login_failed&since={DAY}&until={DAY}"'
        in html.replace("&amp;", "&")
    )
    assert f"/console/admin/reports/{DAY}/occupancy.png" in html
    assert 'href="/console/admin/reports?day=2026-11-29"' in html  # the day after

    chart = history.get(f"/console/admin/reports/{DAY}/occupancy.png")
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n") and len(chart.content) > 20_000

    table = history.get(f"/console/admin/reports/{DAY}/occupancy.csv")
    assert table.status_code == 200
    assert f'filename="occupancy-{DAY}.csv"' in table.headers["content-disposition"]
    text = table.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 48
    eight = next(r for r in rows if r["zone"] == "A" and r["hour"] == "08:00")
    assert (eight["entries"], eight["occupied_max"]) == ("2", "5")


@pytest.mark.parametrize(
    ("zone", "lang", "axis"),
    [
        ("Asia/Shanghai", "zh", "北京时间"),
        # Other tzdata names of China's one clock are Beijing time too ...
        ("Asia/Chongqing", "zh", "北京时间"),
        ("Asia/Harbin", "zh", "北京时间"),
        # ... Urumqi time is not: it is named by its offset, as is any other zone.
        ("Asia/Urumqi", "zh", "当地时间（UTC+06:00）"),
        ("Asia/Shanghai", "en", "Beijing time"),
        ("Asia/Urumqi", "en", "local time (UTC+06:00)"),
        ("America/New_York", "en", "local time (UTC-05:00)"),  # its offset on that day (winter)
    ],
)
def test_the_chart_s_hours_are_in_beijing_time_not_an_iana_name(
    zone: str, lang: Lang, axis: str
) -> None:
    """The chart's time axis read 当地时间（Asia/Shanghai）: a property manager does not read
    IANA names."""
    labels = chart_labels(lang, ZoneInfo(zone), date(2026, 11, 28))
    assert labels.local_time.format(tz=zone) == axis  # as plot_png fills it in
    assert labels.parked == ("在场车辆" if lang == "zh" else "cars parked")


def test_the_page_says_a_future_day_has_not_begun_and_guards_are_kept_out(
    history: Any,
) -> None:
    add_staff(history.app.state.services, "boss", "admin")
    cookie_login(history, "boss", "admin")
    future = history.get("/console/admin/reports?day=2099-01-01")
    assert future.status_code == 422
    assert "该日期尚未开始" in future.text and "fig-entries" not in future.text

    history.cookies.clear()
    add_staff(history.app.state.services, "guard1", "guard")
    cookie_login(history, "guard1", "guard")
    for path in (
        "/console/admin/reports",
        f"/console/admin/reports/{DAY}/occupancy.png",
        f"/console/admin/reports/{DAY}/occupancy.csv",
    ):
        assert history.get(path).status_code == 403, path
    assert "/console/admin/reports" not in history.get("/console").text


def test_a_month_is_its_days_added_up_over_the_api_page_and_csv(history: Any) -> None:
    admin = add_staff(history.app.state.services, "boss", "admin")
    month = history.get("/api/v1/reports/month/2026-11", headers=admin)
    assert month.status_code == 200, month.text
    body = month.json()
    days = {d["day"]: d for d in body["days"]}
    today = datetime.now(SHANGHAI).date()
    begun = 30 if (today.year, today.month) > (2026, 11) else today.day  # days not begun: none
    assert sorted(days) == [f"2026-11-{n:02d}" for n in range(1, begun + 1)]
    assert days[DAY]["entries"] == 3 and days[DAY]["to_guard"] == 2
    assert days[DAY]["guard_hand_actions"] == 2  # the admin's household edit is not one
    assert days["2026-11-27"]["entries"] == 1 and days["2026-11-29"]["entries"] == 1
    assert body["entries"] == sum(d["entries"] for d in body["days"]) == 5
    assert body["alarms"] == 3

    for bad in ("2026-13", "2026-1", "11-2026", "1999-12"):
        refused = history.get(f"/api/v1/reports/month/{bad}", headers=admin)
        assert refused.status_code == 422, bad
    assert history.get("/api/v1/reports/month/2099-01", headers=admin).status_code == 422

    cookie_login(history, "boss", "admin")
    page = history.get("/console/admin/reports/month?month=2026-11")
    assert page.status_code == 200
    assert 'id="month-entries">5<' in page.text
    assert f'href="/console/admin/reports?day={DAY}"' in page.text
    table = history.get("/console/admin/reports/month/2026-11.csv")
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8").lstrip("\ufeff"))))
    row = next(r for r in rows if r["date"] == DAY)
    assert (row["entries"], row["refused"], row["peak_zone"], row["peak"]) == ("3", "1", "A", "6")
    # No car in any zone on the 1st: no zone was its fullest (it read A, 0 of 40).
    empty = next(r for r in rows if r["date"] == "2026-11-01")
    assert (empty["peak_zone"], empty["peak"], empty["capacity"]) == ("", "", "")
    first = re.search(r'<tr data-day="2026-11-01">(.*?)</tr>', page.text, re.S)
    assert first is not None and first.group(1).endswith("<td>—</td>")
    assert history.get("/console/admin/reports/month?month=2099-01").status_code == 422


def test_tailgating_at_a_pedestrian_gate_is_counted_apart_from_the_vehicles(
    history: Any,
) -> None:
    """A person following a resident through the pedestrian gate (尾随) is no car following
    another under a barrier (跟车): the day's figures, its page and the month keep them apart."""
    services = history.app.state.services
    assert services.settings.gate("ped-1").kind == "pedestrian"
    with transaction(services.sessions) as session:
        session.add_all(
            [
                Alarm(at=local(28, 18, 0), kind="tailgating", gate_id="main-in"),
                Alarm(at=local(28, 18, 5), kind="tailgating", gate_id="main-out"),
                Alarm(at=local(28, 19, 0), kind="tailgating", gate_id="ped-1"),
            ]
        )
    admin = add_staff(services, "boss", "admin")

    day = history.get(f"/api/v1/reports/{DAY}", headers=admin).json()

    assert day["alarms"] == {
        "tailgating": 2,
        "blocked_plate": 1,
        "hardware_fault": 1,
        "tailgating.pedestrian": 1,
    }
    month = history.get("/api/v1/reports/month/2026-11", headers=admin).json()
    assert month["alarms"] == 6  # every alarm still counted once
    cookie_login(history, "boss", "admin")
    html = history.get(f"/console/admin/reports?day={DAY}").text
    assert '<tr data-kind="tailgating"><td>跟车</td><td>2</td></tr>' in html
    assert '<tr data-kind="tailgating.pedestrian"><td>尾随</td><td>1</td></tr>' in html
