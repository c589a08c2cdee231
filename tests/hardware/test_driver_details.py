"""Driver specifics beyond the shared contract: pulse relays, Shelly RPC errors, custom MQTT
topics, HTTP answers that are not a confirmation."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controllers.barrier import BarrierState
from errors import HardwareError, HardwareTimeoutError
from hardware.registry import create_barrier
from tests.hardware.rigs import (
    BARRIER_CONFIG,
    FAST,
    HttpRig,
    ModbusRig,
    ShellyRig,
    TasmotaRig,
    eventually,
    run_with_rig,
    wait_state,
)


def build(data: dict[str, Any]) -> Any:
    return create_barrier("g", BARRIER_CONFIG.validate_python({**FAST, **data}))


def test_tasmota_pulse_relays_pulse_open_and_close_channels() -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig)
        # The exact commands are the point: a confirmation later than FAST's 0.3 s on a loaded
        # machine (a CI failure) is retried, and the log holds a second pulse.
        b = build({**rig.config(0), "relay_mode": "pulse", "open_channel": 1,
                   "close_channel": 2, "pulse_ms": 50, "command_timeout_s": 3.0})
        rig.barriers.append(b)
        await b.start()
        await b.open()
        await wait_state(b, BarrierState.OPEN)
        await b.close()
        await wait_state(b, BarrierState.CLOSED)
        assert rig.log == [
            ("cmnd/dev0/POWER1", "ON"), ("cmnd/dev0/POWER1", "OFF"),
            ("cmnd/dev0/POWER2", "ON"), ("cmnd/dev0/POWER2", "OFF"),
        ]

    run_with_rig("mqtt_tasmota", scenario)


def test_shelly_rpc_error_is_a_fault_not_a_timeout() -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, ShellyRig)
        rig.reply_error = True
        b = rig.make(0)
        await b.start()
        with pytest.raises(HardwareError) as caught:
            await b.open()
        assert not isinstance(caught.value, HardwareTimeoutError)
        assert b.state is BarrierState.FAULT
        assert "404" in (b.fault or "")

    run_with_rig("mqtt_shelly", scenario)


def test_custom_mqtt_topics_and_payloads() -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig)
        relay: dict[str, str] = {}
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="custom-device")

        def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            state_topic = msg.topic.removesuffix("/set")
            relay[state_topic] = msg.payload.decode()
            c.publish(state_topic, msg.payload.decode(), qos=1)

        device.on_message = on_message
        device.on_connect = lambda c, *_: c.subscribe("site/+/relay/+/set", qos=1)
        device.connect("127.0.0.1", rig.port)
        device.loop_start()
        try:
            await asyncio.sleep(0.2)
            b = build({
                "driver": "mqtt", "preset": "custom", "port": rig.port, "device": "b7",
                "command_topic": "site/{device}/relay/{channel}/set",
                "state_topic": "site/{device}/relay/{channel}",
                "payload_on": "1", "payload_off": "0", "state_on": "1", "state_off": "0",
            })
            rig.barriers.append(b)
            await b.start()
            await b.open()
            await wait_state(b, BarrierState.OPEN)
            assert relay == {"site/b7/relay/1": "1"}
            await b.close()
            await eventually(lambda: relay["site/b7/relay/1"] == "0", what="relay off")
        finally:
            device.disconnect()
            device.loop_stop()

    run_with_rig("mqtt_tasmota", scenario)


def test_an_echo_the_relay_gives_in_other_words_is_named_in_the_fault() -> None:
    """Found probing a relay whose firmware says "on"/"off" (Tasmota's StateText set so, a
    custom firmware): it answered every command at once, and the gate's fault read "open not
    confirmed within 0.3 s", as for a relay that never answered; the installer looked at the
    network. Now the fault says what the state topic said and what was expected."""

    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig)

        def says_it_lower_case(client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
            _, dev, command = msg.topic.split("/")
            client.publish(f"stat/{dev}/{command}", msg.payload.decode().lower(), qos=1)

        for relay in rig.fake_relays.values():
            relay.client.on_message = lambda c, _u, msg: says_it_lower_case(c, msg)
        b = build({**rig.config(0), "command_timeout_s": 3.0})
        rig.barriers.append(b)
        await b.start()
        started = asyncio.get_running_loop().time()
        with pytest.raises(HardwareError) as caught:
            await b.open()
        assert asyncio.get_running_loop().time() - started < 3.0  # not a time-out
        assert not isinstance(caught.value, HardwareTimeoutError)
        assert b.state is BarrierState.FAULT
        assert b.fault == (
            "MQTT relay dev0: stat/dev0/POWER1 said 'on', which is neither 'ON' nor 'OFF' "
            "(Tasmota says them as set by its StateText2 and StateText1)"
        )

    run_with_rig("mqtt_tasmota", scenario)


def test_a_single_relay_tasmota_is_confirmed_on_its_unindexed_power_topic() -> None:
    """Tasmota names a device's only relay POWER, not POWER1, in what it publishes (unless
    SetOption26 is on): a Sonoff Basic or any one-channel relay module answers
    cmnd/<dev>/POWER1 ON on stat/<dev>/POWER. Waiting on stat/<dev>/POWER1 only, every command
    to such a relay was "not confirmed within N s" and the gate a fault, while the relay
    switched each time."""

    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig)
        relay: list[str] = []
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sonoff-basic")

        def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            if msg.topic.rsplit("/", 1)[1] in ("POWER", "POWER1"):  # its one relay
                state = msg.payload.decode().upper()
                relay.append(state)
                # As Tasmota publishes a command's result: RESULT, then the power topic.
                c.publish("stat/solo/RESULT", f'{{"POWER":"{state}"}}', qos=1)
                c.publish("stat/solo/POWER", state, qos=1)

        device.on_message = on_message
        device.on_connect = lambda c, *_: c.subscribe("cmnd/solo/+", qos=1)
        device.connect("127.0.0.1", rig.port)
        device.loop_start()
        try:
            await asyncio.sleep(0.2)
            b = build({**rig.config(0), "device": "solo", "presence_topic": None,
                       "command_timeout_s": 3.0})
            rig.barriers.append(b)
            await b.start()
            started = asyncio.get_running_loop().time()
            await b.open()
            assert asyncio.get_running_loop().time() - started < 1.0  # confirmed, not retried
            await wait_state(b, BarrierState.OPEN)
            await b.close()
            await wait_state(b, BarrierState.CLOSED)
            assert b.fault is None and relay == ["ON", "OFF"]
        finally:
            device.disconnect()
            device.loop_stop()

    run_with_rig("mqtt_tasmota", scenario)


def test_parkgates_own_command_on_a_shared_topic_is_not_an_echo_of_other_words() -> None:
    """A custom relay that takes its command and reports its state on one topic: parkgate
    hears its own "1" there before the device's "on", and that is no answer of any kind."""

    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig)
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="one-topic-device")

        def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            if msg.payload in (b"1", b"0"):
                c.publish(msg.topic, "on" if msg.payload == b"1" else "off", qos=1)

        device.on_message = on_message
        device.on_connect = lambda c, *_: c.subscribe("site/+/relay/+", qos=1)
        device.connect("127.0.0.1", rig.port)
        device.loop_start()
        try:
            await asyncio.sleep(0.2)
            b = build({
                "driver": "mqtt", "preset": "custom", "port": rig.port, "device": "b7",
                "command_topic": "site/{device}/relay/{channel}",
                "state_topic": "site/{device}/relay/{channel}",
                "payload_on": "1", "payload_off": "0", "state_on": "on", "state_off": "off",
                "command_timeout_s": 3.0,
            })
            rig.barriers.append(b)
            await b.start()
            await b.open()
            await wait_state(b, BarrierState.OPEN)
            assert b.fault is None
        finally:
            device.disconnect()
            device.loop_stop()

    run_with_rig("mqtt_tasmota", scenario)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"on_url": "{base}/nope/{{channel}}"}, "status 404"),
        ({"expect_body": "accepted"}, "lacks"),
    ],
)
def test_http_answer_that_is_not_a_confirmation(overrides: dict[str, str], message: str) -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, HttpRig)
        base = f"http://127.0.0.1:{rig.port}"
        data = {**rig.config(0), **{k: v.format(base=base) for k, v in overrides.items()}}
        b = build(data)
        rig.barriers.append(b)
        await b.start()
        with pytest.raises(HardwareError, match=message):
            await b.open()
        assert b.state is BarrierState.FAULT

    run_with_rig("http", scenario)


def test_modbus_server_down_at_start_clears_when_it_answers_without_waiting_for_a_car() -> None:
    """Audit M6: a connect failure at start latched the fault until the next command, so the
    gate showed fault (and /healthz degraded) long after the server was back."""

    async def scenario(rig: Any) -> None:
        assert isinstance(rig, ModbusRig)
        await rig.link_down()
        # As on site: a presence loop but no limit switches, whose first reading would
        # otherwise end the fault by itself.
        b = build({**rig.config(0), "limit_open_input": None, "limit_closed_input": None,
                   "on_fault": "fail_secure"})
        rig.barriers.append(b)
        await b.start()
        assert b.state is BarrierState.FAULT and "cannot connect" in (b.fault or "")
        await rig.link_up()
        # Only the input poller talks to the server now: its first answer ends the fault
        # (the fault position is asserted again through the normal command path).
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert b.fault is None

    run_with_rig("modbus", scenario)


def test_mqtt_link_log_lines_say_what_happened(caplog: pytest.LogCaptureFixture) -> None:
    """Audit L2: the first connect was logged as "link restored", and a dead broker as paho's
    "Unspecified error"."""

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records]

    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig)
        b = rig.make(0)
        await b.start()
        await eventually(lambda: any("gate0: link up" in m for m in lines()), what="link up")
        assert not any("link restored" in m for m in lines())
        await rig.link_down()
        await wait_state(b, BarrierState.FAULT)
        assert "connection lost" in (b.fault or "")
        assert not any("Unspecified error" in m for m in lines())
        await rig.link_up()
        await eventually(lambda: any("gate0: link restored" in m for m in lines()), 10,
                         "link restored")

    with caplog.at_level(logging.INFO):
        run_with_rig("mqtt_tasmota", scenario)
