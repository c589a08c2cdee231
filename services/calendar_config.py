"""The community's ``calendar:`` in the settings: public holidays and 调休 make-up working days.

Gate schedules read a window's ``days`` through it (``controllers.schedule.WorkCalendar``): a
holiday counts as ``holiday_as`` (Sunday), a make-up working day as ``workday_as`` (Monday).
The State Council publishes each year's list late in the year before; the property office
writes it here, or takes it from the ``chinese_calendar`` package (MIT, data bundled inside,
no network), whose release on the machine covers some years only. Example (YAML)::

    community:
      timezone: Asia/Shanghai
      calendar:
        source: chinese_calendar      # optional: the package's official lists
        holidays: ["2026-10-01..2026-10-07", "2026-12-31"]   # local dates, ranges inclusive
        workdays: ["2026-09-20", "2026-10-10"]
        holiday_as: sun
        workday_as: mon

The dates written here win over the package's for the same date; a date written in both
lists is a configuration error.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controllers.schedule import WEEKDAYS, WorkCalendar

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RANGE = ".."
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # fromisoformat alone also takes 20261001, 2026-W40
LONGEST_RANGE_DAYS = 31  # the longest official holiday is 9 days; a year-long range is a typo
_DATES = "write 'YYYY-MM-DD' or a range 'YYYY-MM-DD..YYYY-MM-DD'"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CalendarConfig(_Strict):
    """Which local dates (in community.timezone) gate schedules read as another weekday."""

    source: Literal["none", "chinese_calendar"] = Field(
        "none",
        description=(
            "none: only the dates listed here. chinese_calendar: also the official holidays and "
            "make-up working days bundled in the chinese-calendar package (for the years its "
            "installed release covers; parkgate logs them at start). Dates listed here win."
        ),
    )
    holidays: list[str] = Field(
        default_factory=list,
        description=(
            f"Public holidays, read as holiday_as: {_DATES} (both ends included). Local dates "
            "in community.timezone."
        ),
    )
    workdays: list[str] = Field(
        default_factory=list,
        description=f"调休 make-up working days (a weekend worked), read as workday_as: {_DATES}.",
    )
    holiday_as: Weekday = Field("sun", description="The weekday a holiday is read as.")
    workday_as: Weekday = Field("mon", description="The weekday a make-up working day is read as.")

    @field_validator("holidays", "workdays", mode="before")
    @classmethod
    def _dates_as_text(cls, entries: Any) -> Any:
        # YAML and TOML turn an unquoted 2026-10-01 into a date: take it as written.
        if not isinstance(entries, list):
            return entries
        return [_entry_text(entry) for entry in entries]

    @field_validator("holidays", "workdays")
    @classmethod
    def verify_dates(cls, entries: list[str]) -> list[str]:
        problems = []
        for entry in entries:
            try:
                parse_dates(entry)
            except ValueError as err:  # names the entry: report every bad one at once
                problems.append(str(err))
        if problems:
            raise ValueError("; ".join(problems))
        return entries

    @model_validator(mode="after")
    def verify_one_list_per_date(self) -> CalendarConfig:
        both = sorted(self.holiday_dates() & self.workday_dates())
        if both:
            shown = ", ".join(map(str, both[:5])) + (" …" if len(both) > 5 else "")
            raise ValueError(
                f"{shown} in both holidays and workdays: a date is one or the other, keep it "
                "in one list"
            )
        return self

    @model_validator(mode="after")
    def verify_source_installed(self) -> CalendarConfig:
        if self.source == "chinese_calendar":
            official_lists()  # ImportError → ValueError naming the package
        return self

    def holiday_dates(self) -> frozenset[date]:
        return frozenset(day for entry in self.holidays for day in parse_dates(entry))

    def workday_dates(self) -> frozenset[date]:
        return frozenset(day for entry in self.workdays for day in parse_dates(entry))

    def build(self) -> WorkCalendar:
        """The decision core's calendar: the package's lists, if chosen, under the ones here."""
        holidays, workdays = self.holiday_dates(), self.workday_dates()
        if self.source == "chinese_calendar":
            official_holidays, official_workdays = official_lists()
            # A date written here replaces whatever the package says about it.
            holidays, workdays = (
                holidays | (official_holidays - workdays),
                workdays | (official_workdays - holidays),
            )
        return WorkCalendar(
            holidays=holidays,
            workdays=workdays,
            holiday_as=WEEKDAYS.index(self.holiday_as),
            workday_as=WEEKDAYS.index(self.workday_as),
        )

    def official_years(self) -> range | None:
        """The years the chosen package covers, or None when no package is the source."""
        if self.source != "chinese_calendar":
            return None
        official_holidays, _ = official_lists()
        years = [day.year for day in official_holidays]
        return range(min(years), max(years) + 1)


def parse_dates(entry: str) -> list[date]:
    """``"2026-10-01"`` or ``"2026-10-01..2026-10-07"`` (inclusive) as dates."""
    first_text, _, last_text = entry.partition(RANGE)
    first = _parse_date(first_text, entry)
    last = _parse_date(last_text, entry) if last_text else first
    if last < first:
        raise ValueError(f"{entry!r} runs backwards: write the earlier date first")
    days = (last - first).days + 1
    if days > LONGEST_RANGE_DAYS:
        raise ValueError(
            f"{entry!r} spans {days} days, more than {LONGEST_RANGE_DAYS}: check the dates "
            "(a longer period can be written as several ranges)"
        )
    return [first + timedelta(days=offset) for offset in range(days)]


def official_lists() -> tuple[frozenset[date], frozenset[date]]:
    """The holidays and make-up working days bundled in the chinese-calendar package."""
    try:
        import chinese_calendar  # optional: only a community that asks for it needs it
    except ImportError as err:
        raise ValueError(
            "source chinese_calendar needs the chinese-calendar package (pip install "
            "chinese-calendar), or list the dates in holidays and workdays"
        ) from err
    return frozenset(chinese_calendar.holidays), frozenset(chinese_calendar.workdays)


def _parse_date(text: str, entry: str) -> date:
    text = text.strip()
    if _ISO_DATE.match(text):
        with contextlib.suppress(ValueError):  # 2026-02-30 has the shape but is no date
            return date.fromisoformat(text)
    raise ValueError(f"{entry!r} is not a date: {_DATES}")


def _entry_text(entry: Any) -> Any:
    if isinstance(entry, datetime):  # a date is also a datetime's base class: test this first
        raise ValueError(f"{entry} has a time of day: {_DATES}")
    if isinstance(entry, date):
        return entry.isoformat()
    if isinstance(entry, int | float):
        raise ValueError(f"got the number {entry}: {_DATES}, in quotes")
    return entry
