"""HoldKeeper: holds reach the store off the callers' threads, survive an outage, and the last
state is written on stop. The SQL store itself runs in tests/api/test_parking_holds.py."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from controllers.guidance import Hold
from errors import StoreUnavailableError
from services.guidance_holds import HoldKeeper

LATER = datetime.now(UTC) + timedelta(minutes=3)


class FlakyStore:
    """An in-memory HoldStore whose database can be cut."""

    def __init__(self) -> None:
        self.rows: list[Hold] = []
        self.down = False
        self.writes = 0
        self.gate = threading.Event()
        self.gate.set()

    def load(self) -> list[Hold]:
        if self.down:
            raise StoreUnavailableError("database unavailable: cut by the test")
        return list(self.rows)

    def replace(self, holds: Sequence[Hold]) -> None:
        self.gate.wait(5)
        if self.down:
            raise StoreUnavailableError("database unavailable: cut by the test")
        self.writes += 1
        self.rows = list(holds)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_changes_are_written_by_the_writer_and_the_last_state_on_stop() -> None:
    store, book = FlakyStore(), [Hold("A-001", "闽A12345", LATER)]
    keeper = HoldKeeper(store, lambda: tuple(book), retry_s=0.05)
    keeper.start()
    keeper.changed()
    wait_until(lambda: store.rows == book, "the first write")
    store.gate.clear()  # the database is slow: changes meanwhile are one more write, not many
    book.append(Hold("A-002", "闽B54321", LATER))
    for _ in range(20):
        keeper.changed()
    store.gate.set()
    wait_until(lambda: store.rows == book and not keeper.unsaved(), "the coalesced write")
    assert store.writes <= 3
    book.pop(0)
    keeper.changed()
    keeper.stop()
    assert store.rows == book and not keeper.unsaved()


def test_an_outage_is_retried_until_the_database_answers() -> None:
    store, book = FlakyStore(), [Hold("A-001", "闽A12345", LATER)]
    store.down = True
    keeper = HoldKeeper(store, lambda: tuple(book), retry_s=0.02)
    assert keeper.restore(lambda stored: 0) is False  # a start during the outage goes on
    keeper.start()
    keeper.changed()
    time.sleep(0.1)
    assert store.rows == [] and keeper.unsaved()
    store.down = False
    wait_until(lambda: store.rows == book, "the write after the outage")
    keeper.stop()
    assert not keeper.unsaved()


def test_stop_during_an_outage_does_not_hang_or_raise() -> None:
    store = FlakyStore()
    store.down = True
    keeper = HoldKeeper(store, lambda: (Hold("A-001", "闽A12345", LATER),), retry_s=10)
    keeper.start()
    keeper.changed()
    started = time.monotonic()
    keeper.stop()
    assert time.monotonic() - started < 2
    assert keeper.unsaved()  # logged; the next run starts without this hold


def test_a_write_that_keeps_failing_logs_its_traceback_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenStore(FlakyStore):
        def replace(self, holds: Sequence[Hold]) -> None:
            raise RuntimeError("no such table: guidance_holds")

    keeper = HoldKeeper(BrokenStore(), lambda: (), retry_s=0)
    with caplog.at_level(logging.DEBUG, logger="services.guidance_holds"):
        for _ in range(5):
            assert keeper.write() is False
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].exc_info is not None
