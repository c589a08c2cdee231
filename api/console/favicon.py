"""The console's icon: a barrier (post and striped arm) on the console's dark blue.

Browsers ask every site for /favicon.ico; without one each console page logged a 404 in the
browser's console. The glyph is a handful of rectangles, drawn here once as SVG (the page's
link) and once as a 32x32 ICO (for /favicon.ico), so the two cannot drift apart and no image
file is copied in from anywhere.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

from fastapi import APIRouter, Response

router = APIRouter(include_in_schema=False)

SIZE = 32
# The icon changes with a release at most; a browser need not ask again for a year.
CACHE = "public, max-age=31536000"


@dataclass(frozen=True, slots=True)
class Box:
    """A filled rectangle on the 32x32 grid, colour as "#rrggbb", corners rounded by ``rx``."""

    x: int
    y: int
    w: int
    h: int
    colour: str
    rx: int = 0

    def covers(self, px: float, py: float) -> bool:
        if not (self.x <= px < self.x + self.w and self.y <= py < self.y + self.h):
            return False
        if not self.rx:
            return True
        # Inside a rounded corner's square, only within the corner's circle.
        cx = min(max(px, self.x + self.rx), self.x + self.w - self.rx)
        cy = min(max(py, self.y + self.rx), self.y + self.h - self.rx)
        return (px - cx) ** 2 + (py - cy) ** 2 <= self.rx**2


_RED, _WHITE = "#d64545", "#f3f6f9"
GLYPH: tuple[Box, ...] = (
    Box(0, 0, 32, 32, "#0f1720", rx=6),  # the console's background
    Box(5, 9, 5, 17, "#9fb0c0", rx=1),  # the post
    Box(3, 25, 9, 3, "#9fb0c0"),  # its foot
    # The arm, red and white as barrier arms are painted.
    *(Box(10 + 4 * i, 11, 4, 5, _RED if i % 2 == 0 else _WHITE) for i in range(5)),
)


def favicon_svg() -> str:
    shapes = "".join(
        f'<rect x="{b.x}" y="{b.y}" width="{b.w}" height="{b.h}"'
        + (f' rx="{b.rx}"' if b.rx else "") + f' fill="{b.colour}"/>'
        for b in GLYPH
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" '
            f'width="{SIZE}" height="{SIZE}">{shapes}</svg>')


def _pixel(px: int, py: int) -> bytes:
    """The BGRA of one pixel: the last box that covers its centre, else transparent."""
    for box in reversed(GLYPH):
        if box.covers(px + 0.5, py + 0.5):
            red, green, blue = (int(box.colour[i:i + 2], 16) for i in (1, 3, 5))
            return bytes((blue, green, red, 255))
    return bytes(4)


@cache
def favicon_ico() -> bytes:
    """One 32x32 32-bit image in the ICO container (an uncompressed DIB, alpha included)."""
    # DIB rows go bottom-up; the height counts the colour rows and the (unused) AND mask.
    pixels = b"".join(_pixel(x, y) for y in reversed(range(SIZE)) for x in range(SIZE))
    mask = bytes(SIZE * SIZE // 8)  # 1 bit a pixel, rows of 4 bytes: all drawn, alpha rules
    dib = struct.pack("<IiiHHIIiiII", 40, SIZE, 2 * SIZE, 1, 32, 0, len(pixels) + len(mask),
                      0, 0, 0, 0) + pixels + mask
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(dib), 6 + 16)
    return header + entry + dib


_HEADERS = {"Cache-Control": CACHE, "X-Content-Type-Options": "nosniff"}


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(favicon_ico(), media_type="image/x-icon", headers=_HEADERS)


@router.get("/favicon.svg")
def favicon_vector() -> Response:
    return Response(favicon_svg(), media_type="image/svg+xml", headers=_HEADERS)
