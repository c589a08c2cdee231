"""Day reports for the property office (admin): the day in figures and occupancy per hour.

Days are Beijing calendar days, as on the console: a car at 23:30 counts on the day the
guard saw it, not on the UTC day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel
from sqlalchemy.orm import Session

from api.console.rendering import DISPLAY_TZ
from api.deps import AdminUser, SessionDep
from api.params import day_in_service_span
from services.day_summary import DaySummary, day_summary
from services.reports import CSV_COLUMNS, OccupancyDay, csv_rows, occupancy_day

router = APIRouter(prefix="/api/v1", tags=["reports"])

ReportDay = Annotated[
    date,
    Path(description="A Beijing calendar day, YYYY-MM-DD (today: up to now)."),
    AfterValidator(day_in_service_span),
]


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
    alarms: dict[str, int]
    zones: list[ZonePeakOut]
    hours: list[HourOut]


def load_day(session: Session, day: date) -> tuple[OccupancyDay, DaySummary]:
    """The day's occupancy report and figures (a day that has not begun is a 422)."""
    occupancy = occupancy_day(session, day, DISPLAY_TZ)
    return occupancy, day_summary(session, day, DISPLAY_TZ, occupancy)


def hours_of(occupancy: OccupancyDay) -> list[HourOut]:
    names = CSV_COLUMNS[1:]  # the day is the report's own
    return [HourOut(**dict(zip(names, row[1:], strict=True))) for row in csv_rows(occupancy)]


@router.get(
    "/reports/{day}",
    response_model=DayReportOut,
    summary="One day at the gates: passages, guards' actions, alarms, occupancy per hour",
)
def day_report(day: ReportDay, session: SessionDep, _: AdminUser) -> DayReportOut:
    occupancy, summary = load_day(session, day)
    return DayReportOut(
        day=summary.day,
        start=summary.start,
        end=summary.end,
        passages=summary.passages,
        by_decision=summary.by_decision,
        by_reason=summary.by_reason,
        entries=summary.entries,
        exits=summary.exits,
        automatic_share=summary.automatic_share,
        reviews=summary.reviews,
        guard_actions=summary.guard_actions,
        alarms=summary.alarms,
        zones=[ZonePeakOut(**vars_of(z)) for z in summary.zones],
        hours=hours_of(occupancy),
    )


def vars_of(peak: object) -> dict[str, object]:
    return {name: getattr(peak, name) for name in ZonePeakOut.model_fields}
