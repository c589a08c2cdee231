"""parkgate started while the MQTT broker of a gate is down: the guard sees that gate as
faulted from the first request (gate strip, /healthz, a hardware_fault alarm), not when the
first resident's car is refused; once the broker is back the gate is fine again."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from models.events import Alarm
from tests.conftest import add_user, wait_until
from tests.hardware.rigs import TasmotaRig

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="mosquitto is not installed (.ci/run installs it)"
)


@pytest.fixture
def broker_down() -> Iterator[TasmotaRig]:
    """A Tasmota relay whose broker is stopped before parkgate starts."""
    rig = TasmotaRig()
    asyncio.run(rig.setup())
    asyncio.run(rig.link_down())
    yield rig
    asyncio.run(rig.teardown())


def test_gate_whose_broker_is_down_at_start_is_a_fault_until_the_broker_returns(
    app_factory: Any, broker_down: TasmotaRig
) -> None:
    barrier = {**broker_down.config(0), "command_timeout_s": 0.5, "retries": 1}
    client = app_factory(community={
        "name": "broker-down",
        "zones": [{"id": "A", "capacity": 40}],
        "gates": [{"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A",
                   "barrier": barrier}],
    })
    services = client.app.state.services
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}

    # The first requests after start already show it; no car was needed.
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["gates"]["main-in"] == "fault"
    (strip,) = client.get("/api/v1/gates", headers=guard).json()
    assert strip["state"] == "fault" and "not reachable" in strip["fault"]

    def alarms() -> list[Alarm]:
        with services.sessions() as session:
            return list(session.scalars(select(Alarm).where(Alarm.kind == "hardware_fault")))

    wait_until(lambda: bool(alarms()), 5, "the hardware_fault alarm")
    (alarm,) = alarms()
    assert alarm.gate_id == "main-in" and "not reachable" in alarm.message

    asyncio.run(broker_down.link_up_device_first())
    wait_until(lambda: client.get("/healthz").json()["gates"]["main-in"] != "fault", 10,
               "the gate to recover once its broker is up")
    (strip,) = client.get("/api/v1/gates", headers=guard).json()
    assert strip["fault"] is None
