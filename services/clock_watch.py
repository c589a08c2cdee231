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
import time
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
CLOCK_AHEAD = "clock_ahead"
# How long a clock reading suspiciously far ahead is doubted (retention paused, the floor kept)
# before it is taken as right: a day of an alarm nobody answered, or a box that really was off.
ACCEPT_AHEAD_AFTER_S = 86400.0

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
    except (FileNotFoundError, NotADirectoryError):
        # No file yet; or no data_dir (a path under a file), which the start says itself.
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
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._path = data_dir / CLOCK_FILE
        self._raise_alarm = raise_alarm
        self._clock = clock
        self._check_s = check_s
        self._alarmed = False  # clock_behind raised for the present episode
        # Since when (monotonic) the system clock has read suspiciously far ahead; None: not.
        self._ahead_since: float | None = None
        self._ahead_alarmed = False
        self._write_failed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def clock(self) -> wall_clock.WallClock:
        # Looked up at use, so a test's replacement of wall_clock.CLOCK is the one kept.
        return self._clock or wall_clock.CLOCK

    async def start(self) -> None:
        # At once, not at the first check: the hourly retention starts beside this watch.
        if self.clock.ahead() is not None:
            self._ahead_since = self._monotonic()
        self._task = asyncio.create_task(self._run(), name="clock-watch")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        with contextlib.suppress(OSError):
            write_floor(self._path, self._trusted())

    def _trusted(self) -> datetime:
        """What to save as the floor: now, unless the system clock is doubted as ahead (then
        the floor itself, so a wrong year is not taken for the latest time seen)."""
        clock = self.clock
        return clock.held() if self._ahead_since is not None else clock.now()

    def retention_allowed(self) -> bool:
        """False while the system clock is doubted as reading ahead: retention would take
        every passage for as old as the clock says."""
        return self._ahead_since is None

    def state(self) -> ClockState:
        clock = self.clock
        behind = clock.behind()
        now = clock.now()
        system = now if behind is None else behind.system
        return ClockState(behind is None and self._ahead_since is None, system, now)

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
        await self._check_ahead(clock)
        behind = clock.behind()
        now = clock.now()
        try:
            await asyncio.to_thread(write_floor, self._path, self._trusted())
            self._write_failed = False
        except OSError as err:
            if not self._write_failed:
                logger.warning("clock file %s not written (the floor is kept in memory): %s",
                               self._path, err)
            self._write_failed = True
        if behind is not None and not self._alarmed:
            self._alarmed = True
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
        elif behind is None and self._alarmed:
            logger.warning(
                "system clock is in step again (%s); records made while it was behind "
                "carry the held time and the flag clock_held",
                now.isoformat(timespec="seconds"),
            )
            self._alarmed = False


    async def _check_ahead(self, clock: wall_clock.WallClock) -> None:
        ahead = clock.ahead()
        if ahead is None:
            if self._ahead_since is not None:
                self._ahead_since, self._ahead_alarmed = None, False
                logger.warning("system clock no longer reads far ahead (%s): retention resumes",
                               clock.now().isoformat(timespec="seconds"))
            return
        mono = self._monotonic()
        if self._ahead_since is None:
            self._ahead_since = mono
        if not self._ahead_alarmed:
            self._ahead_alarmed = True
            span = f"{ahead.ahead.days} d"
            logger.error(
                "system clock reads %s, %s past the latest time this controller saw (%s): "
                "either it was off that long or the clock is wrong; retention is paused for "
                "a day meanwhile (it would anonymise passages as that old)",
                ahead.system.isoformat(timespec="seconds"), span,
                ahead.floor.isoformat(timespec="seconds"),
            )
            await self._raise_alarm(
                CLOCK_AHEAD,
                f"system clock reads {ahead.system.isoformat(timespec='seconds')}, {span} past "
                f"the latest time this controller saw ({ahead.floor.isoformat(timespec='seconds')}"
                "); retention is paused for a day: set the clock within it if it is wrong",
            )
        elif mono - self._ahead_since >= ACCEPT_AHEAD_AFTER_S:
            clock.accept_system()
            self._ahead_since, self._ahead_alarmed = None, False
            logger.warning("system clock taken as right after a day reading %s: retention "
                           "resumes", ahead.system.isoformat(timespec="seconds"))


def _span(behind: ClockBehind) -> str:
    seconds = int(behind.behind.total_seconds())
    days, rest = divmod(seconds, 86400)
    if days:
        return f"{days} d {rest // 3600} h"
    return f"{rest // 3600} h {rest % 3600 // 60} min"
