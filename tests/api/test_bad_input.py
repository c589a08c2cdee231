"""Bad input gets a clear 4xx with a message, never a 500 or a half-written passage."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from models.events import Passage
from tests.api.test_console import add_staff
from tests.conftest import LabelledPhoto

CAMERA = {"X-API-Key": "test-camera-key"}


def passage_count(client: Any) -> int:
    with client.app.state.services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Passage)) or 0)


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size: must be refused before any decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"", "image/jpeg", 415, "empty body"),
        (b"hello, not an image", "image/jpeg", 415, "not a JPEG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "image/jpeg", 422, "corrupt"),
        (png_header_claiming(10_000, 10_000), "image/png", 413, "MP"),
        (b"{}", "application/json", 415, "Content-Type"),
    ],
    ids=["empty", "text", "corrupt-jpeg", "100-megapixel-png", "json"],
)
def test_bad_frames_are_refused_clearly(
    fresh_shared_client: Any, body: bytes, content_type: str, status: int, message: str
) -> None:
    """On one app per database (tests/api/conftest.py ``shared_client``): a refused frame
    stores nothing, which each case checks, and the app costs more CPU than the request."""
    client = fresh_shared_client
    response = client.post(
        "/api/v1/gates/main-in/frames",
        content=body,
        headers={**CAMERA, "Content-Type": content_type},
    )
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert passage_count(client) == 0


def test_body_over_the_limit_is_413(app_factory: Any) -> None:
    client = app_factory(api={"max_upload_bytes": 1000})
    response = client.post(
        "/api/v1/gates/main-in/frames",
        content=b"\xff\xd8\xff" + b"\x00" * 5000,
        headers={**CAMERA, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_unknown_gate_is_404(client: Any) -> None:
    response = client.post(
        "/api/v1/gates/back-door/frames",
        content=b"x",
        headers={**CAMERA, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 404
    assert "back-door" in response.json()["detail"]


def test_frame_without_credentials_or_with_a_bad_key_is_401(client: Any) -> None:
    no_key = client.post("/api/v1/gates/main-in/frames", content=b"x")
    bad_key = client.post(
        "/api/v1/gates/main-in/frames", content=b"x", headers={"X-API-Key": "guess"}
    )
    assert no_key.status_code == 401 and bad_key.status_code == 401


def test_multipart_frame_is_accepted(client: Any, readable_photos: list[LabelledPhoto]) -> None:
    photo = readable_photos[0]
    response = client.post(
        "/api/v1/gates/main-in/frames",
        files={"image": ("car.jpg", photo.path.read_bytes(), "image/jpeg")},
        headers=CAMERA,
    )
    assert response.status_code == 200, response.text
    assert response.json()["plate"] == photo.plate


def test_multipart_without_an_image_field_is_422(client: Any) -> None:
    response = client.post(
        "/api/v1/gates/main-in/frames", files={"picture": ("a.jpg", b"x")}, headers=CAMERA
    )
    assert response.status_code == 422
    assert "image" in response.json()["detail"]


def test_png_frame_with_no_plate_is_recorded_as_review(client: Any) -> None:
    blank = np.full((480, 640, 3), 90, np.uint8)
    ok, png = cv2.imencode(".png", blank)
    assert ok
    response = client.post(
        "/api/v1/gates/main-in/frames",
        content=io.BytesIO(png.tobytes()).getvalue(),
        headers={**CAMERA, "Content-Type": "image/png"},
    )
    body = response.json()
    assert (body["decision"], body["reason"], body["plate"]) == ("review", "no_plate", None)
    assert passage_count(client) == 1


def test_bad_token_is_401(client: Any) -> None:
    response = client.get("/api/v1/passages", headers={"Authorization": "Bearer forged.token"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_password_is_401(client: Any, admin_headers: dict[str, str]) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "admin", "password": "nope"})
    assert response.status_code == 401


def test_guard_cannot_use_admin_crud(client: Any, guard_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/households", json={"building": "1栋", "unit": "101"}, headers=guard_headers
    )
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    # …but may read, and register a visitor at the booth.
    assert client.get("/api/v1/households", headers=guard_headers).status_code == 200


def test_duplicate_plate_is_409(client: Any, admin_headers: dict[str, str]) -> None:
    hid = client.post(
        "/api/v1/households", json={"building": "1栋", "unit": "101"}, headers=admin_headers
    ).json()["id"]
    first = client.post(
        "/api/v1/vehicles", json={"plate": "闽A12345", "household_id": hid}, headers=admin_headers
    )
    # The same plate written with the separator dot and lower case is still the same plate.
    again = client.post(
        "/api/v1/vehicles", json={"plate": "闽a·12345", "household_id": hid}, headers=admin_headers
    )
    assert first.status_code == 201
    assert again.status_code == 409 and "闽A12345" in again.json()["detail"]


def test_duplicate_household_is_409(client: Any, admin_headers: dict[str, str]) -> None:
    body = {"building": "1栋", "unit": "101"}
    assert client.post("/api/v1/households", json=body, headers=admin_headers).status_code == 201
    again = client.post("/api/v1/households", json=body, headers=admin_headers)
    assert again.status_code == 409


@pytest.fixture(scope="module")
def shared_admin(shared_client: Any) -> dict[str, str]:
    return add_staff(shared_client.app.state.services, "admin", "admin")


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/api/v1/vehicles", {"plate": "NOT-A-PLATE", "household_id": 1}, "not a valid"),
        ("/api/v1/vehicles", {"plate": "闽A12345", "household_id": 999}, "household 999"),
        ("/api/v1/households", {"building": "", "unit": "1"}, "building"),
        ("/api/v1/households", {"building": "1", "unit": "1", "colour": "red"}, "colour"),
        ("/api/v1/residents", {"household_id": 999, "name": "x"}, "household 999"),
        (
            "/api/v1/passes",
            {"plate": "粤B88888", "host_household_id": 1,
             "valid_from": "2026-11-28T10:00:00+08:00", "valid_to": "2026-11-28T09:00:00+08:00"},
            "after",
        ),
        ("/api/v1/lists", {"plate": "粤B88888", "kind": "maybe"}, "kind"),
    ],
    ids=["bad-plate", "missing-household", "empty-building", "unknown-field",
         "resident-missing-household", "pass-window-reversed", "list-kind"],
)
def test_bad_admin_input_is_a_4xx_with_a_reason(
    fresh_shared_client: Any, shared_admin: dict[str, str], path: str, body: dict[str, Any],
    needle: str,
) -> None:
    """On one app per database, as the bad frames: nothing here is stored (no household 1
    either), so each case meets the database empty but for the admin."""
    response = fresh_shared_client.post(path, json=body, headers=shared_admin)
    assert response.status_code in (404, 422), response.text
    assert needle in response.text


def test_household_with_vehicles_cannot_be_deleted(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = client.post(
        "/api/v1/households", json={"building": "1栋", "unit": "101"}, headers=admin_headers
    ).json()["id"]
    client.post(
        "/api/v1/vehicles", json={"plate": "闽A12345", "household_id": hid}, headers=admin_headers
    )
    response = client.delete(f"/api/v1/households/{hid}", headers=admin_headers)
    assert response.status_code == 409 and "vehicles" in response.json()["detail"]


def test_passage_filters_need_a_time_zone(client: Any, admin_headers: dict[str, str]) -> None:
    response = client.get(
        "/api/v1/passages", params={"since": "2026-11-28T08:00:00"}, headers=admin_headers
    )
    assert response.status_code == 422 and "zone" in str(response.json()["detail"])


def test_missing_passage_and_snapshot_are_404(client: Any, admin_headers: dict[str, str]) -> None:
    assert client.get("/api/v1/passages/424242", headers=admin_headers).status_code == 404
    assert client.get("/api/v1/passages/424242/snapshot", headers=admin_headers).status_code == 404


def test_occupancy_correction_is_bounded_and_audited(
    client: Any, admin_headers: dict[str, str]
) -> None:
    too_many = client.put(
        "/api/v1/zones/A/occupancy", json={"occupied": 41, "reason": "walked the lot"},
        headers=admin_headers,
    )
    assert too_many.status_code == 422 and "between 0 and 40" in too_many.json()["detail"]
    fixed = client.put(
        "/api/v1/zones/A/occupancy", json={"occupied": 12, "reason": "walked the lot"},
        headers=admin_headers,
    )
    assert fixed.status_code == 200 and fixed.json()["free"] == 28
    zones = client.get("/api/v1/availability").json()["zones"]
    assert next(z for z in zones if z["id"] == "A")["free"] == 28
    from models.events import AuditEntry

    with client.app.state.services.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "zone.correct")).one()
    assert entry.username == "admin" and entry.reason == "walked the lot"
