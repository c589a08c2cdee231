"""What an MQTT presence loop's topic says: found probing a Tasmota gate on a real broker, any
payload but ``presence_on`` read as the loop free. A car on the loop under an open arm, then a
message that says nothing about the loop (the device's JSON, an empty message clearing the
topic's retained value, a garbled one), and the arm came down on the car. Now only
``presence_off`` (OFF beside the default ON) frees the loop; anything else is logged once and
the loop stays as it was read."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from controllers.barrier import BarrierState
from hardware.config import MqttInputConfig
from hardware.registry import create_barrier
from hardware.relay_barrier import RelayBarrier
from tests.hardware.rigs import BARRIER_CONFIG, FAST, TasmotaRig, eventually, run_with_rig

pytestmark = pytest.mark.timeout(60)

# Said on the loop's topic, none of them about the loop.
NOT_THE_LOOP = ['{"POWER2":"ON"}', "", "\ufffd\ufffd", "Offline"]


def test_a_payload_that_is_not_off_does_not_free_the_loop_under_a_car(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig) and rig.device is not None
        b = rig.make(0)
        assert isinstance(b, RelayBarrier)
        await b.start()
        await b.open()
        await eventually(lambda: b.state is BarrierState.OPEN, what="open")
        await rig.set_presence(b, 0, True)  # a car under the arm
        assert await b.close() is BarrierState.OPEN  # deferred: the loop is occupied

        def ignored() -> list[str]:
            return [r.getMessage() for r in caplog.records if "tele/dev0/LOOP" in r.getMessage()]

        with caplog.at_level(logging.WARNING, logger="hardware.mqtt"):
            for payload in NOT_THE_LOOP:
                # retain=True with "" is how an installer clears the topic's retained value.
                rig.device.publish("tele/dev0/LOOP", payload, qos=1, retain=payload == "")
            await eventually(lambda: bool(ignored()), what="the first one ignored")
            await asyncio.sleep(0.5)  # the others, sent with it, heard meanwhile
        assert b.machine.presence is True
        assert b.state is BarrierState.OPEN and rig.relay_on(0)  # never onto the car
        assert len(ignored()) == 1, ignored()  # once, not once per message
        assert "is neither 'ON' nor 'OFF'" in ignored()[0] and "ignored" in ignored()[0]

        await rig.set_presence(b, 0, False)  # OFF: the car has gone
        await eventually(lambda: b.state is BarrierState.CLOSED, what="closed after the car")
        assert not rig.relay_on(0)

    run_with_rig("mqtt_tasmota", scenario)


def test_a_custom_presence_on_without_presence_off_reads_every_other_payload_as_free() -> None:
    """As before: with its own presence_on and no presence_off, nothing says which payload
    frees the loop, so every other one does; with presence_off, only that one."""

    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig) and rig.device is not None
        own_on = BARRIER_CONFIG.validate_python({**FAST, **rig.config(0), "presence_on": "1"})
        both = BARRIER_CONFIG.validate_python(
            {**FAST, **rig.config(1), "presence_on": "1", "presence_off": "0"}
        )
        assert own_on.presence_free() is None and both.presence_free() == "0"
        b0, b1 = create_barrier("gate0", own_on), create_barrier("gate1", both)
        rig.barriers += [b0, b1]
        assert isinstance(b0, RelayBarrier) and isinstance(b1, RelayBarrier)
        await b0.start()
        await b1.start()
        for k in (0, 1):
            # Retained: the gates hear it however their subscriptions race this publish.
            rig.device.publish(f"tele/dev{k}/LOOP", "1", qos=1, retain=True)
        await eventually(lambda: b0.machine.presence and b1.machine.presence, what="occupied")
        for k in (0, 1):
            rig.device.publish(f"tele/dev{k}/LOOP", "garbage", qos=1)
        await eventually(lambda: b0.machine.presence is False, what="gate0's loop free")
        assert b1.machine.presence is True
        rig.device.publish("tele/dev1/LOOP", "0", qos=1)
        await eventually(lambda: b1.machine.presence is False, what="gate1's loop free")

    run_with_rig("mqtt_tasmota", scenario)


def test_an_mqtt_contact_frees_only_on_its_off_payload() -> None:
    default = MqttInputConfig.model_validate({"driver": "mqtt", "host": "h", "topic": "t"})
    assert default.payload_free() == "OFF"
    own = MqttInputConfig.model_validate(
        {"driver": "mqtt", "host": "h", "topic": "t", "payload_on": "1"}
    )
    assert own.payload_free() is None
