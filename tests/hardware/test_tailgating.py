"""车过落杆 and 跟车 through the drivers: a real Modbus board (pymodbus's own server, its loop on a
discrete input) and the simulated barrier. The arm comes down soon after the car let in has
crossed the presence loop, not after open_seconds; a second vehicle on that opening is one
``tailgating`` safety event, the product's alarm path (the safety supervisor)."""

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

TAILGATING = SafetyEventKind.TAILGATING
# Generous: the board is polled every 20 ms, but the suite may share a busy machine.
DEADLINE_S = 10.0
# open_seconds far beyond every wait here: an arm down within the test came down on the pass.
# close_after_pass_s just above tailgate_gap_s, as it must be (hardware/config.py).
LONG_OPEN = {"open_seconds": 30.0, "close_after_pass_s": 0.6, "tailgate_gap_s": 0.5}
LOOP = 40  # the rig's presence input of gate 0


def watched(rig: Rig, **overrides: object) -> tuple[Barrier, list[SafetyEvent]]:
    return supervised(rig, "gate0", {**FAST, **rig.config(0), **LONG_OPEN, **overrides})


def tailgating(events: list[SafetyEvent]) -> list[SafetyEvent]:
    return [e for e in events if e.kind is TAILGATING]


async def drive_over(rig: Rig, b: Barrier, seconds: float = 0.3) -> None:
    """One vehicle onto the loop and off it again, each seen by the gate."""
    await rig.set_presence(b, 0, True)
    await asyncio.sleep(seconds)
    await rig.set_presence(b, 0, False)


async def open_for_a_car(rig: Rig, b: Barrier) -> None:
    await b.start()
    await b.open()
    await wait_state(b, BarrierState.OPEN, DEADLINE_S)


def test_the_arm_comes_down_once_the_car_has_crossed_the_loop() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig)
        await open_for_a_car(rig, b)
        await asyncio.sleep(0.5)
        assert b.state is BarrierState.OPEN and rig.relay_on(0)  # the car is not there yet
        await drive_over(rig, b)
        await wait_state(b, BarrierState.CLOSED, 3.0)  # not the 30 s of open_seconds
        assert not rig.relay_on(0)
        assert tailgating(events) == []

    run_with_rig("modbus", scenario)


def test_off_the_arm_stays_up_for_open_seconds() -> None:
    async def scenario(rig: Rig) -> None:
        b, _ = watched(rig, close_after_pass_s=None, open_seconds=2.0)
        await open_for_a_car(rig, b)
        await drive_over(rig, b)
        await asyncio.sleep(0.8)
        assert b.state is BarrierState.OPEN and rig.relay_on(0)
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)

    run_with_rig("modbus", scenario)


def test_a_second_car_on_one_opening_is_one_tailgating_event() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, close_after_pass_s=3.0)
        await open_for_a_car(rig, b)
        await drive_over(rig, b)
        await asyncio.sleep(0.8)  # longer than tailgate_gap_s: the next vehicle
        await rig.set_presence(b, 0, True)
        await asyncio.sleep(0.3)
        # Not yet: its own open may still come (a plate decided late).
        assert b.state is BarrierState.OPEN and tailgating(events) == []
        await rig.set_presence(b, 0, False)
        await eventually(lambda: bool(tailgating(events)), DEADLINE_S, "the tailgating event")
        (event,) = tailgating(events)
        assert event.gate_id == "gate0" and "tailgating" in event.message
        await asyncio.sleep(0.8)
        await drive_over(rig, b)  # a third: still the one alarm for this opening
        await asyncio.sleep(0.3)
        assert len(tailgating(events)) == 1
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)

        # The next opening, one car: nothing more.
        await b.open()
        await wait_state(b, BarrierState.OPEN, DEADLINE_S)
        await drive_over(rig, b)
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)
        assert len(tailgating(events)) == 1

    run_with_rig("modbus", scenario)


def test_a_trailer_is_not_a_second_vehicle() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig, close_after_pass_s=1.0)
        await open_for_a_car(rig, b)
        await drive_over(rig, b)  # the truck
        await asyncio.sleep(0.1)  # the drawbar: the loop free for a moment
        await drive_over(rig, b)  # its trailer
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)
        assert tailgating(events) == []

    run_with_rig("modbus", scenario)


def test_no_alarm_and_no_early_close_while_held_open() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig)
        await b.start()
        await b.hold_open()
        await wait_state(b, BarrierState.HELD_OPEN, DEADLINE_S)
        for _car in range(3):
            await drive_over(rig, b)
            await asyncio.sleep(0.6)
        assert b.state is BarrierState.HELD_OPEN and tailgating(events) == []

    run_with_rig("modbus", scenario)


def test_the_open_after_a_lost_link_is_for_no_car() -> None:
    """The fail_safe position re-asserted once the board answers again lets anyone through:
    cars on it are neither a tailgater nor a reason to close early."""

    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig, open_seconds=4.0)
        assert isinstance(b, RelayBarrier)  # a Modbus board's gate: its presence input
        await b.start()
        await eventually(
            lambda: b.presence is not None and b.presence.value is False,
            DEADLINE_S,
            "the first input poll",
        )
        await rig.link_down()
        await wait_state(b, BarrierState.FAULT, DEADLINE_S)
        await rig.link_up()
        await wait_state(b, BarrierState.OPEN, DEADLINE_S)  # the recovery open
        await drive_over(rig, b)
        await asyncio.sleep(0.8)
        await drive_over(rig, b)
        await asyncio.sleep(0.5)
        assert b.state is BarrierState.OPEN and tailgating(events) == []

    run_with_rig("modbus", scenario)


def test_the_simulated_barrier_rehearses_a_tailgater() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, close_after_pass_s=2.0)
        assert isinstance(b, SimulatedBarrier)
        await open_for_a_car(rig, b)
        b.presence_loop.set(True)
        b.presence_loop.set(False)
        await asyncio.sleep(0.6)
        b.presence_loop.set(True)
        b.presence_loop.set(False)
        await eventually(lambda: bool(tailgating(events)), DEADLINE_S, "the tailgating event")
        await wait_state(b, BarrierState.CLOSED, DEADLINE_S)
        assert len(tailgating(events)) == 1

    run_with_rig("sim", scenario)
