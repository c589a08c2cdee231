"""A resident standing too far back from a pedestrian gate's camera is told to step closer.

At the default ``upsample: 0`` the detector sees no face under ~80 px (the gate's minimum), so
such a burst read as "no face" and the screen said 请正对摄像头 to a person who was facing it;
the guard's card said 未检测到人脸. Now the screen says 请靠近摄像头 and the card adds 人脸太小,
while a burst with nobody in it keeps 请正对摄像头 (guard guide, section 9)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from controllers.person_policy import FaceEvidence, decide_face
from controllers.values import Reason, Verdict
from hardware.base import ScreenLevel
from services.screen_texts import passage_message
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_face_gate import START, jpegs
from tests.api.test_pin_lock_screen import screen_lines

CAMERA = {"X-API-Key": "test-camera-key"}


def far_back(frame: np.ndarray) -> np.ndarray:
    """The frame as the gate camera sees it from further away: the face ~36 px, same size."""
    canvas = np.full_like(frame, 96)
    small = cv2.resize(frame, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas[: small.shape[0], : small.shape[1]] = small
    return canvas


def burst(client: Any, frames: list[np.ndarray]) -> dict[str, Any]:
    response = client.post("/api/v1/gates/ped-1/frames", files=jpegs(frames), headers=CAMERA)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_face_too_far_back_is_asked_to_step_closer(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray]
) -> None:
    far = burst(client, [far_back(frame) for frame in clip[START : START + 30]])
    assert (far["decision"], far["reason"]) == ("review", "no_face")
    passage = client.get(f"/api/v1/passages/{far['passage_id']}", headers=admin_headers).json()
    assert passage["flags"] == ["face_too_small"]
    assert passage["details"]["face_reason"] == "face_too_small"
    assert screen_lines(client, far["passage_id"]) == ("请靠近摄像头",)

    nobody = burst(client, [np.full_like(frame, 96) for frame in clip[START : START + 30]])
    assert (nobody["decision"], nobody["reason"]) == ("review", "no_face")
    passage = client.get(f"/api/v1/passages/{nobody['passage_id']}", headers=admin_headers).json()
    assert passage["flags"] == []
    assert screen_lines(client, nobody["passage_id"]) == ("请正对摄像头",)

    # The guard's card for the far-off person names why, beside 未检测到人脸.
    add_staff(client.app.state.services, "guard1", "guard")
    cookie_login(client, "guard1", "guard")
    page = client.get("/console").text
    assert '<span class="badge flag">人脸太小</span>' in page
    assert page.count('<span class="badge review">未检测到人脸</span>') == 2


def test_too_small_evidence_flags_the_review_and_the_screen_asks_to_step_closer() -> None:
    far = decide_face(FaceEvidence(0, None, None, too_small=True))
    nobody = decide_face(FaceEvidence(0, None, None))
    assert (far.verdict, far.reason, far.flags) == (Verdict.REVIEW, Reason.NO_FACE,
                                                    ("face_too_small",))
    assert nobody.flags == ()
    for decision, lines in ((far, ("请靠近摄像头",)), (nobody, ("请正对摄像头",))):
        shown = passage_message(
            {"decision": decision.verdict.value, "reason": decision.reason.value,
             "flags": list(decision.flags), "direction": "in", "id": 1},
            pedestrian=True,
        )
        assert (shown.lines, shown.level) == (lines, ScreenLevel.WAIT)
