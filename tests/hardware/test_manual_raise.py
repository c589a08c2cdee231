"""异常抬杆 on a real Modbus board (pymodbus's own server) and on the simulated barrier: the
open limit switch made while parkgate sent no open is a ``barrier_manual_open`` safety event;
the opens parkgate sends, an arm found up at start and a barrier without an open limit switch
give none."""

from __future__ import annotations

import asyncio

import pytest

from controllers.barrier import BarrierState
from hardware.base import Barrier
from hardware.registry import SafetyEvent, SafetyEventKind
from hardware.relay_barrier import RelayBarrier
from hardware.simulated import SimulatedBarrier
from tests.hardware.rigs import (
    FAST,
    ModbusRig,
    Rig,
    eventually,
    run_with_rig,
    supervised,
    wait_state,
)

pytestmark = pytest.mark.timeout(60)

MANUAL = SafetyEventKind.BARRIER_MANUAL_OPEN
# Generous: the board is polled every 20 ms, but the suite may share a busy machine.
DEADLINE_S = 10.0
# Longer than BarrierTiming.raise_settle_s: an open edge sooner after the closed one is
# taken for the old position.
SETTLED_S = 0.7


def watched(rig: Rig, **overrides: object) -> tuple[Barrier, list[SafetyEvent]]:
    """Gate 0 with its events as the product's alarm path (the safety supervisor) sees them."""
    return supervised(rig, "gate0", {**FAST, **rig.config(0), **overrides})


def manual(events: list[SafetyEvent]) -> list[SafetyEvent]:
    return [e for e in events if e.kind is MANUAL]


async def raise_by_hand(rig: ModbusRig, k: int = 0) -> None:
    """What the board's inputs show when a remote lifts the arm: closed released, then open."""
    rig.inputs[21 + 2 * k] = False
    await asyncio.sleep(0.1)
    rig.inputs[20 + 2 * k] = True


async def lower_by_hand(rig: ModbusRig, k: int = 0) -> None:
    rig.inputs[20 + 2 * k] = False
    await asyncio.sleep(0.1)
    rig.inputs[21 + 2 * k] = True


def test_an_arm_lifted_with_no_command_is_reported_once_per_raise() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig, open_seconds=30)
        await b.start()
        # The board's first reading (closed) has come in: only then is a change an edge.
        assert isinstance(b, RelayBarrier)  # a Modbus board's gate: its limit switches
        await eventually(lambda: b.limit_closed is not None and b.limit_closed.value is True,
                         DEADLINE_S, "the first input poll")
        await asyncio.sleep(SETTLED_S)
        await raise_by_hand(rig)
        await eventually(lambda: bool(manual(events)), DEADLINE_S, "the manual-open event")
        (event,) = manual(events)
        assert event.gate_id == "gate0" and "without a command" in event.message
        assert b.state is BarrierState.OPEN and not rig.relay_on(0)

        # Lowered and lifted again: a second raise, a second event.
        await lower_by_hand(rig)
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)
        await asyncio.sleep(SETTLED_S)
        await raise_by_hand(rig)
        await eventually(lambda: len(manual(events)) == 2, DEADLINE_S, "the second event")

    run_with_rig("modbus", scenario)


def test_parkgates_own_opens_are_not_reported() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig)  # FAST: auto-close after 0.6 s
        await b.start()
        assert isinstance(b, RelayBarrier)  # a Modbus board's gate: its limit switches
        await eventually(lambda: b.limit_closed is not None and b.limit_closed.value is True,
                         DEADLINE_S, "the first input poll")
        for _car in range(2):
            await asyncio.sleep(SETTLED_S)
            await b.open()
            await wait_state(b, BarrierState.OPEN, DEADLINE_S)
            await wait_state(b, BarrierState.CLOSED, DEADLINE_S)  # auto-closed
        # A guard's hold and its release, then the fire alarm.
        await b.hold_open()
        await wait_state(b, BarrierState.HELD_OPEN, DEADLINE_S)
        await b.release()
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)
        await asyncio.sleep(SETTLED_S)
        await b.set_fire_alarm(True)
        await wait_state(b, BarrierState.HELD_OPEN, DEADLINE_S)
        await b.set_fire_alarm(False)
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)
        await asyncio.sleep(0.3)  # a late report would have come in by now
        assert manual(events) == []

    run_with_rig("modbus", scenario)


def test_an_arm_already_up_at_start_is_where_it_was_not_a_raise() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        rig.inputs.update({20: True, 21: False})  # left open by hand before parkgate started
        b, events = watched(rig, open_seconds=30)
        await b.start()
        await wait_state(b, BarrierState.OPEN, DEADLINE_S)
        await asyncio.sleep(0.3)
        assert manual(events) == []

    run_with_rig("modbus", scenario)


def test_without_an_open_limit_switch_nothing_is_reported() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig, limit_open_input=None)
        await b.start()
        assert isinstance(b, RelayBarrier)  # a Modbus board's gate: its limit switches
        await eventually(lambda: b.limit_closed is not None and b.limit_closed.value is True,
                         DEADLINE_S, "the first input poll")
        await asyncio.sleep(SETTLED_S)
        await raise_by_hand(rig)  # the board has the input, parkgate does not read it
        await asyncio.sleep(0.5)
        assert b.state is BarrierState.CLOSED and manual(events) == []

    run_with_rig("modbus", scenario)


def test_the_simulated_barrier_rehearses_a_lifted_arm() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, open_seconds=30)
        assert isinstance(b, SimulatedBarrier)
        await b.start()
        await b.open()  # a car first: parkgate's own open is no event
        await wait_state(b, BarrierState.OPEN, DEADLINE_S)
        await b.close()
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)
        await asyncio.sleep(SETTLED_S)
        assert manual(events) == []
        b.lift_by_hand()
        await eventually(lambda: bool(manual(events)), DEADLINE_S, "the manual-open event")
        assert b.state is BarrierState.OPEN and not rig.relay_on(0)

    run_with_rig("sim", scenario)


def test_an_open_switch_chattering_while_the_closed_one_stays_made_is_no_raise() -> None:
    """A broken or loose open-limit switch on an arm that never moved: an arm rising first
    leaves its closed limit, so both made at once is a switch, not a hand. Reported as a raise
    it was an alarm every open_seconds, all night (stored, on the booth screen, to the city)."""
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig)
        await b.start()
        assert isinstance(b, RelayBarrier)  # a Modbus board's gate: its limit switches
        await eventually(lambda: b.limit_closed is not None and b.limit_closed.value is True,
                         DEADLINE_S, "the first input poll")
        for _ in range(4):
            await asyncio.sleep(SETTLED_S)
            rig.inputs[20] = True  # the open switch makes, the closed one is still made
            await asyncio.sleep(0.2)
            rig.inputs[20] = False
        await asyncio.sleep(1.0)
        assert manual(events) == []
        await wait_state(b, BarrierState.CLOSED, timeout=DEADLINE_S)

        await asyncio.sleep(SETTLED_S)
        await raise_by_hand(rig)  # a real raise is still one
        await eventually(lambda: bool(manual(events)), DEADLINE_S, "the manual-open event")

    run_with_rig("modbus", scenario)


def test_a_raise_seen_whole_in_one_poll_is_still_a_raise() -> None:
    """A board read less often than the arm travels shows closed released and open made in
    the same poll; the open input's lower address must not make it look like both made."""
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig, open_seconds=30)
        await b.start()
        assert isinstance(b, RelayBarrier)  # a Modbus board's gate: its limit switches
        await eventually(lambda: b.limit_closed is not None and b.limit_closed.value is True,
                         DEADLINE_S, "the first input poll")
        await asyncio.sleep(SETTLED_S)
        rig.inputs[20], rig.inputs[21] = True, False  # no await between: one poll sees both
        await eventually(lambda: bool(manual(events)), DEADLINE_S, "the manual-open event")

    run_with_rig("modbus", scenario)
