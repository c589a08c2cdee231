"""Decision tables for the barrier state machine: given events, when one more, then what."""

from __future__ import annotations

import pytest

from controllers.barrier import (
    BarrierMachine,
    BarrierState,
    BarrierTiming,
    FaultPolicy,
    Refusal,
    RelayCommand,
    Transition,
)

S = BarrierState
OPEN_CMD = (RelayCommand.OPEN,)
CLOSE_CMD = (RelayCommand.CLOSE,)
TIMING = BarrierTiming(open_seconds=10.0, motion_timeout_s=5.0)
SECURE = BarrierTiming(open_seconds=10.0, motion_timeout_s=5.0, on_fault=FaultPolicy.FAIL_SECURE)


def apply(m: BarrierMachine, event: str, now: float) -> Transition:
    if event == "fail":
        return m.fail("relay did not answer", now)
    return getattr(m, event)(now)


def given(steps: list[str], timing: BarrierTiming = TIMING) -> BarrierMachine:
    m = BarrierMachine(timing)
    for step in steps:
        apply(m, step, 0.0)
    return m


# (given, when, at, expected state, expected commands, expected refusal)
Row = tuple[list[str], str, float, BarrierState, tuple[RelayCommand, ...], Refusal | None]
TABLE: list[Row] = [
    # open
    ([], "open", 0, S.OPENING, OPEN_CMD, None),
    (["open", "limit_open"], "open", 3, S.OPEN, (), None),
    (["open"], "open", 0, S.OPENING, (), None),
    (["hold", "limit_open"], "open", 0, S.HELD_OPEN, (), None),
    (["open", "fail"], "open", 0, S.OPENING, OPEN_CMD, None),
    (["open", "limit_open", "close"], "open", 0, S.OPENING, OPEN_CMD, None),
    # close
    ([], "close", 0, S.CLOSED, (), None),
    (["open", "limit_open"], "close", 0, S.CLOSING, CLOSE_CMD, None),
    (["open", "limit_open", "presence_on"], "close", 0, S.OPEN, (), Refusal.PRESENCE),
    (["open"], "close", 0, S.CLOSING, CLOSE_CMD, None),
    (["fire_alarm_on"], "close", 0, S.OPENING, (), Refusal.FIRE_ALARM),
    (["hold", "limit_open"], "close", 0, S.HELD_OPEN, (), Refusal.HELD_OPEN),
    (["open", "limit_open", "close"], "close", 0, S.CLOSING, (), None),
    (["open", "fail"], "close", 0, S.CLOSING, CLOSE_CMD, None),
    # hold
    ([], "hold", 0, S.OPENING, OPEN_CMD, None),
    (["open", "limit_open"], "hold", 0, S.HELD_OPEN, (), None),
    (["open"], "hold", 0, S.OPENING, (), None),
    (["hold", "limit_open"], "hold", 0, S.HELD_OPEN, (), None),
    # release
    (["hold", "limit_open"], "release", 0, S.OPEN, (), None),
    (["fire_alarm_on", "limit_open"], "release", 0, S.HELD_OPEN, (), Refusal.FIRE_ALARM),
    ([], "release", 0, S.CLOSED, (), None),
    # limit switch: open
    (["open"], "limit_open", 0, S.OPEN, (), None),
    (["hold"], "limit_open", 0, S.HELD_OPEN, (), None),
    (["fire_alarm_on"], "limit_open", 0, S.HELD_OPEN, (), None),
    (["open", "limit_open"], "limit_open", 0, S.OPEN, (), None),
    ([], "limit_open", 0, S.OPEN, (), None),  # lifted by hand
    (["open", "fail"], "limit_open", 0, S.OPEN, (), None),
    # reversed by a vehicle, which left the loop while the arm went back up
    (["open", "limit_open", "close", "presence_on", "presence_off"], "limit_open", 0,
     S.CLOSING, CLOSE_CMD, None),
    # limit switch: closed
    (["open", "limit_open", "close"], "limit_closed", 0, S.CLOSED, (), None),
    ([], "limit_closed", 0, S.CLOSED, (), None),
    (["open"], "limit_closed", 0, S.OPENING, (), None),  # stale edge while opening
    (["open", "limit_open"], "limit_closed", 0, S.CLOSED, (), None),  # pushed down by hand
    (["hold", "limit_open"], "limit_closed", 0, S.OPENING, OPEN_CMD, None),
    (["fire_alarm_on", "limit_open"], "limit_closed", 0, S.OPENING, OPEN_CMD, None),
    (["open", "fail"], "limit_closed", 0, S.CLOSED, (), None),
    # presence loop
    (["open", "limit_open", "close"], "presence_on", 0, S.OPENING, OPEN_CMD, None),
    (["open", "limit_open"], "presence_on", 0, S.OPEN, (), None),
    (["open", "limit_open", "presence_on", "close"], "presence_off", 0, S.CLOSING, CLOSE_CMD,
     None),
    (["open", "limit_open", "presence_on"], "presence_off", 0, S.OPEN, (), None),
    # fire alarm
    (["open", "limit_open"], "fire_alarm_on", 0, S.HELD_OPEN, (), None),
    (["open"], "fire_alarm_on", 0, S.OPENING, (), None),
    ([], "fire_alarm_on", 0, S.OPENING, OPEN_CMD, None),
    (["open", "fail"], "fire_alarm_on", 0, S.OPENING, OPEN_CMD, None),
    (["hold", "limit_open"], "fire_alarm_on", 0, S.HELD_OPEN, (), None),
    (["fire_alarm_on", "limit_open"], "fire_alarm_off", 0, S.OPEN, (), None),
    (["fire_alarm_on", "hold", "limit_open"], "fire_alarm_off", 0, S.HELD_OPEN, (), None),
    (["fire_alarm_on"], "fire_alarm_off", 0, S.OPENING, (), None),
    # faults (default fail_safe)
    ([], "fail", 0, S.FAULT, OPEN_CMD, None),
    (["open", "limit_open"], "fail", 0, S.FAULT, OPEN_CMD, None),
    # clock
    (["open"], "tick", 5, S.FAULT, OPEN_CMD, None),
    (["open"], "tick", 4.9, S.OPENING, (), None),
    (["open", "limit_open", "close"], "tick", 5, S.FAULT, OPEN_CMD, None),
    (["open", "limit_open"], "tick", 10, S.CLOSING, CLOSE_CMD, None),
    (["open", "limit_open"], "tick", 9.9, S.OPEN, (), None),
    (["open", "limit_open", "presence_on"], "tick", 60, S.OPEN, (), None),
    (["hold", "limit_open"], "tick", 60, S.HELD_OPEN, (), None),
    ([], "tick", 60, S.CLOSED, (), None),
]


@pytest.mark.parametrize(("steps", "event", "at", "state", "commands", "refused"), TABLE)
def test_decision_table(
    steps: list[str],
    event: str,
    at: float,
    state: BarrierState,
    commands: tuple[RelayCommand, ...],
    refused: Refusal | None,
) -> None:
    m = given(steps)
    t = apply(m, event, at)
    assert (t.state, t.commands, t.refused) == (state, commands, refused)
    assert t.state is m.state
    assert t.fault == m.fault
    assert (t.fault is not None) == (t.state is S.FAULT)


# fail_secure: close on a fault, but never onto the loop and never during a fire alarm
SECURE_TABLE: list[tuple[list[str], tuple[RelayCommand, ...]]] = [
    ([], CLOSE_CMD),
    (["open", "limit_open"], CLOSE_CMD),
    (["open", "limit_open", "presence_on"], ()),
    (["hold", "limit_open"], ()),
    (["fire_alarm_on"], OPEN_CMD),
]


@pytest.mark.parametrize(("steps", "commands"), SECURE_TABLE)
def test_fail_secure(steps: list[str], commands: tuple[RelayCommand, ...]) -> None:
    m = given(steps, SECURE)
    t = m.fail("no echo", 1.0)
    assert (t.state, t.commands, t.fault) == (S.FAULT, commands, "no echo")


def test_motion_timeout_message_names_the_target() -> None:
    m = given(["open"])
    assert m.tick(5.0).fault == "barrier did not report open within 5 s"
    m = given(["open", "limit_open", "close"])
    assert m.tick(5.0).fault == "barrier did not report closed within 5 s"


def test_second_open_rearms_auto_close() -> None:
    m = given(["open", "limit_open"])
    assert m.auto_close_at == 10.0
    m.open(7.0)
    assert m.auto_close_at == 17.0
    assert m.tick(16.0).state is S.OPEN
    assert m.tick(17.0).commands == CLOSE_CMD


def test_release_restarts_auto_close_from_now() -> None:
    m = given(["hold", "limit_open"])
    assert m.auto_close_at is None
    m.release(30.0)
    assert m.auto_close_at == 40.0


def test_open_seconds_zero_disables_auto_close() -> None:
    m = given(["open", "limit_open"], BarrierTiming(open_seconds=0, motion_timeout_s=5))
    assert m.auto_close_at is None
    assert m.tick(1e6).state is S.OPEN


def test_close_deferred_by_presence_then_carried_out() -> None:
    m = given(["open", "limit_open", "presence_on"])
    assert m.close(1.0).refused is Refusal.PRESENCE
    assert m.close_pending
    t = m.presence_off(2.0)
    assert t.commands == CLOSE_CMD
    assert not m.close_pending


def test_hold_cancels_a_deferred_close() -> None:
    m = given(["open", "limit_open", "presence_on", "close"])
    m.hold(1.0)
    assert not m.close_pending
    assert m.presence_off(2.0).state is S.HELD_OPEN


def test_an_open_cancels_a_deferred_close() -> None:
    """A guard's close waits for the car on the loop; the next car then granted entry must
    find the arm up, not see it come down as soon as the first car leaves the loop."""
    m = given(["open", "limit_open", "presence_on", "close"])
    assert m.open(1.0).state is S.OPEN
    assert not m.close_pending
    t = m.presence_off(2.0)
    assert (t.state, t.commands) == (S.OPEN, ())
    assert m.tick(10.9).state is S.OPEN  # auto-close counts from the open, as usual
    assert m.tick(11.0).commands == CLOSE_CMD


def test_an_open_while_reversing_keeps_the_arm_up_for_the_next_car() -> None:
    m = given(["open", "limit_open", "close", "presence_on"])  # reversed onto a vehicle
    assert m.state is S.OPENING and m.close_pending
    m.open(1.0)  # the next car is granted entry while the arm goes back up
    assert m.limit_open(2.0).state is S.OPEN
    assert m.presence_off(3.0).commands == ()
    assert m.tick(12.0).commands == CLOSE_CMD


def test_fire_alarm_flags_and_fault_recovery() -> None:
    m = given(["fire_alarm_on"])
    assert m.fire_alarm and not m.held
    m.fail("stuck", 1.0)
    assert m.fault == "stuck"
    assert m.limit_open(2.0).state is S.HELD_OPEN
    assert m.fault is None
    m.hold(3.0)
    assert m.held
    assert m.presence is False


def test_fail_needs_a_message() -> None:
    with pytest.raises(ValueError, match="message"):
        BarrierMachine().fail("", 0.0)


def test_timing_rejects_zero_motion_timeout() -> None:
    with pytest.raises(ValueError, match="motion_timeout_s must be > 0"):
        BarrierTiming(motion_timeout_s=0)


def test_default_machine_starts_closed() -> None:
    m = BarrierMachine()
    assert (m.state, m.fault, m.timing) == (S.CLOSED, None, BarrierTiming())


# --- 异常抬杆: an arm raised by a key switch, a remote or a hand --------------------------------
# The machine flags an open-limit edge only from rest closed with none of our opens on its way.
# (given steps with their times, when limit_open at, flagged, state after)
CYCLE = [("open", 0.0), ("limit_open", 2.0), ("close", 12.0), ("limit_closed", 14.0)]
RaiseRow = tuple[list[tuple[str, float]], float, bool, BarrierState]
RAISE_TABLE: list[RaiseRow] = [
    # closed after a car went through: someone raised it
    (CYCLE, 30.0, True, S.OPEN),
    # closed since start, never moved: still a raise (the driver drops first readings)
    ([], 5.0, True, S.OPEN),
    # pushed down by hand after our open, raised by hand again
    ([("open", 0.0), ("limit_open", 2.0), ("limit_closed", 4.0)], 9.0, True, S.OPEN),
    # our own open arriving
    ([("open", 0.0)], 2.0, False, S.OPEN),
    # the arm reversed for a car on the loop, going back up
    ([*CYCLE[:3], ("presence_on", 13.0)], 14.0, False, S.OPEN),
    # the fire alarm's open, and the same arm's switch bouncing while held
    ([("fire_alarm_on", 0.0)], 2.0, False, S.HELD_OPEN),
    ([("fire_alarm_on", 0.0), ("limit_open", 2.0)], 2.1, False, S.HELD_OPEN),
    # a guard's hold (常开)
    ([("hold", 0.0)], 2.0, False, S.HELD_OPEN),
    ([("hold", 0.0), ("limit_open", 2.0)], 40.0, False, S.HELD_OPEN),
    # closed by hand during the hold or the fire alarm: our re-open, not a raise
    ([("hold", 0.0), ("limit_open", 2.0), ("limit_closed", 20.0)], 22.0, False, S.HELD_OPEN),
    ([("fire_alarm_on", 0.0), ("limit_open", 2.0), ("limit_closed", 20.0)], 22.0, False,
     S.HELD_OPEN),
    # a fault: the fail-safe reaction's open, also after a closed report came in between
    ([("open", 0.0), ("fail", 1.0)], 2.0, False, S.OPEN),
    ([*CYCLE, ("fail", 30.0)], 31.0, False, S.OPEN),
    ([*CYCLE, ("fail", 30.0), ("limit_closed", 30.5)], 31.5, False, S.OPEN),
    # the open switch leaving (bounce) or the barrier's own anti-crush reversal while closing
    (CYCLE[:3], 12.1, False, S.OPEN),
    # the open edge of the old position reaching us after the closed one: not a raise yet
    (CYCLE, 14.2, False, S.OPEN),
    (CYCLE, 14.5, True, S.OPEN),
    # a raise already seen: the switch bouncing repeats the edge
    ([*CYCLE, ("limit_open", 30.0)], 30.05, False, S.OPEN),
]


def at_times(steps: list[tuple[str, float]], timing: BarrierTiming = TIMING) -> BarrierMachine:
    m = BarrierMachine(timing)
    for event, now in steps:
        apply(m, event, now)
    return m


@pytest.mark.parametrize(("steps", "at", "flagged", "state"), RAISE_TABLE)
def test_an_uncommanded_raise_is_flagged(
    steps: list[tuple[str, float]], at: float, flagged: bool, state: BarrierState
) -> None:
    t = at_times(steps).limit_open(at)
    assert (t.uncommanded_open, t.state) == (flagged, state)


def test_a_late_open_of_ours_after_a_fail_secure_close_is_not_a_raise_for_long() -> None:
    """An open retried until it was given up, then the fail_secure close: the device may still
    carry the open out, within a motion time-out of it; later, the arm going up is a hand's."""
    steps = [("open", 0.0), ("fail", 3.0), ("limit_closed", 4.0)]
    assert at_times(steps, SECURE).state is S.CLOSED
    assert not at_times(steps, SECURE).limit_open(4.9).uncommanded_open
    assert at_times(steps, SECURE).limit_open(5.0).uncommanded_open


def test_a_raised_arm_closes_after_open_seconds_and_a_second_raise_is_flagged_again() -> None:
    m = at_times(CYCLE)
    assert m.limit_open(30.0).uncommanded_open
    assert m.auto_close_at == 40.0
    assert m.tick(40.0).commands == CLOSE_CMD
    assert not m.limit_closed(42.0).uncommanded_open
    assert m.limit_open(50.0).uncommanded_open


def test_an_arm_raised_by_hand_that_our_close_cannot_lower_is_no_fault() -> None:
    """A latched relay never energised: switching it off after open_seconds changes nothing,
    and the barrier's own remote or timer brings the arm down later. Faulting on the motion
    time-out sent the fail_safe open, which energised the relay and held the arm up."""
    m = at_times(CYCLE)
    assert m.limit_open(30.0).uncommanded_open
    assert m.tick(40.0).commands == CLOSE_CMD
    for now in (45.0, 46.0, 300.0):  # well past motion_timeout_s (5 s)
        t = m.tick(now)
        assert (t.state, t.commands, t.fault) == (S.CLOSING, (), None)
    assert m.limit_closed(400.0).state is S.CLOSED
    # Our own open and close again: an arm that does not come down is a fault as before.
    m.open(500.0)
    m.limit_open(502.0)
    assert m.tick(512.0).commands == CLOSE_CMD
    assert m.tick(518.0).state is S.FAULT


def test_a_car_at_an_arm_raised_by_hand_gets_our_open_and_close() -> None:
    m = at_times(CYCLE)
    m.limit_open(30.0)
    m.tick(40.0)  # our close, which may change nothing
    assert m.open(50.0).commands == OPEN_CMD  # now the relay is ours: our close lowers it
    m.limit_open(50.1)
    assert m.tick(60.1).commands == CLOSE_CMD
    assert m.tick(66.0).state is S.FAULT


def test_only_a_limit_edge_reports_a_raise() -> None:
    """Commands, the loop and the clock never do, whatever state they find."""
    for steps in ([], CYCLE, [*CYCLE, ("limit_open", 30.0)]):
        m = at_times(steps)
        for event in ("presence_on", "presence_off", "tick", "hold", "release",
                      "fire_alarm_on", "fire_alarm_off", "open", "close", "limit_closed"):
            assert not apply(m, event, 60.0).uncommanded_open, (steps, event)


def test_raise_settle_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="raise_settle_s"):
        BarrierTiming(raise_settle_s=-0.1)
