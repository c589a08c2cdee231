"""Typed values of the face stage: detections, 1:N matches, liveness verdicts, gate results.

They are frozen and validate themselves so that nothing downstream of ``vision/`` needs to
know about dlib, face_recognition or OpenCV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from vision.types import BoundingBox

EMBEDDING_DIM = 128


def as_embedding(values: np.ndarray | list[float], *, name: str = "embedding") -> np.ndarray:
    """Return a read-only float32 copy of one 128-d embedding, or raise ``ValueError``."""
    array = np.asarray(values, dtype=np.float32).reshape(-1)
    if array.shape != (EMBEDDING_DIM,):
        raise ValueError(f"{name} must have {EMBEDDING_DIM} values, got shape {np.shape(values)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    array = array.copy()
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One face found in one image: its box, its 128-d dlib embedding and optional landmarks.

    ``landmarks`` maps a part name (``left_eye``, ``nose_tip``…) to its points in pixels.
    """

    box: BoundingBox
    embedding: np.ndarray = field(repr=False)
    landmarks: dict[str, tuple[tuple[float, float], ...]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Stored read-only so a caller cannot mutate a template after it was matched.
        object.__setattr__(self, "embedding", as_embedding(self.embedding))

    @property
    def size_px(self) -> float:
        """The smaller side of the face box: what recognition and liveness accuracy track."""
        return min(self.box.width, self.box.height)


class MatchReason(StrEnum):
    ACCEPTED = "accepted"
    NO_TEMPLATES = "no_templates"
    ABOVE_THRESHOLD = "above_threshold"
    AMBIGUOUS = "ambiguous"  # the second-best identity is too close to the best one


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """Result of one 1:N search.

    ``identity_id`` is the best identity even when refused (useful for logs and tuning); only
    ``accepted`` says whether it may be trusted. Distances are Euclidean, ``inf`` when absent.
    """

    identity_id: int | None
    distance: float
    second_distance: float
    accepted: bool
    reason: MatchReason

    def __post_init__(self) -> None:
        if self.accepted and self.identity_id is None:
            raise ValueError("an accepted FaceMatch needs an identity_id")
        if self.accepted and self.reason is not MatchReason.ACCEPTED:
            raise ValueError(f"accepted FaceMatch has reason {self.reason!r}")
        if math.isnan(self.distance) or math.isnan(self.second_distance):
            raise ValueError("FaceMatch distances must not be NaN")
        if self.second_distance < self.distance:
            raise ValueError(
                f"second_distance {self.second_distance} is below distance {self.distance}"
            )

    @property
    def margin(self) -> float:
        return self.second_distance - self.distance


class LivenessReason(StrEnum):
    LIVE = "live"
    FLAT = "flat"  # the face moved as one plane: photo or screen
    NO_MOTION = "no_motion"  # too still to tell: ask the person to turn the head
    TOO_FEW_FRAMES = "too_few_frames"
    NO_FACE = "no_face"
    FACE_TOO_SMALL = "face_too_small"
    TRACKING_LOST = "tracking_lost"
    DEPTH_FLAT = "depth_flat"
    DEPTH_MISSING = "depth_missing"
    SCREEN_CUE = "screen_cue"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class LivenessVerdict:
    """Passive liveness over a window of frames.

    ``live`` is True (live), False (a spoof: refuse) or None (cannot tell: ask the person to
    turn the head and try again — a challenge, not a rejection). ``score`` is the deciding
    measure (parallax residual / face width, or depth relief), ``details`` the per-cue scores.
    """

    live: bool | None
    score: float
    reason: LivenessReason
    details: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.live is True and self.reason not in (LivenessReason.LIVE, LivenessReason.DISABLED):
            raise ValueError(f"a live verdict cannot have reason {self.reason!r}")


class GateReason(StrEnum):
    OPEN = "open"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    FACE_TOO_SMALL = "face_too_small"
    NOT_RECOGNISED = "not_recognised"
    NOT_STABLE = "not_stable"  # recognised in too few frames of the window
    CONFLICT = "conflict"  # different identities accepted in one window
    LIVENESS_CHALLENGE = "liveness_challenge"
    SPOOF = "spoof"


@dataclass(frozen=True, slots=True)
class FaceGateResult:
    """What the face pipeline concludes for one window of frames at the pedestrian gate.

    ``identity_id`` is set only when the gate may open: recognised in enough frames AND live.
    """

    identity_id: int | None
    distance: float
    liveness: LivenessVerdict | None
    reason: GateReason
    frames_matched: int = 0
    frames_seen: int = 0

    def __post_init__(self) -> None:
        if (self.identity_id is not None) != (self.reason is GateReason.OPEN):
            raise ValueError(
                f"identity_id must be set exactly when reason is OPEN, got "
                f"{self.identity_id!r} with {self.reason!r}"
            )

    @property
    def open(self) -> bool:
        return self.reason is GateReason.OPEN
