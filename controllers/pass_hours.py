"""A recurring visitor pass's weekdays and daily hours, as the decision core reads them.

A cleaner (保洁) or a nanny (保姆) comes 周一至周五 08:00–12:00 for three months: the pass's
window (``valid_from``/``valid_to``) is the three months, and these are the days and hours
within it that it admits, in the community's local time. Stored as plain text on the pass
(``weekdays`` ``"mon,tue,wed,thu,fri"``, ``hours_from`` ``"08:00"``, ``hours_to``
``"12:00"``), each None meaning "any day" / "all day", so every pass made before them keeps
admitting at any hour of its window.

The hours follow ``controllers.schedule.TimeWindow``: the start is inclusive, the end
exclusive (08:00–12:00 admits at 11:59, not at 12:00), and an end before the start runs past
midnight into the next morning, which belongs to the day it opened on (周五 22:00–02:00 admits
at 01:00 on Saturday, not on Friday). ``24:00`` (or ``00:00`` as an end) is the midnight that
ends the day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from controllers.schedule import DAY_S, WEEKDAYS, TimeWindow

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def clock_minutes(text: str, *, end: bool) -> int:
    """``"08:00"`` → 480; ValueError naming what is wrong. An end may be ``24:00`` (and
    ``00:00`` as an end means that midnight: a time picker cannot say 24:00)."""
    name = "hours_to" if end else "hours_from"
    found = _CLOCK.match(text.strip())
    if found is None:
        raise ValueError(f"{name} must read HH:MM (e.g. 08:00), got {text!r}")
    hour, minute = int(found[1]), int(found[2])
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not end)):
        limit = "00:00 to 24:00" if end else "00:00 to 23:59"
        raise ValueError(f"{name} must be a time from {limit}, got {text!r}")
    return hour * 60 + minute


def normal_weekdays(days: Iterable[str] | None) -> str | None:
    """The weekdays as stored: ``"mon,tue"`` in week order, None for every day. An empty
    set is refused: a pass that never admits is a mistake, not a setting."""
    if days is None:
        return None
    names = {day.strip().lower() for day in days}
    unknown = sorted(names - set(WEEKDAYS))
    if unknown:
        raise ValueError(f"unknown weekday(s) {', '.join(unknown)}: use {', '.join(WEEKDAYS)}")
    if not names:
        raise ValueError(
            "weekdays must name at least one day (mon…sun); leave it out (null) for every day"
        )
    return ",".join(day for day in WEEKDAYS if day in names)


def normal_hours(hours_from: str | None, hours_to: str | None) -> tuple[str, str] | None:
    """The daily hours as stored (``"08:00"``, ``"12:00"``; an end at midnight ``"24:00"``),
    None for all day. Both or neither; a range of no length is refused."""
    if hours_from is None and hours_to is None:
        return None
    if hours_from is None or hours_to is None:
        raise ValueError("give hours_from and hours_to together, or neither for all day")
    start = clock_minutes(hours_from, end=False)
    end = clock_minutes(hours_to, end=True)
    if start == end:
        # "Never" and "all day" are both plausible readings: ask for the one meant.
        raise ValueError(
            f"hours_from and hours_to are both {_clock(start)}: the range has no "
            "length; leave both out for all day"
        )
    return _clock(start), _clock(end or 24 * 60)


def pass_hours(
    weekdays: str | None, hours_from: str | None, hours_to: str | None
) -> TimeWindow | None:
    """The stored values (see ``normal_weekdays``/``normal_hours``) as a window; None when
    the pass admits on any day at any time."""
    if weekdays is None and hours_from is None and hours_to is None:
        return None
    days = (
        frozenset(range(7))
        if weekdays is None
        else frozenset(WEEKDAYS.index(day) for day in weekdays.split(","))
    )
    hours = normal_hours(hours_from, hours_to)
    if hours is None:
        return TimeWindow(0, DAY_S, days)
    start, end = (clock_minutes(text, end=i == 1) * 60 for i, text in enumerate(hours))
    return TimeWindow(start, end, days)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
