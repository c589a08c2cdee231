"""Face entry at the pedestrian gate end to end (issue 4): a burst of real frames of an enrolled
resident opens the gate; the same face replayed as a flat photo does not."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from bench.liveness import make_flat_replay
from models.events import Alarm
from tests.api.test_faces import new_resident
from tests.conftest import SHARED_DATA

VIDEO_DIR = SHARED_DATA / "face_video"
START = 87  # a 1-s window inside a medium shot of Lin-Manuel Miranda moving his head
# Enrolment as at a real gate: the reference photo plus two frames from the gate camera, from
# a later second of the clip than the one tested.
ENROL_FRAMES = (175, 199)


def jpegs(frames: list[np.ndarray]) -> list[tuple[str, tuple[str, bytes, str]]]:
    out = []
    for i, frame in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
        assert ok
        out.append(("image", (f"f{i}.jpg", buf.tobytes(), "image/jpeg")))
    return out


def enrol_lin(client: Any, headers: dict[str, str], clip: list[np.ndarray]) -> int:
    rid = new_resident(client, headers)
    client.put(f"/api/v1/residents/{rid}/consent", headers=headers)
    photo = ("image", ("lin.png", (VIDEO_DIR / "lin-manuel-miranda.png").read_bytes(),
                       "image/png"))
    response = client.post(
        f"/api/v1/residents/{rid}/faces",
        files=[photo, *jpegs([clip[i] for i in ENROL_FRAMES])],
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return rid


def test_enrolled_resident_walks_through_and_a_flat_replay_does_not(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray]
) -> None:
    rid = enrol_lin(client, admin_headers, clip)
    live = clip[START : START + 30]
    response = client.post(
        "/api/v1/gates/ped-1/frames", files=jpegs(live), headers={"X-API-Key": "test-camera-key"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["decision"], body["reason"]) == ("allow", "face_resident")
    assert body["barrier"] in ("opening", "open")
    passage = client.get(f"/api/v1/passages/{body['passage_id']}", headers=admin_headers).json()
    assert passage["resident_id"] == rid and passage["credential"] == "face"
    assert passage["details"]["liveness"]["live"] is True
    assert passage["details"]["distance"] < client.app.state.services.settings.faces.threshold

    # A photo of the resident (one the matcher knows best: an enrolment frame) held up and
    # moved as one plane is recognised, and must still not open the gate.
    engine = client.app.state.services.faces.engine
    still = clip[ENROL_FRAMES[0]]
    box = engine.locate(still)[0]
    flat = make_flat_replay(still, box, clip[40], np.random.default_rng(3), sway_deg=15.0,
                            screen=False)
    refused = client.post(
        "/api/v1/gates/ped-1/frames", files=jpegs(flat.frames),
        headers={"X-API-Key": "test-camera-key"},
    ).json()
    assert refused["decision"] != "allow"
    assert refused["reason"] in ("liveness_failed", "liveness_challenge")
    if refused["reason"] == "liveness_failed":
        with client.app.state.services.sessions() as session:
            assert "liveness_failed" in set(session.scalars(select(Alarm.kind)))


def test_stranger_is_sent_to_the_guard(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray]
) -> None:
    body = client.post(
        "/api/v1/gates/ped-1/frames", files=jpegs(clip[START : START + 30]),
        headers={"X-API-Key": "test-camera-key"},
    ).json()  # nobody is enrolled
    assert (body["decision"], body["reason"]) == ("review", "face_unknown")


def test_burst_with_a_corrupt_frame_is_refused_whole(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray]
) -> None:
    files = jpegs(clip[START : START + 3])
    files.append(("image", ("bad.jpg", b"\xff\xd8\xff" + b"\x00" * 50, "image/jpeg")))
    response = client.post(
        "/api/v1/gates/ped-1/frames", files=files, headers={"X-API-Key": "test-camera-key"}
    )
    assert response.status_code == 422 and "frame 4" in response.json()["detail"]
    assert client.get("/api/v1/passages", headers=admin_headers).json()["total"] == 0


def test_a_burst_of_frames_of_different_sizes_is_refused_naming_the_frame(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray]
) -> None:
    """Liveness tracks points from frame to frame, which needs one size: a burst mixing two
    sizes in which a resident was recognised ended in OpenCV's assertion, a 500."""
    enrol_lin(client, admin_headers, clip)
    live = clip[START : START + 30]
    mixed = [cv2.resize(frame, (1280, 720)) if i % 2 else frame for i, frame in enumerate(live)]
    response = client.post(
        "/api/v1/gates/ped-1/frames", files=jpegs(mixed), headers={"X-API-Key": "test-camera-key"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "frame 2 is 1280x720 but frame 1 is 640x360: send a burst's frames at one size"
    )
    assert client.get("/api/v1/passages", headers=admin_headers).json()["total"] == 0


def test_bursts_too_short_for_liveness_are_warned_of_in_the_log(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Liveness needs faces.liveness.min_frames (15) frames with the face: a terminal set to
    push ~1 s at 10 fps never opened for anyone, the screen asked each resident to turn their
    head, and nothing told the installer why. The log now says so, once until the camera
    sends long enough bursts again."""
    enrol_lin(client, admin_headers, clip)
    camera = {"X-API-Key": "test-camera-key"}
    caplog.set_level(logging.WARNING, logger="services.face_gate")
    short = [client.post("/api/v1/gates/ped-1/frames", headers=camera,
                         files=jpegs(clip[start : start + 30 : 3])).json()
             for start in (START, START + 30)]
    assert [(b["decision"], b["reason"]) for b in short] == [("review", "liveness_challenge")] * 2
    warned = [r.getMessage() for r in caplog.records if r.name == "services.face_gate"]
    assert warned == [
        "ped-1: a burst of 10 frames; liveness needs at least 15 with the face "
        "(faces.liveness.min_frames), so no face opens this gate and each resident is asked "
        "to turn their head: set the camera to push bursts of at least 15 frames (~1 s at "
        "15 fps or more)"
    ]
    whole = client.post("/api/v1/gates/ped-1/frames", headers=camera,
                        files=jpegs(clip[START : START + 30])).json()
    assert (whole["decision"], whole["reason"]) == ("allow", "face_resident")
    client.post("/api/v1/gates/ped-1/frames", headers=camera, files=jpegs(clip[START : START + 5]))
    assert len([r for r in caplog.records if r.name == "services.face_gate"]) == 2
