"""异常抬杆 end to end: a gate on a real Modbus board (pymodbus's own server) whose open limit
switch is made while parkgate sent no open raises a ``barrier_manual_open`` alarm, stored and
listed by ``GET /api/v1/alarms`` and on the guard console's alarm list in Chinese, also when it
happens during a database outage; a resident's car let in by the system raises none."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models.events import Alarm
from tests.api.test_console import cookie_login
from tests.api.test_vehicle_entry import push, register_resident_car
from tests.conftest import LabelledPhoto, add_user, wait_until
from tests.db_outage import DatabaseOutage
from tests.hardware.rigs import ModbusRig

pytestmark = pytest.mark.timeout(120)

KIND = "barrier_manual_open"
# Generous deadlines: the board is polled every 20 ms, but the suite may share a busy box.
DEADLINE_S = 15.0
# Longer than BarrierTiming.raise_settle_s, so the board's closed edge is behind us.
SETTLED_S = 0.7
# Gate 0 of the rig: coil 0, open limit input 20, closed limit input 21.
OPEN_LIMIT, CLOSED_LIMIT = 20, 21


class ModbusBoard:
    """The rig's pymodbus server on an event loop of its own thread, since the app under test
    runs on the TestClient's."""

    def __init__(self) -> None:
        self.rig = ModbusRig()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _run(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self._run(self.rig.setup())

    def stop(self) -> None:
        self._run(self.rig.link_down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def raise_by_hand(self) -> None:
        """What the board reads when a remote lifts the arm: closed released, then open."""
        self.rig.inputs[CLOSED_LIMIT] = False
        time.sleep(0.1)
        self.rig.inputs[OPEN_LIMIT] = True


@pytest.fixture
def board() -> Iterator[ModbusBoard]:
    b = ModbusBoard()
    b.start()
    yield b
    b.stop()


def community(board: ModbusBoard) -> dict[str, Any]:
    barrier = {**board.rig.config(0), "command_timeout_s": 1.0, "retries": 1,
               "open_seconds": 1.0, "motion_timeout_s": 3.0}
    return {
        "name": "manual-open-test",
        "zones": [{"id": "A", "capacity": 40}],
        "gates": [{"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A",
                   "barrier": barrier}],
    }


def read_closed(client: Any) -> None:
    """The board's first poll is in and the arm has been closed a moment."""
    barrier = client.app.state.services.barriers["main-in"]
    wait_until(lambda: barrier.limit_closed.value is True, DEADLINE_S, "the first input poll")
    wait_until(lambda: str(barrier.state) == "closed", DEADLINE_S, "the barrier closed")
    time.sleep(SETTLED_S)


def stored(client: Any) -> list[Alarm]:
    try:
        with client.app.state.services.sessions() as session:
            return list(session.scalars(select(Alarm).where(Alarm.kind == KIND)))
    except Exception:  # the database is still coming back
        return []


def test_a_car_let_in_raises_nothing_and_a_lifted_arm_is_an_alarm_guards_see(
    app_factory: Any, board: ModbusBoard, readable_photos: list[LabelledPhoto]
) -> None:
    client = app_factory(community=community(board))
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    barrier = client.app.state.services.barriers["main-in"]
    read_closed(client)

    # A resident's car: parkgate opens, the arm goes up and comes down after open_seconds.
    photo = readable_photos[0]
    register_resident_car(client, headers, photo.plate)
    body = push(client, "main-in", photo).json()
    assert body["decision"] == "allow" and body["barrier"] in ("opening", "open")
    wait_until(lambda: board.rig.relay_on(0), DEADLINE_S, "the relay on")
    wait_until(lambda: str(barrier.state) == "open", DEADLINE_S, "the arm up")
    wait_until(lambda: str(barrier.state) == "closed", DEADLINE_S, "the arm down again")
    time.sleep(SETTLED_S)
    assert stored(client) == []

    # Someone lifts the arm with the barrier's remote.
    board.raise_by_hand()
    wait_until(lambda: bool(stored(client)), DEADLINE_S, "the manual-open alarm stored")
    (alarm,) = stored(client)
    assert alarm.gate_id == "main-in" and alarm.passage_id is None
    assert "without a command" in alarm.message

    listed = client.get("/api/v1/alarms", headers=headers).json()
    (item,) = [a for a in listed["items"] if a["kind"] == KIND]
    assert item["gate_id"] == "main-in" and item["id"] == alarm.id and item["stored"] is True
    # The day report counts it among the day's alarms by kind (the community's local day).
    zone = ZoneInfo(client.app.state.services.settings.community.timezone)
    day = datetime.fromisoformat(item["at"]).astimezone(zone).date()
    report = client.get(f"/api/v1/reports/{day.isoformat()}", headers=headers).json()
    assert report["alarms"] == {KIND: 1}

    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    html = client.get("/console/fragments/alarms").text
    assert "异常抬杆" in html and "请看监控" in html


def test_an_arm_lifted_during_a_database_outage_is_shown_at_once_and_stored_later(
    app_factory: Any, board: ModbusBoard, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, community=community(board),
                         access={"offline_retry_s": 0.2})
    services = client.app.state.services
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    read_closed(client)

    outage.cut(services.engine)
    board.raise_by_hand()
    journal = services.runtime._journal
    wait_until(lambda: bool(journal.backlog().alarms), DEADLINE_S, "the alarm journalled")
    listed = client.get("/api/v1/alarms", headers=headers).json()
    assert listed["database"] is False
    assert [(a["kind"], a["gate_id"], a["stored"]) for a in listed["items"]] == [
        (KIND, "main-in", False)
    ]

    outage.restore()
    wait_until(lambda: bool(stored(client)), 30, "the alarm stored once the database answered")
    (alarm,) = stored(client)
    assert alarm.gate_id == "main-in" and "without a command" in alarm.message
    # The journal line is dropped only after the row is committed (a crash in between writes
    # it twice, keyed, never loses it), so the empty journal can follow the stored row.
    wait_until(lambda: not journal.waiting(), 10, "the journal emptied once the alarm was stored")
