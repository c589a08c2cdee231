"""Find plate-shaped regions before reading them (colour + edge morphology).

Chinese plates are saturated blue, yellow or green rectangles (white/black ones are rare at a
residential gate) about 3.1–3.4 times as wide as high, full of vertical strokes; yellow ones
on trucks, buses and trailers are also issued on two rows, 2:1. On a working
copy of the frame (longest side ``max_side``) we build one mask per plate colour and one from
thresholded horizontal gradients, close each with wide flat rectangles scaled to the image, and
keep contours whose minimum-area rectangle has a plate's aspect, size and fill. Proposals are
scored by how plate-like they look (aspect, edge density, black/white transitions along rows),
never by where they are: ranking cars by lane position is the recogniser's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.plate_geometry import order_corners, rectify
from vision.plate_rows import row_gap
from vision.types import PlateColor


@dataclass(frozen=True, slots=True)
class PlateCandidate:
    """A proposed plate: its corners in the searched image, a colour guess and a score."""

    quad: np.ndarray  # 4×2 float32, ordered tl, tr, br, bl, image coordinates
    color: PlateColor
    score: float
    # A yellow 2:1 blob whose ink lies in two rows: read as a double-row plate.
    double_row: bool = False


# OpenCV hue is 0–179. Ranges from the plate colours under daylight and sodium lights.
_HUE_RANGES: dict[PlateColor, tuple[int, int]] = {
    PlateColor.BLUE: (100, 125),
    PlateColor.YELLOW: (11, 34),
    PlateColor.GREEN: (35, 90),
}
_MIN_SAT = {PlateColor.BLUE: 70, PlateColor.YELLOW: 70, PlateColor.GREEN: 40}
_MIN_VAL = {PlateColor.BLUE: 40, PlateColor.YELLOW: 70, PlateColor.GREEN: 60}

_MIN_ASPECT = 1.6
_MAX_ASPECT = 7.5
_IDEAL_ASPECT = 3.3
# Smallest plate searched, as a fraction of the working image's longest side.
_MIN_WIDTH_FRAC = 0.04
# Smaller blobs are proposed too, but may not hide a larger proposal overlapping them: a
# camera beside the lane sees plates on the far side of the frame foreshortened and smaller
# (bench.plate_robustness skewed_25pct: three 1080p plates lost at 0.04 read once proposed),
# while a blob inside a plate-sized one is a piece of it whose crop reads worse.
_MIN_SMALL_WIDTH_FRAC = 0.025
_MAX_WIDTH_FRAC = 0.9
_MIN_FILL = 0.45
# Double-row plates are 440×220 mm: yellow blobs up to this aspect are looked at for two rows
# of characters (single-row plates are 3.1–3.4, so they never are).
_DOUBLE_ROW_MAX_ASPECT = 2.6
_DOUBLE_ROW_ASPECT = 2.0
# A white plate: barely saturated and bright. 175, not crop_color's 150: a grey car body
# (150-155) in the mask merges with the plate into one blob of no plate's shape (rendered
# scenes: 19 of 30 proposed at 175, 17 at 130); a white or silver body still does.
_WHITE_MAX_SAT = 50
_WHITE_MIN_VAL = 175

# cv2.minAreaRect's ((cx, cy), (w, h), angle).
Rect = cv2.typing.RotatedRect


def crop_color(crop: np.ndarray) -> PlateColor:
    """Dominant plate background colour of an upright plate crop (BGR)."""
    ch, cw = crop.shape[:2]
    # Judge the middle of the crop: the padding around a plate shows bumper and body paint.
    inner = crop[ch // 6 : ch - ch // 6, cw // 20 : cw - cw // 20]
    hsv = cv2.cvtColor(inner if inner.size else crop, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    n = h.size

    def vote(tinted: np.ndarray) -> tuple[PlateColor, int]:
        counts = {
            color: int(np.count_nonzero(tinted & (h >= lo) & (h <= hi)))
            for color, (lo, hi) in _HUE_RANGES.items()
        }
        best = max(counts, key=lambda c: counts[c])
        return best, counts[best]

    best, count = vote((s > 70) & (v > 50))
    if count > 0.25 * n:
        return best
    # Glare and IR wash the colour out but usually keep its hue: accept a faint tint when
    # it is consistent over much of the plate (a white plate has none).
    best, count = vote((s >= 20) & (v > 40))
    if count > 0.45 * n:
        return best
    if np.count_nonzero((s < 50) & (v > 150)) > 0.4 * n:
        return PlateColor.WHITE
    if np.count_nonzero(v < 60) > 0.4 * n:
        return PlateColor.BLACK
    return PlateColor.UNKNOWN


def _colour_masks(hsv: np.ndarray) -> dict[PlateColor, np.ndarray]:
    masks = {}
    for color, (lo, hi) in _HUE_RANGES.items():
        lower = np.array([lo, _MIN_SAT[color], _MIN_VAL[color]], dtype=np.uint8)
        upper = np.array([hi, 255, 255], dtype=np.uint8)
        masks[color] = cv2.inRange(hsv, lower, upper)
    return masks


def _edge_mask(gray: np.ndarray) -> np.ndarray:
    """Strong vertical strokes (|d/dx|), Otsu-thresholded: where characters are dense."""
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    grad = cv2.convertScaleAbs(cv2.Sobel(blurred, cv2.CV_16S, 1, 0, ksize=3))
    _, mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return mask


def _transitions(gray_crop: np.ndarray) -> float:
    """Median black/white transitions per row across the middle of a crop.

    A plate row crossing 7 characters flips 12–30 times after binarisation; a bumper,
    a sign or a window flips a few times.
    """
    h = gray_crop.shape[0]
    if h < 4 or gray_crop.shape[1] < 8:
        return 0.0
    band = gray_crop[h // 4 : h - h // 4]
    _, binary = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    flips = np.count_nonzero(np.diff(binary.astype(np.int8), axis=1), axis=1)
    return float(np.median(flips))


def _score(
    rect: Rect,
    gray: np.ndarray,
    edges: np.ndarray,
    from_colour: bool,
    ideal_aspect: float = _IDEAL_ASPECT,
) -> float:
    (cx, cy), (rw, rh), _ = rect
    long_side, short_side = max(rw, rh), max(1.0, min(rw, rh))
    aspect = long_side / short_side
    x1 = int(max(0, cx - long_side / 2))
    x2 = int(min(gray.shape[1], cx + long_side / 2))
    y1 = int(max(0, cy - short_side / 2))
    y2 = int(min(gray.shape[0], cy + short_side / 2))
    if x2 - x1 < 8 or y2 - y1 < 4:
        return 0.0
    edge_density = float(np.count_nonzero(edges[y1:y2, x1:x2])) / ((x2 - x1) * (y2 - y1))
    flips = _transitions(gray[y1:y2, x1:x2])
    aspect_fit = max(0.0, 1.0 - abs(np.log(aspect / ideal_aspect)) / np.log(2.5))
    stroke_fit = min(flips, 24.0) / 24.0
    density_fit = 1.0 - min(1.0, abs(edge_density - 0.3) / 0.3)
    return aspect_fit * 0.35 + stroke_fit * 0.4 + density_fit * 0.15 + (0.1 if from_colour else 0.0)


def _corners(contour: np.ndarray, rect: Rect) -> np.ndarray:
    """The plate's four corners: a quadrilateral fitted to the contour when one fits.

    A plate seen from the side is a parallelogram or trapezoid, not a rectangle; warping its
    minimum-area rectangle leaves the characters sheared, which the recogniser misreads.
    """
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    hull_area = max(1.0, cv2.contourArea(hull))
    for eps in (0.02, 0.04, 0.06, 0.08):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            # The quad must cover the blob (not cut a corner off) without inventing area.
            if 0.85 <= cv2.contourArea(approx) / hull_area <= 1.15:
                return approx.reshape(4, 2).astype(np.float32)
            break
        if len(approx) < 4:
            break
    return cv2.boxPoints(rect)


def _shows_two_rows(gray: np.ndarray, corners: np.ndarray, rect: Rect) -> bool:
    """Whether a yellow or white blob of a double-row plate's shape carries its ink in two
    rows."""
    (_, _), (rw, rh), _ = rect
    if max(rw, rh) / max(1.0, min(rw, rh)) > _DOUBLE_ROW_MAX_ASPECT:
        return False
    crop = rectify(gray, corners, min_aspect=0.0, pad_x=0.0, pad_y=0.0)
    return row_gap(crop) is not None


def _rects_from_mask(
    mask: np.ndarray, kernel_w: int, kernel_h: int, min_width: float, max_width: float
) -> list[tuple[Rect, np.ndarray]]:
    """Closed-mask contours whose min-area rectangle looks like a plate, with their corners."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel_w, kernel_h))
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    opened = cv2.morphologyEx(
        closed,
        cv2.MORPH_OPEN,
        cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, kernel_w // 2), 3)),
    )
    contours, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours:
        rect = cv2.minAreaRect(contour)
        (_, _), (rw, rh), _ = rect
        long_side, short_side = max(rw, rh), min(rw, rh)
        if short_side < 6 or not min_width <= long_side <= max_width:
            continue
        aspect = long_side / short_side
        if not _MIN_ASPECT <= aspect <= _MAX_ASPECT:
            continue
        fill = cv2.contourArea(contour) / max(1.0, rw * rh)
        if fill < _MIN_FILL:
            continue
        found.append((rect, _corners(contour, rect)))
    return found


def _working_copy(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image with its longest side at most ``max_side``, and the scale applied."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    # INTER_AREA costs ~40 ms on a 2 MP frame; bilinear is enough to find rectangles.
    size = (round(w * scale), round(h * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), scale


def _colour_kernel(side: int) -> tuple[int, int]:
    """Colour masks are solid plates already: a small closing joins them across characters."""
    return max(3, round(side / 100)), max(3, round(side / 200))


def find_white_double_rows(image: np.ndarray, *, max_side: int = 800) -> list[PlateCandidate]:
    """White double-row plates (police motorcycles, 警) in a BGR image, most plate-like
    first: bright, barely saturated blobs of a double-row plate's shape whose ink lies in
    two rows.

    Not part of :func:`find_plate_candidates`: white is everywhere in a frame (walls, sky,
    car bodies; ~6 blobs per photo), so the search costs ~2 ms a frame and the recogniser
    only runs it when the usual proposals read no plate. The edge mask closes each row of
    such a plate on its own, into two blobs of which neither is a plate.
    """
    work, scale = _working_copy(image, max_side)
    side = max(work.shape[:2])
    hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
    gray = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
    white = cv2.inRange(hsv, np.array([0, 0, _WHITE_MIN_VAL], dtype=np.uint8),
                        np.array([179, _WHITE_MAX_SAT, 255], dtype=np.uint8))
    found: list[PlateCandidate] = []
    blobs = _rects_from_mask(white, *_colour_kernel(side), _MIN_SMALL_WIDTH_FRAC * side,
                             _MAX_WIDTH_FRAC * side)
    edges: np.ndarray | None = None
    for rect, corners in blobs:
        if not _shows_two_rows(gray, corners, rect):
            continue
        edges = _edge_mask(gray) if edges is None else edges
        score = _score(rect, gray, edges, True, _DOUBLE_ROW_ASPECT)
        found.append(PlateCandidate(quad=order_corners(corners / scale), color=PlateColor.WHITE,
                                    score=score, double_row=True))
    found.sort(key=lambda c: c.score, reverse=True)
    return found


def find_plate_candidates(
    image: np.ndarray, *, max_side: int = 800, max_candidates: int = 12
) -> list[PlateCandidate]:
    """Plate proposals in a BGR image, most plate-like first, corners in image coordinates.

    Edge-only proposals come back with colour UNKNOWN; the recogniser judges the colour on
    the rectified crop of the one it reads.
    """
    work, scale = _working_copy(image, max_side)
    side = max(work.shape[:2])
    min_width, max_width = _MIN_SMALL_WIDTH_FRAC * side, _MAX_WIDTH_FRAC * side
    hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
    gray = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
    edges = _edge_mask(gray)

    proposals: list[tuple[float, np.ndarray, PlateColor, float, bool]] = []
    colour_kernel = _colour_kernel(side)
    for color, mask in _colour_masks(hsv).items():
        for rect, corners in _rects_from_mask(mask, *colour_kernel, min_width, max_width):
            # A double-row plate is scored by its own shape, so it outranks the edge blob of
            # its bottom row alone (which would then hide it as an overlap).
            two_rows = color is PlateColor.YELLOW and _shows_two_rows(gray, corners, rect)
            ideal = _DOUBLE_ROW_ASPECT if two_rows else _IDEAL_ASPECT
            proposals.append(
                (_score(rect, gray, edges, True, ideal), corners, color, max(rect[1]), two_rows)
            )
    # Edges catch plates whose colour is washed out (night, IR, white/black plates):
    # close across characters with a wide flat kernel so one plate becomes one blob.
    edge_kernel = (max(5, round(side / 45)), max(3, round(side / 260)))
    for rect, _ in _rects_from_mask(edges, *edge_kernel, min_width, max_width):
        proposals.append(
            (_score(rect, gray, edges, False), cv2.boxPoints(rect), PlateColor.UNKNOWN,
             max(rect[1]), False)
        )

    proposals.sort(key=lambda p: p[0], reverse=True)
    regular_width = _MIN_WIDTH_FRAC * side
    regular = [p for p in proposals if p[0] > 0.2 and p[3] >= regular_width]
    small = [p for p in proposals if p[0] > 0.2 and p[3] < regular_width]
    kept: list[PlateCandidate] = []
    kept_boxes: list[tuple[float, float, float, float]] = []
    for group in (regular, small):
        for score, points, color, _, two_rows in group:
            if len(kept) >= max_candidates:
                break
            quad = order_corners(points / scale)
            box = (
                float(quad[:, 0].min()),
                float(quad[:, 1].min()),
                float(quad[:, 0].max()),
                float(quad[:, 1].max()),
            )
            if any(_overlap(box, other) > 0.6 for other in kept_boxes):
                continue
            kept.append(PlateCandidate(quad=quad, color=color, score=score, double_row=two_rows))
            kept_boxes.append(box)
    kept.sort(key=lambda c: c.score, reverse=True)
    return kept


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over the smaller box's area."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / max(smaller, 1e-9)
