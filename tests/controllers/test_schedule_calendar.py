"""Access schedules and the community's calendar: public holidays and 调休 make-up working days
read as another weekday, on the local date a window opens (controllers/schedule.py).

The dates are 2026's official ones: 中秋 Fri 25 – Sun 27 September, 国庆 Thu 1 – Wed 7 October,
make-up working days Sun 20 September and Sat 10 October; 清明 from Sat 4 April."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controllers.schedule import Entrant, GateSchedule, TimeWindow, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
MON_FRI = ("mon", "tue", "wed", "thu", "fri")


def days(first: str, last: str | None = None) -> frozenset[date]:
    start = date.fromisoformat(first)
    end = date.fromisoformat(last or first)
    return frozenset(start + timedelta(days=n) for n in range((end - start).days + 1))


CALENDAR_2026 = WorkCalendar(
    holidays=days("2026-04-04", "2026-04-06") | days("2026-09-25", "2026-09-27")
    | days("2026-10-01", "2026-10-07"),
    workdays=days("2026-09-20") | days("2026-10-10"),
    holiday_as=6,  # Sunday
    workday_as=0,  # Monday
)


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, ``"2026-10-01 10:00"``."""
    return datetime.fromisoformat(text)


CASES = [
    # hours, days, local time, open with the calendar, open on plain weekdays
    # A Monday–Friday delivery window (08:00–20:00)
    ("08:00-20:00", MON_FRI, at("2026-10-01 10:00"), False, True),  # 国庆 Thursday: shut
    ("08:00-20:00", MON_FRI, at("2026-10-07 19:59"), False, True),  # last day of the holiday
    ("08:00-20:00", MON_FRI, at("2026-10-08 08:00"), True, True),  # back to work on Thursday
    ("08:00-20:00", MON_FRI, at("2026-10-10 10:00"), True, False),  # make-up Saturday: open
    ("08:00-20:00", MON_FRI, at("2026-10-10 20:00"), False, False),  # its hours still count
    ("08:00-20:00", MON_FRI, at("2026-10-11 10:00"), False, False),  # the Sunday after: shut
    ("08:00-20:00", MON_FRI, at("2026-09-20 09:00"), True, False),  # make-up Sunday: open
    ("08:00-20:00", MON_FRI, at("2026-09-28 09:00"), True, True),  # an ordinary Monday
    # A weekend-only window opens on holidays (as Sunday) and not on a make-up Saturday.
    ("09:00-17:00", ("sat", "sun"), at("2026-10-01 10:00"), True, False),
    ("09:00-17:00", ("sat", "sun"), at("2026-10-10 10:00"), False, True),
    # Night deliveries Monday–Friday 22:00–06:00: a night belongs to the day it opens on.
    ("22:00-06:00", MON_FRI, at("2026-04-03 22:30"), True, True),  # Friday before 清明
    ("22:00-06:00", MON_FRI, at("2026-04-04 02:00"), True, True),  # its small hours, a holiday
    ("22:00-06:00", MON_FRI, at("2026-04-04 22:30"), False, False),  # the holiday's own night
    ("22:00-06:00", MON_FRI, at("2026-09-24 22:30"), True, True),  # Thursday before 中秋
    ("22:00-06:00", MON_FRI, at("2026-09-25 02:00"), True, True),  # Thursday's night runs on
    ("22:00-06:00", MON_FRI, at("2026-09-25 22:30"), False, True),  # a holiday Friday: no night
    ("22:00-06:00", MON_FRI, at("2026-09-26 02:00"), False, True),  # …so its small hours are shut
    ("22:00-06:00", MON_FRI, at("2026-10-10 22:30"), True, False),  # make-up Saturday's night
    ("22:00-06:00", MON_FRI, at("2026-10-11 02:00"), True, False),  # runs into Sunday morning
    ("22:00-06:00", MON_FRI, at("2026-10-11 22:30"), False, False),  # the Sunday's own night
    ("22:00-06:00", MON_FRI, at("2026-10-01 02:00"), True, True),  # Wednesday's night into 国庆
    ("22:00-06:00", MON_FRI, at("2026-10-08 02:00"), False, True),  # the holiday Wednesday's
    # Sunday nights only: a holiday evening is a Sunday evening.
    ("22:00-06:00", ("sun",), at("2026-10-01 23:00"), True, False),
    ("22:00-06:00", ("sun",), at("2026-10-02 05:59"), True, False),
    ("22:00-06:00", ("sun",), at("2026-10-11 05:00"), False, False),  # Saturday was a Monday
]


@pytest.mark.parametrize(
    ("hours", "weekdays", "local", "with_calendar", "plain"),
    CASES,
    ids=[f"{c[0]}-{','.join(c[1])}-{c[2]:%m-%d %a %H:%M}" for c in CASES],
)
def test_window_days_are_read_through_the_calendar(
    hours: str, weekdays: tuple[str, ...], local: datetime, with_calendar: bool, plain: bool
) -> None:
    window = TimeWindow.parse(hours, weekdays)
    assert window.covers(local, CALENDAR_2026) is with_calendar
    assert window.covers(local) is plain  # without a calendar: the printed weekday


def test_a_gate_reads_the_calendar_on_the_community_s_local_date() -> None:
    delivery = GateSchedule(
        SHANGHAI, {Entrant.ALLOW_LIST: (TimeWindow.parse("06:00-20:00", MON_FRI),)},
        calendar=CALENDAR_2026,
    )
    # 22:30 UTC on Wednesday 30 September is 06:30 on Thursday 1 October in Shanghai: 国庆.
    assert not delivery.admits(Entrant.ALLOW_LIST, datetime(2026, 9, 30, 22, 30, tzinfo=UTC))
    # 22:30 UTC on Wednesday 7 October, still a holiday in UTC, is 06:30 on Thursday 8: work.
    assert delivery.admits(Entrant.ALLOW_LIST, datetime(2026, 10, 7, 22, 30, tzinfo=UTC))
    # 22:30 UTC on Friday 9 October is 06:30 on the make-up Saturday.
    assert delivery.admits(Entrant.ALLOW_LIST, datetime(2026, 10, 9, 22, 30, tzinfo=UTC))
    assert delivery.admits(Entrant.RESIDENT, datetime(2026, 9, 30, 22, 30, tzinfo=UTC))  # unnamed


@pytest.mark.parametrize(
    ("holiday_as", "workday_as", "local", "weekday"),
    [
        (6, 0, date(2026, 10, 1), 6),
        (5, 0, date(2026, 10, 1), 5),  # a community whose holidays are Saturdays
        (6, 4, date(2026, 10, 10), 4),  # make-up days kept like a Friday
        (6, 0, date(2026, 10, 9), 4),  # an unlisted date is its own weekday
    ],
)
def test_holiday_as_and_workday_as_choose_the_weekday_read(
    holiday_as: int, workday_as: int, local: date, weekday: int
) -> None:
    calendar = WorkCalendar(CALENDAR_2026.holidays, CALENDAR_2026.workdays, holiday_as,
                            workday_as)
    assert calendar.weekday(local) == weekday


def test_a_date_that_is_both_holiday_and_make_up_day_is_refused() -> None:
    with pytest.raises(ValueError, match=r"2026-10-10 listed both as holiday and as make-up"):
        WorkCalendar(holidays=days("2026-10-01", "2026-10-10"), workdays=days("2026-10-10"))


@pytest.mark.parametrize(("holiday_as", "workday_as"), [(7, 0), (6, -1)])
def test_a_weekday_out_of_range_is_refused(holiday_as: int, workday_as: int) -> None:
    with pytest.raises(ValueError, match="must be 0 \\(Monday\\) to 6"):
        WorkCalendar(holiday_as=holiday_as, workday_as=workday_as)
