"""A JPEG bomb is refused from its header, before OpenCV allocates the image: padded with
fill bytes before its frame header (legal JPEG, which libjpeg skips), a 144 MP frame of a few
hundred bytes was decoded in full (about 0.9 GB) before the size was checked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from errors import PayloadTooLargeError
from vision import images
from vision.images import decode_image


def jpeg_with(height: int, width: int, fill: int) -> bytes:
    """A small black JPEG whose frame header says ``height`` x ``width``, with ``fill`` 0xFF
    fill bytes before that header."""
    ok, buf = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    assert ok
    data = bytearray(buf.tobytes())
    i = 2
    while not (0xC0 <= data[i + 1] <= 0xCF and data[i + 1] not in (0xC4, 0xC8, 0xCC)):
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    data[i + 5 : i + 7] = height.to_bytes(2, "big")
    data[i + 7 : i + 9] = width.to_bytes(2, "big")
    return bytes(data[:i]) + b"\xff" * fill + bytes(data[i:])


@pytest.mark.parametrize("fill", [0, 1, 7])
def test_a_jpeg_above_the_limit_is_refused_before_it_is_decoded(
    fill: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_: object) -> None:
        raise AssertionError("decoded a bomb its header should have refused")

    monkeypatch.setattr(images.cv2, "imdecode", never)
    with pytest.raises(PayloadTooLargeError, match=r"144\.0 MP"):
        decode_image(jpeg_with(12_000, 12_000, fill), max_pixels=40_000_000)


@pytest.mark.parametrize("fill", [0, 1, 7])
def test_a_jpeg_with_fill_bytes_within_the_limit_decodes(fill: int) -> None:
    assert decode_image(jpeg_with(16, 16, fill), max_pixels=40_000_000).shape == (16, 16, 3)
