"""The span of times parkgate takes from a person: 2000 up to 2100.

A time outside it is a typing mistake (a pass "until 9999"), not a plan, and a day at the
calendar's edge (9999-12-31) would overflow where its next midnight is computed. The API's
parameters (api/params.py) and the command line (``report occupancy --date``) refuse the same.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def day_in_service_span(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"{value.isoformat()} is outside 2000-2100")
    return value
