"""A Tasmota relay that loses power between cars: the guard sees the gate faulted within
seconds (gate strip, console, /healthz, a hardware_fault alarm) from the relay's Last Will on
the broker, before any resident's car is at the barrier; when the relay is back the fault
clears by itself and the gate opens for the next car."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from models.events import Alarm
from tests.api.test_console import cookie_login
from tests.api.test_vehicle_entry import push, register_resident_car
from tests.conftest import LabelledPhoto, add_user, wait_until
from tests.hardware.rigs import TasmotaRig

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="mosquitto is not installed (.ci/run installs it)"
)


@pytest.fixture
def tasmota() -> Iterator[TasmotaRig]:
    rig = TasmotaRig()
    asyncio.run(rig.setup())
    yield rig
    asyncio.run(rig.teardown())


def test_a_relay_that_loses_power_is_a_fault_before_the_next_car_and_clears_when_back(
    app_factory: Any, tasmota: TasmotaRig, readable_photos: list[LabelledPhoto]
) -> None:
    barrier = {**tasmota.config(0), "command_timeout_s": 0.5, "retries": 1, "open_seconds": 30}
    client = app_factory(community={
        "name": "relay-offline",
        "zones": [{"id": "A", "capacity": 40}],
        "gates": [{"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A",
                   "barrier": barrier}],
    })
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    gate = services.barriers["main-in"]
    wait_until(lambda: str(gate.state) == "closed", 5, "the MQTT barrier to connect")
    register_resident_car(client, admin, readable_photos[0].plate)

    asyncio.run(tasmota.kill_relay(0))  # power cut at the relay; nobody sends a command
    wait_until(lambda: client.get("/healthz").json()["gates"]["main-in"] == "fault", 5,
               "/healthz to show the gate faulted")
    assert client.get("/healthz").json()["status"] == "degraded"
    (strip,) = client.get("/api/v1/gates", headers=admin).json()
    assert strip["state"] == "fault" and "relay dev0 is offline" in strip["fault"]
    cookie_login(client, "admin", "admin")
    assert "relay dev0 is offline" in client.get("/console").text
    client.cookies.clear()  # the camera's frame push below is not a console form

    def alarms() -> list[Alarm]:
        with services.sessions() as session:
            return list(session.scalars(select(Alarm).where(Alarm.kind == "hardware_fault")))

    wait_until(lambda: bool(alarms()), 5, "the hardware_fault alarm")
    (alarm,) = alarms()
    assert alarm.gate_id == "main-in" and "offline" in alarm.message
    assert alarm.passage_id is None  # raised before any car, not by one

    asyncio.run(tasmota.revive_relay(0))
    wait_until(lambda: client.get("/healthz").json()["gates"]["main-in"] != "fault", 10,
               "the gate to recover once the relay is back")
    (strip,) = client.get("/api/v1/gates", headers=admin).json()
    assert strip["fault"] is None
    body = push(client, "main-in", readable_photos[0]).json()
    assert body["decision"] == "allow" and body["barrier"] in ("opening", "open")
    assert tasmota.relay_on(0)
