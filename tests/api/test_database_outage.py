"""A database outage does not stop the gates and loses no passage.

The database really goes away (PostgreSQL behind a proxy that is cut; the SQLite file
disappears). Cars keep being decided from the offline snapshot, every passage is journalled
on local disk before the barrier moves, and once the database answers the journal is written
to it by the controller on its own: the passages, their barrier outcomes, the presence and
zone counts, and one alarm that tells the office what happened.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.console.config import ConsoleConfig
from api.console.security import ConsoleSecurity
from controllers.ports import PassageRecord
from controllers.values import AccessDecision, Credential, Direction, Reason, Sighting, Verdict
from models.db import transaction
from models.events import Passage
from models.people import Household
from models.vehicles import Presence, Vehicle
from services.container import build_services
from services.passage_journal import FilePassageJournal
from tests.api.test_credentials import present, resident_with_pin
from tests.api.test_face_gate import START, enrol_lin, jpegs
from tests.api.test_vehicle_entry import free_in_zone, register_resident_car
from tests.conftest import add_user
from tests.db_outage import DatabaseOutage
from vision.plate_render import render_gate_scene, render_plate

CAMERA = {"X-API-Key": "test-camera-key"}
RESIDENT = "闽A12345"
STRANGER = "粤B67890"
FAST = {"access": {"offline_refresh_s": 0.2, "offline_retry_s": 0.2}}


def gate_frame(plate: str) -> bytes:
    scene = render_gate_scene(render_plate(plate), random.Random(3), approach=1.0)
    ok, jpeg = cv2.imencode(".jpg", scene)
    assert ok
    return jpeg.tobytes()


def push(client: Any, gate: str, plate: str) -> Any:
    return client.post(f"/api/v1/gates/{gate}/frames", content=gate_frame(plate),
                       headers={**CAMERA, "Content-Type": "image/jpeg"})


def recorded(client: Any, admin: dict[str, str]) -> int | None:
    """How many passages the database holds; None while the API cannot read it."""
    page = client.get("/api/v1/passages", headers=admin)
    return int(page.json()["total"]) if page.status_code == 200 else None


def wait_for(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)




def test_gates_decide_offline_and_the_journal_reaches_the_database(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.runtime.refresh_offline)
    entered = push(client, "main-in", RESIDENT)
    assert entered.json()["decision"] == "allow" and entered.json()["plate"] == RESIDENT
    free_before_exit = free_in_zone(client, "A")

    outage.cut(services.engine)
    left = push(client, "main-out", RESIDENT)
    stranger = push(client, "main-in", STRANGER)
    during = client.get("/api/v1/passages", headers=admin)
    health = client.get("/healthz").json()

    assert left.status_code == 200, left.text
    assert left.json()["decision"] == "allow" and left.json()["barrier"] in ("open", "opening")
    assert left.json()["passage_id"] is None and left.json()["journal_id"]
    assert stranger.status_code == 200, stranger.text
    assert stranger.json()["plate"] == STRANGER and stranger.json()["decision"] != "allow"
    assert during.status_code == 503 and "database" in during.json()["detail"]
    assert health["status"] == "degraded" and health["database"] is False
    assert health["journal_waiting"] == 2

    outage.restore()

    wait_for(lambda: recorded(client, admin) == 3)
    items = client.get("/api/v1/passages", headers=admin).json()["items"]
    by_plate_gate = {(p["plate"], p["gate_id"]): p for p in items}
    exit_row = by_plate_gate[(RESIDENT, "main-out")]
    assert "offline" in exit_row["flags"] and exit_row["decision"] == "allow"
    assert exit_row["barrier_outcome"] == left.json()["barrier"]
    assert "offline" in by_plate_gate[(STRANGER, "main-in")]["flags"]
    assert "offline" not in by_plate_gate[(RESIDENT, "main-in")]["flags"]
    # The exit counted: the availability the API serves follows the write-back's availability
    # event, a moment after the rows are readable (a CI run read it in between).
    wait_for(lambda: free_in_zone(client, "A") == free_before_exit + 1, 10.0)
    alarms = client.get("/api/v1/alarms", headers=admin).json()["items"]
    outage_alarm = next(a for a in alarms if a["kind"] == "database_outage")
    assert "2 passage(s)" in outage_alarm["message"]
    assert not (services.settings.data_dir / "journal" / "passages.jsonl").exists()
    assert client.get("/healthz").json()["status"] == "ok"
    # The car left while offline; the next entry is a normal one, not an anti-passback.
    again = push(client, "main-in", RESIDENT)
    assert again.json()["decision"] == "allow"
    row = client.get(f"/api/v1/passages/{again.json()['passage_id']}", headers=admin).json()
    assert "anti_passback" not in row["flags"]


def test_without_a_snapshot_vehicles_go_to_a_guard_and_are_still_recorded(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url,
                         access={"offline_decisions": False, "offline_retry_s": 0.2})
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)

    outage.cut(services.engine)
    response = push(client, "main-in", RESIDENT)
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "review"
    assert response.json()["reason"] == "database_unavailable"
    assert response.json()["barrier"] == "closed"

    outage.restore()
    wait_for(lambda: recorded(client, admin) == 1)
    (row,) = client.get("/api/v1/passages", headers=admin).json()["items"]
    assert row["decision"] == "review" and row["reason"] == "database_unavailable"


def test_a_journal_left_by_a_crash_is_written_once_at_the_next_start(
    app_factory: Any, make_settings: Any
) -> None:
    # The controller ran with its database, then died with a passage in the journal.
    before = app_factory(**FAST)
    before.__exit__(None, None, None)
    before.app.state.services.engine.dispose()
    settings = make_settings()
    journal = FilePassageJournal(settings.data_dir / "journal" / "passages.jsonl")
    sighting = Sighting("main-in", datetime.now(UTC), "闽A54321", 0.95)
    decision = AccessDecision(Verdict.DENY, Reason.UNKNOWN_PLATE, Credential.PLATE,
                              flags=("offline",))
    journal.append(PassageRecord("main-in", Direction.IN, "A", sighting, decision, None,
                                 journal_id="crash-1"))
    kept = journal.path.read_bytes()  # as if the controller died before trimming it

    client = app_factory(**FAST)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}

    wait_for(lambda: recorded(client, admin) == 1)
    journal.path.write_bytes(kept)  # the same entry comes back
    wait_for(lambda: not journal.path.exists())
    assert recorded(client, admin) == 1
    (row,) = client.get("/api/v1/passages", headers=admin).json()["items"]
    assert row["plate"] == "闽A54321" and row["reason"] == "unknown_plate"



def test_an_enrolled_resident_walks_in_by_face_during_an_outage(
    app_factory: Any, outage: DatabaseOutage, clip: list[Any]
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    rid = enrol_lin(client, admin, clip)

    outage.cut(services.engine)
    body = client.post("/api/v1/gates/ped-1/frames", files=jpegs(clip[START : START + 30]),
                       headers=CAMERA).json()
    assert (body.get("decision"), body.get("reason")) == ("allow", "face_resident"), body
    assert body["passage_id"] is None and body["journal_id"], body

    outage.restore()
    wait_for(lambda: recorded(client, admin) == 1)
    (row,) = client.get("/api/v1/passages", headers=admin).json()["items"]
    assert row["resident_id"] == rid and row["credential"] == "face"
    assert "offline" in row["flags"] and row["details"]["liveness"]["live"] is True


def test_journal_goes_first_when_the_database_returns_before_the_next_car(
    make_settings: Any, plate_recognizer: Any, outage: DatabaseOutage
) -> None:
    """Exit offline, database back, the same car enters at once: the journalled exit is
    written before the entry is decided, so the entry is a plain one and the car is inside."""
    # No background loop here: only the gate itself can write the journal.
    settings = make_settings(database_url=outage.url, access={"offline_retry_s": 0.01})
    services = build_services(settings, recognizer=plate_recognizer)
    with transaction(services.sessions) as session:
        household = Household(building="3栋", unit="1201")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=RESIDENT, household_id=household.id))

    def at(gate: str) -> Sighting:
        return Sighting(gate, datetime.now(UTC), RESIDENT, 0.97)

    async def scenario() -> tuple[Any, Any, Any]:
        services.bus.bind(asyncio.get_running_loop())
        runtime = services.runtime
        await runtime.refresh_offline()
        entered = await runtime.handle_sighting(at("main-in"))
        outage.cut(services.engine)
        left = await runtime.handle_sighting(at("main-out"))
        outage.restore()
        await asyncio.sleep(0.05)  # past the retry window
        back = await runtime.handle_sighting(at("main-in"))
        return entered, left, back

    try:
        entered, left, back = asyncio.run(scenario())
        assert entered.passage_id is not None and left.passage_id is None
        assert left.decision.verdict is Verdict.ALLOW
        assert back.passage_id is not None and back.decision.verdict is Verdict.ALLOW
        assert "anti_passback" not in back.decision.flags
        assert not services.runtime.journal_waiting()
        with services.sessions() as session:
            assert session.get(Presence, RESIDENT) is not None
            rows = session.execute(
                select(Passage.gate_id, Passage.flags).order_by(Passage.id)
            ).all()
        assert [(g, "offline" in f) for g, f in rows] == [
            ("main-in", False), ("main-out", True), ("main-in", False)
        ]
    finally:
        services.engine.dispose()


def test_the_console_tells_the_guard_what_still_works(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    # A session of an account this controller does not know active (made elsewhere since its
    # last refresh) gets the outage page; a known one gets the booth page without the
    # database (tests/api/test_console_during_outage.py).
    signer = ConsoleSecurity(client.app.state.services.settings.signing_key(),
                             ConsoleConfig()).signer
    client.cookies.set("parkgate_session", signer.issue("guard", "guard"))
    camera = TestClient(client.app)  # no console cookie: a camera, not the guard's browser
    outage.cut(client.app.state.services.engine)
    assert push(camera, "main-in", STRANGER).json()["journal_id"]

    page = client.get("/console")

    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "数据库暂时不可用" in page.text and "离线运行" in page.text
    assert '<strong id="journal-waiting">1</strong>' in page.text
    outage.restore()
    # The database answers that account for itself again: there is none, so: log in.
    wait_for(lambda: client.get("/console", follow_redirects=False).status_code == 303)


def test_pin_and_qr_still_open_during_an_outage_with_lockout_and_use_limits(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The resident who declined face entry is not the one left outside."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    rid = resident_with_pin(client, admin, pin="482913")
    host = client.get(f"/api/v1/residents/{rid}", headers=admin).json()["household_id"]
    now = datetime.now(UTC)
    visitor = client.post("/api/v1/passes", headers=admin, json={
        "plate": "粤B88888", "host_household_id": host, "max_uses": 1,
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_to": (now + timedelta(hours=2)).isoformat()}).json()
    code = client.get(f"/api/v1/passes/{visitor['id']}/qr", headers=admin).json()["code"]
    client.portal.call(services.refresh_offline)

    outage.cut(services.engine)
    right = present(client, {"kind": "pin", "resident_id": rid, "pin": "482913"}).json()
    wrong = [present(client, {"kind": "pin", "resident_id": rid, "pin": "111333"}).json()
             for _ in range(5)]
    locked = present(client, {"kind": "pin", "resident_id": rid, "pin": "482913"}).json()
    qr_first = present(client, {"kind": "qr", "code": code}).json()
    qr_again = present(client, {"kind": "qr", "code": code}).json()
    tampered = code[:-1] + ("1" if code.endswith("0") else "0")  # always a different code
    forged = present(client, {"kind": "qr", "code": tampered}).json()

    assert (right["decision"], right["reason"]) == ("allow", "pin") and right["journal_id"]
    assert [w["reason"] for w in wrong] == ["pin_wrong"] * 5
    assert (locked["decision"], locked["reason"]) == ("deny", "pin_locked")
    assert (qr_first["decision"], qr_first["reason"]) == ("allow", "qr_pass")
    assert (qr_again["decision"], qr_again["reason"]) == ("deny", "pass_used_up")
    assert forged["reason"] == "qr_invalid"

    outage.restore()
    wait_for(lambda: client.get("/healthz").json()["journal_waiting"] == 0
             and recorded(client, admin) is not None)
    assert recorded(client, admin) == 10
    uses = client.get(f"/api/v1/passes/{visitor['id']}", headers=admin).json()["uses"]
    assert uses == 1
