"""Draw Chinese licence plates and simple gate scenes for the demo, tests and benchmarks.

Plates follow the GA 36-2018 layout in millimetres (440×140 for 7 characters, 480×140 for
8-character new-energy plates): 90 mm tall characters, the separator dot between the
authority letter and the serial, a thin inset border. Double-row plates (large vehicles'
rear plates, trailers, some motorcycle and farm plates) are 440×220: the province and the
authority letter in a short top row (60 mm characters, 80 mm wide), the five serial
characters below (110 mm tall, 65 mm wide, 15 mm apart). Colours follow the plate family: blue
with white characters (ordinary), green gradient with black characters (new energy), yellow
with black characters (large vehicles, coach, trailer), white with black (police).

Glyphs come from a CJK font found on a list of known paths (``fonts-wqy-zenhei`` on Debian,
installed by the project's setup script); ``PARKGATE_CJK_FONT`` names another one. Each
glyph is cropped to its ink and stretched into its character box, which gives the condensed
look of the real plate typeface closely enough for the recogniser.

Scenes are a road, a car body and the plate on its bumper, with slight perspective, sensor
noise, blur and JPEG compression so the recogniser works as it does on camera frames.
"""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from errors import ConfigError
from vision.plate_grammar import DIGITS, LETTERS, PROVINCES, PlateKind, plate_kind
from vision.types import PlateColor

FONT_ENV = "PARKGATE_CJK_FONT"
# Known locations of a CJK font that has the province characters, most likely first.
FONT_PATHS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian/Ubuntu fonts-wqy-zenhei
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",  # Fedora, Arch
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/msyh.ttc",
)

# Millimetre geometry of GA 36-2018 plates.
_PLATE_H_MM = 140.0
_CHAR_H_MM = 90.0
_CHAR_TOP_MM = 25.0
_EDGE_MM = 15.5

# Double-row plates (GA 36-2018 大型汽车后号牌 / 挂车号牌, 440×220 mm): the top row's two
# characters sit either side of the centre, the bottom row's five fill the width.
DOUBLE_ROW_SIZE_MM = (440.0, 220.0)
_TOP_CHAR_MM = (80.0, 60.0)  # width, height
_TOP_LEFTS_MM = (110.0, 250.0)
_TOP_Y_MM = 15.0
_BOTTOM_CHAR_MM = (65.0, 110.0)
_BOTTOM_GAP_MM = 15.0
_BOTTOM_Y_MM = 95.0
# The families drawn (and read) on two rows; the serial may end in 挂, 学 or 警.
DOUBLE_ROW_KINDS = frozenset(
    {PlateKind.ORDINARY, PlateKind.TRAILER, PlateKind.COACH, PlateKind.POLICE}
)

# RGB colours as they photograph in daylight.
_BLUE = (18, 70, 170)
_YELLOW = (245, 190, 20)
_WHITE = (238, 240, 236)
_BLACK = (22, 22, 22)
_GREEN_TOP = (205, 240, 212)
_GREEN_BOTTOM = (40, 175, 80)


class FontNotFoundError(ConfigError):
    """No CJK font is installed where parkgate looks for one."""


def find_cjk_font(candidates: tuple[str, ...] = FONT_PATHS) -> Path:
    """The first CJK font found: ``PARKGATE_CJK_FONT`` if set, else the known paths."""
    override = os.environ.get(FONT_ENV)
    if override:
        if not Path(override).is_file():
            raise FontNotFoundError(f"{FONT_ENV}={override} is not a font file")
        return Path(override)
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontNotFoundError(
        "no CJK font found for drawing plates; install one with "
        "'apt-get install fonts-wqy-zenhei' (the setup script does this) or set "
        f"{FONT_ENV} to a .ttf/.ttc file. Looked in: {', '.join(candidates)}"
    )


@functools.lru_cache(maxsize=4)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size, index=0)


@functools.lru_cache(maxsize=256)
def _glyph(path: str, char: str) -> np.ndarray:
    """The glyph's ink as a 0–255 mask cropped to its bounding box (cached per character)."""
    font = _font(path, 160)
    canvas = Image.new("L", (240, 240), 0)
    # A thin stroke thickens WQY's strokes towards the plate typeface's ~10 mm lines.
    ImageDraw.Draw(canvas).text((40, 20), char, font=font, fill=255, stroke_width=3,
                                stroke_fill=255)
    mask = np.asarray(canvas)
    ys, xs = np.nonzero(mask > 40)
    if ys.size == 0:
        raise ValueError(f"the font at {path} has no glyph for {char!r}")
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].copy()


@dataclass(frozen=True, slots=True)
class PlateStyle:
    color: PlateColor
    background_top: tuple[int, int, int]
    background_bottom: tuple[int, int, int]
    ink: tuple[int, int, int]


_STYLES: dict[PlateColor, PlateStyle] = {
    PlateColor.BLUE: PlateStyle(PlateColor.BLUE, _BLUE, _BLUE, _WHITE),
    PlateColor.YELLOW: PlateStyle(PlateColor.YELLOW, _YELLOW, _YELLOW, _BLACK),
    PlateColor.GREEN: PlateStyle(PlateColor.GREEN, _GREEN_TOP, _GREEN_BOTTOM, _BLACK),
    PlateColor.WHITE: PlateStyle(PlateColor.WHITE, _WHITE, _WHITE, _BLACK),
}

_FAMILY_COLORS: dict[PlateKind, PlateColor] = {
    PlateKind.NEW_ENERGY_SMALL: PlateColor.GREEN,
    PlateKind.NEW_ENERGY_LARGE: PlateColor.GREEN,
    PlateKind.COACH: PlateColor.YELLOW,
    PlateKind.TRAILER: PlateColor.YELLOW,
    PlateKind.POLICE: PlateColor.WHITE,
}


def plate_color_for(text: str, requested: PlateColor | None = None) -> PlateColor:
    """The colour to draw: fixed by the family, else ``requested`` (blue or yellow), else blue."""
    kind = plate_kind(text)
    if kind is None:
        raise ValueError(f"{text!r} is not a canonical plate (no dot, GA 36-2018)")
    if kind in _FAMILY_COLORS:
        return _FAMILY_COLORS[kind]
    if kind is PlateKind.ORDINARY:
        return requested if requested in (PlateColor.BLUE, PlateColor.YELLOW) else PlateColor.BLUE
    raise ValueError(f"drawing {kind} plates is not supported")


def _glyph_boxes(
    text: str, px_per_mm: float, double_row: bool
) -> tuple[tuple[int, int], list[tuple[str, int, int, int, int]], tuple[int, int] | None]:
    """Plate size (w, h) in px, each character's box (char, x, y, w, h) and the separator
    dot's centre (None on double-row plates, which have none)."""

    def mm(v: float) -> int:
        return round(v * px_per_mm)

    if double_row:
        width_mm, height_mm = DOUBLE_ROW_SIZE_MM
        boxes = [(c, mm(x), mm(_TOP_Y_MM), mm(_TOP_CHAR_MM[0]), mm(_TOP_CHAR_MM[1]))
                 for c, x in zip(text[:2], _TOP_LEFTS_MM, strict=True)]
        bw, bh = _BOTTOM_CHAR_MM
        left = (width_mm - 5 * bw - 4 * _BOTTOM_GAP_MM) / 2
        boxes += [(c, mm(left + i * (bw + _BOTTOM_GAP_MM)), mm(_BOTTOM_Y_MM), mm(bw), mm(bh))
                  for i, c in enumerate(text[2:])]
        return (mm(width_mm), mm(height_mm)), boxes, None
    width_mm, lefts, char_w, dot_x = _layout(len(text))
    boxes = [(c, mm(x), mm(_CHAR_TOP_MM), mm(char_w), mm(_CHAR_H_MM))
             for c, x in zip(text, lefts, strict=True)]
    dot = (mm(dot_x), mm(_CHAR_TOP_MM + _CHAR_H_MM / 2))
    return (mm(width_mm), mm(_PLATE_H_MM)), boxes, dot


def _layout(n_chars: int) -> tuple[float, list[float], float, float]:
    """Plate width, left edge of each character, character width and dot centre (mm)."""
    if n_chars == 7:
        width, char_w, gap, dot_gap = 440.0, 45.0, 12.0, 34.0
    elif n_chars == 8:
        width, char_w, gap, dot_gap = 480.0, 43.0, 9.0, 0.0
        dot_gap = width - 2 * _EDGE_MM - 8 * char_w - 6 * gap
    else:
        raise ValueError(f"plates have 7 or 8 characters, got {n_chars}")
    lefts = []
    x = _EDGE_MM
    for i in range(n_chars):
        lefts.append(x)
        x += char_w + (dot_gap if i == 1 else gap)
    dot_x = lefts[1] + char_w + dot_gap / 2
    return width, lefts, char_w, dot_x


def render_plate(
    text: str,
    color: PlateColor | None = None,
    *,
    px_per_mm: float = 1.0,
    font_path: Path | None = None,
    double_row: bool = False,
) -> np.ndarray:
    """A flat, upright plate as a BGR uint8 image (440×140 px at 1 px/mm for 7 characters,
    440×220 for a ``double_row`` one)."""
    kind = plate_kind(text)
    if double_row and kind not in DOUBLE_ROW_KINDS:
        raise ValueError(f"{text!r} is not a plate issued on two rows (7 characters, "
                         "an ordinary serial or one ending in 挂/学/警)")
    if double_row and kind is PlateKind.ORDINARY and color is None:
        color = PlateColor.YELLOW  # two-row ordinary plates are large vehicles' rear plates
    style = _STYLES[plate_color_for(text, color)]
    path = str(font_path or find_cjk_font())
    (w, h), boxes, dot = _glyph_boxes(text, px_per_mm, double_row)
    top = np.array(style.background_top, dtype=np.float32)
    bottom = np.array(style.background_bottom, dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    plate: np.ndarray = (
        np.broadcast_to(top + (bottom - top) * ramp, (h, w, 3)).astype(np.float32).copy()
    )
    ink = np.array(style.ink, dtype=np.float32)

    def mm(v: float) -> int:
        return round(v * px_per_mm)

    border = Image.new("L", (w, h), 0)
    ImageDraw.Draw(border).rounded_rectangle(
        (mm(3), mm(3), w - 1 - mm(3), h - 1 - mm(3)),
        radius=mm(8),
        outline=255,
        width=max(1, mm(2)),
    )
    masks = np.asarray(border, dtype=np.float32) / 255.0
    for char, x, y, box_w, char_h in boxes:
        glyph = _glyph(path, char)
        natural_w = glyph.shape[1] * char_h / glyph.shape[0]
        # CJK characters fill their box; narrow glyphs such as "1" keep their own width.
        glyph_w = box_w if char in PROVINCES or natural_w > box_w else max(1, round(natural_w))
        scaled = cv2.resize(glyph, (glyph_w, char_h), interpolation=cv2.INTER_AREA)
        x0 = x + (box_w - glyph_w) // 2
        region = masks[y : y + char_h, x0 : x0 + glyph_w]
        np.maximum(region, scaled[: region.shape[0], : region.shape[1]] / 255.0, out=region)
    if dot is not None:
        cv2.circle(masks, dot, max(1, mm(5)), (1.0,), -1)
    plate = plate * (1 - masks[..., None]) + ink * masks[..., None]
    return cv2.cvtColor(plate.clip(0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def random_plate(rng: random.Random, kind: str = "ordinary", province: str | None = None) -> str:
    """A random valid plate: ``ordinary`` (7 chars) or ``new_energy`` (8 chars, small car)."""
    head = (province or rng.choice(PROVINCES)) + rng.choice(LETTERS)
    if kind == "new_energy":
        return head + rng.choice("DF") + rng.choice(LETTERS + DIGITS) + "".join(
            rng.choice(DIGITS) for _ in range(4)
        )
    if kind != "ordinary":
        raise ValueError(f"kind must be 'ordinary' or 'new_energy', got {kind!r}")
    # Real serials mix letters and digits but are mostly digits.
    serial = [rng.choice(DIGITS) for _ in range(5)]
    for i in rng.sample(range(5), rng.randint(0, 2)):
        serial[i] = rng.choice(LETTERS)
    return head + "".join(serial)


_CAR_COLOURS_BGR = ((235, 235, 235), (40, 40, 40), (150, 150, 155), (40, 40, 160), (150, 90, 30),
                    (200, 200, 205))


def render_gate_scene(
    plate: np.ndarray | None,
    rng: random.Random,
    *,
    size: tuple[int, int] = (960, 540),
    approach: float = 1.0,
    car_colour: tuple[int, int, int] | None = None,
    quality: int = 85,
) -> np.ndarray:
    """A gate camera frame (BGR): road, a car at ``approach`` (0 far … 1 at the barrier)
    carrying ``plate`` (from :func:`render_plate`), or an empty lane when ``plate`` is None.
    """
    width, height = size
    frame: np.ndarray = np.empty((height, width, 3), dtype=np.uint8)
    horizon = int(height * 0.30)
    frame[:horizon] = (165, 160, 150)  # the guard house wall behind the lane
    ramp = np.linspace(0.0, 25.0, height - horizon, dtype=np.float32)[:, None, None]
    frame[horizon:] = (np.array((95, 95, 92), np.float32) + ramp).astype(np.uint8)
    cx = width // 2
    for side in (-1, 1):  # lane edges converging to the horizon
        cv2.line(frame, (cx + side * width // 10, horizon),
                 (cx + side * int(width * 0.55), height), (220, 220, 220), 4)
    cv2.rectangle(frame, (int(width * 0.06), horizon - 120), (int(width * 0.09), height - 40),
                  (60, 160, 230), -1)  # barrier post
    if plate is not None:
        _draw_car(frame, plate, rng, approach=min(1.0, max(0.0, approach)),
                  colour=car_colour or rng.choice(_CAR_COLOURS_BGR))
    # Sensor noise; cv2.randn is seeded from rng so a scene is reproducible from its seed.
    cv2.setRNGSeed(rng.getrandbits(31))
    noise = np.empty(frame.shape, np.int16)
    sigma = rng.uniform(2.0, 5.0)
    # One mean and deviation per channel: a bare number is the scalar (sigma, 0, 0, 0), which
    # put the noise on the blue channel alone.
    cv2.randn(noise, np.zeros(3), np.full(3, sigma))
    frame = cv2.add(frame, noise, dtype=cv2.CV_8U)
    frame = cv2.GaussianBlur(frame, (3, 3), rng.uniform(0.4, 0.9))
    ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else frame


def _draw_car(
    frame: np.ndarray,
    plate: np.ndarray,
    rng: random.Random,
    *,
    approach: float,
    colour: tuple[int, int, int],
) -> None:
    height, width = frame.shape[:2]
    car_w = int(width * (0.40 + 0.22 * approach))
    car_h = int(car_w * 0.62)
    cx = width // 2 + rng.randint(-width // 40, width // 40)
    bottom = int(height * (0.80 + 0.16 * approach))
    x1, x2 = cx - car_w // 2, cx + car_w // 2
    y1 = bottom - car_h
    cv2.ellipse(frame, (cx, bottom), (car_w // 2 + 10, 18), 0, 0, 360, (45, 45, 45), -1)
    for wx in (x1 + car_w // 8, x2 - car_w // 8):  # wheels peeking out under the body
        cv2.rectangle(frame, (wx - car_w // 14, bottom - 30), (wx + car_w // 14, bottom + 8),
                      (25, 25, 25), -1)
    cv2.rectangle(frame, (x1, y1 + car_h // 3), (x2, bottom - 10), colour, -1)
    roof = np.array([[x1 + car_w // 8, y1 + car_h // 3], [x1 + car_w // 4, y1],
                     [x2 - car_w // 4, y1], [x2 - car_w // 8, y1 + car_h // 3]], np.int32)
    cv2.fillPoly(frame, [roof], colour)
    glass = np.array([[x1 + car_w // 6, y1 + car_h // 3 - 4], [x1 + car_w // 4 + 8, y1 + 10],
                      [x2 - car_w // 4 - 8, y1 + 10], [x2 - car_w // 6, y1 + car_h // 3 - 4]],
                     np.int32)
    cv2.fillPoly(frame, [glass], (70, 55, 45))
    lamp_y = y1 + car_h // 3 + car_h // 10
    for lx in (x1 + car_w // 12, x2 - car_w // 12 - car_w // 8):
        cv2.rectangle(frame, (lx, lamp_y), (lx + car_w // 8, lamp_y + car_h // 12),
                      (200, 230, 240), -1)
    grille_y = lamp_y + car_h // 12 + 6
    cv2.rectangle(frame, (cx - car_w // 6, lamp_y), (cx + car_w // 6, grille_y),
                  (35, 35, 35), -1)
    # The plate: about a third of the car's width, on the bumper, slightly skewed.
    plate_w = int(car_w * rng.uniform(0.30, 0.34))
    plate_h = int(plate_w * plate.shape[0] / plate.shape[1])
    px, py = cx - plate_w // 2, bottom - 24 - plate_h - car_h // 10
    jitter = plate_h * 0.08
    dst = np.array(
        [[px + rng.uniform(-jitter, jitter), py + rng.uniform(-jitter, jitter)],
         [px + plate_w + rng.uniform(-jitter, jitter), py + rng.uniform(-jitter, jitter)],
         [px + plate_w + rng.uniform(-jitter, jitter), py + plate_h + rng.uniform(-jitter, jitter)],
         [px + rng.uniform(-jitter, jitter), py + plate_h + rng.uniform(-jitter, jitter)]],
        dtype=np.float32,
    )
    ph, pw = plate.shape[:2]
    src = np.array([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]], dtype=np.float32)
    # Warp into the plate's bounding box only: a full-frame warp and blend costs 10× more.
    bx, by = int(dst[:, 0].min()) - 1, int(dst[:, 1].min()) - 1
    bw, bh = int(dst[:, 0].max()) + 2 - bx, int(dst[:, 1].max()) + 2 - by
    matrix = cv2.getPerspectiveTransform(src, dst - np.array([bx, by], np.float32))
    warped = cv2.warpPerspective(plate, matrix, (bw, bh), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, (bw, bh))
    # Darken the bumper around the plate a little (the plate holder), then paste the plate.
    holder = dst + np.array([[-4, -4], [4, -4], [4, 4], [-4, 4]], np.float32)
    cv2.fillConvexPoly(frame, holder.astype(np.int32), (30, 30, 30))
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    roi = frame[by : by + bh, bx : bx + bw]
    roi[:] = (roi * (1 - alpha) + warped * alpha).astype(np.uint8)
