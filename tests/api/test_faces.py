"""Face consent, enrolment and deletion (issue 4), on real photos and a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from models.events import AuditEntry
from tests.conftest import SHARED_DATA

FACES = SHARED_DATA / "faces"


def photo(person: str, name: str) -> Path:
    path = FACES / person / name
    if not path.is_file():
        pytest.skip(f"real face photos not found at {FACES} (see shared/data/README.md)")
    return path


OBAMA = ("ag_barack_obama", "examples__knn_examples__train__obama__obama.jpg")
OBAMA_2 = ("ag_barack_obama", "examples__knn_examples__train__obama__obama2.jpg")
BIDEN = ("ag_joe_biden", "examples__knn_examples__train__biden__biden.jpg")
ALEX = ("ag_alex_lacamoire", "examples__knn_examples__train__alex_lacamoire__img1.jpg")


def new_resident(client: Any, headers: dict[str, str]) -> int:
    hid = client.post(
        "/api/v1/households", json={"building": "7栋", "unit": "601"}, headers=headers
    ).json()["id"]
    return int(
        client.post(
            "/api/v1/residents", json={"household_id": hid, "name": "王奶奶"}, headers=headers
        ).json()["id"]
    )


def enrol(client: Any, headers: dict[str, str], resident_id: int, *files: bytes) -> Any:
    return client.post(
        f"/api/v1/residents/{resident_id}/faces",
        files=[("image", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(files)],
        headers=headers,
    )


def audit_actions(client: Any) -> list[str]:
    with client.app.state.services.sessions() as session:
        return [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_enrolment_needs_recorded_consent(client: Any, admin_headers: dict[str, str]) -> None:
    rid = new_resident(client, admin_headers)
    refused = enrol(client, admin_headers, rid, photo(*OBAMA).read_bytes())
    assert refused.status_code == 422 and "consent" in refused.json()["detail"]
    assert client.get(f"/api/v1/residents/{rid}/faces", headers=admin_headers).json() == {
        "resident_id": rid,
        "templates": 0,
    }


def test_without_consent_no_photo_is_read(
    client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consent check comes before the photos are decoded and turned into features: the
    face of a resident who has not consented is not processed at all, and the refusal names
    the missing consent, not the photo (a blank one was refused as 'no face found')."""
    faces = client.app.state.services.faces

    def never(_: Any) -> Any:
        raise AssertionError("a photo was read into features without recorded consent")

    monkeypatch.setattr(faces.engine, "embed_single_face", never)
    rid = new_resident(client, admin_headers)
    _, blank = cv2.imencode(".jpg", np.full((200, 200, 3), 128, np.uint8))
    refused = enrol(client, admin_headers, rid, blank.tobytes())
    assert refused.status_code == 422
    assert "no recorded face consent" in refused.json()["detail"]


def test_enrol_then_delete_updates_database_and_matcher(
    client: Any, admin_headers: dict[str, str]
) -> None:
    services = client.app.state.services
    rid = new_resident(client, admin_headers)
    consent = client.put(
        f"/api/v1/residents/{rid}/consent", json={"note": "表格 2026-117"}, headers=admin_headers
    )
    assert consent.status_code == 200
    resident = client.get(f"/api/v1/residents/{rid}", headers=admin_headers).json()
    assert resident["face_consent_by"] == "admin" and resident["face_consent_at"]

    created = enrol(
        client, admin_headers, rid, photo(*OBAMA).read_bytes(), photo(*OBAMA_2).read_bytes()
    )
    assert created.status_code == 201, created.text
    assert created.json()["templates"] == 2
    assert rid in services.faces.matcher

    # A different photo of the same person now matches; another person does not.
    probe = services.faces.engine.detect(cv2.imread(str(photo(*OBAMA_2))), max_faces=1)[0]
    match = services.faces.matcher.match(probe.embedding)
    assert match.accepted and match.identity_id == rid
    stranger = services.faces.engine.detect(cv2.imread(str(photo(*BIDEN))), max_faces=1)[0]
    assert not services.faces.matcher.match(stranger.embedding).accepted

    deleted = client.delete(f"/api/v1/residents/{rid}/faces", headers=admin_headers)
    assert deleted.status_code == 200 and deleted.json()["templates"] == 0
    assert rid not in services.faces.matcher
    assert not services.faces.matcher.match(probe.embedding).accepted
    assert audit_actions(client)[-3:] == ["face.consent", "face.enrol", "face.delete"]


def test_withdrawing_consent_never_given_is_not_recorded_as_a_withdrawal(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """A second 撤回授权 (two admins, a stale page) withdraws nothing: the audit log and the
    resident's personal-data export must not say a withdrawal happened then."""
    rid = new_resident(client, admin_headers)
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    assert client.delete(f"/api/v1/residents/{rid}/consent", headers=admin_headers).is_success
    first = client.get(f"/api/v1/residents/{rid}/personal-data",
                       headers=admin_headers).json()["face"]["last_withdrawn_at"]

    again = client.delete(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    assert again.status_code == 200 and again.json()["templates"] == 0
    assert audit_actions(client).count("face.consent_withdrawn") == 1
    export = client.get(f"/api/v1/residents/{rid}/personal-data", headers=admin_headers).json()
    assert export["face"]["last_withdrawn_at"] == first


def test_templates_survive_a_restart_and_withdrawal_removes_them(
    app_factory: Any, admin_headers: dict[str, str], client: Any
) -> None:
    rid = new_resident(client, admin_headers)
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    assert enrol(client, admin_headers, rid, photo(*OBAMA).read_bytes()).status_code == 201
    client.__exit__(None, None, None)

    restarted = app_factory()
    assert rid in restarted.app.state.services.faces.matcher
    token = restarted.post(
        "/api/v1/auth/token", data={"username": "admin", "password": "correct-horse"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    withdrawn = restarted.delete(f"/api/v1/residents/{rid}/consent", headers=headers)
    assert withdrawn.status_code == 200
    assert rid not in restarted.app.state.services.faces.matcher
    summary = restarted.get(f"/api/v1/residents/{rid}/faces", headers=headers).json()
    assert summary["templates"] == 0
    resident = restarted.get(f"/api/v1/residents/{rid}", headers=headers).json()
    assert resident["face_consent_at"] is None


def _height(path: Path, height: int) -> np.ndarray:
    image = cv2.imread(str(path))
    return cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height))


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def test_bad_enrolment_photos_store_nothing(client: Any, admin_headers: dict[str, str]) -> None:
    rid = new_resident(client, admin_headers)
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    good = photo(*OBAMA).read_bytes()
    no_face = _jpeg(np.full((400, 400, 3), 128, np.uint8))
    two_faces = _jpeg(np.hstack([_height(photo(*OBAMA), 400), _height(photo(*ALEX), 400)]))

    for files, needle in (
        ((good, no_face), "photo 2: no face"),
        ((two_faces,), "faces found"),
        ((b"not an image",), "not a JPEG"),
    ):
        response = enrol(client, admin_headers, rid, *files)
        assert response.status_code in (415, 422), response.text
        assert needle in response.json()["detail"]
    summary = client.get(f"/api/v1/residents/{rid}/faces", headers=admin_headers).json()
    assert summary["templates"] == 0
    assert rid not in client.app.state.services.faces.matcher


def test_unknown_resident_is_404_and_guards_cannot_enrol(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    good = photo(*OBAMA).read_bytes()
    assert enrol(client, admin_headers, 9999, good).status_code == 404
    assert client.put("/api/v1/residents/9999/consent", headers=admin_headers).status_code == 404
    rid = new_resident(client, admin_headers)
    assert enrol(client, guard_headers, rid, good).status_code == 403


def test_deleting_a_resident_deletes_their_face_templates(
    client: Any, admin_headers: dict[str, str]
) -> None:
    from models.faces import FaceTemplate

    rid = new_resident(client, admin_headers)
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    assert enrol(client, admin_headers, rid, photo(*OBAMA).read_bytes()).status_code == 201
    assert client.delete(f"/api/v1/residents/{rid}", headers=admin_headers).status_code == 204
    services = client.app.state.services
    assert rid not in services.faces.matcher
    with services.sessions() as session:
        left = session.scalars(select(FaceTemplate).where(FaceTemplate.resident_id == rid)).all()
    assert left == []
