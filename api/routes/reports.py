"""Day reports for the property office (admin): the day in figures and occupancy per hour.

Days are the community's calendar days (``community.timezone``, Beijing time by default), as
on the console: a car at 23:30 counts on the day the guard saw it, not on the UTC day.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import AdminUser, CommunityTz, ServicesDep, SessionDep
from api.params import day_in_service_span
from errors import InvalidInputError
from services.day_summary import DaySummary, day_summary
from services.month_summary import MonthSummary, hand_actions, month_summary
from services.reports import CSV_COLUMNS, OccupancyDay, csv_rows, occupancy_day

router = APIRouter(prefix="/api/v1", tags=["reports"])

# ASCII digits only: ``\d`` also takes full-width and other scripts' digits, which int()
# reads but the CSV's file name (an HTTP header, latin-1) cannot carry.
MONTH_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})")
# What a month parameter may be before it is read as one: a date or a month with its day is
# told the form (parse_month); anything longer is no month anyone typed.
MONTH_MAX_TYPED = 32

ReportDay = Annotated[
    date,
    Path(description="A calendar day in the community's time zone, YYYY-MM-DD (today: up to now)."),
    AfterValidator(day_in_service_span),
]


def pedestrian_gate_ids(services: ServicesDep) -> frozenset[str]:
    """The configured gates people walk through: a tailgating alarm there is 尾随, counted
    apart from the vehicles' 跟车 (services/day_summary.py)."""
    return frozenset(g.id for g in services.settings.community.gates if g.kind == "pedestrian")


PedestrianGates = Annotated[frozenset[str], Depends(pedestrian_gate_ids)]


class ZonePeakOut(BaseModel):
    zone: str
    name: str
    capacity: int
    peak: int
    peak_at: datetime | None


class HourOut(BaseModel):
    hour: str
    zone: str
    capacity: int
    occupied_start: int
    occupied_end: int
    occupied_max: int
    entries: int
    exits: int


class DayReportOut(BaseModel):
    day: date
    start: datetime
    end: datetime
    passages: int
    by_decision: dict[str, int]
    by_reason: dict[str, dict[str, int]]
    entries: int
    exits: int
    automatic_share: float | None
    reviews: dict[str, int]
    guard_actions: dict[str, dict[str, int]]
    alarms: dict[str, int] = Field(
        description="kind -> count; a tailgating alarm at a pedestrian gate (尾随) counts as "
        "tailgating.pedestrian, apart from the vehicles' tailgating (跟车)"
    )
    logins: dict[str, int] = Field(
        default_factory=dict,
        description="auth.login, auth.login_failed and auth.logout of the day (audit log)",
    )
    zones: list[ZonePeakOut]
    hours: list[HourOut]


def load_day(
    session: Session, day: date, tz: ZoneInfo, pedestrian_gates: frozenset[str] = frozenset()
) -> tuple[OccupancyDay, DaySummary]:
    """The day's (in ``tz``) occupancy report and figures (a day that has not begun is a
    422)."""
    occupancy = occupancy_day(session, day, tz)
    return occupancy, day_summary(session, occupancy, pedestrian_gates)


def hours_of(occupancy: OccupancyDay) -> list[HourOut]:
    names = CSV_COLUMNS[1:]  # the day is the report's own
    return [
        HourOut.model_validate(dict(zip(names, row[1:], strict=True)))
        for row in csv_rows(occupancy)
    ]


@router.get(
    "/reports/{day}",
    response_model=DayReportOut,
    summary="One day at the gates: passages, guards' actions, alarms, occupancy per hour",
)
def day_report(
    day: ReportDay, session: SessionDep, tz: CommunityTz, walked: PedestrianGates, _: AdminUser
) -> DayReportOut:
    occupancy, summary = load_day(session, day, tz, walked)
    return DayReportOut(**asdict(summary), hours=hours_of(occupancy))


def parse_month(value: str) -> tuple[int, int]:
    """``YYYY-MM`` within the service span; a clear 422 otherwise."""
    match = MONTH_PATTERN.fullmatch(value)
    if match is None:
        raise InvalidInputError(f"give a month as YYYY-MM, e.g. 2026-11, got {value!r}")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise InvalidInputError(f"{value} has no month {month}")
    try:
        day_in_service_span(date(year, month, 1))
    except ValueError as err:
        raise InvalidInputError(str(err)) from err
    return year, month


def load_month(
    session: Session, value: str, tz: ZoneInfo, pedestrian_gates: frozenset[str] = frozenset()
) -> MonthSummary:
    year, month = parse_month(value)
    summary = month_summary(session, year, month, tz, pedestrian_gates=pedestrian_gates)
    if not summary.days:
        raise InvalidInputError(f"{value} has not begun yet")
    return summary


class MonthDayOut(BaseModel):
    day: date
    entries: int
    exits: int
    automatic_share: float | None
    to_guard: int
    refused: int
    alarms: int
    guard_hand_actions: int


class MonthReportOut(BaseModel):
    month: str
    entries: int
    exits: int
    to_guard: int
    refused: int
    alarms: int
    days: list[MonthDayOut]


@router.get(
    "/reports/month/{month}",
    response_model=MonthReportOut,
    summary="One month, a row per local day (days not begun are left out)",
)
def month_report(
    month: Annotated[str, Path(description="YYYY-MM", max_length=MONTH_MAX_TYPED)],
    session: SessionDep,
    tz: CommunityTz,
    walked: PedestrianGates,
    _: AdminUser,
) -> MonthReportOut:
    summary = load_month(session, month, tz, walked)
    return MonthReportOut(
        month=month,
        entries=summary.entries,
        exits=summary.exits,
        to_guard=summary.total("review"),
        refused=summary.total("deny"),
        alarms=summary.alarms,
        days=[
            MonthDayOut(
                day=d.day,
                entries=d.entries,
                exits=d.exits,
                automatic_share=d.automatic_share,
                to_guard=d.by_decision.get("review", 0),
                refused=d.by_decision.get("deny", 0),
                alarms=sum(d.alarms.values()),
                guard_hand_actions=hand_actions(d),
            )
            for d in summary.days
        ],
    )
