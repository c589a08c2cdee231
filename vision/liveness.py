"""Passive liveness from a ~1 s window of frames, without any learned model.

Main cue, dense parallax (STACK.md feasibility study): a printed photo or a phone screen is a
plane, so however it is moved, tilted or warped, one homography maps the face's texture in the
first frame onto every later frame. A real head is not planar: when it turns, the nose, cheeks,
ears and hair move relative to each other and no homography fits them.

How: high-pass the grey image (minus a Gaussian blur) so that glare and lighting drift, which
do not move with the surface, drop out; seed ~150 corners in the face box extended 25% upward;
track them frame to frame with pyramidal Lucas-Kanade and a forward-backward check; per frame,
fit a RANSAC homography from the window's first frame, refine it on its inliers, and take the
median residual of all tracks divided by the face width; the score is the max over frames.

A face that barely moved looks planar whatever it is, so little non-translational motion
gives ``live=None`` (ask for a head turn) rather than a rejection.

Optional cues: a depth camera (one depth map per frame: a photo or screen is near-planar in
depth; this also stops a replayed *video*, which parallax cannot) and blinks by eye aspect
ratio (needs dlib's 68-point model, non-commercial; reported only, never decisive).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vision.face_config import LivenessConfig
from vision.face_types import LivenessReason, LivenessVerdict
from vision.images import to_grey
from vision.types import BoundingBox

logger = logging.getLogger(__name__)

_LK_PARAMS = {
    "winSize": (15, 15),
    "maxLevel": 3,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
}


@dataclass(frozen=True, slots=True)
class ParallaxResult:
    """Raw parallax measures of one window (fractions of the face width)."""

    score: float  # max over frames of median homography residual / face width
    motion: float  # max over frames of median non-translational displacement / face width
    frames_scored: int
    tracks: int  # corners tracked at the start


def high_pass(grey: np.ndarray, sigma: float) -> np.ndarray:
    """Grey minus its Gaussian blur, re-centred on 128 and stretched ×2, as uint8 for LK."""
    g = grey.astype(np.float32)
    detail = g - cv2.GaussianBlur(g, (0, 0), sigma)
    return np.clip(detail * 2.0 + 128.0, 0, 255).astype(np.uint8)


def liveness_roi(box: BoundingBox, width: int, height: int) -> tuple[int, int, int, int]:
    """The face box extended 25% upward (forehead and hair move with the head), clipped."""
    x1 = max(int(box.x1), 0)
    x2 = min(math.ceil(box.x2), width)
    y1 = max(int(box.y1 - 0.25 * box.height), 0)
    y2 = min(math.ceil(box.y2), height)
    return x1, y1, x2, y2


def _seed_corners(image: np.ndarray, box: BoundingBox, config: LivenessConfig) -> np.ndarray:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = liveness_roi(box, width, height)
    mask = np.zeros((height, width), np.uint8)
    mask[y1:y2, x1:x2] = 255
    corners = cv2.goodFeaturesToTrack(
        image,
        maxCorners=config.corners,
        qualityLevel=0.005,
        minDistance=max(2.0, box.width / 25.0),
        mask=mask,
        blockSize=5,
    )
    if corners is None:
        return np.empty((0, 1, 2), np.float32)
    return corners.astype(np.float32)


def measure_parallax(
    frames: Sequence[np.ndarray], box: BoundingBox, config: LivenessConfig
) -> ParallaxResult:
    """Dense-parallax measures of ``frames`` (the first must show the face in ``box``)."""
    face_w = float(box.width)
    hp = [high_pass(to_grey(f), config.highpass_sigma) for f in frames]
    start = _seed_corners(hp[0], box, config)
    n_start = int(start.shape[0])
    if n_start < config.min_tracks:
        return ParallaxResult(0.0, 0.0, 0, n_start)
    origin = start.reshape(-1, 2)
    current = start
    alive = np.ones(n_start, bool)
    tolerance = config.ransac_tolerance * face_w
    score = 0.0
    motion = 0.0
    scored = 0
    for k in range(1, len(hp)):
        # nextPts None: OpenCV allocates the output (its stubs insist on an array there).
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(hp[k - 1], hp[k], current, None, **_LK_PARAMS)  # type: ignore[call-overload]
        back, st_b, _ = cv2.calcOpticalFlowPyrLK(hp[k], hp[k - 1], nxt, None, **_LK_PARAMS)  # type: ignore[call-overload]
        fb_error = np.linalg.norm((back - current).reshape(-1, 2), axis=1)
        good = (st.reshape(-1) == 1) & (st_b.reshape(-1) == 1)
        good &= fb_error <= config.forward_backward_px
        alive[alive] = good
        current = nxt[good]
        if int(alive.sum()) < config.min_tracks:
            break  # tracking lost: judge on the frames scored so far
        p0 = origin[alive]
        pk = current.reshape(-1, 2)
        displacement = pk - p0
        translation = np.median(displacement, axis=0)
        motion = max(motion, float(np.median(np.linalg.norm(displacement - translation, axis=1))))
        homography, inliers = cv2.findHomography(p0, pk, cv2.RANSAC, tolerance)
        if homography is None:
            continue
        inlier_mask = inliers.reshape(-1).astype(bool)
        if int(inlier_mask.sum()) >= 8:
            # Least-squares refit on the inliers: RANSAC's minimal-sample model is noisier.
            refined, _ = cv2.findHomography(p0[inlier_mask], pk[inlier_mask], 0)
            if refined is not None:
                homography = refined
        projected = cv2.perspectiveTransform(p0.reshape(-1, 1, 2), homography).reshape(-1, 2)
        residual = float(np.median(np.linalg.norm(projected - pk, axis=1)))
        score = max(score, residual)
        scored += 1
    return ParallaxResult(score / face_w, motion / face_w, scored, n_start)


def depth_relief(depth: np.ndarray, box: BoundingBox) -> float | None:
    """Robust spread (5th-95th percentile, mm) of face depth around its best-fit plane.

    ``depth`` is HxW in millimetres aligned to the colour frame; 0 or non-finite = no data.
    Returns None with too few valid pixels.
    """
    height, width = depth.shape[:2]
    x1, y1 = max(int(box.x1), 0), max(int(box.y1), 0)
    x2, y2 = min(int(box.x2), width), min(int(box.y2), height)
    region = depth[y1:y2, x1:x2].astype(np.float64)
    ys, xs = np.nonzero(np.isfinite(region) & (region > 0))
    if ys.size < 50:
        return None
    z = region[ys, xs]
    design = np.column_stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    keep = np.ones(z.size, bool)
    residual = z
    for _ in range(3):  # refit without far outliers (background pixels at the box edge)
        coeffs, *_ = np.linalg.lstsq(design[keep], z[keep], rcond=None)
        residual = z - design @ coeffs
        spread = np.median(np.abs(residual[keep])) * 4.0 + 1.0
        keep = np.abs(residual) <= max(spread, 30.0)
    low, high = np.percentile(residual[keep], [5, 95])
    return float(high - low)


def eye_aspect_ratio(eye: Sequence[tuple[float, float]]) -> float:
    """Soukupová & Čech's EAR from the 6 points of one eye (68-point model order)."""
    p = np.asarray(eye, np.float64)
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    horizontal = 2.0 * np.linalg.norm(p[0] - p[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def blink_depth(ears: Sequence[float]) -> float:
    """How far the EAR dips below its typical open-eye value over the window (0 = no dip)."""
    if len(ears) < 3:
        return 0.0
    values = np.asarray(ears, np.float64)
    return float(np.median(values) - values.min())


class LivenessChecker:
    """Combines the configured cues into one ``LivenessVerdict`` per window of frames."""

    def __init__(self, config: LivenessConfig | None = None) -> None:
        self.config = config or LivenessConfig()
        self._landmarks_68: Any = None  # dlib 68-point predictor, loaded only for blinks

    def parallax_threshold(self, face_px: float) -> float:
        """Threshold by face size: tracking on small faces is noisier, so flats score higher."""
        if face_px < self.config.small_face_px:
            return self.config.parallax_threshold_small
        return self.config.parallax_threshold

    def _window(
        self, frames: Sequence[np.ndarray], boxes: Sequence[BoundingBox | None]
    ) -> tuple[list[int], BoundingBox | None]:
        """Indices of the frames to use (from the first with a face, evenly subsampled)."""
        first = next((i for i, b in enumerate(boxes) if b is not None), None)
        if first is None:
            return [], None
        indices = list(range(first, len(frames)))
        if len(indices) > self.config.max_frames:
            picks = np.linspace(0, len(indices) - 1, self.config.max_frames).round().astype(int)
            indices = [indices[i] for i in picks]
        return indices, boxes[first]

    def check(
        self,
        frames: Sequence[np.ndarray],
        boxes: Sequence[BoundingBox | None] | BoundingBox,
        depth: Sequence[np.ndarray | None] | None = None,
    ) -> LivenessVerdict:
        """Judge one window (~1 s) of BGR frames of one face.

        ``boxes`` gives the face box per frame (None where not detected) or one box for the
        first frame; the first frame with a box is the reference. ``depth`` is optional: one
        depth map (mm, aligned to the frame) per frame, required by the depth modes.
        """
        config = self.config
        if config.mode == "off":
            return LivenessVerdict(True, 0.0, LivenessReason.DISABLED)
        if isinstance(boxes, BoundingBox):
            boxes = [boxes] + [None] * (len(frames) - 1)
        if len(boxes) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(boxes)} boxes")
        if depth is not None and len(depth) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(depth)} depth maps")
        indices, box = self._window(frames, boxes)
        if box is None:
            return LivenessVerdict(None, 0.0, LivenessReason.NO_FACE)
        if len(indices) < config.min_frames:
            return LivenessVerdict(None, 0.0, LivenessReason.TOO_FEW_FRAMES)
        face_px = min(box.width, box.height)
        if face_px < config.min_face_px:
            return LivenessVerdict(None, 0.0, LivenessReason.FACE_TOO_SMALL)

        details: dict[str, float] = {"face_px": face_px}
        verdicts: list[LivenessVerdict] = []
        if config.mode in ("depth", "parallax+depth"):
            verdicts.append(self._check_depth(indices, boxes, box, depth, details))
        if config.mode in ("parallax", "parallax+depth"):
            verdicts.append(self._check_parallax(frames, indices, box, details))
        if config.blink:
            details["blink_depth"] = self._blink(frames, indices, boxes)
        return self._combine(verdicts, details)

    @staticmethod
    def _combine(verdicts: list[LivenessVerdict], details: dict[str, float]) -> LivenessVerdict:
        # Any spoof verdict refuses; then any "cannot tell" asks for a challenge; else live.
        for wanted in (False, None):
            for verdict in verdicts:
                if verdict.live is wanted:
                    return LivenessVerdict(verdict.live, verdict.score, verdict.reason, details)
        return LivenessVerdict(True, verdicts[-1].score, LivenessReason.LIVE, details)

    def _check_parallax(
        self,
        frames: Sequence[np.ndarray],
        indices: list[int],
        box: BoundingBox,
        details: dict[str, float],
    ) -> LivenessVerdict:
        config = self.config
        result = measure_parallax([frames[i] for i in indices], box, config)
        details.update(
            parallax=result.score,
            motion=result.motion,
            frames_scored=result.frames_scored,
            tracks=result.tracks,
        )
        if result.tracks < config.min_tracks or result.frames_scored < config.min_frames // 2:
            return LivenessVerdict(None, result.score, LivenessReason.TRACKING_LOST)
        threshold = self.parallax_threshold(box.width)
        details["parallax_threshold"] = threshold
        if result.score > threshold:
            return LivenessVerdict(True, result.score, LivenessReason.LIVE)
        if result.motion < config.decisive_motion * threshold:
            return LivenessVerdict(None, result.score, LivenessReason.NO_MOTION)
        return LivenessVerdict(False, result.score, LivenessReason.FLAT)

    def _check_depth(
        self,
        indices: list[int],
        boxes: Sequence[BoundingBox | None],
        first_box: BoundingBox,
        depth: Sequence[np.ndarray | None] | None,
        details: dict[str, float],
    ) -> LivenessVerdict:
        reliefs: list[float] = []
        for i in indices:
            depth_map = depth[i] if depth is not None else None
            if depth_map is None:
                continue
            relief = depth_relief(depth_map, boxes[i] or first_box)
            if relief is not None:
                reliefs.append(relief)
        if len(reliefs) < 3:
            # Fail closed: a gate configured for depth must not fall back to RGB alone.
            return LivenessVerdict(False, 0.0, LivenessReason.DEPTH_MISSING)
        relief = float(np.median(reliefs))
        details["depth_relief_mm"] = relief
        if relief < self.config.depth_min_relief_mm:
            return LivenessVerdict(False, relief, LivenessReason.DEPTH_FLAT)
        return LivenessVerdict(True, relief, LivenessReason.LIVE)

    def _blink(
        self,
        frames: Sequence[np.ndarray],
        indices: list[int],
        boxes: Sequence[BoundingBox | None],
    ) -> float:
        """Deepest EAR dip over the frames with a box (68-point model, loaded on first use)."""
        import dlib
        import face_recognition_models

        if self._landmarks_68 is None:
            self._landmarks_68 = dlib.shape_predictor(
                face_recognition_models.pose_predictor_model_location()
            )
        ears = []
        box: BoundingBox | None = None
        for i in indices:
            # Frames between detections reuse the last box: a face moves little in 1 s and the
            # landmark model re-fits the eyes inside a slightly offset box.
            box = boxes[i] or box
            if box is None:
                continue
            rect = dlib.rectangle(int(box.x1), int(box.y1), int(box.x2), int(box.y2))
            shape = self._landmarks_68(to_grey(frames[i]), rect)
            pts = [(p.x, p.y) for p in shape.parts()]
            ears.append((eye_aspect_ratio(pts[36:42]) + eye_aspect_ratio(pts[42:48])) / 2.0)
        return blink_depth(ears)
