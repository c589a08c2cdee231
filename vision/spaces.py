"""Parking-bay occupancy from a fixed camera: PKLot bays, a calibrated classifier, smoothing.

No vehicle detector ships offline (STACK.md), so each camera is calibrated: bay polygons, an
all-free reference frame and a few labelled frames fit a small logistic regression over the
cheap features of ``vision.space_features``. ``BayMonitor`` then smooths each bay over frames
and refuses to trust a frame in which many bays change at once (long shadows, a passing
cloud, a bumped camera) so the controller falls back to entry/exit counting.
"""

from __future__ import annotations

import json
import logging
import math
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from controllers.spaces import CameraReading
from errors import InvalidInputError
from vision.space_features import (
    FEATURE_NAMES,
    BayGeometry,
    EmptyReference,
    bay_features,
    check_frame,
)

logger = logging.getLogger(__name__)

# Chosen by cross-day evaluation on PKLot UFPR05 (bench/spaces.py): the ratio to the empty
# reference and "new" edges survive daylight and shadows better than absolute texture, and
# four features fitted on five frames overfit less than all sixteen.
DEFAULT_FEATURES: tuple[str, ...] = ("log_ratio_std", "new_edges", "std_ratio", "log_lap_var")
_MODEL_VERSION = 1


class FrameSizeError(InvalidInputError):
    """A frame does not have the size the camera's bays were calibrated for."""


@dataclass(frozen=True, slots=True)
class Bay:
    """One parking bay seen by one camera: an id and a polygon in full-frame pixels."""

    id: str
    polygon: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("Bay.id must not be empty")
        if len(self.polygon) < 3:
            raise ValueError(f"Bay {self.id!r} needs ≥ 3 polygon points, got {len(self.polygon)}")

    def as_array(self) -> np.ndarray:
        return np.asarray(self.polygon, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PklotAnnotation:
    """Bays of one PKLot XML file and, when labelled, whether each was occupied."""

    bays: tuple[Bay, ...]
    occupied: tuple[bool | None, ...]

    @property
    def labelled(self) -> bool:
        return all(o is not None for o in self.occupied)


def parse_pklot_xml(source: str | Path | bytes) -> PklotAnnotation:
    """Parse a PKLot ``<parking><space id occupied>`` file (path or bytes).

    Each space's ``<contour>`` is the polygon; a space without one falls back to its
    ``<rotatedRect>``. Raises ``InvalidInputError`` for malformed XML or missing geometry.
    """
    try:
        root = ET.fromstring(source) if isinstance(source, bytes) else ET.parse(source).getroot()
    except (ET.ParseError, OSError) as err:
        raise InvalidInputError(f"cannot read PKLot XML {source!r:.80}: {err}") from err
    bays: list[Bay] = []
    occupied: list[bool | None] = []
    for space in root.iter("space"):
        sid = space.get("id")
        if not sid:
            raise InvalidInputError("PKLot XML has a <space> without an id")
        try:
            bays.append(Bay(sid, _space_polygon(space)))
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"PKLot space {sid!r} has no usable geometry: {err}") from err
        flag = space.get("occupied")
        occupied.append(None if flag is None else flag.strip() == "1")
    if not bays:
        raise InvalidInputError("PKLot XML holds no <space> elements")
    ids = [b.id for b in bays]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("PKLot XML repeats a space id")
    return PklotAnnotation(tuple(bays), tuple(occupied))


def _space_polygon(space: ET.Element) -> tuple[tuple[float, float], ...]:
    contour = space.find("contour")
    if contour is not None:
        pts = [(float(p.get("x")), float(p.get("y"))) for p in contour.iter("point")]  # type: ignore[arg-type]
        if len(pts) >= 3:
            return tuple(pts)
    rect = space.find("rotatedRect")
    if rect is None:
        raise ValueError("neither <contour> nor <rotatedRect>")
    c, s, a = rect.find("center"), rect.find("size"), rect.find("angle")
    if c is None or s is None or a is None:
        raise ValueError("incomplete <rotatedRect>")
    box = cv2.boxPoints(
        (
            (float(c.get("x")), float(c.get("y"))),  # type: ignore[arg-type]
            (float(s.get("w")), float(s.get("h"))),  # type: ignore[arg-type]
            float(a.get("d")),  # type: ignore[arg-type]
        )
    )
    return tuple((float(x), float(y)) for x, y in box)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = 10.0, balanced: bool = True, iters: int = 50
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method on standardised ``x``.

    ``balanced`` weights the classes equally: a community lot at night is mostly occupied and
    by day mostly free, and the calibration frames should not decide the prior.
    """
    n, d = x.shape
    yf = y.astype(np.float64)
    if balanced:
        pos = float(yf.mean())
        sw = np.where(yf > 0.5, 0.5 / pos, 0.5 / (1.0 - pos))
    else:
        sw = np.ones(n)
    a = np.column_stack((x, np.ones(n)))
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2 / n)
    reg[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iters):
        p = _sigmoid(a @ theta)
        grad = a.T @ (sw * (p - yf)) / n + reg * theta
        hess = (a * (sw * p * (1.0 - p))[:, None]).T @ a / n + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    samples: int
    occupied: int
    train_accuracy: float
    features: tuple[str, ...]


class BayClassifier:
    """Per-camera bay occupancy: features vs an empty reference, then logistic regression.

    ``calibrate`` must run (or ``load``) before ``predict_proba``. The frame size is fixed at
    construction: a frame of another size raises ``FrameSizeError``.
    """

    def __init__(
        self,
        bays: Sequence[Bay],
        frame_width: int,
        frame_height: int,
        *,
        features: Sequence[str] = DEFAULT_FEATURES,
        scale: float = 0.5,
        l2: float = 10.0,
        threshold: float = 0.5,
    ) -> None:
        unknown = [f for f in features if f not in FEATURE_NAMES]
        if unknown or not features:
            raise ValueError(f"unknown features {unknown}; choose from {FEATURE_NAMES}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.bays = tuple(bays)
        self.features = tuple(features)
        self.threshold = threshold
        self.l2 = l2
        self._columns = np.array([FEATURE_NAMES.index(f) for f in self.features])
        self.geometry = BayGeometry.from_polygons(
            [b.as_array() for b in self.bays], frame_width, frame_height, scale=scale
        )
        self._reference: EmptyReference | None = None
        self._reference_image: np.ndarray | None = None
        self._mean = np.zeros(len(self.features))
        self._std = np.ones(len(self.features))
        self._weights: np.ndarray | None = None
        self._bias = 0.0

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.geometry.frame_width, self.geometry.frame_height

    @property
    def calibrated(self) -> bool:
        return self._weights is not None and self._reference is not None

    def check_frame(self, image: np.ndarray) -> None:
        """Raise ``FrameSizeError`` unless ``image`` is a BGR uint8 frame of the calibrated size."""
        try:
            check_frame(image, self.geometry)
        except ValueError as err:
            raise FrameSizeError(str(err)) from err

    def set_reference(self, empty_reference: np.ndarray) -> None:
        self.check_frame(empty_reference)
        self._reference = EmptyReference.from_image(empty_reference, self.geometry)
        self._reference_image = empty_reference

    def features_of(self, image: np.ndarray) -> np.ndarray:
        """The (n_bays, n_features) matrix this classifier uses, for one frame."""
        if self._reference is None:
            raise RuntimeError("BayClassifier has no empty reference: calibrate or load first")
        self.check_frame(image)
        return bay_features(image, self._reference)[:, self._columns]

    def calibrate(
        self,
        frames: Sequence[np.ndarray],
        labels: Sequence[Sequence[bool]],
        empty_reference: np.ndarray,
    ) -> CalibrationReport:
        """Fit on labelled frames (``labels[i][j]``: bay j occupied in frame i)."""
        if len(frames) != len(labels) or not frames:
            raise ValueError(f"need as many label rows as frames, got {len(frames)}/{len(labels)}")
        self.set_reference(empty_reference)
        n_bays = len(self.bays)
        for i, row in enumerate(labels):
            if len(row) != n_bays:
                raise ValueError(f"labels[{i}] has {len(row)} values for {n_bays} bays")
        x = np.concatenate([self.features_of(f) for f in frames])
        y = np.asarray(labels, dtype=bool).ravel()
        if y.all() or not y.any():
            raise ValueError("calibration needs both free and occupied bays among the frames")
        self._mean = x.mean(axis=0)
        self._std = x.std(axis=0) + 1e-9
        self._weights, self._bias = fit_logistic((x - self._mean) / self._std, y, l2=self.l2)
        acc = float(np.mean((self._decision(x) > 0) == y))
        logger.info(
            "calibrated %d bays on %d frames (%d occupied samples): train accuracy %.3f",
            n_bays,
            len(frames),
            int(y.sum()),
            acc,
        )
        return CalibrationReport(int(y.size), int(y.sum()), acc, self.features)

    def _decision(self, x: np.ndarray) -> np.ndarray:
        if self._weights is None:
            raise RuntimeError("BayClassifier is not calibrated")
        logit_threshold = math.log(self.threshold / (1.0 - self.threshold))
        return ((x - self._mean) / self._std) @ self._weights + self._bias - logit_threshold

    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Probability that each bay is occupied, in bay order."""
        x = self.features_of(image)
        if self._weights is None:
            raise RuntimeError("BayClassifier is not calibrated")
        return _sigmoid(((x - self._mean) / self._std) @ self._weights + self._bias)

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.predict_proba(image) >= self.threshold

    def save(self, path: str | Path) -> None:
        """Write a self-contained ``.npz`` (parameters, bays and the reference image)."""
        weights, reference = self._weights, self._reference_image
        if not self.calibrated or weights is None or reference is None:
            raise RuntimeError("cannot save an uncalibrated BayClassifier")
        meta = {
            "version": _MODEL_VERSION,
            "bays": [{"id": b.id, "polygon": [list(p) for p in b.polygon]} for b in self.bays],
            "frame_size": list(self.frame_size),
            "features": list(self.features),
            "scale": self.geometry.scale,
            "l2": self.l2,
            "threshold": self.threshold,
            "bias": self._bias,
        }
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                meta=np.array(json.dumps(meta)),
                mean=self._mean,
                std=self._std,
                weights=weights,
                reference=reference,
            )

    @classmethod
    def load(cls, path: str | Path) -> BayClassifier:
        """Read a model written by ``save``; ``InvalidInputError`` if it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                mean, std, weights = data["mean"], data["std"], data["weights"]
                reference = data["reference"]
            if meta.get("version") != _MODEL_VERSION:
                raise ValueError(f"model version {meta.get('version')} != {_MODEL_VERSION}")
            bays = [Bay(b["id"], tuple(tuple(p) for p in b["polygon"])) for b in meta["bays"]]
            width, height = meta["frame_size"]
            clf = cls(
                bays,
                width,
                height,
                features=meta["features"],
                scale=meta["scale"],
                l2=meta["l2"],
                threshold=meta["threshold"],
            )
        except (OSError, KeyError, ValueError, TypeError) as err:
            raise InvalidInputError(f"{path} is not a parkgate bay model: {err}") from err
        clf.set_reference(reference)
        clf._mean, clf._std, clf._weights, clf._bias = mean, std, weights, float(meta["bias"])
        return clf


class BayState(StrEnum):
    FREE = "free"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class BayObservation:
    bay_id: str
    state: BayState
    probability: float  # this frame's raw probability of "occupied"
    changed_at: datetime | None  # when the smoothed state last changed


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """The smoothed bays after one frame.

    ``reliable`` is False when more than the allowed fraction of bays disagreed with their
    smoothed state at once; the frame was then *not* used, and ``observed_at`` stays at the
    last reliable frame so that downstream staleness rules age the camera out.
    """

    at: datetime
    observed_at: datetime | None
    reliable: bool
    flipped: int
    bays: tuple[BayObservation, ...] = field(repr=False)

    @property
    def free(self) -> int:
        return sum(b.state is BayState.FREE for b in self.bays)

    @property
    def occupied(self) -> int:
        return sum(b.state is BayState.OCCUPIED for b in self.bays)


class BayMonitor:
    """Smooths one camera's bays over frames (k-of-n with hysteresis) and flags bad frames.

    - A bay's raw vote uses hysteresis: an occupied bay votes "free" only below
      ``threshold - margin`` and a free bay votes "occupied" only above ``threshold + margin``.
    - A bay's state changes when at least ``min_agree`` of its last ``window`` votes say so.
    - A frame whose votes disagree with the smoothed state in more than ``max_flip_fraction``
      of the bays is unreliable: cars arrive one by one, shadows and exposure jumps hit many
      bays at once. Its votes are dropped. After ``rebase_after`` unreliable frames in a row
      the scene is taken as really changed (e.g. the camera was re-aimed) and the monitor
      starts again from the current frame. It also starts again after a gap of more than
      ``rebase_gap_s`` between frames (a camera outage): many real arrivals and departures
      fit in a long gap, and the old state is stale anyway.
    """

    def __init__(
        self,
        classifier: BayClassifier,
        *,
        window: int = 3,
        min_agree: int = 2,
        margin: float = 0.1,
        max_flip_fraction: float = 0.25,
        rebase_after: int = 30,
        rebase_gap_s: float | None = 300.0,
        name: str = "",
    ) -> None:
        if not 1 <= min_agree <= window:
            raise ValueError(f"need 1 ≤ min_agree ≤ window, got {min_agree}/{window}")
        if not 0.0 < max_flip_fraction <= 1.0:
            raise ValueError(f"max_flip_fraction must be in (0, 1], got {max_flip_fraction}")
        self.classifier = classifier
        self.window = window
        self.min_agree = min_agree
        self.margin = margin
        self.max_flip_fraction = max_flip_fraction
        self.rebase_after = rebase_after
        self.rebase_gap_s = rebase_gap_s
        # Which camera the log lines are about: a site with several bay cameras (one per
        # lot or level) could not tell whose frames were refused or unreliable.
        self._said = f"bay camera {name}: " if name else ""
        self._last_at: datetime | None = None
        n = len(classifier.bays)
        self._votes: list[deque[bool]] = [deque(maxlen=window) for _ in range(n)]
        self._state: list[BayState] = [BayState.UNKNOWN] * n
        self._changed_at: list[datetime | None] = [None] * n
        self._observed_at: datetime | None = None
        self._unreliable_streak = 0
        self.frames = 0
        self.rejected_frames = 0
        # Frames rejected since the last one read: a camera left at another size rejects
        # every frame (every_s 5: ~17,000 a day), so a run is said at its start, then every
        # 100th, and its end.
        self._rejected_run = 0
        self.unreliable_frames = 0

    def update(self, image: np.ndarray, at: datetime) -> MonitorResult:
        """Classify one frame and smooth it in; ``FrameSizeError`` (counted) for a bad frame."""
        try:
            probabilities = self.classifier.predict_proba(image)
        except FrameSizeError as err:
            self.rejected_frames += 1
            self._rejected_run += 1
            if self._rejected_run <= 5 or self._rejected_run % 100 == 0:
                logger.warning("%sbay frame rejected (%d in a row, %d so far): %s", self._said,
                               self._rejected_run, self.rejected_frames, err)
            raise
        if self._rejected_run:
            logger.info("%sbay frames read again after %d rejected", self._said,
                        self._rejected_run)
            self._rejected_run = 0
        return self.observe(probabilities, at)

    def observe(self, probabilities: Sequence[float] | np.ndarray, at: datetime) -> MonitorResult:
        """Smooth in one frame's per-bay probabilities (bay order of the classifier)."""
        probs = np.asarray(probabilities, dtype=np.float64)
        if probs.shape != (len(self._state),) or not np.all(np.isfinite(probs)):
            self.rejected_frames += 1
            raise InvalidInputError(
                f"expected {len(self._state)} finite probabilities, got shape {probs.shape}"
            )
        self.frames += 1
        if (
            self.rebase_gap_s is not None
            and self._last_at is not None
            and (at - self._last_at).total_seconds() > self.rebase_gap_s
        ):
            self._reset()
        self._last_at = at
        t = self.classifier.threshold
        # Hysteresis: the bar to leave the current state is higher than the bar to stay.
        offset = {
            BayState.OCCUPIED: -self.margin,
            BayState.FREE: self.margin,
            BayState.UNKNOWN: 0.0,
        }
        votes = [bool(p >= t + offset[s]) for p, s in zip(probs, self._state, strict=True)]
        known = [s is not BayState.UNKNOWN for s in self._state]
        flipped = sum(
            k and v != (s is BayState.OCCUPIED)
            for k, v, s in zip(known, votes, self._state, strict=True)
        )
        reliable = flipped <= self.max_flip_fraction * len(votes)
        if not reliable:
            self.unreliable_frames += 1
            self._unreliable_streak += 1
            logger.info(
                "%sunreliable bay frame at %s: %d of %d bays flipped", self._said, at, flipped,
                len(votes),
            )
            if self._unreliable_streak >= self.rebase_after:
                logger.warning(
                    "%s%d unreliable frames in a row: re-basing the bays", self._said,
                    self.rebase_after,
                )
                self._reset()
                reliable = True
        if reliable:
            self._unreliable_streak = 0
            self._observed_at = at
            for i, vote in enumerate(votes):
                self._votes[i].append(vote)
                self._smooth(i, at)
        return MonitorResult(
            at=at,
            observed_at=self._observed_at,
            reliable=reliable,
            flipped=flipped,
            bays=tuple(
                BayObservation(b.id, s, float(p), c)
                for b, s, p, c in zip(
                    self.classifier.bays, self._state, probs, self._changed_at, strict=True
                )
            ),
        )

    def _smooth(self, i: int, at: datetime) -> None:
        votes = self._votes[i]
        occupied = sum(votes)
        if self._state[i] is BayState.UNKNOWN:
            # Nothing to hold on to yet: follow the majority of what has been seen.
            new = BayState.OCCUPIED if occupied * 2 >= len(votes) else BayState.FREE
        elif self._state[i] is BayState.FREE and occupied >= self.min_agree:
            new = BayState.OCCUPIED
        elif self._state[i] is BayState.OCCUPIED and len(votes) - occupied >= self.min_agree:
            new = BayState.FREE
        else:
            new = self._state[i]
        if new is not self._state[i]:
            self._state[i] = new
            self._changed_at[i] = at

    def _reset(self) -> None:
        for votes in self._votes:
            votes.clear()
        self._state = [BayState.UNKNOWN] * len(self._state)
        self._unreliable_streak = 0


def camera_readings(
    result: MonitorResult, bay_spaces: Mapping[str, str] | None = None, camera_id: str = ""
) -> list[CameraReading]:
    """Turn a monitor result into per-space readings for ``controllers.spaces.SpaceBoard``.

    Readings carry the time of the last *reliable* frame, so an unreliable camera ages out in
    the controller by its staleness rule. Unknown bays yield no reading.
    """
    if result.observed_at is None:
        return []
    mapping = bay_spaces or {}
    return [
        CameraReading(
            mapping.get(b.bay_id, b.bay_id),
            b.state is BayState.OCCUPIED,
            result.observed_at,
            camera_id,
        )
        for b in result.bays
        if b.state is not BayState.UNKNOWN
    ]
