"""Liveness: real clip windows pass, flat replays (photo / screen moved as one plane) never do.

Real windows come from data/face_video/short_hamilton_clip.mp4 (Lin-Manuel Miranda moving his
head: a live face). Flat replays are made from still frames of the same clip by
bench.liveness.make_flat_replay. A subsample keeps this file fast; bench.liveness runs all.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.liveness import make_flat_replay, read_video
from tests.conftest import SHARED_DATA
from vision.face_config import LivenessConfig
from vision.face_types import LivenessReason
from vision.faces import FaceEngine
from vision.liveness import (
    LivenessChecker,
    blink_depth,
    depth_relief,
    eye_aspect_ratio,
    high_pass,
)
from vision.types import BoundingBox

VIDEO = SHARED_DATA / "face_video" / "short_hamilton_clip.mp4"
# Starts of 1-s windows inside the two medium shots of Lin (frames 82-210, face ~90 px).
REAL_STARTS = (87, 127, 167)


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    if not VIDEO.is_file():
        pytest.skip(f"face video not found at {VIDEO} (see shared/data/README.md)")
    return read_video(VIDEO, stop=max(REAL_STARTS) + 30)


@pytest.fixture(scope="module")
def real_windows(clip: list[np.ndarray]) -> list[tuple[list[np.ndarray], BoundingBox]]:
    engine = FaceEngine()
    windows = []
    for start in REAL_STARTS:
        boxes = engine.locate(clip[start], upsample=1)
        assert boxes, f"no face at frame {start}"
        windows.append((clip[start : start + 30], boxes[0]))
    return windows


@pytest.fixture(scope="module")
def checker() -> LivenessChecker:
    return LivenessChecker(LivenessConfig())


def test_real_windows_pass(
    checker: LivenessChecker, real_windows: list[tuple[list[np.ndarray], BoundingBox]]
) -> None:
    for frames, box in real_windows:
        verdict = checker.check(frames, box)
        assert verdict.live is True, verdict
        assert verdict.reason is LivenessReason.LIVE


@pytest.mark.parametrize(
    ("sway", "screen"),
    [(0.0, False), (5.0, True), (15.0, False), (25.0, True)],
    ids=["print-still", "screen-sway5", "print-sway15", "screen-sway25"],
)
def test_flat_replays_never_pass(
    checker: LivenessChecker,
    real_windows: list[tuple[list[np.ndarray], BoundingBox]],
    clip: list[np.ndarray],
    sway: float,
    screen: bool,
) -> None:
    seed = int(sway) * 2 + screen
    frames, box = real_windows[seed % len(real_windows)]
    rng = np.random.default_rng(seed)
    flat = make_flat_replay(frames[0], box, clip[40], rng, sway_deg=sway, screen=screen)
    verdict = checker.check(flat.frames, flat.box)
    assert verdict.live is not True, (flat.name, verdict)
    assert verdict.score < checker.parallax_threshold(flat.box.width)


def test_still_real_face_is_a_challenge_not_a_reject(
    checker: LivenessChecker, real_windows: list[tuple[list[np.ndarray], BoundingBox]]
) -> None:
    """A resident standing perfectly still looks planar: ask for a head turn, do not reject."""
    frames, box = real_windows[0]
    rng = np.random.default_rng(3)
    still = [
        np.clip(frames[0] + rng.normal(0, 2, frames[0].shape), 0, 255).astype(np.uint8)
        for _ in range(30)
    ]
    verdict = checker.check(still, box)
    assert verdict.live is None and verdict.reason is LivenessReason.NO_MOTION


@pytest.mark.parametrize(
    ("boxes", "n_frames", "reason"),
    [
        ([None] * 20, 20, LivenessReason.NO_FACE),
        ([BoundingBox(10, 10, 110, 110)] + [None] * 4, 5, LivenessReason.TOO_FEW_FRAMES),
        ([BoundingBox(10, 10, 30, 30)] + [None] * 19, 20, LivenessReason.FACE_TOO_SMALL),
    ],
)
def test_not_enough_input_is_a_challenge(
    checker: LivenessChecker, boxes: list[BoundingBox | None], n_frames: int,
    reason: LivenessReason,
) -> None:
    frames = [np.zeros((160, 160, 3), np.uint8)] * n_frames
    verdict = checker.check(frames, boxes)
    assert verdict.live is None and verdict.reason is reason


def test_mismatched_boxes_refused(checker: LivenessChecker) -> None:
    with pytest.raises(ValueError):
        checker.check([np.zeros((50, 50, 3), np.uint8)] * 3, [None, None])


def _depth_scene(face_relief_mm: float, rng: np.random.Generator) -> np.ndarray:
    """A tilted plane at ~600 mm with an ellipsoidal bump (the face) and sensor noise."""
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float64)
    depth = 600.0 + 0.3 * xx - 0.2 * yy
    r2 = ((xx - 160) / 50) ** 2 + ((yy - 120) / 65) ** 2
    depth -= face_relief_mm * np.sqrt(np.clip(1 - r2, 0, None))
    depth += rng.normal(0, 1.5, depth.shape)
    depth[rng.random(depth.shape) < 0.05] = 0  # missing pixels
    return depth.astype(np.float32)


def test_depth_relief_separates_face_from_flat() -> None:
    rng = np.random.default_rng(0)
    box = BoundingBox(110, 55, 210, 185)
    flat = depth_relief(_depth_scene(0.0, rng), box)
    face = depth_relief(_depth_scene(40.0, rng), box)
    assert flat is not None and face is not None
    assert flat < 8.0 < 25.0 < face
    assert depth_relief(np.zeros((240, 320), np.float32), box) is None


@pytest.mark.parametrize(("relief", "live"), [(40.0, True), (0.0, False)])
def test_depth_mode(relief: float, live: bool) -> None:
    rng = np.random.default_rng(1)
    checker = LivenessChecker(LivenessConfig(mode="depth"))
    frames = [np.zeros((240, 320, 3), np.uint8)] * 20
    depth = [_depth_scene(relief, rng) for _ in range(20)]
    box = BoundingBox(110, 55, 210, 185)
    verdict = checker.check(frames, [box] * 20, depth)
    assert verdict.live is live, verdict
    missing = checker.check(frames, [box] * 20, None)
    assert missing.live is False and missing.reason is LivenessReason.DEPTH_MISSING


def test_off_mode_is_explicit() -> None:
    verdict = LivenessChecker(LivenessConfig(mode="off")).check([], [])
    assert verdict.live is True and verdict.reason is LivenessReason.DISABLED


def test_high_pass_removes_smooth_glare() -> None:
    yy, xx = np.mgrid[0:100, 0:100].astype(np.float32)
    glare = 120 * np.exp(-((xx - 50) ** 2 + (yy - 50) ** 2) / (2 * 30**2))
    out = high_pass(glare.astype(np.uint8), sigma=3.0)
    assert abs(int(out.astype(int).mean()) - 128) <= 2 and out.std() < 2


def test_eye_aspect_ratio_and_blink_depth() -> None:
    open_eye = [(0, 0), (1, -1), (2, -1), (3, 0), (2, 1), (1, 1)]
    closed = [(0, 0), (1, -0.1), (2, -0.1), (3, 0), (2, 0.1), (1, 0.1)]
    assert eye_aspect_ratio(open_eye) == pytest.approx(2 / 3)
    assert eye_aspect_ratio(closed) < 0.1
    assert blink_depth([0.3, 0.31, 0.05, 0.3]) == pytest.approx(0.3 - 0.05, abs=0.01)
    assert math.isclose(blink_depth([0.3]), 0.0)


def test_blink_cue_is_reported_not_decisive(
    real_windows: list[tuple[list[np.ndarray], BoundingBox]]
) -> None:
    frames, box = real_windows[0]
    checker = LivenessChecker(LivenessConfig(blink=True))
    verdict = checker.check(frames[:20], box)
    # No blink is visible in the clip; the EAR dip stays small and the verdict is parallax's.
    assert 0.0 <= verdict.details["blink_depth"] < 0.15
    assert verdict.live is True
