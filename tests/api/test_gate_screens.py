"""Gate screens end to end: a car decided at a gate of the running app (the demo community's
simulated screens) → what the lane screen tells the driver; the space held for an entry; two
cars in a row; a hung screen that must not delay the barrier; block-list and unknown cars
told alike."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.person_policy import FaceEvidence, decide_face
from hardware.base import ScreenLevel, ScreenMessage
from hardware.simulated import SimFault, SimulatedScreen
from tests.conftest import wait_until

DEMO_SPACES = ("A-001", "A-002", "A-003", "A-004", "A-005", "B-001", "B-002", "B-003")
RESIDENT = "闽A12345"
NEIGHBOUR = "闽A67890"


@pytest.fixture
def client(app_factory: Any) -> Any:
    """The demo community (sim screens on every gate), its car park fed by the test."""
    client = app_factory(parking={"sensors": {"simulate": False}})
    parking = client.app.state.services.parking
    for space in DEMO_SPACES:
        payload = {"space": space, "occupied": False, "ts": datetime.now(UTC).isoformat()}
        assert str(parking.ingest_sensor(json.dumps(payload).encode())) == "accepted"
    return client


def screen(client: Any, gate: str) -> SimulatedScreen:
    lane = client.app.state.services.screens.lanes[gate]
    assert isinstance(lane.screen, SimulatedScreen)
    return lane.screen


def showing(client: Any, gate: str, lines: tuple[str, ...], what: str,
            timeout: float = 5) -> ScreenMessage:
    sim = screen(client, gate)
    wait_until(lambda: sim.shown is not None and sim.shown.lines == lines, timeout,
               f"{what}: {lines} (shows {sim.shown})")
    assert sim.shown is not None
    return sim.shown


def typed(client: Any, headers: dict[str, str], gate: str, plate: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/gates/{gate}/typed-plate",
                           json={"plate": plate, "reason": "摄像头故障"}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def resident(client: Any, headers: dict[str, str], plate: str, building: str, unit: str) -> None:
    household = client.post("/api/v1/households", json={"building": building, "unit": unit},
                             headers=headers)
    assert household.status_code == 201, household.text
    vehicle = client.post("/api/v1/vehicles",
                          json={"plate": plate, "household_id": household.json()["id"]},
                          headers=headers)
    assert vehicle.status_code == 201, vehicle.text


def test_idle_screens_show_the_free_spaces_of_their_zone(client: Any) -> None:
    free = next(z["free"] for z in client.get("/api/v1/availability").json()["zones"]
                if z["id"] == "A")
    shown = showing(client, "main-in", (f"余位 {free}",), "the idle screen")
    assert shown.idle and shown.speak is None
    assert showing(client, "ped-1", (), "a pedestrian gate's idle screen").idle


def test_a_resident_is_welcomed_and_told_the_space_held_near_home(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    resident(client, admin_headers, RESIDENT, "5栋", "302")
    body = typed(client, guard_headers, "main-in", RESIDENT)
    assert body["decision"] == "allow"
    shown = showing(client, "main-in", ("闽A·12345", "欢迎回家", "请停 B-001", "B区地下 约30米"),
                    "the welcome with the held space")
    assert shown.level is ScreenLevel.OK and shown.passage_id == body["passage_id"]
    assert shown.speak == "欢迎回家，请停B-001"
    typed(client, guard_headers, "main-out", RESIDENT)
    showing(client, "main-out", ("闽A·12345", "一路平安"), "the goodbye at the exit")


def test_two_cars_in_a_row_are_each_told_their_own_space(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    resident(client, admin_headers, RESIDENT, "5栋", "302")
    resident(client, admin_headers, NEIGHBOUR, "5栋", "801")
    first = typed(client, guard_headers, "main-in", RESIDENT)
    second = typed(client, guard_headers, "main-in", NEIGHBOUR)
    assert first["decision"] == second["decision"] == "allow"
    parking = client.app.state.services.parking
    wait_until(lambda: parking.auto_holds == 2, 5, "both holds")
    now = datetime.now(UTC)
    held = {parking.holds.holder_of(s, now): s for s in ("B-001", "B-003")}
    assert set(held) == {RESIDENT, NEIGHBOUR}
    sim = screen(client, "main-in")
    wait_until(lambda: sim.shown is not None
               and sim.shown.lines[:3] == ("闽A·67890", "欢迎回家", f"请停 {held[NEIGHBOUR]}"),
               5, f"the second car's space (shows {sim.shown})")
    assert sim.shown is not None and sim.shown.passage_id == second["passage_id"]
    # No message ever put one car's plate beside the other car's space.
    for message in screen(client, "main-in").history:
        if message.idle or len(message.lines) < 3:
            continue
        plate = message.lines[0].replace("·", "")
        assert message.lines[2] == f"请停 {held[plate]}", message


def test_a_hung_screen_does_not_delay_the_barrier_and_order_holds_after_it(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    resident(client, admin_headers, RESIDENT, "5栋", "302")
    resident(client, admin_headers, NEIGHBOUR, "1栋", "101")
    sim = screen(client, "main-in")
    lane = client.app.state.services.screens.lanes["main-in"]
    showing(client, "main-in", (f"余位 {40}",), "the idle screen first")
    # Room for a slow request on a loaded machine: the proof is that the answer comes while
    # the screen is still hung (not given up on), not how many seconds it took.
    lane.gate = replace(lane.gate, timeout_s=5.0)
    taken = len(sim.history)
    sim.hung = True
    body = typed(client, guard_headers, "main-in", RESIDENT)
    assert (body["decision"], body["barrier"]) == ("allow", "opening")
    assert not lane.failing and len(sim.history) == taken, "the car waited for a hung screen"
    second = typed(client, guard_headers, "main-in", NEIGHBOUR)
    assert second["barrier"] == "opening"
    sim.hung = False
    # The first car's message was cut off by the time-out; the second car's comes after it,
    # and nothing of the first car's reaches the screen afterwards.
    showing(client, "main-in", ("闽A·67890", "欢迎回家", "请停 A-001", "A区地面 约30米"),
            "the second car's message once the screen answers", timeout=15)
    assert all("闽A·12345" not in m.lines for m in sim.history)
    assert lane.failures >= 1 and not lane.failing
    assert client.get("/healthz").json()["screens"]["main-in"] is True
    warnings = [r for r in caplog.records if "did not take a message" in r.getMessage()]
    assert len(warnings) == 1
    # /healthz names a screen that does not take its messages, and only that one.
    sim.offline = True
    client.portal.call(lane.want, ScreenMessage(("测试",), ScreenLevel.WAIT))
    wait_until(lambda: lane.failing, 5, "the refusal")
    health = client.get("/healthz").json()
    assert health["screens"] == {"main-in": False, "main-out": True, "ped-1": True}
    sim.offline = False
    wait_until(lambda: not lane.failing, 10, "the retry once the screen is back")
    assert client.get("/healthz").json()["screens"]["main-in"] is True


def test_block_listed_and_unknown_cars_are_told_exactly_alike(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    listed = client.post("/api/v1/lists", headers=admin_headers,
                         json={"plate": "闽B11111", "kind": "block", "reason": "欠费"})
    assert listed.status_code == 201, listed.text
    blocked = typed(client, guard_headers, "main-in", "闽B11111")
    assert blocked["decision"] == "deny" and blocked["reason"] == "blocked"
    told_blocked = showing(client, "main-in", ("闽B·11111", "未登记车辆", "请联系保安"),
                           "the blocked car's message")
    unknown = typed(client, guard_headers, "main-in", "闽B22222")
    assert unknown["reason"] == "unknown_plate"
    told_unknown = showing(client, "main-in", ("闽B·22222", "未登记车辆", "请联系保安"),
                           "the unknown car's message")
    assert told_blocked.lines[1:] == told_unknown.lines[1:]
    assert (told_blocked.level, told_blocked.speak) == (told_unknown.level, told_unknown.speak)


def test_a_guard_open_and_a_barrier_fault_are_told(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    resident(client, admin_headers, RESIDENT, "5栋", "302")
    barrier = client.app.state.services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    body = typed(client, guard_headers, "main-in", RESIDENT)
    assert body["barrier"] == "fault"
    showing(client, "main-in", ("闽A·12345", "道闸故障", "请联系保安"), "the fault")
    barrier.clear_faults()
    opened = client.post("/api/v1/gates/main-in/actions",
                         json={"action": "open", "reason": "设备故障处理",
                               "passage_id": body["passage_id"]},
                         headers=guard_headers)
    assert opened.status_code == 200, opened.text
    showing(client, "main-in", ("保安已放行",), "the guard's open")


def test_a_face_gate_asks_for_a_head_turn(client: Any) -> None:
    services = client.app.state.services
    decision = decide_face(FaceEvidence(faces_seen=3, resident_id=None, live=None))
    result = client.portal.call(lambda: services.runtime.handle_decision("ped-1", decision))
    assert "turn_head" in result.decision.flags
    shown = showing(client, "ped-1", ("请转头再试",), "the head-turn prompt")
    assert shown.level is ScreenLevel.WAIT and shown.speak == "请转头再试"


def test_during_a_database_outage_a_face_gate_still_asks_for_a_head_turn(client: Any) -> None:
    """Decided from the offline snapshot, the passage has no row yet; its event carries the
    reason and flags, so the person is asked to turn the head, not told to wait for a guard."""
    services = client.app.state.services
    services.runtime.hold_offline(True)  # as during an outage: decided and journalled offline
    try:
        decision = decide_face(FaceEvidence(faces_seen=3, resident_id=None, live=None))
        result = client.portal.call(lambda: services.runtime.handle_decision("ped-1", decision))
        assert "offline" in result.decision.flags
        shown = showing(client, "ped-1", ("请转头再试",), "the head-turn prompt offline")
        assert shown.passage_id is None
    finally:
        services.runtime.hold_offline(False)


def test_the_gate_list_and_the_event_stream_say_what_each_screen_shows(
    client: Any, guard_headers: dict[str, str]
) -> None:
    """For the booth's gate card: the list (a page opened now) and a `screen` event (a page
    already open) carry the lines the screen was sent."""
    bus = client.app.state.services.bus
    seen: list[dict[str, Any]] = []
    with bus.listening(lambda e: seen.append(e.data) if e.type == "screen" else None):
        typed(client, guard_headers, "main-in", NEIGHBOUR)
        shown = showing(client, "main-in", ("闽A·67890", "未登记车辆", "请联系保安"),
                        "the stranger")
    gates = {g["id"]: g for g in client.get("/api/v1/gates", headers=guard_headers).json()}
    assert gates["main-in"]["screen"] == list(shown.lines)
    assert gates["ped-1"]["screen"] == []  # a face gate's screen at rest: blank, not null
    wait_until(lambda: any(e["gate_id"] == "main-in" and e["lines"] == list(shown.lines)
                           for e in seen), 5, "the screen event")
    assert next(e for e in seen if e["lines"] == list(shown.lines))["level"] == "wait"
