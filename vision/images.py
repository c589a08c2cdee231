"""Decoding untrusted image bytes into BGR arrays, with clear errors for bad input."""

from __future__ import annotations

import cv2
import numpy as np

from errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError

DEFAULT_MAX_PIXELS = 40_000_000

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"BM", "bmp"),
)


def sniff_image_format(data: bytes) -> str | None:
    """Return ``jpeg``/``png``/``bmp`` from the magic bytes, or None."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def _pixels_from_header(data: bytes, fmt: str) -> int | None:
    """Read width×height from the header so a decompression bomb is refused before decoding."""
    if fmt == "png" and len(data) >= 24:
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        return width * height
    if fmt == "bmp" and len(data) >= 26:
        # BITMAPINFOHEADER: width and height as signed 32-bit at 18 and 22 (a negative height
        # is a top-down bitmap); the older 12-byte core header has 16-bit sizes at 18 and 20.
        header_size = int.from_bytes(data[14:18], "little")
        if header_size == 12:
            width = int.from_bytes(data[18:20], "little")
            height = int.from_bytes(data[20:22], "little")
        else:
            width = abs(int.from_bytes(data[18:22], "little", signed=True))
            height = abs(int.from_bytes(data[22:26], "little", signed=True))
        return width * height
    if fmt == "jpeg":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker == 0xFF:
                # A fill byte: any number may come before a marker. Read as a marker with a
                # length, "FF FF C0" hid the frame size from this check while libjpeg, which
                # skips fill bytes, still read it and allocated the image in full first.
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            # SOF0..SOF15 except DHT(C4), JPG(C8), DAC(CC) carry the frame size.
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height = int.from_bytes(data[i + 5 : i + 7], "big")
                width = int.from_bytes(data[i + 7 : i + 9], "big")
                return width * height
            i += 2 + length
    return None


def _refuse_above(pixels: int | None, max_pixels: int, what: str) -> None:
    if pixels is not None and pixels > max_pixels:
        raise PayloadTooLargeError(
            f"{what} has {pixels / 1e6:.1f} MP, more than the limit of {max_pixels / 1e6:.0f} MP"
        )


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/BMP bytes into a BGR uint8 array.

    Raises ``UnsupportedMediaError`` for empty or non-image bytes, ``InvalidInputError`` for a
    corrupt image, ``PayloadTooLargeError`` above ``max_pixels``.
    """
    if not data:
        raise UnsupportedMediaError("empty body: expected a JPEG or PNG image")
    fmt = sniff_image_format(data)
    if fmt is None:
        raise UnsupportedMediaError("body is not a JPEG, PNG or BMP image")
    _refuse_above(_pixels_from_header(data, fmt), max_pixels, "image")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as err:
        # OpenCV's own limits (a header it refuses to allocate for): bad input, not a crash.
        raise InvalidInputError(f"the {fmt} image could not be decoded: {err.err}") from err
    if image is None or image.size == 0:
        raise InvalidInputError(f"the {fmt} image is corrupt and could not be decoded")
    _refuse_above(image.shape[0] * image.shape[1], max_pixels, "image")
    return image


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise InvalidInputError("could not encode image as JPEG")
    return buf.tobytes()


def decode_depth_png(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a depth map: a single-channel 16-bit PNG in millimetres (0 = no reading), as
    RealSense, Orbbec and Kinect SDKs write them. Returns an HxW uint16 array.

    JPEG is refused: lossy compression invents depth relief on a flat surface.
    """
    if not data:
        raise UnsupportedMediaError("empty depth map: expected a 16-bit PNG")
    if sniff_image_format(data) != "png":
        raise UnsupportedMediaError("a depth map must be a 16-bit single-channel PNG (mm)")
    _refuse_above(_pixels_from_header(data, "png"), max_pixels, "depth map")
    depth = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if depth is None or depth.size == 0:
        raise InvalidInputError("the depth PNG is corrupt and could not be decoded")
    if depth.ndim != 2 or depth.dtype != np.uint16:
        channels = 1 if depth.ndim == 2 else depth.shape[2]
        raise InvalidInputError(
            f"a depth map must be 16-bit single-channel (mm); got {channels} channel(s) of "
            f"{depth.dtype}"
        )
    return depth


def to_grey(image: np.ndarray) -> np.ndarray:
    """A single-channel copy of a BGR frame; a grey frame is returned as it is."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
