"""The wall clock holds a system clock that reads earlier than a time already past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wall_clock import EARLIEST_PLAUSIBLE, TOLERANCE, WallClock

LAST_SEEN = datetime(2026, 11, 30, 19, 33, tzinfo=UTC)
RESET = datetime(2000, 1, 1, 8, 0, tzinfo=UTC)


class Fake:
    """A system clock and a monotonic clock that a test moves."""

    def __init__(self, system: datetime) -> None:
        self.system = system
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.system += timedelta(seconds=seconds)
        self.mono += seconds


def clock(fake: Fake, floor: datetime = EARLIEST_PLAUSIBLE) -> WallClock:
    return WallClock(floor, system=lambda: fake.system, monotonic=lambda: fake.mono)


def test_a_clock_in_step_is_the_system_clock() -> None:
    fake = Fake(LAST_SEEN + timedelta(days=2))
    wall = clock(fake)
    wall.hold_at_least(LAST_SEEN)
    assert wall.now() == fake.system
    assert wall.behind() is None
    fake.advance(61.5)
    assert wall.now() == fake.system


def test_a_reset_clock_is_held_at_the_last_time_seen_and_advances() -> None:
    fake = Fake(RESET)
    wall = clock(fake)
    wall.hold_at_least(LAST_SEEN)
    assert wall.now() == LAST_SEEN
    fake.advance(90)
    assert wall.now() == LAST_SEEN + timedelta(seconds=90)
    behind = wall.behind()
    assert behind is not None
    assert behind.system == RESET + timedelta(seconds=90)
    assert behind.held == LAST_SEEN + timedelta(seconds=90)


def test_without_a_saved_time_a_clock_before_this_version_is_held_at_its_date() -> None:
    fake = Fake(RESET)
    wall = clock(fake)
    assert wall.now() == EARLIEST_PLAUSIBLE
    assert wall.behind() is not None


def test_once_set_the_system_clock_is_used_again() -> None:
    fake = Fake(RESET)
    wall = clock(fake)
    wall.hold_at_least(LAST_SEEN)
    fake.advance(600)
    fake.system = LAST_SEEN + timedelta(days=1, seconds=600)  # NTP reached, after a day off
    assert wall.now() == fake.system
    assert wall.behind() is None


def test_a_small_step_back_is_the_system_clocks_to_make() -> None:
    fake = Fake(LAST_SEEN)
    wall = clock(fake)
    wall.hold_at_least(fake.system)
    fake.system -= TOLERANCE - timedelta(seconds=1)
    assert wall.now() == fake.system
    assert wall.behind() is None


def test_a_step_back_while_running_is_held_from_where_the_clock_was() -> None:
    fake = Fake(LAST_SEEN)
    wall = clock(fake)
    wall.hold_at_least(fake.system)  # the clock watch follows the system clock
    fake.advance(60)
    wall.hold_at_least(wall.now())
    fake.system -= timedelta(hours=1)  # a wrong time server
    assert wall.now() == LAST_SEEN + timedelta(seconds=60)
    assert wall.behind() is not None


def test_the_floor_never_goes_down() -> None:
    fake = Fake(RESET)
    wall = clock(fake)
    wall.hold_at_least(LAST_SEEN)
    wall.hold_at_least(LAST_SEEN - timedelta(days=3))
    assert wall.now() == LAST_SEEN


def test_following_the_system_clock_keeps_a_slow_drift_from_becoming_an_alarm() -> None:
    fake = Fake(LAST_SEEN)
    wall = clock(fake)
    wall.hold_at_least(fake.system)
    for _ in range(24 * 60):  # a day of checks, the system clock 0.1 s slower each minute
        fake.mono += 60.0
        fake.system += timedelta(seconds=59.9)
        assert wall.follow_system()
    assert wall.behind() is None
    assert wall.now() == fake.system


def test_following_does_not_lower_the_floor_to_a_clock_behind_it() -> None:
    fake = Fake(RESET)
    wall = clock(fake)
    wall.hold_at_least(LAST_SEEN)
    assert not wall.follow_system()
    assert wall.now() == LAST_SEEN


def test_a_clock_far_past_the_floor_is_used_but_doubted_and_not_followed() -> None:
    fake = Fake(LAST_SEEN + timedelta(days=400))  # a clock module reading a year ahead
    wall = clock(fake)
    wall.hold_at_least(LAST_SEEN)
    assert wall.now() == fake.system  # it may be right: the box may have been off that long
    ahead = wall.ahead()
    assert ahead is not None and ahead.ahead >= timedelta(days=399)
    assert not wall.follow_system()
    assert wall.held() < LAST_SEEN + timedelta(minutes=1)
    wall.accept_system()
    assert wall.ahead() is None and wall.held() == fake.system


def test_a_month_off_is_not_doubted() -> None:
    fake = Fake(LAST_SEEN + timedelta(days=29))
    wall = clock(fake)
    wall.hold_at_least(LAST_SEEN)
    assert wall.ahead() is None
    assert wall.follow_system()


def test_only_a_floor_the_controller_saw_makes_a_later_clock_suspect() -> None:
    """A new installation (no clock file) months after this version's date: its clock is
    right, not ahead. Without this every fresh controller (and every test's app) from
    EARLIEST_PLAUSIBLE + 30 days on was doubted: retention paused, /healthz degraded."""
    fake = Fake(EARLIEST_PLAUSIBLE + timedelta(days=400))
    wall = clock(fake)
    assert wall.ahead() is None
    assert wall.now() == fake.system
    assert wall.follow_system()  # the system clock becomes the floor
    fake.system -= timedelta(hours=1)  # and a step back from it is seen
    assert wall.behind() is not None
