"""An MQTT relay that drops off (power or Wi-Fi lost) is a gate fault within seconds, seen
through the retained Last Will its firmware leaves with the broker, not when the next car's
open times out; its return clears the fault. A relay that never announces itself is not taken
for offline. Real private Mosquitto, fake Tasmota/Shelly clients with the firmware's LWT."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError

from controllers.barrier import BarrierState
from errors import HardwareTimeoutError
from hardware.base import Barrier
from hardware.config import AVAILABILITY_PRESETS, RelayAvailability
from hardware.mqtt import OFFLINE_SETTLE_S
from hardware.registry import SafetyEvent, SafetyEventKind, create_barrier
from tests.hardware.rigs import (
    BARRIER_CONFIG,
    FAST,
    FakeRelay,
    MosquittoRig,
    Rig,
    TasmotaRig,
    eventually,
    kinds,
    run_with_rig,
    supervised,
    wait_state,
)

pytestmark = pytest.mark.timeout(60)

MQTT_RIGS = ["mqtt_tasmota", "mqtt_shelly"]
MOVING_OR_OPEN = (BarrierState.OPENING, BarrierState.OPEN)
# The broker publishes the Last Will as the connection drops; the rest is scheduling slack.
SEEN_WITHIN_S = OFFLINE_SETTLE_S + 1.0


def watched(rig: Rig, k: int, **overrides: Any) -> tuple[Barrier, list[SafetyEvent]]:
    """Gate k, whose faults reach the safety supervisor (the product's alarm path)."""
    return supervised(rig, f"gate{k}", {**FAST, **rig.config(k), **overrides})


async def time_to_fault(b: Barrier) -> float:
    started = time.monotonic()
    await wait_state(b, BarrierState.FAULT, timeout=SEEN_WITHIN_S + 2)
    return time.monotonic() - started


@pytest.mark.parametrize("driver", MQTT_RIGS)
def test_a_relay_that_drops_off_is_a_fault_within_seconds_and_clears_when_it_is_back(
    driver: str,
) -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, MosquittoRig)
        b, events = watched(rig, 0)
        other, _ = watched(rig, 1)
        for gate in (b, other):
            await gate.start()
        await asyncio.sleep(0.3)  # each relay's retained "online" has arrived
        assert b.state is BarrierState.CLOSED and events == []

        await rig.kill_relay(0)  # no car, no command: only the broker's Last Will tells
        assert await time_to_fault(b) < SEEN_WITHIN_S
        assert "relay dev0 is offline" in (b.fault or "")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]
        assert other.state is BarrierState.CLOSED  # one relay's will is not its neighbour's

        await rig.revive_relay(0)
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert b.fault is None
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]
        assert await b.open() in MOVING_OR_OPEN
        await wait_state(b, BarrierState.OPEN)
        assert rig.relay_on(0)

    run_with_rig(driver, scenario)


@pytest.mark.parametrize("driver", MQTT_RIGS)
def test_a_relay_already_offline_when_parkgate_starts_is_a_fault_from_the_start(
    driver: str,
) -> None:
    """parkgate restarted at night while a relay was dead: its retained Offline is waiting."""

    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, MosquittoRig)
        await rig.kill_relay(0)
        b, events = watched(rig, 0)
        await b.start()
        assert await time_to_fault(b) < SEEN_WITHIN_S
        assert "offline" in (b.fault or "") and kinds(events) == [SafetyEventKind.BARRIER_FAULT]

        await rig.revive_relay(0)
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert await b.open() in MOVING_OR_OPEN
        assert rig.relay_on(0)

    run_with_rig(driver, scenario)


@pytest.mark.parametrize("driver", MQTT_RIGS)
def test_a_relay_back_after_parkgate_reached_the_broker_clears_the_fault_by_itself(
    driver: str,
) -> None:
    """A broker restart: parkgate reconnects first, its recovery command finds no relay; the
    relay's own "online" a moment later ends the fault, not the next car."""

    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, MosquittoRig)
        await rig.link_down()
        await rig.fake_relays[0].pause()  # the relay is still booting
        b, events = watched(rig, 0)
        await b.start()
        assert b.state is BarrierState.FAULT

        await rig.link_up()
        # parkgate is on the broker and has tried its recovery: the relay did not answer.
        try:
            await eventually(lambda: "not confirmed" in (b.fault or ""), what="recovery to fail")
        except AssertionError as err:
            # Seen once in a loaded CI run and never alone: say where it stood.
            conn = getattr(getattr(b, "port", None), "conn", None)
            raise AssertionError(f"{err}; fault {b.fault!r}, broker connected "
                                 f"{getattr(conn, 'connected', '?')}") from err
        await asyncio.sleep(0.3)
        assert b.state is BarrierState.FAULT

        await rig.revive_relay(0)
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert b.fault is None and kinds(events)[-1] is SafetyEventKind.BARRIER_RECOVERED
        assert await b.open() in MOVING_OR_OPEN
        await wait_state(b, BarrierState.OPEN)
        assert rig.relay_on(0)

    run_with_rig(driver, scenario)


@pytest.mark.parametrize("driver", MQTT_RIGS)
def test_a_stopped_broker_is_a_lost_broker_not_every_relay_offline(driver: str) -> None:
    """Mosquitto publishes every client's Last Will when it shuts down: the guard must read
    that the broker went, and both gates must come back with it."""

    async def scenario(rig: Rig) -> None:
        gates = [watched(rig, k)[0] for k in (0, 1)]
        for gate in gates:
            await gate.start()
        await asyncio.sleep(0.3)
        await rig.link_down()
        for gate in gates:
            await wait_state(gate, BarrierState.FAULT)
        await asyncio.sleep(OFFLINE_SETTLE_S + 0.2)  # past the settle time of those wills
        for gate in gates:
            assert "connection lost" in (gate.fault or "")
            assert "offline" not in (gate.fault or "")
        await rig.link_up()
        await eventually(lambda: all(g.state is not BarrierState.FAULT for g in gates), 10.0,
                         "both faults to clear")

    run_with_rig(driver, scenario)


def test_a_relay_that_goes_silent_without_closing_is_seen_after_its_keepalive() -> None:
    """A power cut on Wi-Fi closes nothing: the broker gives up on the relay after 1.5 of its
    keep-alive intervals (Tasmota's default 30 s: about 45 s; 1 s here) and sends its will."""

    async def main() -> None:
        rig = TasmotaRig(relay_keepalive_s=1)
        await rig.setup()
        try:
            b, events = watched(rig, 0)
            await b.start()
            await asyncio.sleep(0.3)
            await rig.freeze_relay(0)
            # 1.5 keep-alives, plus Mosquitto 2.0's keep-alive sweep, which runs only every
            # few seconds, plus the settle time.
            started = time.monotonic()
            await wait_state(b, BarrierState.FAULT, timeout=1.5 + 5 + SEEN_WITHIN_S + 2)
            assert time.monotonic() - started < 1.5 + 5 + SEEN_WITHIN_S
            assert "relay dev0 is offline" in (b.fault or "")
            await rig.revive_relay(0)
            await wait_state(b, BarrierState.OPEN)  # recovered, fail_safe open
            assert kinds(events) == [SafetyEventKind.BARRIER_FAULT,
                                     SafetyEventKind.BARRIER_RECOVERED]
        finally:
            await rig.teardown()

    asyncio.run(main())


def test_a_relay_that_announces_nothing_is_not_offline_and_is_seen_at_the_next_command() -> None:
    """Old firmware or LWT disabled: behaves as before this change."""

    async def main() -> None:
        rig = TasmotaRig(lwt=False)
        await rig.setup()
        try:
            b, events = watched(rig, 0)
            await b.start()
            assert await b.open() in MOVING_OR_OPEN
            await wait_state(b, BarrierState.CLOSED)  # auto-close
            await rig.kill_relay(0)
            await asyncio.sleep(SEEN_WITHIN_S)
            assert b.state is BarrierState.CLOSED and events == []
            with pytest.raises(HardwareTimeoutError):
                await b.open()
            assert b.state is BarrierState.FAULT
        finally:
            await rig.teardown()

    asyncio.run(main())


def test_availability_false_ignores_the_relays_last_will() -> None:
    async def scenario(rig: Rig) -> None:
        b, events = watched(rig, 0, availability=False)
        await b.start()
        await rig.kill_relay(0)  # type: ignore[attr-defined]
        await asyncio.sleep(SEEN_WITHIN_S)
        assert b.state is BarrierState.CLOSED and events == []

    run_with_rig("mqtt_tasmota", scenario)


def test_custom_firmware_announces_on_the_topic_named_in_config() -> None:
    """ESPHome-style: <device>/status online/offline, lower case."""

    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, TasmotaRig)
        relay: dict[str, str] = {}

        def on_message(c: Any, msg: Any) -> None:
            state_topic = msg.topic.removesuffix("/set")
            relay[state_topic] = msg.payload.decode()
            c.publish(state_topic, msg.payload.decode(), qos=1)

        device = FakeRelay(rig.port, "custom-b7", "site/b7/relay/+/set",
                           ("site/b7/status", "online", "offline"), on_message)
        await device.start()
        b = create_barrier("gate7", BARRIER_CONFIG.validate_python({
            **FAST, "driver": "mqtt", "preset": "custom", "port": rig.port, "device": "b7",
            "command_topic": "site/{device}/relay/{channel}/set",
            "state_topic": "site/{device}/relay/{channel}",
            "availability_topic": "site/{device}/status",
            "reconnect_min_s": 0.2, "reconnect_max_s": 0.5,
        }))
        rig.barriers.append(b)
        try:
            await b.start()
            await device.kill()
            assert await time_to_fault(b) < SEEN_WITHIN_S
            assert "site/b7/status = offline" in (b.fault or "")
            await device.resume()
            await wait_state(b, BarrierState.OPEN)  # the recovery's open
            assert relay["site/b7/relay/1"] == "ON" and b.fault is None
        finally:
            await device.stop()

    run_with_rig("mqtt_tasmota", scenario)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"preset": "tasmota"}, RelayAvailability("tele/gate-east/LWT", "Online", "Offline")),
        ({"preset": "shelly"}, RelayAvailability("gate-east/online", "true", "false")),
        ({"preset": "custom"}, None),
        ({"preset": "custom", "availability_topic": "site/{device}/status"},
         RelayAvailability("site/gate-east/status", "online", "offline")),
        ({"preset": "tasmota", "availability_topic": "lwt/{device}",
          "availability_online": "up", "availability_offline": "down"},
         RelayAvailability("lwt/gate-east", "up", "down")),
        ({"preset": "tasmota", "availability": False}, None),
        ({"preset": "shelly", "availability": False, "availability_topic": "x"}, None),
    ],
)
def test_each_preset_watches_its_firmwares_announcement_unless_told_otherwise(
    data: dict[str, Any], expected: RelayAvailability | None
) -> None:
    custom = {"command_topic": "c/{device}", "state_topic": "s/{device}"}
    config = BARRIER_CONFIG.validate_python(
        {"driver": "mqtt", "device": "gate-east", **custom, **data}
    )
    assert config.relay_availability() == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"availability_topic": "tele/{device}/{channel}"}, "may use only"),
        ({"availability_online": "offline"}, "must differ"),
        ({"availability_online": "Yes", "availability_offline": "yes"}, "must differ"),
    ],
)
def test_a_broken_availability_setting_is_refused_at_start_up(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        BARRIER_CONFIG.validate_python({"driver": "mqtt", "device": "d", **data})


@pytest.mark.parametrize(
    ("payload", "meaning"),
    [("Online", True), ("online\n", True), ("Offline", False), ("OFFLINE", False),
     ("rebooting", None), ("", None)],
)
def test_announcements_are_read_ignoring_case_and_unknown_ones_mean_nothing(
    payload: str, meaning: bool | None
) -> None:
    topic, online, offline = AVAILABILITY_PRESETS["tasmota"]
    assert topic is not None
    assert RelayAvailability(topic, online, offline).says_online(payload) is meaning
