"""The clock file and the clock_behind alarm (services/clock_watch.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.clock_watch import (
    ACCEPT_AHEAD_AFTER_S,
    CLOCK_AHEAD,
    CLOCK_BEHIND,
    CLOCK_FILE,
    ClockWatch,
    load_clock_floor,
)
from wall_clock import EARLIEST_PLAUSIBLE, WallClock

LAST_SEEN = datetime(2026, 11, 30, 19, 33, tzinfo=UTC)


class Board:
    def __init__(self, reads: datetime) -> None:
        self.reads = reads
        self.mono = 50.0

    def clock(self) -> WallClock:
        return WallClock(system=lambda: self.reads, monotonic=lambda: self.mono)


def watch(tmp_path: Path, wall: WallClock) -> tuple[ClockWatch, list[tuple[str, str]]]:
    alarms: list[tuple[str, str]] = []

    async def raise_alarm(kind: str, message: str) -> None:
        alarms.append((kind, message))

    return ClockWatch(tmp_path, raise_alarm, clock=wall), alarms


def test_one_alarm_while_behind_and_a_line_when_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    board = Board(datetime(2000, 1, 1, tzinfo=UTC))
    wall = board.clock()
    (tmp_path / CLOCK_FILE).write_text(LAST_SEEN.isoformat(), encoding="ascii")
    load_clock_floor(tmp_path, wall)
    clock_watch, alarms = watch(tmp_path, wall)

    async def run() -> None:
        await clock_watch.check()
        board.mono += 60
        await clock_watch.check()  # still behind: no second alarm
        assert len(alarms) == 1
        board.reads = LAST_SEEN + timedelta(hours=5)
        with caplog.at_level(logging.WARNING, logger="services.clock_watch"):
            await clock_watch.check()
        assert "in step again" in caplog.text
        board.reads = datetime(2000, 1, 1, tzinfo=UTC)  # reset once more: alarmed again
        await clock_watch.check()

    asyncio.run(run())
    assert [kind for kind, _ in alarms] == [CLOCK_BEHIND, CLOCK_BEHIND]
    assert "2000-01-01T00:00:00" in alarms[0][1]
    # The file keeps the latest time seen, never the reset clock's.
    saved = datetime.fromisoformat((tmp_path / CLOCK_FILE).read_text(encoding="ascii"))
    assert saved >= LAST_SEEN + timedelta(hours=5)


def test_the_time_seen_is_saved_at_stop_and_read_at_the_next_start(tmp_path: Path) -> None:
    board = Board(LAST_SEEN)
    clock_watch, _ = watch(tmp_path, board.clock())

    async def run() -> None:
        await clock_watch.start()
        board.reads += timedelta(minutes=3)
        await clock_watch.stop()

    asyncio.run(run())
    after_cut = Board(datetime(1970, 1, 1, tzinfo=UTC))
    wall = after_cut.clock()
    load_clock_floor(tmp_path, wall)
    assert wall.now() == LAST_SEEN + timedelta(minutes=3)


@pytest.mark.parametrize("content", ["", "yesterday", "2026-11-30T19:33:00", "\xff\xfe"])
def test_an_unreadable_clock_file_is_not_used(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / CLOCK_FILE).write_bytes(content.encode("latin-1"))
    board = Board(datetime(1970, 1, 1, tzinfo=UTC))
    wall = board.clock()
    with caplog.at_level(logging.WARNING, logger="services.clock_watch"):
        load_clock_floor(tmp_path, wall)
    assert "not used" in caplog.text
    assert wall.now() == EARLIEST_PLAUSIBLE


def test_a_clock_years_ahead_pauses_retention_for_a_day_and_keeps_the_floor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    board = Board(LAST_SEEN + timedelta(days=800))  # a clock module that lost its battery
    wall = board.clock()
    (tmp_path / CLOCK_FILE).write_text(LAST_SEEN.isoformat(), encoding="ascii")
    load_clock_floor(tmp_path, wall)
    mono = [1000.0]
    alarms: list[tuple[str, str]] = []

    async def raise_alarm(kind: str, message: str) -> None:
        alarms.append((kind, message))

    clock_watch = ClockWatch(tmp_path, raise_alarm, clock=wall, monotonic=lambda: mono[0])

    async def run() -> None:
        await clock_watch.start()  # doubted before the first check: retention starts beside it
        assert not clock_watch.retention_allowed()
        await clock_watch.check()
        mono[0] += 3600
        board.mono += 3600
        await clock_watch.check()
        assert not clock_watch.retention_allowed() and not clock_watch.state().in_step
        # The floor saved is the time known to have passed, not the clock's year.
        saved = datetime.fromisoformat((tmp_path / CLOCK_FILE).read_text(encoding="ascii"))
        assert LAST_SEEN <= saved < LAST_SEEN + timedelta(days=1)
        mono[0] += ACCEPT_AHEAD_AFTER_S
        with caplog.at_level(logging.WARNING, logger="services.clock_watch"):
            await clock_watch.check()
        assert clock_watch.retention_allowed() and clock_watch.state().in_step
        await clock_watch.stop()

    asyncio.run(run())
    assert [kind for kind, _ in alarms] == [CLOCK_AHEAD]
    assert "taken as right after a day" in caplog.text
    saved = datetime.fromisoformat((tmp_path / CLOCK_FILE).read_text(encoding="ascii"))
    assert saved >= LAST_SEEN + timedelta(days=800)


def test_a_clock_set_right_within_the_day_ends_the_doubt(tmp_path: Path) -> None:
    board = Board(LAST_SEEN + timedelta(days=800))
    wall = board.clock()
    (tmp_path / CLOCK_FILE).write_text(LAST_SEEN.isoformat(), encoding="ascii")
    load_clock_floor(tmp_path, wall)
    clock_watch, _ = watch(tmp_path, wall)

    async def run() -> None:
        await clock_watch.start()
        await clock_watch.check()
        board.reads = LAST_SEEN + timedelta(hours=2)  # NTP
        await clock_watch.check()
        await clock_watch.stop()

    asyncio.run(run())
    assert clock_watch.retention_allowed()
