"""The zones' counts the boards and the city feed are left with are the newest, however the
reads after two passages finish (controllers/zone_counts_feed.py), on a real database."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import Event, EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction, Sighting
from controllers.zone_counts_feed import ZoneCountsFeed
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from models.people import Household
from models.site import Zone
from models.vehicles import Vehicle

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
FIRST, SECOND = "沪AD12345", "闽A12345"


class OpensAtOnce:
    command_budget_s = 1.0

    async def open(self) -> str:
        return "opening"


class SlowFirstRead(SqlAccessStore):
    """The first counts read after a passage takes its figures, then is held (a busy worker
    thread) until a later read has returned."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.reads = 0
        self.first_read = threading.Event()
        self.later_read_returned = threading.Event()

    def availability_view(self) -> dict[str, Any]:
        self.reads += 1
        view = super().availability_view()
        if self.reads == 1:
            self.first_read.set()
            assert self.later_read_returned.wait(10)
        else:
            self.later_read_returned.set()
        return view


def occupied(event: Event) -> int:
    (zone,) = event.data["zones"]
    return int(zone["occupied"])


def test_the_boards_are_left_with_the_newest_count_when_reads_finish_out_of_order(
    database_url: str,
) -> None:
    """Two residents at the two entrances of one zone: the first passage's read of the
    counts finished after the second's, and its older figure (1 car) went out last; the
    retained city topic and the boards said 9 free of 10 until the next car, with 8 free."""
    engine = create_db_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
        for plate, flat in ((FIRST, "1201"), (SECOND, "1202")):
            household = Household(building="3栋", unit=flat)
            session.add(household)
            session.flush()
            session.add(Vehicle(plate=plate, household_id=household.id))
    store = SlowFirstRead(sessions)
    bus = EventBus()
    gate = GateRuntime(
        store=store,
        gates={"main-in": GateContext("main-in", Direction.IN, "A"),
               "east-in": GateContext("east-in", Direction.IN, "A")},
        barriers={"main-in": OpensAtOnce(), "east-in": OpensAtOnce()},
        policy=AccessPolicy(), bus=bus,
        clock=lambda: NOW,
    )
    published: list[Event] = []

    async def two_cars() -> None:
        bus.bind(asyncio.get_running_loop())
        with bus.listening(lambda e: published.append(e) if e.type == "availability" else None):
            first = asyncio.create_task(gate.handle_sighting(Sighting("main-in", NOW, FIRST, 0.95)))
            while not store.first_read.is_set():
                await asyncio.sleep(0.01)
            await gate.handle_sighting(Sighting("east-in", NOW, SECOND, 0.95))
            await first
            await asyncio.sleep(0.05)  # what worker threads handed the loop is delivered

    asyncio.run(two_cars())
    engine.dispose()
    assert store.reads == 2
    assert published, "no counts published"
    assert occupied(published[-1]) == 2
    assert [occupied(e) for e in published] == [2]  # the older read is not sent at all


def test_counts_read_one_after_the_other_are_all_published() -> None:
    bus = EventBus()
    figures = iter([{"zones": [{"occupied": n}]} for n in (1, 2, 3)])
    feed = ZoneCountsFeed(lambda: next(figures), bus)
    published: list[Event] = []
    with bus.listening(published.append):
        assert feed.publish_now() and feed.publish_now() and feed.publish_now()
    assert [occupied(e) for e in published] == [1, 2, 3]


def test_a_failed_read_publishes_nothing_and_the_next_read_goes_out() -> None:
    """While the database is down the read raises; the caller logs it, and the boards keep
    the last count until the next read, which is not taken for an older one."""
    bus = EventBus()
    answers: list[Any] = [RuntimeError("database down"), {"zones": [{"occupied": 4}]}]

    def read() -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    feed = ZoneCountsFeed(read, bus)
    published: list[Event] = []
    with bus.listening(published.append):
        with pytest.raises(RuntimeError):
            feed.publish_now()
        assert feed.publish_now()
    assert [occupied(e) for e in published] == [4]
