"""A gate whose broker or Modbus server is unreachable when parkgate starts shows as faulted at
once (the guard's gate strip, /healthz and the hardware_fault alarm all read that fault), and
the fault clears when the peer comes up, without waiting for the first car of the morning."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from controllers.barrier import BarrierState
from errors import HardwareError
from hardware.base import Barrier
from hardware.registry import SafetyEvent, SafetyEventKind, create_barrier
from tests.hardware.rigs import (
    BARRIER_CONFIG,
    FAST,
    GpioRig,
    ModbusRig,
    MosquittoRig,
    Rig,
    eventually,
    kinds,
    run_with_rig,
    supervised,
    wait_state,
)

pytestmark = pytest.mark.timeout(60)

MOVING_OR_OPEN = (BarrierState.OPENING, BarrierState.OPEN)
# FAST's command_timeout_s is the configured wait; the rest is scheduling slack.
REPORTED_WITHIN_S = FAST["command_timeout_s"] + 0.5
NO_INPUTS = {"presence_input": None, "limit_open_input": None, "limit_closed_input": None}


def watched(rig: Rig, data: dict[str, Any]) -> tuple[Barrier, list[SafetyEvent]]:
    """A barrier whose faults reach the safety supervisor, the alarm path of the product."""
    return supervised(rig, "gate0", {**FAST, **data})


async def start_timed(barrier: Barrier) -> float:
    started = time.monotonic()
    await barrier.start()
    return time.monotonic() - started


@pytest.mark.parametrize("driver", ["mqtt_tasmota", "mqtt_shelly"])
def test_mqtt_gate_started_with_its_broker_down_is_a_fault_until_the_broker_is_up(
    driver: str,
) -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, MosquittoRig)
        await rig.link_down()
        b, events = watched(rig, rig.config(0))
        assert await start_timed(b) < REPORTED_WITHIN_S
        assert b.state is BarrierState.FAULT
        assert f"127.0.0.1:{rig.port} not reachable" in (b.fault or "")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]
        await asyncio.sleep(0.8)  # paho keeps retrying: the fault stays, it does not flap
        assert b.state is BarrierState.FAULT and kinds(events) == [SafetyEventKind.BARRIER_FAULT]

        await rig.link_up_device_first()
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert b.fault is None
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]
        assert await b.open() in MOVING_OR_OPEN
        await wait_state(b, BarrierState.OPEN)
        assert rig.relay_on(0)

    run_with_rig(driver, scenario)


def test_mqtt_gate_started_with_its_broker_up_starts_closed_and_connected() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, rig.config(0))
        await b.start()
        assert b.state is BarrierState.CLOSED and b.fault is None
        assert events == []
        assert await b.open() in MOVING_OR_OPEN  # no first command lost to a late connect
        assert rig.relay_on(0)

    run_with_rig("mqtt_tasmota", scenario)


def test_modbus_gate_without_inputs_started_with_its_server_down_clears_when_it_answers() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        await rig.link_down()
        b, events = watched(rig, {**rig.config(0), **NO_INPUTS})
        assert await start_timed(b) < REPORTED_WITHIN_S
        assert b.state is BarrierState.FAULT and "cannot connect" in (b.fault or "")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]

        await rig.link_up()
        # Nothing polls this board's inputs: only the coil probe can see the server return.
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert b.fault is None
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]
        assert await b.open() in MOVING_OR_OPEN
        await wait_state(b, BarrierState.OPEN)
        assert rig.relay_on(0)

    run_with_rig("modbus", scenario)


def test_modbus_gate_without_inputs_sees_its_server_go_and_return_between_cars() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, {**rig.config(0), **NO_INPUTS})
        await b.start()
        assert b.state is BarrierState.CLOSED
        await rig.link_down()
        await wait_state(b, BarrierState.FAULT)  # no command sent: the probe saw it
        assert "link lost" in (b.fault or "")
        await rig.link_up()
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]
        assert await b.open() in MOVING_OR_OPEN
        assert rig.relay_on(0)

    run_with_rig("modbus", scenario)


class CountingModbusRig(ModbusRig):
    """Counts the coil reads (function 01) the server answers."""

    def __init__(self) -> None:
        super().__init__()
        self.coil_reads = 0

    async def _action(
        self, fc: int, _start: int, address: int, _count: int, regs: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        if fc == 1:
            self.coil_reads += 1
        await super()._action(fc, _start, address, _count, regs, set_values)


@pytest.mark.parametrize(
    ("inputs", "expected_reads"),
    [
        ({}, range(0, 1)),  # its inputs are polled already: no extra reads at all
        (NO_INPUTS, range(6, 12)),  # one coil read per poll interval (0.1 s over 1 s)
    ],
)
def test_the_modbus_probe_reads_one_coil_per_poll_interval_and_only_without_inputs(
    inputs: dict[str, Any], expected_reads: range
) -> None:
    async def main() -> None:
        rig = CountingModbusRig()
        await rig.setup()
        try:
            b = create_barrier("gate0", BARRIER_CONFIG.validate_python(
                {**FAST, **rig.config(0), **inputs, "poll_interval_s": 0.1}
            ))
            rig.barriers.append(b)
            await b.start()
            await asyncio.sleep(1.0)
            assert rig.coil_reads in expected_reads
            assert b.state is BarrierState.CLOSED
        finally:
            await rig.teardown()

    asyncio.run(main())


@pytest.mark.parametrize("inputs", [NO_INPUTS, {}], ids=["probe", "input-poll"])
def test_a_modbus_server_that_accepts_and_never_answers_is_a_fault_until_it_answers(
    inputs: dict[str, Any],
) -> None:
    """A hung board (or one whose TCP stack outlived its firmware) still accepts connections:
    two background reads in a row without an answer make the gate a fault before any car."""
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = watched(rig, {**rig.config(0), **inputs, "poll_interval_s": 0.05})
        await b.start()
        assert b.state is BarrierState.CLOSED
        rig.fall_silent()
        await eventually(lambda: b.state is BarrierState.FAULT, what="the fault")
        assert "no answer to 2 reads in a row" in (b.fault or "")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]

        rig.fall_silent(False)
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]
        assert await b.open() in MOVING_OR_OPEN
        assert rig.relay_on(0)

    run_with_rig("modbus", scenario)


class SilentDeviceGateway:
    """A Modbus TCP-to-serial gateway whose serial device is switched off: it answers every
    request with exception 0x0B (gateway target device failed to respond), as real ones do."""

    def __init__(self) -> None:
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    @staticmethod
    async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(7)  # MBAP: transaction, protocol, length, unit
                pdu = await reader.readexactly(int.from_bytes(header[4:6], "big") - 1)
                reply = bytes([pdu[0] | 0x80, 0x0B])
                writer.write(header[:4] + (len(reply) + 1).to_bytes(2, "big") + header[6:7]
                             + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def test_a_relay_behind_a_gateway_that_does_not_answer_is_a_fault() -> None:
    async def main() -> None:
        gateway = SilentDeviceGateway()
        await gateway.start()
        b = create_barrier("gate0", BARRIER_CONFIG.validate_python({
            **FAST, "driver": "modbus", "host": "127.0.0.1", "port": gateway.port,
            "unit_id": 3, "open_channel": 0, **NO_INPUTS, "poll_interval_s": 0.05,
        }))
        try:
            await b.start()
            await eventually(lambda: b.state is BarrierState.FAULT, what="the fault")
            assert "no answer to 2 reads in a row" in (b.fault or "")
        finally:
            await b.stop()
            await gateway.stop()

    asyncio.run(main())


def test_a_relay_answer_between_two_unanswered_reads_is_no_silence() -> None:
    """A probe read lost, a car's relay command answered, the next probe read lost: the
    device spoke in between, so the gate must not fault (two reads in a row means nothing
    was heard between them)."""
    from errors import HardwareTimeoutError
    from hardware.modbus import ModbusLink, Silence

    link = ModbusLink("127.0.0.1", 1, 1, 0.1)
    downs: list[str] = []
    link.add_link_listener(lambda up, reason: None if up else downs.append(reason))
    silence = Silence(link)
    lost = HardwareTimeoutError("no answer to read_coils")

    silence.failed(lost)
    link.answers += 1  # what ModbusLink.call counts for the relay command's answer
    silence.failed(lost)
    assert downs == []
    silence.failed(lost)  # now two in a row with nothing heard between
    assert downs == [f"{link}: no answer to 2 reads in a row"]


def test_an_mqtt_gate_whose_broker_password_is_not_in_the_environment_is_a_fault_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found starting a Tasmota gate whose password_env names a variable parkgate's service
    does not have (an EnvironmentFile left behind on a move): its start failed with a log line,
    the gate read "closed" on the console with no alarm, and the first car's open ended in
    "MQTT broker … not connected", as if the broker were down."""
    monkeypatch.delenv("PARKGATE_TEST_MQTT_PASSWORD", raising=False)

    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, {**rig.config(0), "username": "parkgate",
                                  "password_env": "PARKGATE_TEST_MQTT_PASSWORD"})
        await b.start()
        assert b.state is BarrierState.FAULT
        assert b.fault is not None and "PARKGATE_TEST_MQTT_PASSWORD" in b.fault, b.fault
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]
        with pytest.raises(HardwareError, match="PARKGATE_TEST_MQTT_PASSWORD"):
            await b.open()
        assert b.state is BarrierState.FAULT

    run_with_rig("mqtt_tasmota", scenario)


def test_an_http_gate_whose_auth_is_not_in_the_environment_is_a_fault_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same for an HTTP relay's auth_env: its start failed with a log line, the gate read
    "closed", and a car's open then ended in "HTTP relay used before connect()"."""
    monkeypatch.delenv("PARKGATE_TEST_RELAY_AUTH", raising=False)

    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, {**rig.config(0), "auth_env": "PARKGATE_TEST_RELAY_AUTH"})
        await b.start()
        assert b.state is BarrierState.FAULT
        assert b.fault is not None and "PARKGATE_TEST_RELAY_AUTH" in b.fault, b.fault
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]
        with pytest.raises(HardwareError, match="PARKGATE_TEST_RELAY_AUTH"):
            await b.open()

    run_with_rig("http", scenario)


@pytest.mark.parametrize(("held", "named"), [(22, "presence"), (17, "relay")])
def test_a_gpio_gate_whose_pin_cannot_be_opened_is_a_fault_naming_it(
    held: int, named: str
) -> None:
    """Found starting a GPIO gate on pins the service could not open (another program holds
    the pin here; on a board, a user not in the gpio group or no pin library is the same): a
    presence pin's failure escaped the barrier's start, which the service logged and went on,
    and the gate read "closed" with no alarm; a relay pin's failure faulted it, but a car's
    open then answered "GPIO pin 17 is not set up as a relay". Both name the pin now."""

    async def scenario(rig: Rig) -> None:
        from gpiozero import DigitalOutputDevice

        assert isinstance(rig, GpioRig)
        other = DigitalOutputDevice(held, pin_factory=rig.factory)  # someone else's
        try:
            b, events = watched(rig, rig.config(0))
            await b.start()
            pin = rf"pins? \[?{held}\b"  # "pin 22", "pins [17]"
            assert b.state is BarrierState.FAULT
            assert re.search(pin, b.fault or ""), b.fault
            assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]
            with pytest.raises(HardwareError, match=pin + ".*already in use"):  # and why
                await b.open()
            assert re.search(pin, b.fault or ""), (named, b.fault)
        finally:
            other.close()

    run_with_rig("gpio", scenario)
