"""One record the database refuses never fails the car at the gate, and is never lost.

A gate writes the offline journal back before it decides its own car, so a journalled entry
that raised for a reason other than an outage (the household deleted since the snapshot was
one: tests/models/test_journal_dangling_ids.py) stopped the write-back at itself on every
retry, and every later car at every gate got an error with it. Here the real database refuses
one plate's passage row (a trigger, as a constraint added later would), during an outage's
write-back and for a car recorded online; the barrier is the simulated driver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import Event
from controllers.runtime import GateRuntime, PassageResult
from controllers.values import Sighting, Verdict
from hardware.simulated import SimulatedBarrier
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.events import Alarm, Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle
from services.passage_journal import FilePassageJournal
from tests.db_outage import DatabaseOutage
from tests.journal_runtime import journalled_runtime, quick_barrier

RESIDENT = "闽A10001"
REFUSED = "闽A20002"  # a resident too: let in offline, then refused by the database
STRANGER = "粤B30003"
OPENED = ("opening", "open")
SET_ASIDE = "journal_entry_set_aside"


def refuse_passages_of(engine: Engine, plate: str) -> None:
    """The database refuses this plate's passage rows, as a constraint violation."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_passage() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'passage refused' USING ERRCODE = 'check_violation'; "
                "END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_passage BEFORE INSERT ON passages FOR EACH ROW "
                f"WHEN (NEW.plate = '{plate}') EXECUTE FUNCTION refuse_passage()"
            )
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_passage BEFORE INSERT ON passages "
                f"WHEN NEW.plate = '{plate}' BEGIN SELECT RAISE(ABORT, 'passage refused'); END"
            )


def accept_passages_again(engine: Engine) -> None:
    with engine.begin() as connection:
        on = " ON passages" if engine.dialect.name == "postgresql" else ""
        connection.exec_driver_sql(f"DROP TRIGGER refuse_passage{on}")


def fast_barrier() -> SimulatedBarrier:
    return quick_barrier(command_timeout_s=0.2)


@pytest.fixture
def outage(database_url: str) -> Iterator[DatabaseOutage]:
    cut = DatabaseOutage(database_url)
    yield cut
    cut.close()


@pytest.fixture
def engine(outage: DatabaseOutage) -> Iterator[Engine]:
    """Zone A, and two residents' cars in two households."""
    engine = create_db_engine(outage.url)
    migrate(engine)
    with transaction(make_session_factory(engine)) as session:
        session.add(Zone(id="A", name="A", capacity=40, occupied=0))
        for number, plate in enumerate((RESIDENT, REFUSED), 1):
            household = Household(building="3", unit=f"10{number}", spaces=1)
            session.add(household)
            session.flush()
            session.add(Vehicle(plate=plate, household_id=household.id))
    yield engine
    engine.dispose()


async def car(runtime: GateRuntime, plate: str) -> PassageResult:
    return await runtime.handle_sighting(Sighting("main-in", datetime.now(UTC), plate, 0.97))


def passages(sessions: sessionmaker[Session]) -> list[tuple[str | None, bool, str]]:
    """(plate, written from the journal, barrier outcome) of every row, in order."""
    with sessions() as session:
        rows = session.execute(
            select(Passage.plate, Passage.journal_id, Passage.barrier_outcome)
            .order_by(Passage.id)
        ).all()
    return [(plate, journal_id is not None, outcome) for plate, journal_id, outcome in rows]


def set_aside_alarms(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Alarm.message).where(Alarm.kind == SET_ASIDE)))


def tracebacks(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and text in r.getMessage()]


async def drain(queue: asyncio.Queue[Event]) -> list[Event]:
    await asyncio.sleep(0.05)  # what worker threads published reaches the loop
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


def test_an_entry_the_database_refuses_is_set_aside_and_the_next_car_opens_and_is_recorded(
    engine: Engine, outage: DatabaseOutage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = make_session_factory(engine)
    refuse_passages_of(engine, REFUSED)
    barrier = fast_barrier()
    runtime = journalled_runtime(
        sessions, tmp_path, barriers={"main-in": barrier}, retry_after_s=0.01
    )
    journal = FilePassageJournal(tmp_path / "journal" / "passages.jsonl")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await barrier.start()
        try:
            await runtime.refresh_offline()
            outage.cut(engine)
            seen["refused"] = await car(runtime, REFUSED)  # offline: the barrier opens
            seen["stranger"] = await car(runtime, STRANGER)  # journalled behind it
            outage.restore()
            await asyncio.sleep(0.05)  # past the retry window
            async with runtime._bus.subscribe() as events:
                seen["resident"] = await car(runtime, RESIDENT)  # writes the journal first
                seen["events"] = await drain(events)
            seen["next"] = await car(runtime, STRANGER)  # nothing is tried again
        finally:
            await barrier.stop()

    with caplog.at_level(logging.ERROR, logger="controllers.runtime"):
        asyncio.run(scenario())

    refused, resident = seen["refused"], seen["resident"]
    assert refused.decision.verdict is Verdict.ALLOW and refused.barrier in OPENED
    # The car behind the refused entry is decided online, opens and is recorded.
    assert resident.passage_id is not None and resident.decision.verdict is Verdict.ALLOW
    assert "offline" not in resident.decision.flags and resident.barrier in OPENED
    assert seen["next"].passage_id is not None
    assert passages(sessions) == [
        (STRANGER, True, "closed"), (RESIDENT, False, resident.barrier),
        (STRANGER, False, "closed"),
    ]
    # The refused entry is kept on disk with its barrier outcome, out of the journal's way.
    assert not runtime.journal_waiting()
    (kept,) = FilePassageJournal(journal.set_aside_path).pending()
    assert kept.record.journal_id == refused.journal_id
    assert kept.record.sighting.plate == REFUSED and kept.barrier_outcome == refused.barrier
    assert "passage refused" in journal.set_aside_path.read_text(encoding="utf-8")
    # The guards are told where it is, once; its traceback is logged once.
    (message,) = set_aside_alarms(sessions)
    assert REFUSED in message and str(journal.set_aside_path) in message
    published = [e.data for e in seen["events"] if e.type == "alarm"]
    assert [a["message"] for a in published if a["kind"] == SET_ASIDE] == [message]
    assert len(tracebacks(caplog, str(refused.journal_id))) == 1

    # Once the cause is fixed, the operator feeds the file back (controller stopped) and the
    # passage is written as it happened: nothing was lost.
    accept_passages_again(engine)
    journal.set_aside_path.rename(journal.path)
    restarted = journalled_runtime(sessions, tmp_path)
    assert asyncio.run(restarted.replay_journal()) == 1
    assert (REFUSED, True, refused.barrier) in passages(sessions)
    with sessions() as session:
        assert session.get(Presence, REFUSED) is not None


def test_a_car_whose_own_passage_is_refused_is_decided_offline_and_kept(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a journal entry this time: the live car's own row. It is not left at a closed
    barrier with an error: it is decided from the snapshot and journalled, without sending
    the other cars offline, and set aside when the write-back finds it refused again."""
    sessions = make_session_factory(engine)
    refuse_passages_of(engine, REFUSED)
    barrier = fast_barrier()
    runtime = journalled_runtime(sessions, tmp_path, barriers={"main-in": barrier})
    journal = FilePassageJournal(tmp_path / "journal" / "passages.jsonl")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await barrier.start()
        try:
            await runtime.refresh_offline()
            seen["refused"] = await car(runtime, REFUSED)
            seen["suspect"] = runtime.database_suspect()
            seen["resident"] = await car(runtime, RESIDENT)
        finally:
            await barrier.stop()

    with caplog.at_level(logging.ERROR, logger="controllers.runtime"):
        asyncio.run(scenario())

    refused, resident = seen["refused"], seen["resident"]
    assert refused.decision.verdict is Verdict.ALLOW and "offline" in refused.decision.flags
    assert refused.barrier in OPENED and refused.journal_id is not None
    assert not seen["suspect"]  # the database still serves everyone else
    assert resident.passage_id is not None and "offline" not in resident.decision.flags
    assert passages(sessions) == [(RESIDENT, False, resident.barrier)]
    (kept,) = FilePassageJournal(journal.set_aside_path).pending()
    assert kept.record.journal_id == refused.journal_id
    assert kept.barrier_outcome == refused.barrier
    (message,) = set_aside_alarms(sessions)
    assert REFUSED in message
    assert tracebacks(caplog, "refused by the database")


def test_a_write_back_that_fails_as_a_whole_does_not_fail_the_car_and_loses_nothing(
    engine: Engine, outage: DatabaseOutage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not one entry: the journal file itself cannot be read (a byte damaged on its disk
    makes it undecodable). The cars are decided as usual, the traceback is logged once, and
    the entries stay in the journal; once the damage is repaired they are written."""
    sessions = make_session_factory(engine)
    runtime = journalled_runtime(sessions, tmp_path, retry_after_s=0.01)
    journal = FilePassageJournal(tmp_path / "journal" / "passages.jsonl")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await runtime.refresh_offline()
        outage.cut(engine)
        seen["offline"] = await car(runtime, STRANGER)
        outage.restore()
        await asyncio.sleep(0.05)
        intact = journal.path.read_bytes()
        journal.path.write_bytes(intact + b"\xff\n")
        seen["cars"] = [await car(runtime, RESIDENT), await car(runtime, "粤B40004")]
        seen["waiting"] = len(journal.path.read_bytes().splitlines())
        journal.path.write_bytes(intact)  # repaired
        seen["written"] = await runtime.replay_journal()

    with caplog.at_level(logging.ERROR, logger="controllers.runtime"):
        asyncio.run(scenario())

    assert all(c.passage_id is not None for c in seen["cars"])
    assert seen["waiting"] == 2  # the entry and the damaged line, untouched
    assert seen["written"] == 1 and not runtime.journal_waiting()
    assert passages(sessions) == [
        (RESIDENT, False, "no_barrier"), ("粤B40004", False, "closed"), (STRANGER, True, "closed")
    ]
    assert len(tracebacks(caplog, "writing the passage journal back failed")) == 1
