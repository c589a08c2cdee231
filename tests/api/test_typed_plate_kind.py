"""A typed plate's kind, where its text alone settles it: 通行记录's 号牌种类 挂车 finds a trailer
a guard typed at the gate (the camera could not read it), and a text also issued on two rows
stays without a kind rather than be called ordinary (services/typed_plates.py typed_kind)."""

from __future__ import annotations

from typing import Any

import pytest

from services.typed_plates import typed_kind
from tests.api.test_console import add_staff


@pytest.mark.parametrize(("plate", "kind"), [
    ("沪A1234挂", "trailer"),  # a trailer on one row or two
    ("沪A1234学", "coach"),
    ("沪AD12345", "new_energy_small"),  # green plates are never issued on two rows
    ("粤Z1234港", "hong_kong"),
    ("沪C52088", None),  # ordinary, or a large vehicle's 双层黄牌: only the image tells
])
def test_the_kind_of_a_typed_plate_is_what_its_text_settles(plate: str, kind: str | None,
                                                            ) -> None:
    assert typed_kind(plate) == kind


def test_a_typed_trailer_is_found_by_the_trailer_filter(client: Any) -> None:
    headers = add_staff(client.app.state.services, "guard", "guard")
    typed = {}
    for plate in ("沪A1234挂", "沪C52088"):
        response = client.post("/api/v1/gates/main-in/typed-plate",
                               json={"plate": plate, "reason": "摄像头看不清"}, headers=headers)
        assert response.status_code == 200, response.text
        typed[plate] = response.json()["passage_id"]

    trailers = client.get("/api/v1/passages", params={"plate_kind": "trailer"},
                          headers=headers).json()
    assert [p["id"] for p in trailers["items"]] == [typed["沪A1234挂"]]
    assert trailers["items"][0]["plate_kind"] == "trailer"
    ordinary = client.get(f"/api/v1/passages/{typed['沪C52088']}", headers=headers).json()
    assert ordinary["plate_kind"] is None
