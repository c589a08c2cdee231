"""Depth frames pushed with a burst at a pedestrian gate (issue 4): a gate configured for depth
liveness opens for a face with relief and refuses the same frames over a flat surface.

The colour frames are the real clip; the depth maps are drawn here (no depth camera on this
machine): a head-sized relief over each located face, or a tilted plane as a photo or a
phone screen would give.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from models.events import Alarm
from tests.api.test_face_gate import START, enrol_lin, jpegs

CAMERA = {"X-API-Key": "test-camera-key"}


@pytest.fixture
def depth_client(app_factory: Any) -> Any:
    return app_factory(faces={"liveness": {"mode": "depth"}})


@pytest.fixture
def depth_admin(depth_client: Any) -> dict[str, str]:
    from tests.conftest import add_user

    return {"Authorization": f"Bearer {add_user(depth_client, 'admin', 'admin')}"}


def png16(depth: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", depth.astype(np.uint16))
    assert ok
    return buf.tobytes()


def head_depth(frame: np.ndarray, engine: Any) -> np.ndarray:
    """Background at 1.5 m; a face ~60 cm away with ~60 mm of relief (nose to cheeks)."""
    height, width = frame.shape[:2]
    depth = np.full((height, width), 1500.0)
    for box in engine.locate(frame)[:1]:
        yy, xx = np.mgrid[0:height, 0:width]
        cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
        rx, ry = box.width * 0.7, box.height * 0.9
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        face = 660.0 - 60.0 * np.sqrt(np.clip(1.0 - inside, 0.0, 1.0))
        depth = np.where(inside < 1.0, face, depth)
    return depth


def flat_depth(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hand-held photo or phone: one tilted plane, with a depth camera's ~1 mm noise."""
    height, width = frame.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    return 550.0 + 0.08 * xx - 0.05 * yy + rng.normal(0.0, 1.0, (height, width))


def post(client: Any, frames: list[np.ndarray], depths: list[np.ndarray]) -> Any:
    files = jpegs(frames) + [
        ("depth", (f"d{i}.png", png16(d), "image/png")) for i, d in enumerate(depths)
    ]
    return client.post("/api/v1/gates/ped-1/frames", files=files, headers=CAMERA)


def test_depth_gate_opens_for_relief_and_refuses_a_flat_surface(
    depth_client: Any, depth_admin: dict[str, str], clip: list[np.ndarray]
) -> None:
    rid = enrol_lin(depth_client, depth_admin, clip)
    engine = depth_client.app.state.services.faces.engine
    frames = clip[START : START + 20]

    live = post(depth_client, frames, [head_depth(f, engine) for f in frames])
    assert live.status_code == 200, live.text
    body = live.json()
    assert (body["decision"], body["reason"]) == ("allow", "face_resident")
    passage = depth_client.get(
        f"/api/v1/passages/{body['passage_id']}", headers=depth_admin
    ).json()
    assert passage["resident_id"] == rid
    assert passage["details"]["liveness"]["live"] is True
    assert passage["details"]["liveness"]["score"] >= 15.0  # relief in mm

    # The same real colour frames over a flat surface: a replayed video of the resident.
    rng = np.random.default_rng(0)
    spoof = post(depth_client, frames, [flat_depth(f, rng) for f in frames]).json()
    assert (spoof["decision"], spoof["reason"]) == ("deny", "liveness_failed")
    with depth_client.app.state.services.sessions() as session:
        assert "liveness_failed" in set(session.scalars(select(Alarm.kind)))

    # No depth at a depth gate fails closed: colour alone never opens it.
    colour_only = depth_client.post(
        "/api/v1/gates/ped-1/frames", files=jpegs(frames), headers=CAMERA
    ).json()
    assert colour_only["decision"] != "allow"


def test_bad_depth_input_is_refused_with_the_reason(
    depth_client: Any, depth_admin: dict[str, str], clip: list[np.ndarray]
) -> None:
    frames = clip[START : START + 3]
    good = [np.full(f.shape[:2], 800, np.uint16) for f in frames]

    def send(depth_files: list[tuple[str, tuple[str, bytes, str]]]) -> Any:
        return depth_client.post(
            "/api/v1/gates/ped-1/frames", files=jpegs(frames) + depth_files, headers=CAMERA
        )

    def files(maps: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
        return [("depth", (f"d{i}.png", m, "image/png")) for i, m in enumerate(maps)]

    too_few = send(files([png16(d) for d in good[:2]]))
    assert too_few.status_code == 422 and "2 depth maps for 3 images" in too_few.text
    _, jpeg = cv2.imencode(".jpg", np.zeros((360, 640), np.uint8))
    lossy = send(files([png16(good[0]), jpeg.tobytes(), png16(good[2])]))
    assert lossy.status_code == 415 and "depth map 2" in lossy.text
    _, eight_bit = cv2.imencode(".png", np.zeros(frames[0].shape[:2], np.uint8))
    shallow = send(files([png16(good[0]), png16(good[1]), eight_bit.tobytes()]))
    assert shallow.status_code == 422 and "16-bit" in shallow.text
    small = send(files([png16(good[0][:100, :100]), png16(good[1]), png16(good[2])]))
    assert small.status_code == 422 and "align depth to colour" in small.text
    # Nothing was recorded for any refused burst.
    assert depth_client.get("/api/v1/passages", headers=depth_admin).json()["total"] == 0


def test_depth_at_a_vehicle_gate_is_refused(client: Any, clip: list[np.ndarray]) -> None:
    frame = clip[START]
    depth = ("depth", ("d.png", png16(np.full(frame.shape[:2], 900)), "image/png"))
    files = [*jpegs([frame]), depth]
    response = client.post("/api/v1/gates/main-in/frames", files=files, headers=CAMERA)
    assert response.status_code == 422 and "vehicle gate" in response.text
