"""Cutting a double-row plate crop between its rows, and never a single-row one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.plate_render import render_plate
from vision.plate_rows import join_rows, row_gap, split_rows, stacked_quad, stacked_rows

CROPS = Path("/work/shared/data/plates/crops")


@pytest.mark.parametrize("px_per_mm", [0.1, 0.2, 0.4, 1.0])
@pytest.mark.parametrize("text", ["冀A12345", "鲁B1234挂", "京H11111"])
def test_the_cut_falls_in_the_strip_between_the_rows(text: str, px_per_mm: float) -> None:
    plate = render_plate(text, double_row=True, px_per_mm=px_per_mm)
    gap = row_gap(plate)
    assert gap is not None
    # The bare strip is 75-95 mm of 220.
    assert 75 * px_per_mm - 1 <= gap <= 95 * px_per_mm + 1


@pytest.mark.parametrize(("pad_top", "pad_bottom"), [(0.0, 0.0), (0.1, 0.1), (0.2, 0.05),
                                                     (0.02, 0.2)])
def test_the_strip_is_found_not_assumed(pad_top: float, pad_bottom: float) -> None:
    """Boxes too tall at the top or bottom (bumper, a loose quad) move the strip within the
    crop; the cut follows it rather than a fixed ratio."""
    plate = render_plate("粤B3K5T8", double_row=True, px_per_mm=0.5)
    h = plate.shape[0]
    top, bottom = round(pad_top * h), round(pad_bottom * h)
    crop = cv2.copyMakeBorder(plate, top, bottom, 0, 0, cv2.BORDER_CONSTANT, value=(60, 60, 60))
    gap = row_gap(crop)
    assert gap is not None
    assert top + 75 * 0.5 - 1 <= gap <= top + 95 * 0.5 + 1


@pytest.mark.parametrize("text", ["沪B7M261", "京A11111", "冀A1234挂", "沪AD12345"])
def test_a_single_row_plate_is_never_cut(text: str) -> None:
    for px_per_mm in (0.15, 0.3, 1.0):
        plate = render_plate(text, px_per_mm=px_per_mm)
        assert row_gap(plate) is None
        # Squeezed to a double-row plate's shape it still shows one row of text.
        w = plate.shape[1]
        assert row_gap(cv2.resize(plate, (w, w // 2))) is None


def test_real_single_row_crops_are_never_cut() -> None:
    paths = sorted(CROPS.glob("*.jpg"))
    if not paths:
        pytest.skip(f"no real plate crops in {CROPS}")
    cut = []
    for path in paths:
        crop = cv2.imread(str(path))
        assert crop is not None
        h, w = crop.shape[:2]
        # The recogniser only looks for two rows in crops of a double-row plate's shape:
        # squeeze each real crop to that shape, the hardest case for the cut.
        if row_gap(cv2.resize(crop, (w, max(h, w // 2)))) is not None:
            cut.append(path.name)
    assert not cut


def test_rows_are_trimmed_to_their_characters_and_joined_into_one_line() -> None:
    plate = render_plate("鲁B1234挂", double_row=True, px_per_mm=0.5)
    rows = split_rows(plate)
    assert rows is not None
    top, bottom = rows
    # Top row characters 60 mm, bottom 110 mm, each with some margin, none of the border.
    assert 30 <= top.shape[0] <= 30 * 1.8
    assert 55 <= bottom.shape[0] <= 55 * 1.8
    line = join_rows(top, bottom)
    assert line.shape[0] == bottom.shape[0]
    assert line.shape[1] / line.shape[0] > 3.0  # a single-row plate's shape


def test_noise_and_blur_do_not_lose_the_strip() -> None:
    rng = np.random.default_rng(4)
    for text in ("冀A12345", "吉C6L13挂"):
        plate = render_plate(text, double_row=True, px_per_mm=0.35)
        noisy = np.clip(plate + rng.normal(0, 10, plate.shape), 0, 255).astype(np.uint8)
        blurred = cv2.GaussianBlur(noisy, (0, 0), 1.0)
        assert row_gap(blurred) is not None


def _line(x: float, y: float, w: float, h: float) -> np.ndarray:
    """A detector's text line as an ordered quad (tl, tr, br, bl)."""
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


# The bottom row of a double-row plate as the PP-OCRv4 detector boxes it in a gate scene.
_BOTTOM = _line(400, 360, 150, 50)


@pytest.mark.parametrize(
    ("lines", "pairs"),
    [
        # The top row as the detector boxes it: half as wide, 0.6 as tall, overlapping a
        # little and centred.
        ([_BOTTOM, _line(435, 330, 80, 32)], [(1, 0)]),
        ([_line(440, 338, 76, 28), _BOTTOM], [(0, 1)]),
        # A caption wider than the plate above it, a line as tall as the plate, one off to
        # the side, one far above, one below: no second row.
        ([_BOTTOM, _line(380, 320, 190, 30)], []),
        ([_BOTTOM, _line(435, 305, 80, 50)], []),
        ([_BOTTOM, _line(480, 330, 80, 32)], []),
        ([_BOTTOM, _line(435, 270, 80, 32)], []),
        ([_BOTTOM, _line(435, 412, 80, 32)], []),
        # Two trucks side by side: each bottom row takes the top row over it.
        ([_BOTTOM, _line(435, 330, 80, 32), _line(700, 360, 150, 50), _line(735, 330, 80, 32)],
         [(1, 0), (3, 2)]),
        # Two candidate top rows: the one closest above wins, each line used once.
        ([_BOTTOM, _line(435, 330, 80, 32), _line(435, 318, 80, 32)], [(1, 0)]),
    ],
)
def test_a_detector_line_centred_over_a_wider_one_is_its_top_row(
    lines: list[np.ndarray], pairs: list[tuple[int, int]]
) -> None:
    assert sorted(stacked_rows(lines)) == pairs


def test_the_quad_of_stacked_rows_spans_both_and_follows_the_bottom_rows_sides() -> None:
    bottom = np.array([[400, 360], [550, 364], [552, 414], [398, 410]], np.float32)
    quad = stacked_quad(_line(435, 330, 80, 32), bottom)
    # As wide as the bottom row, from the top row's top edge to the bottom row's bottom.
    np.testing.assert_allclose(quad[2:], bottom[2:])
    assert quad[0][1] == pytest.approx(330, abs=2.5)
    assert quad[1][1] == pytest.approx(334, abs=2.5)
    # Its top corners lie on the bottom row's left and right sides drawn upwards.
    for top_corner, corner_above, corner_below in ((0, 0, 3), (1, 1, 2)):
        side = bottom[corner_above] - bottom[corner_below]
        to_top = quad[top_corner] - bottom[corner_below]
        assert abs(float(np.cross(side, to_top))) < 1.0
        assert float(np.dot(side, to_top)) > float(np.dot(side, side))
