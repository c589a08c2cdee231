"""Bounds shared by every route's ids, paging and times, so out-of-range input is a 422.

Without them a number past what the database stores (2**63 on SQLite, 2**31 in PostgreSQL's
INTEGER keys) or a date at the calendar's edge (year 1 or 9999, which overflow when moved to
UTC) reached the driver and came back as a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated

from annotated_types import Ge, GroupedMetadata, Le
from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator, Strict
from pydantic_core import PydanticCustomError

from service_span import EARLIEST, LATEST, day_in_service_span

# The largest id both databases store: PostgreSQL's INTEGER keys end at 2**31 - 1 (SQLite's
# at 2**63 - 1), so one bound answers the same on both.
MAX_DB_INT = 2**31 - 1
# Paging further than this is a client bug, not a query; it keeps OFFSET arithmetic small.
MAX_OFFSET = 10_000_000


def _not_a_boolean(value: object) -> object:
    """``true``/``false`` are not numbers: lax parsing would take ``true`` as id (or count) 1."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "int_type",
            "Input should be a valid integer such as 12, not {value}",
            {"value": "true" if value else "false"},
        )
    return value


@dataclass(frozen=True, slots=True)
class JsonInt(GroupedMetadata):
    """An integer in a JSON body, from ``ge`` to ``le``: ``Annotated[int, JsonInt(0, 20)]``.

    A JSON body carries numbers as numbers, so only a JSON integer is taken: not "12", 12.0,
    or ``true`` (which lax parsing reads as 1: a resident filed under household 1). The
    bounds come before the boolean check so that ``X | None`` still documents them as
    minimum/maximum in the OpenAPI schema.
    """

    ge: int
    le: int

    def __iter__(self) -> Iterator[object]:
        yield Strict()
        yield Ge(self.ge)
        yield Le(self.le)
        yield BeforeValidator(_not_a_boolean)


# Query and path parameters arrive as text, so they are parsed ("12" is 12).
PathId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_DB_INT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
BodyId = Annotated[int, JsonInt(1, MAX_DB_INT)]


def in_service_span(value: datetime) -> datetime:
    """A time with a zone, between 2000 and 2100."""
    if value.tzinfo is None:
        raise ValueError("a time needs a zone, e.g. 2026-05-01T09:00+08:00")
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{value.isoformat()} is outside 2000-2100")
    return value


def _optional_day(value: date | None) -> date | None:
    return None if value is None else day_in_service_span(value)


def _iso_only(value: object) -> object:
    """Refuse bare numbers, as JSON numbers or digit strings: pydantic would read them as
    seconds since 1970 (or a date as 20261129 seconds), with no zone anyone chose."""
    if isinstance(value, bool | int | float) or (
        isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()
    ):
        raise ValueError("give an ISO 8601 time with a zone, e.g. 2026-05-01T09:00+08:00")
    return value


def _day_only(value: object) -> object:
    """An empty form field means "no filter" (a date input left blank sends ``since=``)."""
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, bool | int | float) or (isinstance(value, str) and value.isdigit()):
        raise ValueError("give a date as YYYY-MM-DD, e.g. 2026-05-01")
    return value


Moment = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(in_service_span)]
Day = Annotated[date | None, BeforeValidator(_day_only), AfterValidator(_optional_day)]


def _clock_only(value: object) -> object:
    """A wall-clock time of day as a time input sends it (07:50, or 07:50:30); an empty field
    means "no time". Not a number: pydantic would read 3600 as seconds after midnight."""
    if isinstance(value, str) and not value.strip():
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
        raise ValueError("give a time of day as HH:MM, e.g. 07:50")
    return value.strip()


Clock = Annotated[time | None, BeforeValidator(_clock_only)]
