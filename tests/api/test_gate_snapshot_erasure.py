"""A resident's request that the pedestrian gate's photos of them be deleted (PIPL), on SQLite
and PostgreSQL: their own face/PIN photos go at once, their car's and other people's stay, a
photo a guard still needs is kept until dealt with, the passages stay and say why their photo
is gone, the action is audited, and the console's faces page offers it with a count."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from controllers.person_policy import FaceEvidence, decide_face
from models.db import transaction
from models.events import Alarm, AuditEntry, Passage
from tests.api.test_console import cookie_login
from tests.api.test_personal_data import export, face_passage, setup_resident


def snapshot_file(client: Any, passage_id: int) -> Path:
    services = client.app.state.services
    with services.sessions() as session:
        passage = session.get(Passage, passage_id)
        assert passage is not None and passage.snapshot_path is not None
        return services.snapshots.path(passage.snapshot_path)


def car_passage_with_photo(client: Any, resident_id: int) -> int:
    """A car passage naming the resident as its driver, with a photo (of the car)."""
    services = client.app.state.services
    at = datetime.now(UTC)
    path = services.snapshots.save("main-in", at, b"\xff\xd8 a car \xff\xd9")
    with transaction(services.sessions) as session:
        passage = Passage(at=at, gate_id="main-in", direction="in", plate="闽AD12345",
                          decision="allow", reason="resident", credential="plate",
                          vehicle_id=1, resident_id=resident_id, snapshot_path=path)
        session.add(passage)
        session.flush()
        return passage.id


def open_alarm_on(client: Any, passage_id: int) -> int:
    with transaction(client.app.state.services.sessions) as session:
        alarm = Alarm(kind="tailgating.pedestrian", gate_id="ped-1", passage_id=passage_id,
                      message="尾随")
        session.add(alarm)
        session.flush()
        return alarm.id


def erase(client: Any, headers: dict[str, str], resident_id: int) -> Any:
    return client.delete(f"/api/v1/residents/{resident_id}/gate-snapshots", headers=headers)


def test_a_residents_gate_photos_are_deleted_now_and_only_theirs(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid = ids["resident"]
    hers = [face_passage(client, rid, ids["household"]) for _ in range(2)]
    needed = face_passage(client, rid, ids["household"])  # a guard is still on its alarm
    alarm = open_alarm_on(client, needed)
    spouse = face_passage(client, ids["spouse"], ids["household"])
    car = car_passage_with_photo(client, rid)
    files = {pid: snapshot_file(client, pid) for pid in [*hers, needed, spouse, car]}

    response = erase(client, admin_headers, rid)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["resident_id"], answer["deleted"], answer["kept_for_guards"]) == (rid, 2, 1)

    for pid in hers:
        assert not files[pid].exists()
        assert client.get(f"/api/v1/passages/{pid}/snapshot", headers=guard_headers
                          ).status_code == 404
        # The passage itself is the gate's record and stays.
        shown = client.get(f"/api/v1/passages/{pid}", headers=guard_headers)
        assert shown.status_code == 200 and shown.json()["credential"] == "face"
    for pid in (needed, spouse, car):
        assert files[pid].exists()
        assert client.get(f"/api/v1/passages/{pid}/snapshot", headers=guard_headers
                          ).status_code == 200

    with client.app.state.services.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "face.snapshots_delete")).one()
    assert (entry.username, entry.target, entry.reason) == ("admin", f"resident:{rid}",
                                                           "deletion request")
    assert entry.details == {"snapshots_deleted": 2, "kept_for_guards": 1}
    assert entry.id == answer["audit_id"]

    # What she is handed says the photos were taken and deleted at her request.
    items = {p["id"]: p for p in export(client, admin_headers, rid).json()["passages"]["items"]}
    for pid in hers:
        photo = items[pid]["snapshot"]
        assert photo["taken"] and photo["deleted_on_request"] and not photo["still_stored"]
        assert photo["deleted_by"] is not None and photo["deleted_by"].endswith("+08:00")
    assert items[needed]["snapshot"]["still_stored"]
    assert not items[needed]["snapshot"]["deleted_on_request"]

    # Once the guard has dealt with the alarm, asking again deletes the last one.
    acked = client.post(f"/api/v1/alarms/{alarm}/ack", json={}, headers=guard_headers)
    assert acked.status_code == 200, acked.text
    again = erase(client, admin_headers, rid).json()
    assert (again["deleted"], again["kept_for_guards"]) == (1, 0)
    assert not files[needed].exists() and files[spouse].exists() and files[car].exists()
    # Nothing left: a third request deletes nothing and says so.
    assert erase(client, admin_headers, rid).json()["deleted"] == 0


def challenged_passage(client: Any, resident_id: int, household_id: int) -> int:
    """The face gate asked the resident to turn their head: a review with their id, as
    services/face_gate.py records it."""
    services = client.app.state.services
    at = datetime.now(UTC)
    decision = decide_face(
        FaceEvidence(faces_seen=1, resident_id=resident_id, live=None), household_id
    )
    path = services.snapshots.save("ped-1", at, b"\xff\xd8 a face, turning \xff\xd9")
    result = client.portal.call(functools.partial(
        services.runtime.handle_decision, "ped-1", decision, at=at, snapshot_path=path))
    return int(result.passage_id)


def test_a_photo_waiting_in_the_review_queue_is_kept_until_resolved(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid = ids["resident"]
    waiting = challenged_passage(client, rid, ids["household"])
    photo = snapshot_file(client, waiting)
    answer = erase(client, admin_headers, rid).json()
    assert (answer["deleted"], answer["kept_for_guards"]) == (0, 1) and photo.exists()
    resolved = client.post(f"/api/v1/passages/{waiting}/resolve",
                           json={"resolution": "deny", "reason": "没转头"}, headers=guard_headers)
    assert resolved.status_code == 200, resolved.text
    answer = erase(client, admin_headers, rid).json()
    assert (answer["deleted"], answer["kept_for_guards"]) == (1, 0) and not photo.exists()


def test_who_may_ask_and_unknown_ids(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid = ids["resident"]
    face_passage(client, rid, ids["household"])
    assert erase(client, guard_headers, rid).status_code == 403
    assert client.delete(f"/api/v1/residents/{rid}/gate-snapshots").status_code == 401
    missing = erase(client, admin_headers, 99999)
    assert missing.status_code == 404 and "resident 99999 not found" in missing.json()["detail"]
    assert erase(client, admin_headers, "abc").status_code == 422  # type: ignore[arg-type]


def test_a_resident_who_moved_out_can_still_have_their_photos_deleted(
    client: Any, admin_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid = ids["resident"]
    pid = face_passage(client, rid, ids["household"])
    photo = snapshot_file(client, pid)
    gone = client.delete(f"/api/v1/residents/{rid}", headers=admin_headers)
    assert gone.status_code in (200, 204), gone.text
    response = erase(client, admin_headers, rid)
    assert response.status_code == 200, response.text
    assert response.json()["deleted"] == 1 and not photo.exists()


def test_the_faces_page_offers_it_with_the_count(
    client: Any, admin_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid = ids["resident"]
    for _ in range(3):
        face_passage(client, rid, ids["household"])
    car_passage_with_photo(client, rid)  # the car's photo is not counted
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/faces", params={"q": "王芳"})
    assert page.status_code == 200
    assert f'data-api="/api/v1/residents/{rid}/gate-snapshots"' in page.text
    assert "删除人行门抓拍（3 张）" in page.text
    # The spouse has no photo: no button in his row.
    spouse_page = client.get("/console/admin/faces", params={"q": "李强"})
    assert "gate-snapshots" not in spouse_page.text
