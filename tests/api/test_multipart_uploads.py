"""Multipart uploads (camera push, face enrolment) that are cut off or do not parse.

Starlette keeps the parts it finished and silently drops one cut off mid-way, so a truncated
upload used to be answered "needs a field named 'image'", as if the camera had sent the wrong
field. A body that ends early or does not parse is a 400 saying so; a whole body without an
``image`` field stays a 422.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from tests.api.test_bad_input import CAMERA, passage_count

FRAMES = "/api/v1/gates/main-in/frames"
BOUNDARY = "parkgate-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _png() -> bytes:
    ok, png = cv2.imencode(".png", np.full((240, 320, 3), 90, np.uint8))
    assert ok
    return png.tobytes()


def multipart(field: str = "image", data: bytes | None = None) -> bytes:
    """One file part, written out as a camera would send it."""
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="frame.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + (_png() if data is None else data) + f"\r\n--{BOUNDARY}--\r\n".encode()


WHOLE = multipart()
# Where an upload can stop: inside the part's headers, inside the image, just before the
# closing boundary, and in the middle of it.
CUTS = {
    "nothing sent": 0,
    "in the part headers": 40,
    "in the image": len(WHOLE) // 2,
    "before the closing boundary": len(WHOLE) - len(f"\r\n--{BOUNDARY}--\r\n"),
    "in the closing boundary": len(WHOLE) - 5,
}


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_a_cut_off_frame_upload_is_a_400_saying_so(client: Any, cut: int) -> None:
    response = client.post(FRAMES, content=WHOLE[:cut], headers={**CAMERA, **MULTIPART})
    assert response.status_code == 400, response.text
    assert "incomplete" in response.json()["detail"]
    assert passage_count(client) == 0


def test_the_same_upload_whole_is_decided(client: Any) -> None:
    response = client.post(FRAMES, content=WHOLE, headers={**CAMERA, **MULTIPART})
    assert response.status_code == 200, response.text
    # Without its trailing CRLF the body still ends with its closing boundary: whole.
    response = client.post(FRAMES, content=WHOLE[:-2], headers={**CAMERA, **MULTIPART})
    assert response.status_code == 200, response.text


def test_a_cut_off_upload_sent_in_chunks_is_a_400(client: Any) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the end is where the stream stops
        yield WHOLE[:100]
        yield WHOLE[100 : len(WHOLE) // 2]

    response = client.post(FRAMES, content=chunks(), headers={**CAMERA, **MULTIPART})
    assert response.status_code == 400, response.text
    assert "incomplete" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"this is not multipart at all", MULTIPART["Content-Type"], "could not be parsed"),
        (WHOLE.replace(b"Content-Disposition:", b"Content-Disposition"),
         MULTIPART["Content-Type"], "could not be parsed"),
        (WHOLE, "multipart/form-data", "boundary"),
    ],
    ids=["garbage", "broken part header", "no boundary"],
)
def test_a_multipart_body_that_does_not_parse_is_a_400(
    client: Any, body: bytes, content_type: str, fragment: str
) -> None:
    response = client.post(FRAMES, content=body, headers={**CAMERA, "Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]
    assert passage_count(client) == 0


def test_a_whole_body_without_an_image_field_is_still_a_422(client: Any) -> None:
    response = client.post(
        FRAMES, content=multipart(field="picture"), headers={**CAMERA, **MULTIPART}
    )
    assert response.status_code == 422, response.text
    assert "field named 'image'" in response.json()["detail"]


def test_a_cut_off_face_enrolment_is_a_400(
    client: Any, admin_headers: dict[str, str]
) -> None:
    from tests.api.test_faces import new_resident

    rid = new_resident(client, admin_headers)
    response = client.post(
        f"/api/v1/residents/{rid}/faces", content=WHOLE[: len(WHOLE) // 2],
        headers={**admin_headers, **MULTIPART},
    )
    assert response.status_code == 400, response.text
    assert "incomplete" in response.json()["detail"]


def test_a_multipart_body_over_the_limit_is_still_a_413(client: Any) -> None:
    limit = client.app.state.services.settings.api.max_upload_bytes

    def chunks() -> Iterator[bytes]:  # no Content-Length to refuse it by
        yield WHOLE[:200]
        yield b"\0" * (limit + 1)

    response = client.post(FRAMES, content=chunks(), headers={**CAMERA, **MULTIPART})
    assert response.status_code == 413, response.text


@pytest.mark.parametrize("content_type", ["image/jpeg", MULTIPART["Content-Type"]])
def test_a_client_that_disconnects_mid_upload_is_not_a_server_error(content_type: str) -> None:
    import asyncio

    from starlette.requests import Request

    from api.errors import status_for
    from api.routes.frames import frame_uploads
    from errors import MalformedBodyError

    messages: list[dict[str, Any]] = [  # ASGI messages
        {"type": "http.request", "body": WHOLE[:100], "more_body": True},
        {"type": "http.disconnect"},  # the camera lost its network half-way
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": FRAMES, "query_string": b"",
             "headers": [(b"content-type", content_type.encode())]}
    with pytest.raises(MalformedBodyError, match="disconnected after 100 bytes") as raised:
        asyncio.run(frame_uploads(Request(scope, receive), 10_000))
    assert status_for(raised.value) == 400
