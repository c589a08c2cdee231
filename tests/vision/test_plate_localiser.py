"""Plate localiser and crop geometry: synthetic plates for exact geometry, real photos for
recall."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.plate_geometry import order_corners, quad_size, rectify
from vision.plate_localiser import crop_color, find_plate_candidates
from vision.types import PlateColor

DATA = Path("/work/shared/data/plates")

PLATE_BGR = {
    PlateColor.BLUE: (180, 80, 20),
    PlateColor.YELLOW: (20, 190, 230),
    PlateColor.GREEN: (90, 200, 60),
}


def _synthetic_plate(color: PlateColor, angle: float = 0.0, shear: float = 0.0) -> np.ndarray:
    """A 440×140-proportioned plate with stroke-like marks on a grey street, 640×480."""
    plate = np.zeros((56, 176, 3), np.uint8)
    plate[:] = PLATE_BGR[color]
    ink = (255, 255, 255) if color is PlateColor.BLUE else (10, 10, 10)
    for k in range(7):
        x = 12 + k * 22
        cv2.rectangle(plate, (x, 12), (x + 3, 44), ink, -1)
        cv2.rectangle(plate, (x + 9, 12), (x + 12, 44), ink, -1)
        cv2.line(plate, (x, 12), (x + 12, 28), ink, 2)
    scene = np.full((480, 640, 3), 110, np.uint8)
    src = np.array([[0, 0], [176, 0], [176, 56], [0, 56]], np.float32)
    centre = np.array([320, 300], np.float32)
    theta = np.deg2rad(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32)
    local = src - np.array([88, 28], np.float32)
    local[:, 1] += 0.0
    local[:, 0] += shear * local[:, 1]  # slanted sides, as seen from off-axis
    dst = (local @ rot.T + centre).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(plate, matrix, (640, 480))
    mask = cv2.warpPerspective(np.full((56, 176), 255, np.uint8), matrix, (640, 480))
    scene[mask > 0] = warped[mask > 0]
    return scene


@pytest.mark.parametrize("color", list(PLATE_BGR))
@pytest.mark.parametrize("angle", [0.0, -12.0, 15.0])
def test_finds_synthetic_plate(color: PlateColor, angle: float) -> None:
    candidates = find_plate_candidates(_synthetic_plate(color, angle))
    assert candidates
    best = candidates[0]
    assert best.color is color
    width, height = quad_size(best.quad)
    assert width == pytest.approx(176, rel=0.15)
    assert height == pytest.approx(56, rel=0.25)
    centre = best.quad.mean(axis=0)
    assert np.hypot(*(centre - [320, 300])) < 10


def test_sheared_plate_gets_its_own_corners() -> None:
    # Off-axis, a plate is a parallelogram: the quad must follow its slanted sides so the
    # rectified crop has upright characters (a min-area rectangle would keep them slanted).
    image = _synthetic_plate(PlateColor.BLUE, angle=-30.0, shear=0.6)
    best = find_plate_candidates(image)[0]
    tl, tr, _br, bl = best.quad
    left_side = bl - tl
    top_side = tr - tl
    cos = abs(float(np.dot(left_side, top_side))) / (
        np.linalg.norm(left_side) * np.linalg.norm(top_side)
    )
    assert cos > 0.2  # not a right angle


def test_empty_scene_has_no_strong_candidate() -> None:
    assert all(c.score < 0.7 for c in find_plate_candidates(np.full((480, 640, 3), 110, np.uint8)))


@pytest.mark.parametrize("angle", [0, 5, -5, 30, -40, 60, 178])
def test_order_corners(angle: float) -> None:
    points = cv2.boxPoints(((100, 50), (120, 40), angle))
    tl, tr, _br, bl = order_corners(np.random.default_rng(0).permutation(points))
    assert np.linalg.norm(tr - tl) == pytest.approx(120, abs=1)  # top side is a long side
    assert np.linalg.norm(bl - tl) == pytest.approx(40, abs=1)
    assert tr[0] > tl[0] or abs(tr[0] - tl[0]) < 1e-3  # reading direction left to right


def test_rectify_stretches_and_pads() -> None:
    image = _synthetic_plate(PlateColor.BLUE)
    quad = np.array([[232, 272], [408, 272], [408, 328], [232, 328]], np.float32)
    crop = rectify(image, quad, min_aspect=4.0)
    h, w = crop.shape[:2]
    assert w >= 4 * h
    assert h == pytest.approx(56 * 1.2, abs=2)  # 10% padding top and bottom
    squeezed = rectify(image, quad, min_aspect=1.0, pad_x=0, pad_y=0)
    assert squeezed.shape[1] / squeezed.shape[0] == pytest.approx(176 / 56, rel=0.05)


@pytest.mark.parametrize(
    ("bgr", "expected"),
    [
        ((180, 80, 20), PlateColor.BLUE),
        ((20, 190, 230), PlateColor.YELLOW),
        ((90, 200, 60), PlateColor.GREEN),
        ((235, 235, 235), PlateColor.WHITE),
        ((20, 20, 20), PlateColor.BLACK),
        ((118, 118, 118), PlateColor.UNKNOWN),  # mid grey: no tint, neither white nor black
    ],
)
def test_crop_color(bgr: tuple[int, int, int], expected: PlateColor) -> None:
    assert crop_color(np.full((40, 160, 3), bgr, np.uint8)) is expected


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_recall_on_real_photos() -> None:
    """Every 4th labelled full photo: the plate is among the first 3 proposals in most."""
    if not (DATA / "labels.csv").is_file():
        pytest.skip(f"real plate photos not found at {DATA} (shared data set absent)")
    with (DATA / "labels.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] == "full" and r["bbox"]][::4]
    hits = 0
    for row in rows:
        x1, y1, x2, y2 = (float(v) for v in row["bbox"].split(","))
        if (x2 - x1) / (y2 - y1) < 0.4:  # some EasyPR boxes have width and height swapped
            cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, y2 - y1, x2 - x1
            x1, x2, y1, y2 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        image = cv2.imread(str(DATA / row["file"]))
        boxes = [
            (c.quad[:, 0].min(), c.quad[:, 1].min(), c.quad[:, 0].max(), c.quad[:, 1].max())
            for c in find_plate_candidates(image)[:3]
        ]
        hits += any(_iou((x1, y1, x2, y2), b) > 0.3 for b in boxes)
    assert hits / len(rows) >= 0.8, f"plate in the top 3 proposals for {hits}/{len(rows)}"


@pytest.mark.parametrize("text", ["川A019W2", "闽AD12345"])
@pytest.mark.parametrize("shear", [-1.0, -0.6, 0.6, 0.8])
def test_stroke_shear_finds_how_far_characters_lean(text: str, shear: float) -> None:
    from vision.plate_geometry import stroke_shear, unshear
    from vision.plate_render import render_plate

    leaning = unshear(render_plate(text, px_per_mm=0.4), -shear)
    found, gain = stroke_shear(leaning)
    assert found == pytest.approx(shear, abs=0.15)
    assert gain > 1.1
    # Standing them up by what was found leaves nothing to correct.
    again, _ = stroke_shear(unshear(leaning, found))
    assert abs(again) <= 0.15


def test_upright_characters_measure_no_lean() -> None:
    from vision.plate_geometry import stroke_shear
    from vision.plate_render import render_plate

    found, gain = stroke_shear(render_plate("闽AD12345", px_per_mm=0.4))
    assert found == 0.0 and gain == pytest.approx(1.0)
