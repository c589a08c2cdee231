"""An anonymous client cannot make the controller hold a huge body in memory: forms and JSON
past 1 MiB are refused with 413 before routing and auth (declared) or as soon as the count
passes it (sent in chunks), while the image uploads keep their own, larger limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from api.body_limit import MAX_BODY_BYTES
from tests.conftest import add_user

CAMERA = {"X-API-Key": "test-camera-key"}


def _chunks(total: int, prefix: bytes = b"") -> Iterator[bytes]:
    """``total`` bytes in 64 KB chunks, without a Content-Length (chunked encoding)."""
    yield prefix
    sent = len(prefix)
    while sent < total:
        piece = min(65536, total - sent)
        yield b"A" * piece
        sent += piece


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/auth/token", "application/x-www-form-urlencoded"),
        ("/console/login", "application/x-www-form-urlencoded"),
        ("/api/v1/households", "application/json"),
    ],
    ids=["api-login", "console-login", "json-route"],
)
def test_an_oversized_body_is_refused_before_it_is_read(
    client: Any, path: str, content_type: str
) -> None:
    # Many fields each under Starlette's 1 MB per-field limit: only the total is too large.
    body = b"&".join(b"f%d=" % i + b"A" * 200_000 for i in range(8))
    assert len(body) > MAX_BODY_BYTES
    declared = client.post(path, content=body, headers={"Content-Type": content_type})
    assert declared.status_code == 413, declared.text
    assert "exceeds the limit" in declared.json()["detail"]
    chunked = client.post(path, content=_chunks(2 * MAX_BODY_BYTES, b"username=a&password="),
                          headers={"Content-Type": content_type})
    assert chunked.status_code == 413, chunked.text
    assert "exceeds the limit" in chunked.json()["detail"]


def test_an_oversized_body_is_refused_for_a_logged_in_caller_too(client: Any) -> None:
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    note = "x" * (MAX_BODY_BYTES + 1)
    refused = client.post("/api/v1/households", json={"building": "1", "unit": "101",
                                                      "note": note}, headers=headers)
    assert refused.status_code == 413, refused.text


def test_forms_and_json_under_the_limit_work_as_before(client: Any) -> None:
    token = add_user(client, "admin", "admin")
    created = client.post("/api/v1/households", json={"building": "1", "unit": "101"},
                          headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text


def test_a_frame_larger_than_the_form_limit_is_still_taken(client: Any) -> None:
    noise = np.random.default_rng(7).integers(0, 256, (1200, 1600, 3), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok and len(jpeg) > MAX_BODY_BYTES
    pushed = client.post("/api/v1/gates/main-in/frames", content=jpeg.tobytes(),
                         headers={**CAMERA, "Content-Type": "image/jpeg"})
    assert pushed.status_code == 200, pushed.text
    # And its own limit still answers past api.max_upload_bytes.
    too_big = client.post("/api/v1/gates/main-in/frames", content=b"\xff" * 10_000_001,
                          headers={**CAMERA, "Content-Type": "image/jpeg"})
    assert too_big.status_code == 413 and "10000000" in too_big.json()["detail"]
