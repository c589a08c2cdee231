"""Keeps the controller's clock floor (wall_clock.py) and tells the guards when the system
clock is behind it.

``<data_dir>/clock`` holds the latest time the controller knew had passed, rewritten every
``CHECK_S`` and at a clean stop; at start it becomes the wall clock's floor. A system clock
earlier than the floor raises one ``clock_behind`` alarm (and ``/healthz`` says so) until it
is right again, which is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import wall_clock
from task_cancel import cancel_and_wait
from wall_clock import ClockBehind

logger = logging.getLogger(__name__)

CLOCK_FILE = "clock"
CHECK_S = 60.0
CLOCK_BEHIND = "clock_behind"

RaiseAlarm = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ClockState:
    in_step: bool
    system: datetime
    now: datetime  # what records are stamped with


def read_floor(path: Path) -> datetime | None:
    """The time saved in the clock file; None (logged) when there is none or it is unreadable."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        logger.warning("clock file %s unreadable, not used: %s", path, err)
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        logger.warning("clock file %s holds no time (%r), not used", path, text[:40])
        return None
    if when.tzinfo is None:
        logger.warning("clock file %s holds a time without its zone (%s), not used", path, text)
        return None
    return when


def write_floor(path: Path, when: datetime) -> None:
    # Written aside and renamed: a power cut mid-write leaves the previous time, never half.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(when.isoformat(), encoding="ascii")
    os.replace(tmp, path)


def load_clock_floor(data_dir: Path, clock: wall_clock.WallClock | None = None) -> None:
    """Take the time saved in ``data_dir`` as the wall clock's floor; call before anything is
    recorded. A system clock behind it is logged here, and alarmed by ClockWatch."""
    clock = clock or wall_clock.CLOCK
    floor = read_floor(data_dir / CLOCK_FILE)
    if floor is not None:
        clock.hold_at_least(floor)
    behind = clock.behind()
    if behind is not None:
        logger.error(
            "system clock reads %s, %s behind the latest time this controller saw (%s): "
            "records are stamped from that time on until the clock is set (NTP, or the "
            "board's real-time clock)",
            behind.system.isoformat(timespec="seconds"), _span(behind),
            behind.held.isoformat(timespec="seconds"),
        )


class ClockWatch:
    def __init__(
        self, data_dir: Path, raise_alarm: RaiseAlarm, *,
        clock: wall_clock.WallClock | None = None, check_s: float = CHECK_S,
    ) -> None:
        self._path = data_dir / CLOCK_FILE
        self._raise_alarm = raise_alarm
        self._clock = clock
        self._check_s = check_s
        self._alarmed: ClockBehind | None = None
        self._write_failed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def clock(self) -> wall_clock.WallClock:
        # Looked up at use, so a test's replacement of wall_clock.CLOCK is the one kept.
        return self._clock or wall_clock.CLOCK

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="clock-watch")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        with contextlib.suppress(OSError):
            write_floor(self._path, self.clock.now())

    def state(self) -> ClockState:
        clock = self.clock
        behind = clock.behind()
        now = clock.now()
        return ClockState(behind is None, now if behind is None else behind.system, now)

    def behind_s(self) -> float:
        behind = self.clock.behind()
        return 0.0 if behind is None else behind.behind.total_seconds()

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a bug here must not end the watch
                logger.exception("clock check failed; trying again")
            await asyncio.sleep(self._check_s)

    async def check(self) -> None:
        clock = self.clock
        clock.follow_system()
        behind = clock.behind()
        now = clock.now()
        try:
            await asyncio.to_thread(write_floor, self._path, now)
            self._write_failed = False
        except OSError as err:
            if not self._write_failed:
                logger.warning("clock file %s not written (the floor is kept in memory): %s",
                               self._path, err)
            self._write_failed = True
        if behind is not None and self._alarmed is None:
            self._alarmed = behind
            logger.error(
                "system clock is %s behind (reads %s, at least %s has passed): records are "
                "stamped from the held time until it is set",
                _span(behind), behind.system.isoformat(timespec="seconds"),
                behind.held.isoformat(timespec="seconds"),
            )
            await self._raise_alarm(
                CLOCK_BEHIND,
                f"system clock reads {behind.system.isoformat(timespec='seconds')}, "
                f"{_span(behind)} behind the latest time this controller saw; records are "
                "stamped from that time until the clock is set",
            )
        elif behind is None and self._alarmed is not None:
            logger.warning(
                "system clock is in step again (%s); records made while it was behind "
                "carry the held time and the flag clock_held",
                now.isoformat(timespec="seconds"),
            )
            self._alarmed = None


def _span(behind: ClockBehind) -> str:
    seconds = int(behind.behind.total_seconds())
    days, rest = divmod(seconds, 86400)
    if days:
        return f"{days} d {rest // 3600} h"
    return f"{rest // 3600} h {rest % 3600 // 60} min"
