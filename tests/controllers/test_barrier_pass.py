"""Decision tables for 车过落杆 (close once the car let through has crossed the loop) and 跟车
(a second vehicle through one opening) in the pure barrier state machine."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.barrier import (
    BarrierMachine,
    BarrierState,
    BarrierTiming,
    RelayCommand,
    Transition,
)

S = BarrierState
OPEN_CMD = (RelayCommand.OPEN,)
CLOSE_CMD = (RelayCommand.CLOSE,)
# Auto-close 10 s after the arm is up; 1 s after the loop clears once the car crossed it; a
# loop free for under 0.5 s is still the same vehicle.
TIMING = BarrierTiming(open_seconds=10.0, motion_timeout_s=5.0, close_after_pass_s=1.0,
                       tailgate_gap_s=0.5)
OFF = BarrierTiming(open_seconds=10.0, motion_timeout_s=5.0, close_after_pass_s=None)

Steps = list[tuple[str, float]]


def apply(m: BarrierMachine, event: str, now: float) -> Transition:
    if event == "fail":
        return m.fail("relay did not answer", now)
    if event == "open_for_nobody":  # the driver re-asserting fail_safe after a lost link
        return m.open(now, for_vehicle=False)
    return getattr(m, event)(now)


def run(steps: Steps, timing: BarrierTiming = TIMING) -> tuple[BarrierMachine, list[Transition]]:
    m = BarrierMachine(timing)
    return m, [apply(m, event, now) for event, now in steps]


# A car let in: the arm is up at 2 s, the car drives onto the loop at 3 s and off it at 4 s.
CAR = [("open", 0.0), ("limit_open", 2.0), ("presence_on", 3.0), ("presence_off", 4.0)]

# (given, tick at, state after, commands): does the clock bring the arm down?
PassRow = tuple[Steps, float, BarrierState, tuple[RelayCommand, ...]]
PASS_TABLE: list[PassRow] = [
    # the car crossed: down 1 s after the loop cleared, not after open_seconds
    (CAR, 4.9, S.OPEN, ()),
    (CAR, 5.0, S.CLOSING, CLOSE_CMD),
    # a car that never reaches the loop: the normal auto-close
    ([("open", 0.0), ("limit_open", 2.0)], 5.0, S.OPEN, ()),
    ([("open", 0.0), ("limit_open", 2.0)], 12.0, S.CLOSING, CLOSE_CMD),
    # a car still on the loop: never down onto it
    ([("open", 0.0), ("limit_open", 2.0), ("presence_on", 3.0)], 30.0, S.OPEN, ()),
    # the next vehicle arrived before the second was up: not until it has left
    ([*CAR, ("presence_on", 4.6)], 5.0, S.OPEN, ()),
    ([*CAR, ("presence_on", 4.6), ("presence_off", 6.0)], 7.0, S.CLOSING, CLOSE_CMD),
    # a trailer: the loop free for 0.3 s, then the trailer leaves it at 5 s
    ([*CAR, ("presence_on", 4.3), ("presence_off", 5.0)], 5.9, S.OPEN, ()),
    ([*CAR, ("presence_on", 4.3), ("presence_off", 5.0)], 6.0, S.CLOSING, CLOSE_CMD),
    # the car waited on the loop under the closed arm: the open is for it, it crosses
    ([("presence_on", 0.0), ("open", 1.0), ("limit_open", 3.0), ("presence_off", 4.0)], 5.0,
     S.CLOSING, CLOSE_CMD),
    # two cars let in on one opening: down only after the second crossed
    ([("open", 0.0), ("limit_open", 2.0), ("open", 2.5), *CAR[2:]], 5.0, S.OPEN, ()),
    ([("open", 0.0), ("limit_open", 2.0), ("open", 2.5), *CAR[2:], ("presence_on", 6.0),
      ("presence_off", 7.0)], 8.0, S.CLOSING, CLOSE_CMD),
    # the next car let in just after the first crossed: it gets the arm up, not 1 s
    ([*CAR, ("open", 4.5)], 5.0, S.OPEN, ()),
    ([*CAR, ("open", 4.5)], 14.5, S.CLOSING, CLOSE_CMD),
    # 常开 and the fire alarm: cars pass, the arm stays up
    ([("hold", 0.0), ("limit_open", 2.0), *CAR[2:]], 60.0, S.HELD_OPEN, ()),
    ([("fire_alarm_on", 0.0), ("limit_open", 2.0), *CAR[2:]], 60.0, S.HELD_OPEN, ()),
    ([("open", 0.0), ("fire_alarm_on", 0.5), ("limit_open", 2.0), *CAR[2:]], 60.0,
     S.HELD_OPEN, ()),
    # held during the car's opening and released: the opening is no longer counted
    ([*CAR[:3], ("hold", 3.5), ("presence_off", 4.0), ("release", 4.5)], 6.0, S.OPEN, ()),
    ([*CAR[:3], ("hold", 3.5), ("presence_off", 4.0), ("release", 4.5)], 14.5, S.CLOSING,
     CLOSE_CMD),
    # the fire alarm came and went while the car was on the loop: not counted either
    ([*CAR[:3], ("fire_alarm_on", 3.5), ("presence_off", 4.0), ("fire_alarm_off", 4.5)], 6.0,
     S.OPEN, ()),
    # raised by hand (异常抬杆): no open of ours, nothing counted: open_seconds
    ([("limit_open", 30.0), ("presence_on", 31.0), ("presence_off", 32.0)], 33.5, S.OPEN, ()),
    ([("limit_open", 30.0), ("presence_on", 31.0), ("presence_off", 32.0)], 40.0, S.CLOSING,
     CLOSE_CMD),
    # but a car let in at the raised arm is counted from its open
    ([("limit_open", 30.0), ("open", 31.0), ("presence_on", 32.0), ("presence_off", 33.0)],
     34.0, S.CLOSING, CLOSE_CMD),
    # after a lost link, the fail_safe open re-asserted for nobody: open_seconds
    ([("fail", 0.0), ("open_for_nobody", 1.0), ("limit_open", 2.0), *CAR[2:]], 5.0, S.OPEN,
     ()),
    # a fault during the opening (the arm's position unknown): not counted
    ([*CAR[:3], ("fail", 3.5), ("limit_open", 3.6), ("presence_off", 4.0)], 5.0, S.OPEN, ()),
]


@pytest.mark.parametrize(("steps", "at", "state", "commands"), PASS_TABLE)
def test_close_after_pass(
    steps: Steps, at: float, state: BarrierState, commands: tuple[RelayCommand, ...]
) -> None:
    m, _ = run(steps)
    t = m.tick(at)
    assert (t.state, t.commands) == (state, commands)


def test_off_keeps_open_seconds() -> None:
    m, _ = run(CAR, OFF)
    assert m.pass_close_at is None
    assert m.tick(5.0).commands == ()
    assert m.tick(11.9).commands == ()
    assert m.tick(12.0).commands == CLOSE_CMD


def test_a_car_crossing_while_the_arm_rises_brings_it_down_once_it_is_up() -> None:
    m, _ = run([("open", 0.0), ("presence_on", 0.5), ("presence_off", 1.0)])
    assert m.tick(2.5).state is S.OPENING  # due, but the arm is not up yet
    t = m.limit_open(2.6)
    assert (t.state, t.commands) == (S.CLOSING, CLOSE_CMD)


def test_the_loop_clearing_with_no_delay_closes_at_once() -> None:
    _, transitions = run(CAR, BarrierTiming(close_after_pass_s=0.0))
    assert transitions[-1].commands == CLOSE_CMD


def test_the_pass_close_is_forgotten_once_the_arm_is_down() -> None:
    """The next opening starts from nothing: its car has not crossed yet."""
    m, _ = run([*CAR, ("tick", 5.0), ("limit_closed", 6.0), ("open", 20.0),
                ("limit_open", 22.0)])
    assert (m.pass_close_at, m.vehicles_counted, m.vehicles_allowed) == (None, 0, 1)
    assert m.tick(25.0).commands == ()
    assert m.tick(32.0).commands == CLOSE_CMD


# (steps, indexes of the steps whose transition says tailgating)
TailRow = tuple[Steps, list[int]]
SECOND = [("presence_on", 5.0), ("presence_off", 6.0)]
TAIL_TABLE: list[TailRow] = [
    # one car, one open
    (CAR, []),
    # a second car drives over the loop after the first left it: reported once it crossed
    ([*CAR, *SECOND], [5]),
    # a gap of exactly tailgate_gap_s is a second vehicle
    ([*CAR, ("presence_on", 4.5), ("presence_off", 5.5)], [5]),
    # the second car's own open comes while it is on the loop (its plate decided late)
    ([*CAR, ("presence_on", 5.0), ("open", 5.5), ("presence_off", 6.0)], []),
    # a truck's trailer: the loop free for 0.3 s is the same vehicle
    ([*CAR, ("presence_on", 4.3), ("presence_off", 5.0)], []),
    # bumper to bumper the loop never frees: one vehicle (not seen)
    ([("open", 0.0), ("limit_open", 2.0), ("presence_on", 3.0), ("presence_off", 8.0)], []),
    # two opens (two cars let in one behind the other) and two cars
    ([("open", 0.0), ("limit_open", 2.0), ("open", 2.5), *CAR[2:], *SECOND], []),
    # two opens and three cars: the third
    ([("open", 0.0), ("limit_open", 2.0), ("open", 2.5), *CAR[2:], *SECOND,
      ("presence_on", 7.0), ("presence_off", 8.0)], [8]),
    # one alarm per opening however many follow
    ([*CAR, *SECOND, ("presence_on", 7.0), ("presence_off", 8.0)], [5]),
    # ...and the next opening reports its own
    ([*CAR, *SECOND, ("tick", 7.0), ("limit_closed", 8.0), ("open", 20.0),
      ("limit_open", 22.0), ("presence_on", 23.0), ("presence_off", 24.0),
      ("presence_on", 25.0), ("presence_off", 26.0)], [5, 13]),
    # the car waited on the loop at the closed arm: it is the one the open was for
    ([("presence_on", 0.0), ("open", 1.0), ("limit_open", 3.0), ("presence_off", 4.0)], []),
    ([("presence_on", 0.0), ("open", 1.0), ("limit_open", 3.0), ("presence_off", 4.0),
      ("presence_on", 5.0), ("presence_off", 6.0)], [5]),
    # cars on the loop at a closed arm with no open: no opening, nothing counted
    ([("presence_on", 0.0), ("presence_off", 1.0), ("presence_on", 2.0)], []),
    # 常开, the fire alarm, a hold during the opening: many pass legitimately
    ([("hold", 0.0), ("limit_open", 2.0), *CAR[2:], *SECOND], []),
    ([("fire_alarm_on", 0.0), ("limit_open", 2.0), *CAR[2:], *SECOND], []),
    ([*CAR, ("hold", 4.5), *SECOND, ("release", 7.0), ("presence_on", 8.0)], []),
    # raised by hand: no opening of ours (异常抬杆 is its own alarm)
    ([("limit_open", 30.0), ("presence_on", 31.0), ("presence_off", 32.0),
      ("presence_on", 33.0)], []),
    # the open re-asserted after a lost link is for nobody
    ([("fail", 0.0), ("open_for_nobody", 1.0), ("limit_open", 2.0), *CAR[2:], *SECOND], []),
    # a fault during the opening: the arm's position is unknown
    ([*CAR, ("fail", 4.5), *SECOND], []),
]


@pytest.mark.parametrize(("steps", "flagged"), TAIL_TABLE)
def test_tailgating_is_flagged(steps: Steps, flagged: list[int]) -> None:
    _, transitions = run(steps)
    assert [i for i, t in enumerate(transitions) if t.tailgating] == flagged


def test_a_second_car_reversing_the_closing_arm_is_a_tailgater() -> None:
    """The first car crossed, the arm is coming down, the next car noses onto the loop: the
    arm goes back up for it (the safety rule), and it goes through on the first car's
    opening."""
    m, _ = run([*CAR, ("tick", 5.0)])
    assert m.state is S.CLOSING
    t = m.presence_on(5.5)
    assert (t.state, t.commands, t.tailgating) == (S.OPENING, OPEN_CMD, False)
    t = m.presence_off(6.5)  # through: reported, and down once the arm is back up
    assert (t.state, t.commands, t.tailgating) == (S.OPENING, (), True)
    t = m.limit_open(7.0)
    assert (t.state, t.commands, t.tailgating) == (S.CLOSING, CLOSE_CMD, False)


def test_a_tailgater_leaving_the_loop_is_reported_with_the_close_it_causes() -> None:
    """Both cars crossed while the arm was rising; the second leaves the loop once it is up."""
    steps = [("open", 0.0), ("presence_on", 0.5), ("presence_off", 1.0), ("presence_on", 1.6),
             ("limit_open", 2.0), ("presence_off", 3.0)]
    _, transitions = run(steps, BarrierTiming(close_after_pass_s=0.0))
    t = transitions[-1]
    assert (t.state, t.commands, t.tailgating) == (S.CLOSING, CLOSE_CMD, True)


def test_setting_off_still_reports_tailgating() -> None:
    """Without 车过落杆 the arm stays up for open_seconds: a car behind is all the likelier."""
    _, transitions = run([*CAR, *SECOND], OFF)
    assert [t.tailgating for t in transitions] == [False, False, False, False, False, True]


def test_the_count_is_readable_for_status_pages() -> None:
    m, _ = run([*CAR, *SECOND])
    assert (m.vehicles_allowed, m.vehicles_counted) == (1, 2)
    m.hold(7.0)
    assert (m.vehicles_allowed, m.vehicles_counted) == (None, None)


@pytest.mark.parametrize(
    ("field", "value"), [("close_after_pass_s", -0.1), ("tailgate_gap_s", -0.1)]
)
def test_timing_rejects_negative_pass_settings(field: str, value: float) -> None:
    settings: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        BarrierTiming(**settings)
