"""What a passage's barrier_outcome says, written by the runtime on a real database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.ports import PassageRecord
from controllers.runtime import GateRuntime
from controllers.values import AccessDecision, Credential, Direction, Reason, Sighting, Verdict
from errors import HardwareError
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from models.events import Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle, VisitorPass
from services.passage_journal import FilePassageJournal
from tests.db_outage import DatabaseOutage

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
GATES = {"main-in": GateContext("main-in", Direction.IN, None)}


class OpensAtOnce:
    command_budget_s = 1.0

    async def open(self) -> str:
        return "opening"


def database(database_url: str) -> sessionmaker[Session]:
    engine = create_db_engine(database_url)
    migrate(engine)
    return make_session_factory(engine)


def runtime(sessions: sessionmaker[Session], **kwargs: Any) -> GateRuntime:
    return GateRuntime(
        store=SqlAccessStore(sessions), gates=GATES, barriers={"main-in": OpensAtOnce()},
        policy=AccessPolicy(), bus=EventBus(), clock=lambda: NOW, **kwargs,
    )


def outcome(sessions: sessionmaker[Session], passage_id: int) -> str:
    with sessions() as session:
        passage = session.get(Passage, passage_id)
        assert passage is not None
        return passage.barrier_outcome


def test_a_passage_that_does_not_open_reads_closed_not_pending(database_url: str) -> None:
    """Audit L3: deny and review passages kept 'pending' for good, so the passages a crash
    interrupted (allowed, committed, barrier never answered) could not be picked out."""
    sessions = database(database_url)
    gate = runtime(sessions)
    unknown = Sighting("main-in", NOW, "粤B67890", 0.95)
    result = asyncio.run(gate.handle_sighting(unknown))
    assert result.decision.verdict is Verdict.REVIEW and result.barrier == "closed"
    assert result.passage_id is not None
    assert outcome(sessions, result.passage_id) == "closed"  # what the camera was told


def test_a_journalled_passage_that_does_not_open_is_written_closed(
    database_url: str, tmp_path: Path
) -> None:
    sessions = database(database_url)
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    journal.append(PassageRecord(
        gate_id="main-in", direction=Direction.IN, zone_id=None,
        sighting=Sighting("main-in", NOW, "粤B67890", 0.95),
        decision=AccessDecision(Verdict.DENY, Reason.BLOCKED, flags=("offline",)),
        snapshot_path=None, journal_id="j1",
    ))
    assert asyncio.run(runtime(sessions, journal=journal).replay_journal()) == 1
    with sessions() as session:
        (row,) = session.query(Passage).all()
    assert row.journal_id == "j1" and row.barrier_outcome == "closed"


class CutsTheDatabase:
    """Opens, while the database goes away (between the passage's commit and the answer)."""

    command_budget_s = 5.0

    def __init__(self, cut: Any) -> None:
        self.cut = cut

    async def open(self) -> str:
        await asyncio.to_thread(self.cut)
        return "opening"


FACE = AccessDecision(Verdict.ALLOW, Reason.FACE_RESIDENT, credential=Credential.FACE)


def test_an_outcome_the_database_cannot_take_is_answered_and_written_when_it_is_back(
    outage: DatabaseOutage, tmp_path: Path
) -> None:
    """Audit H3: the passage was committed and the barrier opened, then the outcome write
    raised: the camera got 503 without the passage id (a retrying camera records the car
    twice) and the row read 'pending' for good. Same for the availability read after it."""
    engine = create_db_engine(outage.url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    bus = EventBus()
    gate = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, "A")},
        barriers={"main-in": CutsTheDatabase(lambda: outage.cut(engine))},
        policy=AccessPolicy(), bus=bus, clock=lambda: NOW, journal=journal,
    )

    result = asyncio.run(gate.handle_decision("main-in", FACE))
    assert result.passage_id is not None and result.barrier == "opening"
    assert gate.database_suspect()  # the next car decides offline without waiting on it
    assert journal.backlog().outcomes == {result.passage_id: "opening"}

    outage.restore()
    asyncio.run(gate.replay_journal())
    assert outcome(sessions, result.passage_id) == "opening"
    assert not journal.waiting()
    engine.dispose()


# -- an allowed passage whose barrier did not open is not counted as admitted (audit M1) ---

VISITOR = "浙A3Q776"
RESIDENT = "沪AD12345"


class Relay:
    """A barrier that opens, or (jammed) reports that it did not."""

    command_budget_s = 1.0

    def __init__(self) -> None:
        self.jammed = False

    async def open(self) -> str:
        if self.jammed:
            raise HardwareError("open not confirmed within 2 s")
        return "opening"


@dataclass
class Site:
    sessions: sessionmaker[Session]
    relay: Relay
    gate: GateRuntime
    bus: EventBus

    def car(self, plate: str, gate_id: str = "main-in") -> Any:
        return asyncio.run(self.gate.handle_sighting(Sighting(gate_id, NOW, plate, 0.95)))

    def state(self) -> tuple[int, int, dict[str, datetime]]:
        """(zone A's count, the visitor pass's uses, who is inside since when)."""
        with self.sessions() as session:
            zone = session.get(Zone, "A")
            visitor_pass = session.scalars(select(VisitorPass)).one()
            inside = {p.plate: p.entered_at for p in session.scalars(select(Presence))}
            assert zone is not None
            return zone.occupied, visitor_pass.uses, inside

    def flags(self, passage_id: int) -> list[str]:
        with self.sessions() as session:
            passage = session.get(Passage, passage_id)
            assert passage is not None
            return list(passage.flags)


def site(database_url: str, **kwargs: Any) -> Site:
    sessions = database(database_url)
    with sessions.begin() as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
        household = Household(building="3栋", unit="1201")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=RESIDENT, household_id=household.id))
        session.add(VisitorPass(
            plate=VISITOR, host_household_id=household.id, max_uses=1,
            valid_from=NOW - timedelta(hours=1), valid_to=NOW + timedelta(hours=1),
        ))
    relay = Relay()
    bus = EventBus()
    gate = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, "A"),
               "main-out": GateContext("main-out", Direction.OUT, "A")},
        barriers={"main-in": relay, "main-out": relay},
        policy=AccessPolicy(), bus=bus, clock=lambda: NOW, **kwargs,
    )
    return Site(sessions, relay, gate, bus)


def test_a_visitor_whose_barrier_did_not_open_keeps_the_pass_and_is_let_in_on_retry(
    database_url: str,
) -> None:
    """The pass's single use, the zone count and presence were spent on an entry that never
    happened: the same car trying again was refused (pass used up), or flagged anti_passback."""
    at = site(database_url)
    at.relay.jammed = True
    failed = at.car(VISITOR)
    assert (failed.decision.verdict, failed.barrier) == (Verdict.ALLOW, "fault")
    assert failed.passage_id is not None
    assert at.state() == (0, 0, {})  # nothing of the admission is left
    assert "admission_undone" in at.flags(failed.passage_id)

    at.relay.jammed = False
    again = at.car(VISITOR)
    assert (again.decision.verdict, again.decision.reason) == (Verdict.ALLOW, Reason.VISITOR_PASS)
    assert "anti_passback" not in again.decision.flags
    assert at.state()[:2] == (1, 1) and VISITOR in at.state()[2]


def test_an_exit_whose_barrier_did_not_open_leaves_the_car_inside_as_it_was(
    database_url: str,
) -> None:
    at = site(database_url)
    entered = at.car(RESIDENT)
    assert entered.barrier == "opening"
    count, _, inside = at.state()
    assert count == 1 and RESIDENT in inside

    at.relay.jammed = True
    stuck = at.car(RESIDENT, "main-out")
    assert (stuck.decision.verdict, stuck.barrier) == (Verdict.ALLOW, "fault")
    assert at.state()[0] == 1 and at.state()[2] == inside  # same entry time, still counted

    at.relay.jammed = False
    left = at.car(RESIDENT, "main-out")
    assert left.decision.reason is Reason.EXIT_KNOWN_INSIDE  # not "exit without entry"
    assert at.state()[0] == 0 and at.state()[2] == {}


def test_a_later_open_of_the_same_passage_gives_the_admission_back(database_url: str) -> None:
    """A guard opens for the car whose barrier failed (a gate action naming its passage)."""
    at = site(database_url)
    at.relay.jammed = True
    failed = at.car(VISITOR)
    assert failed.passage_id is not None and at.state() == (0, 0, {})
    at.relay.jammed = False

    async def guard_opens() -> list[dict[str, Any]]:
        async with at.bus.subscribe() as queue:
            assert failed.passage_id is not None
            assert await at.gate.open_barrier("main-in", passage_id=failed.passage_id) == "opening"
            return [queue.get_nowait().data for _ in range(queue.qsize())]

    (update,) = asyncio.run(guard_opens())
    assert update["admission"] == "redone" and "admission_undone" not in update["flags"]
    assert at.state()[:2] == (1, 1) and VISITOR in at.state()[2]
    assert "admission_undone" not in at.flags(failed.passage_id)


def test_a_journalled_passage_whose_barrier_did_not_open_is_written_undone(
    database_url: str, tmp_path: Path
) -> None:
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    at = site(database_url, journal=journal)
    with at.sessions() as session:
        pass_id = session.scalars(select(VisitorPass.id)).one()
    journal.append(PassageRecord(
        gate_id="main-in", direction=Direction.IN, zone_id="A",
        sighting=Sighting("main-in", NOW, VISITOR, 0.95),
        decision=AccessDecision(Verdict.ALLOW, Reason.VISITOR_PASS, Credential.PLATE,
                                flags=("offline",), pass_id=pass_id, count_pass_use=True),
        snapshot_path=None, journal_id="j1",
    ))
    journal.set_outcome("j1", "fault")
    assert asyncio.run(at.gate.replay_journal()) == 1
    with at.sessions() as session:
        (row,) = session.scalars(select(Passage)).all()
    assert row.barrier_outcome == "fault" and "admission_undone" in row.flags
    assert at.state() == (0, 0, {})
