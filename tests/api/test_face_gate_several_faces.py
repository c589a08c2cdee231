"""Two people in front of a pedestrian gate's camera are asked to come one at a time.

A burst whose frames hold two faces of like size cannot say who is walking through (the
pipeline's several_faces). It was answered as a face nobody knows: 未能识别 请联系保安 on the
screen, 未识别人脸 alone on the guard's card, so a resident with a companion called the guard
instead of stepping up alone. Now the screen says 请一人一次刷脸 and the card adds
多人同时在镜头前 (guard guide, section 9)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from tests.api.test_console import add_staff, cookie_login
from tests.api.test_face_gate import jpegs
from tests.api.test_face_gate_too_far import screen_lines
from tests.api.test_faces import OBAMA, photo

CAMERA = {"X-API-Key": "test-camera-key"}
# A second of the clip in which the detector finds both faces in every frame the gate samples
# (where one sampled frame shows only the other person, that face is judged alone).
BOTH_SEEN = 120


def test_two_faces_at_the_gate_are_asked_to_come_one_at_a_time(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray]
) -> None:
    frames = clip[BOTH_SEEN : BOTH_SEEN + 30]
    # A second person beside the one in the clip, their face about as large (~86 px).
    other = cv2.imread(str(photo(*OBAMA)))
    height = frames[0].shape[0]
    other = cv2.resize(other, (round(other.shape[1] * height / other.shape[0]), height))
    two = [np.hstack([frame, other]) for frame in frames]

    response = client.post("/api/v1/gates/ped-1/frames", files=jpegs(two), headers=CAMERA)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["decision"], body["reason"]) == ("review", "face_unknown")
    passage = client.get(f"/api/v1/passages/{body['passage_id']}", headers=admin_headers).json()
    assert passage["details"]["face_reason"] == "several_faces"
    assert passage["flags"] == ["several_faces"]
    assert screen_lines(client, body["passage_id"]) == ("请一人一次刷脸",)

    add_staff(client.app.state.services, "guard1", "guard")
    cookie_login(client, "guard1", "guard")
    page = client.get("/console").text
    assert ('<span class="badge review">未识别人脸</span> '
            '<span class="badge flag">多人同时在镜头前</span>') in page
