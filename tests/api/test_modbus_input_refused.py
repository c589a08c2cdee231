"""A gate whose Modbus board refuses the presence loop's address (exception 2) end to end: the
guards see it before any car (/healthz degraded, the gate strip, one ``hardware_fault`` alarm
naming the input), a car at it gets the fault as at a dead board without a second alarm, and
the fault clears once the board has the address. It was a warning in the log at each poll."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from models.events import Alarm
from tests.api.test_barrier_manual_open import ModbusBoard
from tests.api.test_console import cookie_login
from tests.api.test_vehicle_entry import push, register_resident_car
from tests.conftest import LabelledPhoto, add_user, wait_until

pytestmark = pytest.mark.timeout(120)

DEADLINE_S = 15.0
REFUSED = "board refuses input address 100 (presence loop, presence_input)"


@pytest.fixture
def board() -> Iterator[ModbusBoard]:
    b = ModbusBoard()  # 64 discrete inputs: 0 to 63
    b.start()
    yield b
    b.stop()


def community(board: ModbusBoard) -> dict[str, Any]:
    barrier = {
        **board.rig.config(0),
        "presence_input": 100,
        "command_timeout_s": 1.0,
        "retries": 1,
        "open_seconds": 1.0,
        "motion_timeout_s": 3.0,
    }
    return {
        "name": "refused-input-test",
        "zones": [{"id": "A", "capacity": 40}],
        "gates": [
            {"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A", "barrier": barrier}
        ],
    }


def hardware_alarms(client: Any) -> list[Alarm]:
    with client.app.state.services.sessions() as session:
        return list(session.scalars(select(Alarm).where(Alarm.kind == "hardware_fault")))


def test_a_loop_address_the_board_lacks_is_seen_before_the_first_car_and_clears_when_fixed(
    app_factory: Any, board: ModbusBoard, readable_photos: list[LabelledPhoto]
) -> None:
    client = app_factory(community=community(board))
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    barrier = client.app.state.services.barriers["main-in"]

    wait_until(lambda: str(barrier.state) == "fault", DEADLINE_S, "the gate's fault")
    assert REFUSED in (barrier.fault or "") and "counted from 0" in (barrier.fault or "")
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["gates"]["main-in"] == "fault"
    wait_until(lambda: bool(hardware_alarms(client)), DEADLINE_S, "the alarm")
    (alarm,) = hardware_alarms(client)
    assert alarm.gate_id == "main-in" and REFUSED in alarm.message

    # A resident's car: the gate answers with its fault, nothing more is raised.
    photo = readable_photos[0]
    register_resident_car(client, headers, photo.plate)
    body = push(client, "main-in", photo).json()
    assert body["decision"] == "allow" and body["barrier"] == "fault"
    assert str(barrier.state) == "fault"
    assert len(hardware_alarms(client)) == 1
    # The guard's gate strip says what it is, and keeps the driver's text for the installer.
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    strip = re.search(
        r'<div class="gate" data-gate="main-in".*?<div class="gate-buttons">',
        client.get("/console").text,
        re.S,
    )
    assert strip is not None and "控制板无此输入地址" in strip.group(0)
    assert REFUSED in strip.group(0)

    # The installer sets the board up with the address: the gate is well again by itself.
    board._run(board.rig.link_down())
    board.rig.input_count = 128
    board._run(board.rig.link_up())
    wait_until(lambda: str(barrier.state) == "closed", DEADLINE_S, "the gate closed again")
    assert client.get("/healthz").json()["gates"]["main-in"] == "closed"
    assert len(hardware_alarms(client)) == 1
