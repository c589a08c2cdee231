"""Find the two rows of a double-row plate in an upright crop.

GA 36-2018 double-row plates (large vehicles' rear plates, trailers, some motorcycle and farm
plates; 440×220 mm) carry the province and the authority letter in a short top row and the
five serial characters in a tall bottom row, with a strip of bare plate between them. The
recogniser reads one text line, so such a crop is cut at that strip, each row is cut to its
characters, and the two are set side by side as one line (:func:`join_rows`). The strip is
found, not assumed: the crop's ink is projected onto its rows and the cut goes through the
emptiest band between two inked ones, so a crop whose box was a little tall, short or
shifted still splits where the plate does. A single-row plate has ink from top to bottom of
its characters and no such band, so it is never split.

Why one joined line rather than each row read alone: PP-OCRv4 rec, given the top row's two
characters on their own, reads a J there as the bracket 」 and misses L and Z at times
(rendered plates, every letter under three provinces at three sizes: 62–67 of 72 top rows
read as they are, 69–71 cut to their ink, 68–69 squeezed or padded), while the same rows set
in front of the bottom row read 71–72 of 72: the model reads plates, not lone letters.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.images import to_grey

# Where the strip between the rows may lie, as fractions of the crop's height: the top row
# takes 15–75 mm of 220, the bottom row 95–205 mm, so the strip is at 34–43% of a tight crop
# and 37–44% of one padded by 10% of its height.
_GAP_LOW = 0.25
_GAP_HIGH = 0.6
# Each row must ink at least this many of the crop's lines (the top row's characters are
# 60 mm of 220, the bottom row's 110 mm): a plate's border or a bumper edge is no row.
_TOP_MIN_LINES = 0.12
_BOTTOM_MIN_LINES = 0.25
# The strip must be this empty relative to the more weakly inked row (a row's median inked
# line), and each row must ink at least this share of the crop's width on its lines.
_GAP_MAX_RATIO = 0.35
_ROW_MIN_INK = 0.05
# Columns at either side left out of the projection: the plate's border and the bumper.
_SIDE_MARGIN = 0.08


def ink_mask(grey: np.ndarray) -> np.ndarray:
    """Characters as 1, plate background as 0: Otsu's threshold, the minority class as ink
    (black characters on yellow or white, white ones on blue)."""
    _, binary = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    h, w = binary.shape
    inner = binary[h // 6 : h - h // 6, w // 10 : w - w // 10]
    bright_background = float(inner.mean()) > 0.5 if inner.size else True
    return (1 - binary) if bright_background else binary


# Characters (runs of inked columns) each row must show at least: the top row has two, the
# bottom row five, of which blur may merge a few. A dense border line is one run.
_TOP_MIN_CHARS = 2
_BOTTOM_MIN_CHARS = 3


def _row_band(profile: np.ndarray, start: int, step: int) -> tuple[int, int]:
    """The run of inked lines met walking from ``start`` by ``step`` (the row's characters),
    ended by the first bare line past them; (first, last + 1) in profile order."""
    n = len(profile)
    i = start
    while 0 <= i < n and profile[i] < _ROW_MIN_INK:  # the strip's own bare lines
        i += step
    first = i
    while 0 <= i < n and profile[i] >= _ROW_MIN_INK:
        i += step
    lo, hi = sorted((first, i - step))
    return max(0, lo), min(n, hi + 1)


def _column_runs(ink: np.ndarray) -> int:
    """How many separate runs of inked columns a band holds (its characters, roughly).
    Only the band's middle half counts: its first and last lines may be the plate's border,
    which small plates blur into the row."""
    h = ink.shape[0]
    inked = ink[h // 4 : max(h // 4 + 1, h - h // 4)].any(axis=0).astype(np.int8)
    return int(np.count_nonzero(np.diff(inked, prepend=0) == 1))


def _rows(crop: np.ndarray) -> tuple[int, tuple[int, int], tuple[int, int]] | None:
    """The cut and both rows' line ranges (in crop lines), or None for one row of text.

    The row profile of the ink mask (share of each line inked, the side margins left out,
    lightly smoothed) must have a band at most ``_GAP_MAX_RATIO`` as inked as the weaker
    of the two rows around it, each row tall enough and showing separate characters; the
    cut is the middle of that empty band, so it keeps clear of both rows' strokes.
    """
    grey = to_grey(crop)
    h, w = grey.shape
    if h < 12 or w < 12:
        return None
    margin = int(w * _SIDE_MARGIN)
    ink = ink_mask(grey)[:, margin : w - margin]
    profile = np.convolve(ink.mean(axis=1).astype(np.float64), np.ones(3) / 3, mode="same")
    lo, hi = int(h * _GAP_LOW), int(np.ceil(h * _GAP_HIGH))
    if hi - lo < 2:
        return None
    gap = lo + int(np.argmin(profile[lo:hi]))
    floor = profile[gap]
    top = _row_band(profile[:gap], gap - 1, -1)
    bottom = tuple(gap + v for v in _row_band(profile[gap:], 0, 1))
    if top[1] - top[0] < _TOP_MIN_LINES * h or bottom[1] - bottom[0] < _BOTTOM_MIN_LINES * h:
        return None
    weaker = min(float(np.median(profile[top[0] : top[1]])),
                 float(np.median(profile[bottom[0] : bottom[1]])))
    if floor > _GAP_MAX_RATIO * weaker:
        return None
    if (_column_runs(ink[top[0] : top[1]]) < _TOP_MIN_CHARS
            or _column_runs(ink[bottom[0] : bottom[1]]) < _BOTTOM_MIN_CHARS):
        return None
    # The middle of the empty band around the minimum.
    empty = profile <= floor + 0.5 * (_GAP_MAX_RATIO * weaker - floor)
    first, last = gap, gap
    while first > top[1] and empty[first - 1]:
        first -= 1
    while last < bottom[0] - 1 and empty[last + 1]:
        last += 1
    return (first + last + 1) // 2, top, (int(bottom[0]), int(bottom[1]))


def row_gap(crop: np.ndarray) -> int | None:
    """The line (from the top of ``crop``) to cut a double-row plate at, or None when the
    crop shows one row of text."""
    found = _rows(crop)
    return None if found is None else found[0]


# Lines kept above and below a row's characters, as a fraction of their height (0.35 read
# 117 of 120 rendered crops and scenes, 0.15 114, with the margin below at 0.3).
_ROW_PAD = 0.35


def split_rows(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``crop`` cut at :func:`row_gap` into its top and bottom rows, each trimmed to its
    characters' lines (the plate's border and the bumper above and below left out), or
    None when the crop shows one row."""
    found = _rows(crop)
    if found is None:
        return None
    gap, (t_lo, t_hi), (b_lo, b_hi) = found
    t_pad = max(1, round(_ROW_PAD * (t_hi - t_lo)))
    b_pad = max(1, round(_ROW_PAD * (b_hi - b_lo)))
    top = crop[max(0, t_lo - t_pad) : min(gap, t_hi + t_pad)]
    bottom = crop[max(gap, b_lo - b_pad) : min(crop.shape[0], b_hi + b_pad)]
    return top, bottom


# Horizontal margin kept around a row's characters, as a fraction of the row's height.
_INK_MARGIN = 0.3
# The top row's characters are 80 mm wide and 60 high; scaled to the bottom row's height
# they are squeezed to this share of their width, near the bottom row's proportions.
_TOP_SQUEEZE = 0.6


def trim_to_ink(row: np.ndarray) -> np.ndarray:
    """``row`` without the bare plate either side of its characters (the top row's two
    characters sit in the middle of a 440 mm wide plate) and the plate's border beyond."""
    ink = ink_mask(to_grey(row))
    h, w = ink.shape
    margin = int(w * _SIDE_MARGIN)
    cols = np.flatnonzero(ink[h // 5 : h - h // 5, margin : w - margin].any(axis=0)) + margin
    if cols.size == 0:
        return row
    keep = int(_INK_MARGIN * h)
    return row[:, max(0, int(cols[0]) - keep) : min(w, int(cols[-1]) + 1 + keep)]


def join_rows(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The two rows as one text line: the top row's characters, scaled to the bottom row's
    height, in front of the bottom row, as a single-row plate reads."""
    top = trim_to_ink(top)
    bottom = trim_to_ink(bottom)
    bh = bottom.shape[0]
    width = max(1, round(top.shape[1] * bh / max(1, top.shape[0]) * _TOP_SQUEEZE))
    scaled = cv2.resize(top, (width, bh), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([scaled, bottom], axis=1)


# A text detector's boxes for the two rows of a double-row plate (the PP-OCRv4 detector
# finds each row as its own line; rendered 440×220 plates in gate scenes): the top box is
# 0.42–0.55 of the bottom one's width and 0.55–0.65 of its height, centred over it, and
# the two boxes touch or overlap a little, since the detector pads each line.
_PAIR_WIDTH = (0.3, 0.8)
_PAIR_HEIGHT = (0.4, 0.9)
_PAIR_OFF_CENTRE = 0.15
_PAIR_GAP = (-0.35, 0.5)


def _extent(quad: np.ndarray) -> tuple[float, float, float, float, float]:
    """Centre x, width, top, bottom, height of an ordered quad (tl, tr, br, bl)."""
    tl, tr, br, bl = quad
    top = (float(tl[1]) + float(tr[1])) / 2
    bottom = (float(bl[1]) + float(br[1])) / 2
    left = (float(tl[0]) + float(bl[0])) / 2
    right = (float(tr[0]) + float(br[0])) / 2
    return (left + right) / 2, right - left, top, bottom, bottom - top


def stacked_rows(quads: list[np.ndarray]) -> list[tuple[int, int]]:
    """Pairs (top, bottom) of indices into ``quads`` (ordered tl, tr, br, bl) that could be
    the two rows of one double-row plate: the top one directly above the bottom one,
    narrower and lower, and centred over it. Each quad is in at most one pair, the bottom
    row taking the nearest top row above it; whether the pair is a plate is for its read
    to say (the rows must read as a double-row plate)."""
    extents = [_extent(q) for q in quads]
    pairs: list[tuple[float, int, int]] = []
    for b, (bx, bw, btop, _, bh) in enumerate(extents):
        if bw <= 0 or bh <= 0:
            continue
        for t, (tx, tw, _, tbottom, th) in enumerate(extents):
            if t == b or th <= 0:
                continue
            gap = (btop - tbottom) / bh
            if (_PAIR_WIDTH[0] <= tw / bw <= _PAIR_WIDTH[1]
                    and _PAIR_HEIGHT[0] <= th / bh <= _PAIR_HEIGHT[1]
                    and abs(tx - bx) <= _PAIR_OFF_CENTRE * bw
                    and _PAIR_GAP[0] <= gap <= _PAIR_GAP[1]):
                pairs.append((abs(gap), t, b))
    chosen: list[tuple[int, int]] = []
    used: set[int] = set()
    for _, t, b in sorted(pairs):
        if t not in used and b not in used:
            chosen.append((t, b))
            used.update((t, b))
    return chosen


def stacked_quad(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """One quad around both rows of a double-row plate: the bottom row's sides (the plate
    is as wide as its bottom row) drawn up to the top row's top edge, so the quad follows
    the plate's perspective and :func:`split_rows` finds the strip between the rows in it."""
    tl, tr, br, bl = (p.astype(np.float64) for p in bottom)
    _, _, _, bbottom, bh = _extent(bottom)
    ttop = _extent(top)[2]
    reach = (bbottom - ttop) / bh
    return np.stack([bl + (tl - bl) * reach, br + (tr - br) * reach, br, bl]).astype(np.float32)
