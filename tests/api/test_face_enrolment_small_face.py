"""An enrolment photo whose face is too small is told so (admin guide 3: 「第 1 张照片的人脸太小
（52 像素，至少要 80）：靠近些拍或用大一点的照片」), not that it has no face: at the default
``upsample: 0`` the detector sees no face under ~80 px, so a small face used to read as
「照片里没有找到人脸：请用光线好、正对镜头的单人照片」, which sends the office looking for
better light instead of a closer photo."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from api.console.error_texts import explain_message
from tests.api.test_faces import OBAMA, _height, _jpeg, enrol, new_resident, photo


def test_a_small_face_is_refused_as_too_small(client: Any, admin_headers: dict[str, str]) -> None:
    rid = new_resident(client, admin_headers)
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    # The portrait scaled to 200 px high: its face is about 45 px, under the 80 px minimum.
    small = _jpeg(_height(photo(*OBAMA), 200))
    blank = _jpeg(np.full((400, 400, 3), 128, np.uint8))

    refused = enrol(client, admin_headers, rid, small)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    found = re.fullmatch(
        r"photo 1: the face is too small \((\d+) px, need at least 80 px\): move closer or use "
        r"a larger photo",
        detail,
    )
    assert found is not None, detail
    size = int(found[1])
    assert 30 <= size < 80
    assert explain_message("zh", detail) == (
        f"第 1 张照片的人脸太小（{size} 像素，至少要 80）：靠近些拍或用大一点的照片"
    )

    # A photo with no face at all is still told it has none.
    none = enrol(client, admin_headers, rid, blank).json()["detail"]
    assert explain_message("zh", none) == (
        "第 1 张照片里没有找到人脸：请用光线好、正对镜头的单人照片"
    )
    summary = client.get(f"/api/v1/residents/{rid}/faces", headers=admin_headers).json()
    assert summary["templates"] == 0
