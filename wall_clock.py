"""The controller's wall clock: the system's, unless the system's is behind a time already past.

A controller box without a real-time clock (a Raspberry Pi), or with its battery dead, starts
after a power cut in 1970 or 2000 and keeps that time until NTP reaches it, which on a
community LAN cut off from the internet may be never. Walked with the demo (libfaketime at
2000-01-01): every car was recorded in 2000, so the console's newest-first lists put it below
all others, the reports showed it on no day, visitor passes were judged by that date, and
once the clock was right again the hourly retention anonymised those passages (the blocked
car's plate included) and deleted their snapshots as 26 years old, within a second of the
next start.

So the controller keeps a floor: the latest time it knows has passed (the time it last saw,
written to ``<data_dir>/clock`` every minute by services/clock_watch.py, and never earlier
than :data:`EARLIEST_PLAUSIBLE`, a date before this version existed). While the system clock
reads earlier than the floor, :func:`utcnow` returns the floor advanced by the monotonic
clock instead (what systemd-timesyncd does at boot with its own clock file, here also while
running): records keep their order and land near the true time (off by how long the box was
off), and the clock watch raises a ``clock_behind`` alarm. Once the system clock is right
again it is used as before.

Small steps back (up to :data:`TOLERANCE`, NTP correcting a drift) are the system's to make.

A clock that reads far *later* than the floor (more than :data:`AHEAD_SUSPECT`: a clock
module returning garbage after its battery died, a wrong time server) cannot be told from a
box that was off that long, so it is used; but services/clock_watch.py raises ``clock_ahead``,
pauses retention (which would anonymise a year of passages at once when the clock reads a
year ahead) and keeps saving the floor, not that time, for a day before taking it as right.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# No controller of this version ran before this date: a system clock earlier than it is wrong
# whatever the clock file says (a new box, a restored backup without the file).
EARLIEST_PLAUSIBLE = datetime(2026, 11, 1, tzinfo=UTC)
TOLERANCE = timedelta(minutes=2)
# Later than the floor by more than this is suspect: a controller left off this long is rare,
# a clock module that lost its battery often reads years ahead.
AHEAD_SUSPECT = timedelta(days=30)


def system_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ClockBehind:
    """The system clock reads ``system`` while at least ``held`` has passed."""

    system: datetime
    held: datetime

    @property
    def behind(self) -> timedelta:
        return self.held - self.system


@dataclass(frozen=True, slots=True)
class ClockAhead:
    """The system clock reads ``system``, suspiciously far past ``floor`` (the latest time
    known to have passed)."""

    system: datetime
    floor: datetime

    @property
    def ahead(self) -> timedelta:
        return self.system - self.floor


class WallClock:
    """The system clock, held at a floor it must not read earlier than (see the module)."""

    def __init__(
        self, floor: datetime = EARLIEST_PLAUSIBLE, *,
        system: Callable[[], datetime] = system_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._system = system
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # One tuple, replaced whole: readers on other threads never see half an update.
        self._anchor = (floor, monotonic())
        # Whether the floor is a time this controller saw (its clock file, the system clock
        # followed), not only this version's date: only such a floor makes a later clock
        # suspect. Else every new installation a month after the release would be doubted.
        self._observed = False

    def held(self) -> datetime:
        """The floor advanced by the monotonic clock: the latest time known to have passed."""
        floor, mono = self._anchor
        return floor + timedelta(seconds=max(0.0, self._monotonic() - mono))

    def now(self) -> datetime:
        system = self._system()
        held = self.held()
        return held if system < held - TOLERANCE else system

    def behind(self) -> ClockBehind | None:
        """How far the system clock is behind now, or None while it is in step."""
        system = self._system()
        held = self.held()
        return ClockBehind(system, held) if system < held - TOLERANCE else None

    def ahead(self) -> ClockAhead | None:
        """How far the system clock reads past the floor, when that is suspect (more than
        :data:`AHEAD_SUSPECT`)."""
        if not self._observed:
            return None
        system = self._system()
        held = self.held()
        return ClockAhead(system, held) if system > held + AHEAD_SUSPECT else None

    def follow_system(self) -> bool:
        """While the system clock is in step, take it as the floor from now on (so a later
        step back is measured from here, and small drifts never add up to a false alarm);
        returns whether it was in step. A clock suspect of reading ahead is not followed."""
        with self._lock:
            system = self._system()
            held = self.held()
            if system < held - TOLERANCE or (self._observed and system > held + AHEAD_SUSPECT):
                return False
            self._anchor = (system, self._monotonic())
            self._observed = True
            return True

    def accept_system(self) -> None:
        """Take the system clock as right from now on, whatever it reads."""
        with self._lock:
            self._anchor = (self._system(), self._monotonic())
            self._observed = True

    def hold_at_least(self, when: datetime) -> None:
        """Raise the floor to ``when`` (from now on); a floor never goes down."""
        with self._lock:
            if when > self.held():
                self._anchor = (when, self._monotonic())
                self._observed = True


CLOCK = WallClock()


def utcnow() -> datetime:
    """The time to stamp records and judge time windows by (aware, UTC)."""
    return CLOCK.now()


def clock_behind() -> ClockBehind | None:
    return CLOCK.behind()
