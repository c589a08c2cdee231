"""The gate runtime driving a real barrier (a pymodbus server): its wait is sized from the
barrier's own retries, so a slow failure ends as the driver's fault, not as a cut-off open."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controllers.barrier import BarrierState
from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction
from hardware.registry import create_barrier
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from tests.hardware.rigs import BARRIER_CONFIG, FAST, ModbusRig, Rig, mute, run_with_rig

pytestmark = pytest.mark.timeout(60)


def runtime_for(barrier: object, tmp_path: Path) -> GateRuntime:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'parkgate.db'}")
    migrate(engine)
    return GateRuntime(
        store=SqlAccessStore(make_session_factory(engine)),
        gates={"gate0": GateContext("gate0", Direction.IN, None)},
        barriers={"gate0": barrier},  # type: ignore[dict-item]
        policy=AccessPolicy(),
        bus=EventBus(),
        fault_alarms=False,
    )


def test_a_dead_relay_ends_in_the_drivers_fault_and_the_next_open_is_sent(
    tmp_path: Path,
) -> None:
    """Audit H2: with command_timeout_s × (1 + retries) over the runtime's old fixed 5 s, the
    open was cancelled mid-retry, the gate stayed "opening" and the next car was recorded
    as opening although nothing reached the device."""

    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        # Slow device settings: 3 attempts of 1.8 s, so the driver needs 5.6 s to give up.
        barrier = create_barrier("gate0", BARRIER_CONFIG.validate_python(
            {**FAST, **rig.config(0), "command_timeout_s": 1.8, "retries": 2,
             "retry_delay_s": 0.1}
        ))
        rig.barriers.append(barrier)
        runtime = runtime_for(barrier, tmp_path)
        await barrier.start()
        mute(rig, 0)  # the server never answers the relay write
        started = time.monotonic()
        assert await runtime.open_barrier("gate0") == "fault"
        assert time.monotonic() - started > 5.5  # every attempt was made
        assert barrier.state is BarrierState.FAULT
        assert barrier.fault and "not confirmed within 1.8 s" in barrier.fault

        mute(rig)
        assert await runtime.open_barrier("gate0") in ("opening", "open")
        assert rig.relay_on(0)  # this time the command reached the device

    run_with_rig("modbus", scenario)
