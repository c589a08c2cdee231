"""A gate's presence loop read over a link of its own: found probing an HTTP relay gate whose
loop detector is a Modbus input on another board (``presence: {driver: modbus, …}``) with that
board's server down. The input poll logged one warning; the gate read "closed", opened for a
guard and closed after open_seconds with its loop never read, as if no car could be under the
arm. Now such an input's link is the gate's too: while it is not read the gate is a fault held
as a Modbus board's refused inputs are (nothing sent, its on_fault position kept), and it clears
once the loop is read again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controllers.barrier import BarrierState
from errors import HardwareError
from hardware.registry import SafetyEventKind
from hardware.relay_barrier import RelayBarrier
from tests.hardware.rigs import (
    FAST,
    HttpRig,
    ModbusRig,
    TasmotaRig,
    eventually,
    kinds,
    supervised,
    wait_state,
)

pytestmark = pytest.mark.timeout(60)


def test_a_loop_on_another_boards_input_that_is_not_read_holds_the_gate() -> None:
    async def main() -> None:
        board = ModbusRig()  # the loop detector's board: presence input 40
        relay = HttpRig()
        await board.setup()
        await relay.setup()
        try:
            loop: dict[str, Any] = {
                "driver": "modbus",
                "host": "127.0.0.1",
                "port": board.port,
                "address": 40,
                "poll_interval_s": 0.05,
            }
            b, events = supervised(relay, "gate0", {**FAST, **relay.config(0), "presence": loop})
            assert isinstance(b, RelayBarrier)
            await b.start()
            await wait_state(b, BarrierState.CLOSED)
            board.inputs[40] = True  # a car under the arm: read
            await eventually(lambda: b.machine.presence, what="the loop read")
            board.inputs[40] = False
            await eventually(lambda: not b.machine.presence, what="the loop clear")

            await board.link_down()  # the loop's board goes away
            await eventually(lambda: b.state is BarrierState.FAULT, what="the fault")
            assert "gate0.presence not read" in (b.fault or ""), b.fault
            assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]
            commands = list(relay.commands)
            with pytest.raises(HardwareError, match=r"not sent: .*gate0\.presence not read"):
                await b.open()
            await asyncio.sleep(FAST["open_seconds"] + 0.3)
            assert b.state is BarrierState.FAULT  # nothing closes it onto an unread loop
            assert [c for c in relay.commands[len(commands) :] if "turn=off" in c] == []

            await board.link_up()  # read again: the fault clears
            await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault clear")
            assert kinds(events) == [
                SafetyEventKind.BARRIER_FAULT,
                SafetyEventKind.BARRIER_RECOVERED,
            ]
            await wait_state(b, BarrierState.CLOSED)
            assert await b.open() in (BarrierState.OPENING, BarrierState.OPEN)
        finally:
            await relay.teardown()
            await board.teardown()

    asyncio.run(main())


def test_a_loop_on_a_broker_of_its_own_that_is_not_reachable_holds_the_gate() -> None:
    """The same for an MQTT loop on a connection of its own (presence: {driver: mqtt, …}):
    a broker down at start, or lost later, left the loop unread and the gate working."""

    async def main() -> None:
        broker = TasmotaRig()  # only its Mosquitto and the site client (the loop) are used
        relay = HttpRig()
        await relay.setup()
        try:
            loop: dict[str, Any] = {
                "driver": "mqtt",
                "host": "127.0.0.1",
                "port": broker.port,
                "topic": "site/loop0",
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 0.5,
            }
            b, events = supervised(relay, "gate0", {**FAST, **relay.config(0), "presence": loop})
            assert isinstance(b, RelayBarrier)
            await b.start()  # its broker is not up yet
            assert b.state is BarrierState.FAULT
            assert "gate0.presence not read" in (b.fault or ""), b.fault
            with pytest.raises(HardwareError, match=r"not sent: .*gate0\.presence not read"):
                await b.open()

            await broker.setup()  # the broker comes up: the loop is read, the fault clears
            await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault clear")
            assert broker.device is not None
            broker.device.publish("site/loop0", "ON", qos=1)
            await eventually(lambda: b.machine.presence, what="the loop read")
            broker.device.publish("site/loop0", "OFF", qos=1)
            await eventually(lambda: not b.machine.presence, what="the loop clear")
            await wait_state(b, BarrierState.CLOSED)

            broker._stop_broker()  # lost later
            await eventually(lambda: b.state is BarrierState.FAULT, what="the fault again")
            assert "gate0.presence not read" in (b.fault or ""), b.fault
            assert kinds(events)[-1] is SafetyEventKind.BARRIER_FAULT
        finally:
            await relay.teardown()
            await broker.teardown()

    asyncio.run(main())
