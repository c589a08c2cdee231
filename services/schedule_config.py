"""A gate's ``schedule:`` in the settings: opening hours per kind of entrant (通行时段).

The rules themselves (what a schedule may hold back, midnight, boundaries) live in the pure
``controllers.schedule``; this is only their configuration. Example (YAML)::

    community:
      timezone: Asia/Shanghai          # the wall clock schedules are written in
      gates:
        - id: back-in
          kind: vehicle
          direction: in
          zone: A
          schedule:
            resident: ["06:00-23:00"]  # every day
            visitor: []                # never without a guard
            allow_list:                # delivery vans on working days
              - {hours: "08:00-20:00", days: [mon, tue, wed, thu, fri]}

``days`` are read through ``community.calendar`` (services/calendar_config.py): with the year's
holidays and 调休 make-up working days listed there, the delivery window is shut on 国庆 and
open on a make-up Saturday.

Write the hours in quotes: YAML reads an unquoted ``23:00`` as the number 1380.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import ErrorDetails

from controllers.schedule import (
    PLAIN_WEEKS,
    WEEKDAYS,
    Entrant,
    GateSchedule,
    TimeWindow,
    WorkCalendar,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeWindowConfig(_Strict):
    hours: str = Field(
        description=(
            "'HH:MM-HH:MM' in the community's time zone: from the start (inclusive) to the end "
            "(exclusive); '24:00' is the midnight ending the day; an end before the start runs "
            "past midnight into the next morning (22:00-06:00)."
        )
    )
    days: list[str] = Field(
        default_factory=lambda: list(WEEKDAYS),
        min_length=1,
        description=(
            "Days the window opens on (mon … sun); a window past midnight runs on into the "
            "next morning. Default: every day."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _hours_alone(cls, data: Any) -> Any:
        if isinstance(data, str):  # "06:00-23:00": the same hours every day
            return {"hours": data}
        if isinstance(data, int | float):
            raise ValueError(
                f"got the number {data}: write the hours in quotes, e.g. '06:00-23:00' (YAML "
                "reads an unquoted 23:00 as a number)"
            )
        return data

    @model_validator(mode="after")
    def verify_window(self) -> TimeWindowConfig:
        self.window()  # its ValueError names what is wrong
        return self

    def window(self) -> TimeWindow:
        return TimeWindow.parse(self.hours, self.days)


_WINDOWS = (
    "Omitted: at any hour; an empty list: never without a guard. A window is "
    "'HH:MM-HH:MM' (every day) or {hours: 'HH:MM-HH:MM', days: [mon, …]}."
)


class ScheduleConfig(_Strict):
    """Hours in which each kind of entrant is let in without a guard; outside them an entry
    goes to the guard's review queue (reason outside_schedule). Exits are never held."""

    resident: list[TimeWindowConfig] | None = Field(
        None, description=f"Residents: their cars, faces and PINs. {_WINDOWS}"
    )
    visitor: list[TimeWindowConfig] | None = Field(
        None, description=f"Visitors with a pass, by plate or QR code. {_WINDOWS}"
    )
    allow_list: list[TimeWindowConfig] | None = Field(
        None,
        description=(
            "Allow-listed vehicles (delivery, ambulance: an ambulance held here goes to the "
            f"guard like the others). {_WINDOWS}"
        ),
    )

    def build(self, zone: tzinfo, calendar: WorkCalendar = PLAIN_WEEKS) -> GateSchedule:
        """The decision core's schedule, its times read in ``zone`` and its days through the
        community's ``calendar`` (holidays, make-up working days)."""
        windows = {
            entrant: tuple(w.window() for w in configured)
            for entrant in Entrant
            if (configured := getattr(self, entrant.value)) is not None
        }
        return GateSchedule(zone=zone, windows=windows, calendar=calendar)


def schedule_problem(error: ErrorDetails) -> str:
    """One pydantic error inside a schedule, as an admin reads it: which field, what is wrong."""
    location = "schedule" + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.get("loc", ())
    )
    if error.get("type") == "extra_forbidden":
        key = error["loc"][-1]
        if len(error["loc"]) == 1:
            names = ", ".join(e.value for e in Entrant)
            return f"unknown category {key!r} in schedule (use {names})"
        return f"unknown key {key!r} in {location.rsplit('.', 1)[0]} (use hours, days)"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{location}: {message}"
