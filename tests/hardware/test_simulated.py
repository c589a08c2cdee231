"""The simulated barrier on its own: timing, presence loop, injected faults, display."""

from __future__ import annotations

import asyncio

import pytest

from controllers.barrier import BarrierState, BarrierTiming
from errors import HardwareError, HardwareTimeoutError, HardwareUnavailableError
from hardware.base import Barrier, BarrierStatus, Display
from hardware.config import SimBarrierConfig
from hardware.registry import create_barrier
from hardware.relay_barrier import CommandPolicy
from hardware.simulated import SimFault, SimulatedBarrier, SimulatedDisplay


def fast_sim(gate_id: str = "g1", **timing: float) -> SimulatedBarrier:
    return SimulatedBarrier(
        gate_id,
        timing=BarrierTiming(
            open_seconds=timing.get("open_seconds", 0.3),
            motion_timeout_s=timing.get("motion_timeout_s", 0.5),
        ),
        policy=CommandPolicy(command_timeout_s=0.2, retries=1, retry_delay_s=0.01, tick_s=0.02),
        opening_s=0.1,
        closing_s=0.1,
        echo_delay_s=0.01,
    )


async def wait_for_state(b: Barrier, state: BarrierState, timeout: float = 2.0) -> None:
    async def poll() -> None:
        while b.state is not state:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_registry_builds_sim_from_default_config() -> None:
    barrier = create_barrier("east", SimBarrierConfig())
    assert isinstance(barrier, SimulatedBarrier)
    assert isinstance(barrier, Barrier)
    assert isinstance(SimulatedDisplay(), Display)
    assert barrier.state is BarrierState.CLOSED


def test_open_moves_then_auto_closes() -> None:
    async def scenario() -> list[BarrierState]:
        b = fast_sim()
        seen: list[BarrierStatus] = []
        b.add_listener(seen.append)
        await b.start()
        try:
            assert await b.open() is BarrierState.OPENING
            await wait_for_state(b, BarrierState.OPEN)
            await wait_for_state(b, BarrierState.CLOSED)
        finally:
            await b.stop()
        return [s.state for s in seen]

    states = asyncio.run(scenario())
    assert states == [
        BarrierState.CLOSED, BarrierState.OPENING, BarrierState.OPEN,
        BarrierState.CLOSING, BarrierState.CLOSED,
    ]


def test_presence_loop_defers_auto_close_until_clear() -> None:
    async def scenario() -> None:
        b = fast_sim()
        await b.start()
        try:
            await b.open()
            await wait_for_state(b, BarrierState.OPEN)
            b.presence_loop.set(True)
            await asyncio.sleep(0.5)  # longer than open_seconds
            assert b.state is BarrierState.OPEN
            assert await b.close() is BarrierState.OPEN  # deferred, not refused
            b.presence_loop.set(False)
            assert b.state is BarrierState.CLOSING
            await wait_for_state(b, BarrierState.CLOSED)
        finally:
            await b.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("fault", "error"),
    [(SimFault.NO_ECHO, HardwareTimeoutError), (SimFault.OFFLINE, HardwareUnavailableError)],
)
def test_command_faults_raise_and_show(fault: SimFault, error: type[HardwareError]) -> None:
    async def scenario() -> None:
        b = fast_sim()
        await b.start()
        try:
            b.inject_fault(fault)
            with pytest.raises(error):
                await b.open()
            assert b.state is BarrierState.FAULT
            assert b.fault
            b.clear_faults()
            await b.open()
            await wait_for_state(b, BarrierState.OPEN)
            assert b.fault is None
        finally:
            await b.stop()

    asyncio.run(scenario())


def test_stuck_arm_is_a_motion_timeout_fault() -> None:
    async def scenario() -> None:
        b = fast_sim(motion_timeout_s=0.2)
        await b.start()
        try:
            b.inject_fault(SimFault.STUCK)
            assert await b.open() is BarrierState.OPENING
            await wait_for_state(b, BarrierState.FAULT)
            assert "did not report open" in (b.fault or "")
        finally:
            await b.stop()

    asyncio.run(scenario())


def test_slow_arm_still_arrives() -> None:
    async def scenario() -> None:
        b = fast_sim(motion_timeout_s=1.0)
        await b.start()
        try:
            b.inject_fault(SimFault.SLOW)
            await b.open()
            await asyncio.sleep(0.2)
            assert b.state is BarrierState.OPENING
            await wait_for_state(b, BarrierState.OPEN)
        finally:
            await b.stop()

    asyncio.run(scenario())


def test_simulated_display_records_and_goes_offline() -> None:
    async def scenario() -> None:
        d = SimulatedDisplay("board")
        await d.start()
        await d.show("B1", 12)
        assert d.shown == {"B1": 12}
        d.offline = True
        with pytest.raises(HardwareUnavailableError):
            await d.show("B1", 11)
        await d.stop()

    asyncio.run(scenario())
