"""The occupancy report lists each entry and exit under the zone it moved, so that a zone's
entries less its exits are what its line rose or fell by over the day.

A car's exit comes off the zone that counted it in, whichever gate it leaves by (cbc1b84):
the reports listed it under the exit gate's zone, so a car from lot A leaving by lot B's exit
was an exit in B's row while A's line came down, and one leaving by a main exit with no zone
was in no row and in no day's total. Passages that moved no zone, and rows stored before the
moved zone was recorded, are listed under their gate's zone as before; past retention a
passage keeps the zone it moved, so an old day's report does not change.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.ports import ADMISSION_UNDONE
from models.access_store import SqlAccessStore
from models.db import transaction
from models.events import Passage
from models.site import OccupancySample, Zone
from services.day_summary import day_summary
from services.passage_retention import forget_old_passages
from services.reports import OccupancyDay, csv_rows, occupancy_day
from tests.test_zone_exit_counting import IN_A, IN_B, OUT_B, at, runtime_for, site

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 28)
NOON = datetime(2026, 11, 28, 12, tzinfo=SHANGHAI)
LATER = datetime(2026, 12, 20, tzinfo=UTC)  # the day is over: whole


def per_zone(report: OccupancyDay) -> dict[str, tuple[int, int, int, int]]:
    """Zone -> (entries, exits, count at the day's start, at its end)."""
    out = {}
    for zone in report.zones:
        hours = zone.hourly(report.start)
        out[zone.zone] = (sum(zone.entries), sum(zone.exits), hours[0][0], hours[-1][1])
    return out


def onto_the_day(sessions: sessionmaker[Session]) -> None:
    """What the gates just wrote, moved to noon of DAY in order (the test runs at any hour)."""
    with transaction(sessions) as session:
        rows: list[Passage | OccupancySample] = [
            *session.scalars(select(Passage)), *session.scalars(select(OccupancySample))
        ]
        first = min(row.at for row in rows)
        for row in rows:
            row.at = NOON + (row.at - first)


def test_each_zone_s_entries_less_its_exits_are_what_its_line_moved_by(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions, IN_A, IN_B, OUT_B, b_counted=1)  # B counts a car from before parkgate
    runtime = runtime_for(sessions)

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        await at(runtime, "b-in", IN_B)
        await at(runtime, "b-out", IN_A)  # entered A, leaves by B's exit
        await at(runtime, "main-out", IN_B)  # B's car by the main exit, which has no zone
        await at(runtime, "b-out", OUT_B)  # the car from before parkgate: off B's count
        await at(runtime, "a-in", IN_A)  # back again, stays in A

    asyncio.run(scenario())
    onto_the_day(sessions)
    with transaction(sessions) as session:  # B's count from before parkgate, as an admin set it
        session.add(OccupancySample(at=NOON - timedelta(days=3), zone_id="B", occupied=1,
                                    capacity=40))

    with sessions() as session:
        report = occupancy_day(session, DAY, SHANGHAI, now=LATER)
        summary = day_summary(session, report)
    zones = per_zone(report)
    assert zones == {"A": (2, 1, 0, 1), "B": (1, 2, 1, 0)}
    for entries, exits, start, end in zones.values():
        assert entries - exits == end - start
    # The day's figures count the exit by the main exit too, as the zones' rows do.
    assert (summary.entries, summary.exits) == (3, 3)
    noon = {row[2]: row[7:] for row in csv_rows(report) if row[1] == "12:00"}
    assert noon == {"A": [2, 1], "B": [1, 2]}


def old_day(sessions: sessionmaker[Session]) -> None:
    """One passage of each kind on DAY, as the database holds them (the last two before the
    moved zone was recorded, or moving none); lots A and B, B's exit and a main exit."""
    moved_a = {"plate": IN_A, "presence": "removed", "zone_id": "A", "zone_moved": -1}

    def passage(gate: str, zone: str | None, direction: str, **extra: Any) -> Passage:
        return Passage(at=NOON, gate_id=gate, direction=direction, zone_id=zone, plate=IN_A,
                       decision=extra.pop("decision", "allow"), reason="resident", **extra)

    with transaction(sessions) as session:
        session.add_all([
            Zone(id="A", name="A区", capacity=40), Zone(id="B", name="B区", capacity=40),
            # Moved A: A's exit, by whichever gate.
            passage("b-out", "B", "out", admission=moved_a),
            passage("main-out", None, "out", admission=moved_a),
            # Moved none: its gate's zone, or none.
            passage("b-out", "B", "out"),  # a car not recorded inside, not taken off
            passage("b-out", "B", "out", admission={**moved_a, "zone_moved": 0}),  # A at 0
            passage("b-in", "B", "in", admission={"plate": IN_A, "zone_id": "B"}),  # inside
            passage("main-out", None, "out"),
            # Before cbc1b84: the gate's zone, which it moved then.
            passage("b-out", "B", "out", admission={"plate": IN_A, "zone_id": "B",
                                                      "zone_moved": -1}),
            # Not counted anywhere: refused, or let through by a barrier that did not open.
            passage("b-in", "B", "in", decision="deny"),
            passage("main-out", None, "out", admission=moved_a, flags=[ADMISSION_UNDONE]),
        ])


def test_passages_that_moved_no_zone_and_older_rows_are_listed_by_their_gate_as_before(
    sessions: sessionmaker[Session],
) -> None:
    old_day(sessions)
    with sessions() as session:
        report = occupancy_day(session, DAY, SHANGHAI, now=LATER)
        summary = day_summary(session, report)
    assert {z: counts[:2] for z, counts in per_zone(report).items()} == {
        "A": (0, 2), "B": (1, 3)
    }
    assert (summary.entries, summary.exits) == (1, 5)


def test_past_retention_a_passage_keeps_the_zone_it_moved_and_the_day_counts_as_before(
    sessions: sessionmaker[Session],
) -> None:
    old_day(sessions)

    def figures() -> tuple[Any, ...]:
        with sessions() as session:
            report = occupancy_day(session, DAY, SHANGHAI, now=LATER)
            summary = day_summary(session, report)
        return per_zone(report), summary.entries, summary.exits

    before = figures()
    forgotten = forget_old_passages(sessions, 365, now=datetime(2028, 1, 1, tzinfo=UTC))
    assert forgotten.passages == 9
    with sessions() as session:
        kept = {p.id: p.admission for p in session.scalars(select(Passage))}
    # The zone and how far it moved name no one; the plate and presence row are gone.
    assert {str(a) for a in kept.values()} == {
        "None", "{'zone_id': 'A', 'zone_moved': -1}", "{'zone_id': 'B', 'zone_moved': -1}"
    }
    assert figures() == before
    # What is kept is for the reports: a faulted open naming such a passage takes nothing back.
    store = SqlAccessStore(sessions)
    for passage_id, admission in kept.items():
        if admission is not None:
            with store.unit() as unit:
                assert not unit.undo_admission(passage_id)
    with sessions() as session:
        assert {z.id: z.occupied for z in session.scalars(select(Zone))} == {"A": 0, "B": 0}
