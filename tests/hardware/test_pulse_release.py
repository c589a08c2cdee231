"""A pulse relay left energised: found restarting the Mosquitto broker under a Tasmota gate
wired in pulse mode (separate OPEN and CLOSE dry contacts). The open pulse's ON reached the
relay, the broker went before its OFF could be sent, and nothing ever sent that OFF: the
gate's recovery closed with a pulse on the CLOSE contact while the OPEN contact stayed made,
which on a barrier controller holds the arm up, and the console read "closed". Now a channel
whose pulse did not end is switched off before the next pulse on any other."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controllers.barrier import BarrierState
from errors import HardwareError
from hardware.registry import create_barrier
from tests.hardware.rigs import BARRIER_CONFIG, FAST, TasmotaRig, eventually, run_with_rig

pytestmark = pytest.mark.timeout(60)


def last(rig: TasmotaRig, topic: str) -> str | None:
    said = [payload for t, payload in rig.log if t == topic]
    return said[-1] if said else None


def test_a_pulse_cut_by_a_broker_restart_is_released_before_the_recovery_close() -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, TasmotaRig)
        b = create_barrier(
            "gate0",
            BARRIER_CONFIG.validate_python(
                {
                    **FAST,
                    **rig.config(0),
                    "relay_mode": "pulse",
                    "open_channel": 1,
                    "close_channel": 2,
                    "pulse_ms": 1000,
                    "command_timeout_s": 3.0,
                    "motion_timeout_s": 5.0,
                    "on_fault": "fail_secure",
                }
            ),
        )
        rig.barriers.append(b)
        await b.start()
        opening = asyncio.create_task(b.open())
        await eventually(lambda: last(rig, "cmnd/dev0/POWER1") == "ON", what="the pulse's ON")
        await rig.link_down()  # mid-pulse: its OFF cannot be sent
        with pytest.raises(HardwareError):
            await opening
        assert b.state is BarrierState.FAULT
        assert last(rig, "cmnd/dev0/POWER1") == "ON"  # the OPEN contact is still made

        await rig.link_up_device_first()
        # The recovery (fail_secure: close) lets go of the OPEN contact, then pulses CLOSE.
        await eventually(lambda: b.state is BarrierState.CLOSED, what="closed again")
        assert last(rig, "cmnd/dev0/POWER1") == "OFF"
        assert last(rig, "cmnd/dev0/POWER2") == "OFF"
        assert ("cmnd/dev0/POWER2", "ON") in rig.log

    run_with_rig("mqtt_tasmota", scenario)
