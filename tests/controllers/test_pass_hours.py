"""Recurring visitor passes (a cleaner 周一至周五 08:00–12:00): plain values in, a decision out.

Times are UTC instants read in the community's zone; Asia/Shanghai and Asia/Urumqi keep no
daylight saving, so every local time exists once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controllers.pass_hours import normal_hours, normal_weekdays, pass_hours
from controllers.person_policy import decide_qr
from controllers.policy import AccessPolicy, GateContext, PassPermit, Permits, decide
from controllers.schedule import DAY_S, TimeWindow
from controllers.values import AccessDecision, Direction, Reason, Sighting, Verdict

SHANGHAI = ZoneInfo("Asia/Shanghai")
URUMQI = ZoneInfo("Asia/Urumqi")  # UTC+6: two hours behind Beijing time on the wall clock
IN = GateContext("main-in", Direction.IN, "A", zone=SHANGHAI)
OUT = GateContext("main-out", Direction.OUT, "A", zone=SHANGHAI)
CLEANER = pass_hours("mon,tue,wed,thu,fri", "08:00", "12:00")
NIGHT = pass_hours("fri", "22:00", "02:00")
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2027, 2, 1, tzinfo=UTC)


def local(day: int, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    """A wall-clock time in November 2026 (the 30th is a Monday), as the UTC instant."""
    return datetime(2026, 11, day, hour, minute, tzinfo=zone).astimezone(UTC)


def permit(
    hours: TimeWindow | None, *, uses: int = 0, max_uses: int | None = None, pass_id: int = 5
) -> PassPermit:
    return PassPermit(pass_id, "粤B88888", 7, START, END, max_uses, uses, hours=hours)


def at_gate(p: PassPermit, at: datetime, gate: GateContext = IN) -> AccessDecision:
    sighting = Sighting(gate.gate_id, at, "粤B88888", 0.97)
    return decide(sighting, Permits(passes=(p,)), None, at, gate=gate, policy=AccessPolicy())


@pytest.mark.parametrize(
    ("name", "at", "admits"),
    [
        ("Monday 08:00, the minute it opens", local(30, 8, 0), True),
        ("Monday 07:59", local(30, 7, 59), False),
        ("Friday 11:59", local(27, 11, 59), True),
        ("Friday 12:00, the minute it ends (exclusive)", local(27, 12, 0), False),
        ("Saturday 09:00", local(28, 9, 0), False),
        ("Sunday 03:00", local(29, 3, 0), False),
        ("Monday 00:30 (Sunday night in UTC)", local(30, 0, 30), False),
        ("Monday 10:00 is Monday 02:00 UTC", local(30, 10, 0), True),
    ],
)
def test_weekdays_and_hours_in_the_community_zone(name: str, at: datetime, admits: bool) -> None:
    assert (permit(CLEANER).status(at, SHANGHAI) is None) is admits, name


def test_a_different_community_zone_reads_the_same_instant_on_its_own_wall_clock() -> None:
    # 09:00 in Urumqi is 11:00 in Beijing: inside 08:00–12:00 for both. 12:30 in Urumqi is
    # 14:30 Beijing time: only an Urumqi community admits it.
    assert permit(CLEANER).status(local(30, 9, 0, URUMQI), URUMQI) is None
    assert permit(CLEANER).status(local(30, 11, 30, URUMQI), URUMQI) is None
    at = local(30, 7, 30, URUMQI)  # 09:30 in Beijing
    assert permit(CLEANER).status(at, URUMQI) is Reason.OUTSIDE_SCHEDULE
    assert permit(CLEANER).status(at, SHANGHAI) is None


@pytest.mark.parametrize(
    ("name", "at", "admits"),
    [
        ("Friday 22:00", local(27, 22, 0), True),
        ("Saturday 01:59 belongs to Friday night", local(28, 1, 59), True),
        ("Saturday 02:00", local(28, 2, 0), False),
        ("Friday 01:00 belongs to Thursday night", local(27, 1, 0), False),
        ("Friday 21:59", local(27, 21, 59), False),
    ],
)
def test_hours_past_midnight_belong_to_the_evening_they_open(
    name: str, at: datetime, admits: bool
) -> None:
    assert (permit(NIGHT).status(at, SHANGHAI) is None) is admits, name


def test_no_schedule_is_any_day_any_time() -> None:
    assert pass_hours(None, None, None) is None
    assert permit(None).status(local(29, 3, 0)) is None  # no zone needed either


def test_weekdays_alone_are_all_day_and_hours_alone_every_day() -> None:
    assert pass_hours("sat,sun", None, None) == TimeWindow(0, DAY_S, frozenset({5, 6}))
    assert pass_hours(None, "18:00", "24:00") == TimeWindow(18 * 3600, DAY_S, frozenset(range(7)))


@pytest.mark.parametrize(
    ("weekdays", "stored"),
    [
        (None, None),
        (["fri", "MON", "mon", " wed"], "mon,wed,fri"),
        (["sun", "sat", "fri", "thu", "wed", "tue", "mon"], "mon,tue,wed,thu,fri,sat,sun"),
    ],
)
def test_weekdays_are_stored_in_week_order(weekdays: list[str] | None, stored: str | None) -> None:
    assert normal_weekdays(weekdays) == stored


@pytest.mark.parametrize(
    ("weekdays", "message"),
    [
        ([], "at least one day"),
        (["mon", "funday"], "unknown weekday(s) funday"),
    ],
)
def test_weekdays_refused(weekdays: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        normal_weekdays(weekdays)


@pytest.mark.parametrize(
    ("start", "end", "stored"),
    [
        ("8:00", "12:00", ("08:00", "12:00")),
        ("22:00", "02:00", ("22:00", "02:00")),
        ("18:00", "00:00", ("18:00", "24:00")),  # a time picker's midnight is the day's end
        ("18:00", "24:00", ("18:00", "24:00")),
        ("00:00", "24:00", ("00:00", "24:00")),
        (None, None, None),
    ],
)
def test_hours_stored(start: str | None, end: str | None, stored: tuple[str, str] | None) -> None:
    assert normal_hours(start, end) == stored


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("08:00", "08:00", "no length"),
        ("00:00", "00:00", "no length"),
        ("08:00", None, "together"),
        (None, "12:00", "together"),
        ("8", "12:00", "HH:MM"),
        ("08:00", "noon", "HH:MM"),
        ("24:00", "02:00", "00:00 to 23:59"),
        ("08:60", "12:00", "00:00 to 23:59"),
        ("08:00", "24:30", "00:00 to 24:00"),
        ("25:00", "12:00", "00:00 to 23:59"),
    ],
)
def test_hours_refused(start: str | None, end: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normal_hours(start, end)


def test_outside_its_hours_a_pass_goes_to_the_guard_unused_with_its_host() -> None:
    inside = at_gate(permit(CLEANER), local(30, 9, 0))
    assert (inside.verdict, inside.reason, inside.count_pass_use) == (
        Verdict.ALLOW,
        Reason.VISITOR_PASS,
        True,
    )
    sunday = at_gate(permit(CLEANER), local(29, 3, 0))
    assert (sunday.verdict, sunday.reason) == (Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE)
    assert sunday.flags == ("visitor_pass",)  # the card reads 不在通行时段 · 访客通行证
    assert (sunday.pass_id, sunday.household_id, sunday.count_pass_use) == (5, 7, False)


def test_an_exit_is_never_held_by_a_pass_s_hours() -> None:
    decision = at_gate(permit(CLEANER), local(29, 3, 0), OUT)
    assert decision.verdict is Verdict.ALLOW


def test_a_pass_over_or_used_up_says_so_before_its_hours() -> None:
    used = permit(CLEANER, uses=1, max_uses=1)
    assert used.status(local(29, 3, 0), SHANGHAI) is Reason.PASS_USED_UP
    late = PassPermit(5, "粤B88888", 7, START, local(20, 0), None, 0, hours=CLEANER)
    assert late.status(local(29, 3, 0), SHANGHAI) is Reason.PASS_EXPIRED
    assert at_gate(late, local(30, 9, 0)).reason is Reason.PASS_EXPIRED


def test_another_pass_of_the_plate_that_admits_now_opens() -> None:
    evening = permit(pass_hours(None, "18:00", "22:00"), pass_id=6)
    sighting = Sighting("main-in", local(30, 19, 0), "粤B88888", 0.97)
    decision = decide(
        sighting,
        Permits(passes=(permit(CLEANER), evening)),
        None,
        local(30, 19, 0),
        gate=IN,
        policy=AccessPolicy(),
    )
    assert (decision.verdict, decision.pass_id) == (Verdict.ALLOW, 6)


def test_off_hours_beats_an_expired_pass_of_the_same_plate() -> None:
    old = PassPermit(4, "粤B88888", 7, START, local(20, 0), None, 0)
    sighting = Sighting("main-in", local(29, 3, 0), "粤B88888", 0.97)
    decision = decide(
        sighting,
        Permits(passes=(old, permit(CLEANER))),
        None,
        local(29, 3, 0),
        gate=IN,
        policy=AccessPolicy(),
    )
    assert (decision.reason, decision.pass_id) == (Reason.OUTSIDE_SCHEDULE, 5)


def test_hours_without_the_community_zone_are_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="time zone"):
        permit(CLEANER).status(local(30, 9, 0), None)


def test_a_qr_code_outside_its_pass_s_hours_is_refused() -> None:
    sunday = decide_qr(permit(CLEANER), local(29, 3, 0), SHANGHAI)
    assert (sunday.verdict, sunday.reason, sunday.count_pass_use) == (
        Verdict.DENY,
        Reason.OUTSIDE_SCHEDULE,
        False,
    )
    monday = decide_qr(permit(CLEANER), local(30, 9, 0), SHANGHAI)
    assert (monday.verdict, monday.reason) == (Verdict.ALLOW, Reason.QR_PASS)


def test_window_status_ignores_the_hours() -> None:
    assert permit(CLEANER).window_status(local(29, 3, 0)) is None
    assert permit(CLEANER, uses=1, max_uses=1).window_status(local(29, 3, 0)) is (
        Reason.PASS_USED_UP
    )


def test_expired_window_still_ends_the_pass_at_any_hour() -> None:
    assert permit(CLEANER).status(END + timedelta(minutes=1), SHANGHAI) is Reason.PASS_EXPIRED
