"""A car recorded inside lot A that drives in by a gate of lot B moves to B.

It left A unseen (tailgated out, A's exit camera down) and is now in the other lot (A
underground, B on the surface, each with its own gates). The entry kept it recorded in A and
did not count it in B: A showed a car too many and B one too few until it left. Now the entry
moves its presence row to B, takes it off A as an unseen exit would and counts it into B as
any entry; a barrier that does not open takes both moves back, a guard's open gives them back,
the journal's write-back after an outage does the same, and the day's report lists the entry
under B while A's line comes down with no exit (as a guard's 标记已离场 does). Hard
anti-passback refuses it as it refuses a car recorded inside its own lot. On a real database.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction, Sighting
from models.access_store import SqlAccessStore
from models.db import transaction
from models.events import Alarm, Passage
from models.site import OccupancySample, Zone
from models.vehicles import Presence
from services.cars_inside import recorded_per_zone
from services.reports import occupancy_day
from tests.test_report_zone_moved import LATER, per_zone
from tests.test_zone_exit_counting import (
    GATES,
    IN_A,
    IN_B,
    Barrier,
    at,
    counts,
    runtime_for,
    site,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 28)
NOON = datetime(2026, 11, 28, 12, tzinfo=SHANGHAI)


def recorded(sessions: sessionmaker[Session], plate: str) -> tuple[str | None, int | None]:
    """Where the car is recorded inside: (zone, the passage that put it there)."""
    with sessions() as session:
        row = session.get(Presence, plate)
        return (row.zone_id, row.passage_id) if row is not None else (None, None)


def alarm_kinds(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Alarm.kind)))


def test_an_entry_by_the_other_lot_s_gate_moves_the_car_and_both_counts(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions, IN_A, IN_B)
    runtime = runtime_for(sessions)

    async def scenario() -> list[Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        first = await at(runtime, "a-in", IN_A)
        await at(runtime, "b-in", IN_B)
        async with runtime._bus.subscribe() as events:
            moved = await at(runtime, "b-in", IN_A)  # left A unseen, now drives into B
            published = [events.get_nowait() for _ in range(events.qsize())]
        seen = [counts(sessions), recorded(sessions, IN_A)]
        await at(runtime, "a-out", IN_A)  # leaves by A's exit: comes off B, which counts it
        seen.append(counts(sessions))
        boards = [e.data for e in published if e.type == "availability"]
        return [first.passage_id, moved, boards, *seen]

    first_id, moved, boards, after, where, left = asyncio.run(scenario())
    assert "anti_passback" in moved.decision.flags  # soft: let in and flagged, as before
    assert after == (0, 2)
    assert where == ("B", moved.passage_id)
    assert left == (0, 1)
    # Boards and the city feed hear of both lots at once.
    assert [{z["id"]: z["occupied"] for z in view["zones"]} for view in boards] == [
        {"A": 0, "B": 2}
    ]
    with sessions() as session:
        passage = session.get(Passage, moved.passage_id)
        assert passage is not None and passage.admission is not None
        admission = passage.admission
    # The entry records both moves, so an undo or redo reverses exactly them.
    assert (admission["presence"], admission["zone_id"], admission["zone_moved"]) == (
        "moved", "B", 1)
    assert (admission["left_zone_id"], admission["left_zone_moved"]) == ("A", -1)
    assert admission["left_row"]["passage_id"] == first_id
    assert admission["row"]["passage_id"] == moved.passage_id
    assert not alarm_kinds(sessions)


def test_an_entry_again_by_a_gate_of_the_lot_the_car_is_in_still_counts_nothing(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions, IN_A)
    runtime = runtime_for(sessions)

    async def scenario() -> tuple[int, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        first = await at(runtime, "a-in", IN_A)
        again = await at(runtime, "a-in", IN_A)
        assert "anti_passback" in again.decision.flags
        return first.passage_id, again

    first_id, again = asyncio.run(scenario())
    assert counts(sessions) == (1, 0)
    assert recorded(sessions, IN_A) == ("A", first_id)
    with sessions() as session:
        passage = session.get(Passage, again.passage_id)
        assert passage is not None and not (passage.admission or {}).get("zone_moved")


def test_a_car_from_a_retired_lot_or_into_a_full_one_moves_as_an_exit_and_an_entry_would(
    sessions: sessionmaker[Session],
) -> None:
    """A retired zone counts nothing; B at capacity lets the resident in (residents_when_full)
    and holds at capacity with the entry's alarm, as any entry there."""
    site(sessions, IN_A, IN_B)
    runtime = runtime_for(sessions)

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        await at(runtime, "a-in", IN_B)
        with transaction(sessions) as session:
            b = session.get(Zone, "B")
            assert b is not None
            b.capacity, b.occupied = 1, 1
        await at(runtime, "b-in", IN_A)
        assert counts(sessions) == (1, 1)  # A down one; B held at its capacity
        assert recorded(sessions, IN_A)[0] == "B"
        with transaction(sessions) as session:
            a = session.get(Zone, "A")
            assert a is not None
            a.retired_at, a.occupied = datetime.now(UTC), 0
            b = session.get(Zone, "B")
            assert b is not None
            b.capacity = 40
        await at(runtime, "b-in", IN_B)

    asyncio.run(scenario())
    assert counts(sessions) == (0, 2)
    assert recorded(sessions, IN_B)[0] == "B"
    assert alarm_kinds(sessions) == ["occupancy_over_capacity"]


def test_a_failed_barrier_takes_both_moves_back_and_the_guard_s_open_gives_them_back(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions, IN_A)
    barrier = Barrier()
    runtime = runtime_for(sessions, barriers={"b-in": barrier})

    async def scenario() -> list[Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        first = await at(runtime, "a-in", IN_A)
        barrier.jammed = True
        result = await at(runtime, "b-in", IN_A)
        assert result.barrier == "fault"
        seen: list[Any] = [counts(sessions), recorded(sessions, IN_A) == ("A", first.passage_id)]
        barrier.jammed = False
        await runtime.open_barrier_for("b-in", passage_id=result.passage_id)
        seen += [counts(sessions), recorded(sessions, IN_A) == ("B", result.passage_id)]
        return seen

    assert asyncio.run(scenario()) == [(1, 0), True, (0, 1), True]
    assert alarm_kinds(sessions) == ["hardware_fault"]  # no count clamped on the way


def test_hard_anti_passback_refuses_the_car_whichever_lot_it_is_recorded_in(
    sessions: sessionmaker[Session],
) -> None:
    """Hard: the machine lets in no car recorded inside; the guard is alarmed and decides
    (标记已离场 on 场内车辆, then the car's next try is an ordinary entry)."""
    site(sessions, IN_A)
    runtime = runtime_for(sessions)
    runtime._policy = replace(AccessPolicy(), anti_passback="hard")

    async def scenario() -> list[str]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        verdicts = []
        for gate in ("b-in", "a-in"):
            result = await runtime.handle_sighting(
                Sighting(gate, datetime.now(UTC), IN_A, 0.97))
            verdicts.append(f"{result.decision.verdict.value}:{result.decision.reason.value}")
        return verdicts

    assert asyncio.run(scenario()) == ["deny:anti_passback"] * 2
    assert counts(sessions) == (1, 0)
    assert recorded(sessions, IN_A)[0] == "A"
    assert alarm_kinds(sessions) == ["anti_passback"] * 2  # one per gate


def test_entries_decided_during_an_outage_move_the_car_when_written_back(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    site(sessions, IN_A, IN_B)
    runtime = runtime_for(sessions, folder=tmp_path)

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)  # recorded inside A before the outage
        await runtime.refresh_offline()
        runtime.mark_database_unavailable()
        moved = await at(runtime, "b-in", IN_A)
        assert moved.journal_id and "anti_passback" in moved.decision.flags
        assert (await at(runtime, "a-in", IN_B)).journal_id  # enters A and B offline
        assert (await at(runtime, "b-in", IN_B)).journal_id
        assert counts(sessions) == (1, 0)
        assert await runtime.replay_journal() == 3

    asyncio.run(scenario())
    assert counts(sessions) == (0, 2)  # as online: both cars in B
    assert recorded(sessions, IN_A)[0] == recorded(sessions, IN_B)[0] == "B"
    assert alarm_kinds(sessions) == ["database_outage"]  # no count clamped on the way


def test_the_day_s_report_lists_the_entry_under_b_and_a_s_line_falls_with_no_exit(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions, IN_A, IN_B)
    runtime = runtime_for(sessions)

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        await at(runtime, "b-in", IN_B)
        await at(runtime, "b-in", IN_A)  # left A unseen
        await at(runtime, "b-out", IN_B)

    asyncio.run(scenario())
    with transaction(sessions) as session:  # onto noon of DAY, in order
        rows: list[Passage | OccupancySample] = [
            *session.scalars(select(Passage)), *session.scalars(select(OccupancySample))
        ]
        first = min(row.at for row in rows)
        for row in rows:
            row.at = NOON + (row.at - first)
    with sessions() as session:
        report = occupancy_day(session, DAY, SHANGHAI, now=LATER)
    zones = per_zone(report)
    # (entries, exits, start, end): B's entries less exits are what its line rose by; A's
    # line came down with no exit, as a guard's 标记已离场 moves it.
    assert zones == {"A": (1, 0, 0, 0), "B": (2, 1, 0, 1)}
    entries, exits, start, end = zones["B"]
    assert entries - exits == end - start


def test_a_guard_s_open_after_the_car_was_marked_left_puts_it_in_b_only(
    sessions: sessionmaker[Session],
) -> None:
    """Its barrier failed, so the car stayed recorded in A; a guard marked it left there (A
    down one), then opened B's barrier naming the entry: B counts it, A is not taken off
    twice."""
    site(sessions, IN_A)
    barrier = Barrier()
    runtime = runtime_for(sessions, barriers={"b-in": barrier})

    async def scenario() -> int:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        barrier.jammed = True
        result = await at(runtime, "b-in", IN_A)
        with SqlAccessStore(sessions).unit() as unit:
            assert unit.mark_left(IN_A, None) is not None
        assert counts(sessions) == (0, 0)
        barrier.jammed = False
        await runtime.open_barrier_for("b-in", passage_id=result.passage_id)
        return int(result.passage_id)

    passage_id = asyncio.run(scenario())
    assert counts(sessions) == (0, 1)
    assert recorded(sessions, IN_A) == ("B", passage_id)
    assert "occupancy_below_zero" not in alarm_kinds(sessions)


# The community's main entrance, configured with no zone: it counts the car in no lot, and
# its presence row has no zone (_entered takes the gate's).
MAIN_IN = GateContext("main-in", Direction.IN, None)


def test_a_car_recorded_inside_in_no_lot_takes_the_lot_whose_gate_it_enters_by(
    sessions: sessionmaker[Session],
) -> None:
    """In by the main entrance (a row with no zone, no lot counting it), then by B's gate: it
    is in B now. B counts it, nothing comes off (no lot had counted it), 场内车辆 lists it
    under B; a failed barrier puts it back in no lot uncounted, a guard's open into B again,
    and its exit by A's gate takes it off B. It stayed recorded in no lot with B one short,
    and its exit took one off B that B had never counted."""
    site(sessions, IN_A)
    barrier = Barrier()
    runtime = GateRuntime(store=SqlAccessStore(sessions), gates={**GATES, "main-in": MAIN_IN},
                          barriers={"b-in": barrier}, policy=AccessPolicy(), bus=EventBus())

    async def scenario() -> list[Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        first = await at(runtime, "main-in", IN_A)
        seen: list[Any] = [counts(sessions), recorded(sessions, IN_A) == (None, first.passage_id)]
        barrier.jammed = True
        tried = await at(runtime, "b-in", IN_A)
        assert tried.barrier == "fault"
        seen += [counts(sessions), recorded(sessions, IN_A) == (None, first.passage_id)]
        barrier.jammed = False
        await runtime.open_barrier_for("b-in", passage_id=tried.passage_id)
        seen += [counts(sessions), recorded(sessions, IN_A) == ("B", tried.passage_id)]
        with sessions() as session:
            seen.append(recorded_per_zone(session))
        await at(runtime, "a-out", IN_A)
        seen.append(counts(sessions))
        return seen

    assert asyncio.run(scenario()) == [
        (0, 0), True, (0, 0), True, (0, 1), True, {"B": 1}, (0, 0)
    ]
    assert alarm_kinds(sessions) == ["hardware_fault"]  # no count clamped on the way


def test_a_car_recorded_in_no_lot_leaving_by_a_lot_s_exit_takes_nothing_that_lot_counted(
    sessions: sessionmaker[Session],
) -> None:
    """In by the main entrance (counted in no lot), out by A's exit: A never counted it, so
    it comes off A only as a car not recorded inside does, when A holds more cars than are
    recorded in it. It took one off A, which then fell below the car A did record, whose exit
    met 0 with occupancy_below_zero."""
    site(sessions, IN_A, IN_B)
    runtime = GateRuntime(store=SqlAccessStore(sessions), gates={**GATES, "main-in": MAIN_IN},
                          barriers={}, policy=AccessPolicy(), bus=EventBus())

    async def scenario() -> list[Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_B)  # the car A counts and records
        await at(runtime, "main-in", IN_A)
        seen: list[Any] = [counts(sessions)]
        await at(runtime, "a-out", IN_A)
        seen += [counts(sessions), recorded(sessions, IN_A)]
        await at(runtime, "a-out", IN_B)
        seen.append(counts(sessions))
        return seen

    assert asyncio.run(scenario()) == [(1, 0), (1, 0), (None, None), (0, 0)]
    assert alarm_kinds(sessions) == []
