"""SafetySupervisor and fault policies, on simulated barriers and a real MQTT fire contact."""

from __future__ import annotations

import asyncio

import pytest

from controllers.barrier import BarrierState, BarrierTiming, FaultPolicy
from errors import ConflictError, HardwareError, InvalidInputError
from hardware.base import BarrierStatus
from hardware.config import MqttInputConfig
from hardware.registry import SafetyEvent, SafetyEventKind, SafetySupervisor, create_input
from hardware.relay_barrier import CommandPolicy
from hardware.simulated import SimFault, SimulatedBarrier, SimulatedInput
from tests.hardware.rigs import TasmotaRig, eventually, wait_state

FAST_POLICY = CommandPolicy(command_timeout_s=0.2, retries=0, retry_delay_s=0.01, tick_s=0.02)


def sim(gate_id: str, on_fault: FaultPolicy = FaultPolicy.FAIL_SAFE) -> SimulatedBarrier:
    return SimulatedBarrier(
        gate_id,
        timing=BarrierTiming(open_seconds=0.3, motion_timeout_s=0.5, on_fault=on_fault),
        policy=FAST_POLICY,
        opening_s=0.05,
        closing_s=0.05,
        echo_delay_s=0.005,
    )


def test_fire_input_active_at_start_opens_everything() -> None:
    async def scenario() -> None:
        fire = SimulatedInput("fire", value=True)
        supervisor = SafetySupervisor(fire)
        gates = [sim("a"), sim("b")]
        for b in gates:
            supervisor.register(b)
            await b.start()
        await supervisor.start()
        assert supervisor.fire_alarm_active
        for b in gates:
            await wait_state(b, BarrierState.HELD_OPEN)
        with pytest.raises(ConflictError):
            await supervisor.clear_fire_alarm("admin")  # the panel still signals fire
        late = sim("late")
        await late.start()
        supervisor.register(late)  # joins the hold at once
        await wait_state(late, BarrierState.HELD_OPEN)
        await supervisor.stop()
        for b in [*gates, late]:
            await b.stop()

    asyncio.run(scenario())


def test_clear_needs_a_user_and_is_idempotent() -> None:
    async def scenario() -> None:
        supervisor = SafetySupervisor()  # no input: guards trigger it by hand
        b = sim("a")
        supervisor.register(b)
        await b.start()
        await supervisor.clear_fire_alarm("admin")  # nothing to clear
        await supervisor.trigger_fire_alarm("guard panic button")
        assert b.state in (BarrierState.OPENING, BarrierState.HELD_OPEN)
        with pytest.raises(InvalidInputError):
            await supervisor.clear_fire_alarm("")
        await supervisor.clear_fire_alarm("admin")
        assert not supervisor.fire_alarm_active
        await wait_state(b, BarrierState.CLOSED)
        await supervisor.start()
        await supervisor.stop()
        await b.stop()

    asyncio.run(scenario())


def test_register_twice_is_refused() -> None:
    supervisor = SafetySupervisor()
    b = sim("a")
    supervisor.register(b)
    with pytest.raises(InvalidInputError):
        supervisor.register(b)
    assert list(supervisor.barriers) == ["a"]


def test_fault_and_recovery_events_and_broken_listeners() -> None:
    async def scenario() -> None:
        supervisor = SafetySupervisor()
        events: list[SafetyEvent] = []

        def broken(_: object) -> None:
            raise RuntimeError("listener bug")

        supervisor.add_listener(broken)
        supervisor.add_listener(events.append)
        b = sim("a")
        b.add_listener(broken)
        supervisor.register(b)
        await b.start()
        b.inject_fault(SimFault.OFFLINE)
        with pytest.raises(HardwareError):
            await b.open()
        b.clear_faults()
        await b.open()
        await wait_state(b, BarrierState.OPEN)
        assert [e.kind for e in events] == [
            SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED
        ]
        assert events[0].gate_id == "a" and "offline" in events[0].message
        await b.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("policy", "relay_after_fault"),
    [(FaultPolicy.FAIL_SAFE, True), (FaultPolicy.FAIL_SECURE, False)],
)
def test_fault_reaction_follows_the_gate_policy(
    policy: FaultPolicy, relay_after_fault: bool
) -> None:
    async def scenario() -> None:
        b = sim("a", policy)
        statuses: list[BarrierStatus] = []
        b.add_listener(statuses.append)
        await b.start()
        await b.open()
        await wait_state(b, BarrierState.OPEN)
        b.inject_fault(SimFault.STUCK)  # relay answers, arm does not move
        await b.close()
        await wait_state(b, BarrierState.FAULT)
        await eventually(lambda: b.motor.relays[1] is relay_after_fault, what="fault reaction")
        assert statuses[-1].is_alarm and statuses[-1].fault, [(s.state, s.fault) for s in statuses]
        await b.stop()

    asyncio.run(scenario())


def test_start_twice_is_harmless() -> None:
    async def scenario() -> None:
        b = sim("a")
        await b.start()
        await b.start()
        await b.open()
        await wait_state(b, BarrierState.OPEN)
        await b.stop()

    asyncio.run(scenario())


def test_fire_alarm_from_a_real_mqtt_contact() -> None:
    async def scenario() -> None:
        rig = TasmotaRig()
        await rig.setup()
        try:
            fire = create_input("fire", MqttInputConfig(
                driver="mqtt", port=rig.port, topic="panel/fire", reconnect_min_s=0.2
            ))
            supervisor = SafetySupervisor(fire)
            b = sim("a")
            supervisor.register(b)
            await b.start()
            await supervisor.start()
            await asyncio.sleep(0.2)  # the subscription reaches the broker
            assert rig.device is not None
            rig.device.publish("panel/fire", "ON", qos=1)
            await wait_state(b, BarrierState.HELD_OPEN)
            rig.device.publish("panel/fire", "OFF", qos=1)
            await eventually(lambda: fire.value is False, what="panel reset seen")
            assert b.state is BarrierState.HELD_OPEN  # still held: only an admin clears
            await supervisor.clear_fire_alarm("admin")
            await wait_state(b, BarrierState.CLOSED)
            await supervisor.stop()
            await b.stop()
        finally:
            await rig.teardown()

    asyncio.run(scenario())


def test_barrier_can_be_stopped_and_started_again() -> None:
    async def scenario() -> None:
        b = sim("a")
        await b.start()
        await b.stop()
        await b.start()
        presence: list[bool] = []
        b.presence_loop.add_listener(lambda c: presence.append(c.value))
        await b.open()
        await wait_state(b, BarrierState.OPEN)
        b.presence_loop.set(True)
        assert b.machine.presence and presence == [True]
        b.presence_loop.set(False)
        await wait_state(b, BarrierState.CLOSED)
        await b.stop()

    asyncio.run(scenario())
