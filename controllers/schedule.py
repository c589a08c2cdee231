"""Access schedules (通行时段): when each kind of entrant may pass a gate without a guard.

A community sets, per gate, opening hours for residents, visitors and allow-listed vehicles
in its own local time: the back gate 06:00–23:00 for residents and never for visitors,
delivery vans on weekdays 08:00–20:00. What a schedule may do, strongest rule first:

1. The fire alarm is not a decision: the safety supervisor holds every barrier open at the
   driver (``set_fire_alarm``), so no schedule can keep a gate shut during one.
2. Exits are never held by a schedule: nobody is trapped inside.
3. A schedule only turns an automatic *entry* into a guard's decision (review,
   ``outside_schedule``). It never opens a gate, and never softens or hides a refusal or a
   question the policy already has: a blocked plate is still denied, a full zone still
   refuses visitors, an expired pass still goes to the guard as expired.
4. A gate without a schedule, or a kind of entrant its schedule does not name, is always open
   to it (today's behaviour); a kind named with no windows is never let in automatically.

A window opens on its listed days at ``start`` (inclusive) and closes at ``end`` (exclusive);
``24:00`` is the midnight that ends the day. An end before the start runs past midnight into
the next morning, which still belongs to the day it opened on (Friday 22:00–06:00 covers
Saturday 02:00, not Friday 02:00). Times are the community's wall clock, read from the
passage's aware time; Asia/Shanghai has no daylight saving, so every local time exists once.

A window's ``days`` are read through the community's calendar (``WorkCalendar``): a public
holiday counts as one weekday (Sunday, say) and a 调休 make-up working day as another (Monday),
so a Monday–Friday window is shut on a 国庆 Thursday and open on a make-up Saturday. What
counts is the local date the window *opens* on, as above: Friday 22:00–06:00 before a holiday
Saturday still runs into Saturday morning, and a holiday Friday opens no Friday-night window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from controllers.values import AccessDecision, Direction, Reason, Verdict

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
DAY_S = 24 * 3600
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class Entrant(StrEnum):
    """Who a schedule is written for (the configuration's keys)."""

    RESIDENT = "resident"  # a resident's car, face or PIN
    VISITOR = "visitor"  # a visitor pass, by plate or QR code
    ALLOW_LIST = "allow_list"  # an allow-listed vehicle (delivery, ambulance)


# The allowed entries a schedule can hold back, by why the policy let them in. Anything else
# that opens (exits, a guard's override) is not the schedule's business.
ENTRANT_BY_REASON: Mapping[Reason, Entrant] = {
    Reason.RESIDENT: Entrant.RESIDENT,
    Reason.FACE_RESIDENT: Entrant.RESIDENT,
    Reason.PIN: Entrant.RESIDENT,
    Reason.VISITOR_PASS: Entrant.VISITOR,
    Reason.QR_PASS: Entrant.VISITOR,
    Reason.ALLOWED_LIST: Entrant.ALLOW_LIST,
}


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Local dates that a schedule reads as another weekday: public holidays and 调休 make-up
    working days, as the State Council publishes them each year. Weekdays are 0 (Monday) to 6.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    holiday_as: int = 6  # Sunday
    workday_as: int = 0  # Monday

    def __post_init__(self) -> None:
        both = sorted(self.holidays & self.workdays)
        if both:
            # Which list wins would be a guess about what the property office meant.
            raise ValueError(
                f"{', '.join(map(str, both))} listed both as holiday and as make-up working "
                "day: keep each date in one list"
            )
        for name, weekday in (("holiday_as", self.holiday_as), ("workday_as", self.workday_as)):
            if not 0 <= weekday <= 6:
                raise ValueError(f"{name} must be 0 (Monday) to 6, got {weekday}")

    def weekday(self, day: date) -> int:
        """The weekday a window's ``days`` are matched against on the local date ``day``."""
        if day in self.workdays:
            return self.workday_as
        if day in self.holidays:
            return self.holiday_as
        return day.weekday()


PLAIN_WEEKS = WorkCalendar()  # no holidays: every date is its own weekday


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Opening hours on some weekdays, in seconds after local midnight."""

    start_s: int
    end_s: int
    days: frozenset[int] = frozenset(range(7))  # Monday is 0: the days the window opens on

    def __post_init__(self) -> None:
        if not 0 <= self.start_s < DAY_S:
            raise ValueError(f"start must be from 00:00 to 23:59, got {_clock(self.start_s)}")
        if not 0 < self.end_s <= DAY_S:
            raise ValueError(f"end must be from 00:01 to 24:00, got {_clock(self.end_s)}")
        if self.start_s == self.end_s:
            # Both "never" and "all day" are plausible readings: ask for the one meant.
            raise ValueError(
                f"end equals start ({_clock(self.start_s)}): write 00:00-24:00 for the whole "
                "day, or leave the window out"
            )
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be a non-empty set of 0 (Monday) to 6, got {self.days}")

    @classmethod
    def parse(cls, hours: str, days: Iterable[str] = WEEKDAYS) -> TimeWindow:
        """``"06:00-23:00"`` on days named ``mon`` … ``sun``; ValueError says what is wrong."""
        match = _HOURS.match(hours)
        if match is None:
            raise ValueError(f"hours must read 'HH:MM-HH:MM' (e.g. '06:00-23:00'), got {hours!r}")
        start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
        if start_h > 23 or start_m > 59:
            raise ValueError(f"start must be from 00:00 to 23:59 in {hours!r}")
        if end_h > 24 or end_m > 59 or (end_h == 24 and end_m != 0):
            raise ValueError(f"end must be from 00:01 to 24:00 in {hours!r}")
        names = [day.strip().lower() for day in days]
        unknown = [day for day in names if day not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday(s) {', '.join(map(repr, unknown))}: use "
                             f"{', '.join(WEEKDAYS)}")
        return cls(
            start_s=start_h * 3600 + start_m * 60,
            end_s=end_h * 3600 + end_m * 60,
            days=frozenset(WEEKDAYS.index(day) for day in names),
        )

    @property
    def crosses_midnight(self) -> bool:
        return self.end_s < self.start_s

    def covers(self, local: datetime, calendar: WorkCalendar = PLAIN_WEEKS) -> bool:
        """Whether the local wall-clock time ``local`` falls inside the window, its days read
        through ``calendar``."""
        second = local.hour * 3600 + local.minute * 60 + local.second
        today = local.date()
        opened_today = calendar.weekday(today) in self.days
        if not self.crosses_midnight:
            return opened_today and self.start_s <= second < self.end_s
        if opened_today and second >= self.start_s:
            return True
        # The small hours belong to the window that opened the evening before, on whatever
        # weekday the calendar made of that evening.
        yesterday = calendar.weekday(today - timedelta(days=1))
        return yesterday in self.days and second < self.end_s


@dataclass(frozen=True, slots=True)
class GateSchedule:
    """One gate's windows per kind of entrant, in the community's time zone and calendar.

    A kind missing from ``windows`` is always admitted; one mapped to no windows never is.
    """

    zone: tzinfo
    windows: Mapping[Entrant, tuple[TimeWindow, ...]] = field(default_factory=dict)
    calendar: WorkCalendar = PLAIN_WEEKS

    def admits(self, entrant: Entrant, at: datetime) -> bool:
        if at.tzinfo is None or at.utcoffset() is None:
            # A naive time would be read as the controller's own zone: refuse to guess.
            raise ValueError(f"a schedule needs an aware time, got {at.isoformat()}")
        windows = self.windows.get(entrant)
        if windows is None:
            return True
        local = at.astimezone(self.zone)
        return any(window.covers(local, self.calendar) for window in windows)


def apply_schedule(
    decision: AccessDecision, schedule: GateSchedule | None, direction: Direction, at: datetime
) -> AccessDecision:
    """``decision`` as the gate's schedule lets it stand at ``at`` (see the module's rules).

    An entry held back keeps who it was (vehicle, household, pass) for the guard, and the
    reason it would have opened as a flag, so the card reads "outside schedule · resident";
    a visitor pass is not used up by a car that did not get in."""
    if schedule is None or direction is Direction.OUT or not decision.opens:
        return decision
    entrant = ENTRANT_BY_REASON.get(decision.reason)
    if entrant is None or schedule.admits(entrant, at):
        return decision
    return replace(
        decision,
        verdict=Verdict.REVIEW,
        reason=Reason.OUTSIDE_SCHEDULE,
        flags=(*decision.flags, decision.reason.value),
        count_pass_use=False,
    )


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
