"""Plain values the decision core works on. No I/O, no library types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class GateKind(StrEnum):
    VEHICLE = "vehicle"
    PEDESTRIAN = "pedestrian"


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    REVIEW = "review"


class Reason(StrEnum):
    """Why a decision was taken. Stable codes: stored in passages and shown to guards."""

    RESIDENT = "resident"
    RESIDENT_OVER_QUOTA = "resident_over_quota"  # 一位多车: more cars inside than spaces
    VISITOR_PASS = "visitor_pass"
    PASS_NOT_YET_VALID = "pass_not_yet_valid"
    PASS_EXPIRED = "pass_expired"
    PASS_USED_UP = "pass_used_up"
    BLOCKED = "blocked"
    ALLOWED_LIST = "allowed_list"
    UNKNOWN_PLATE = "unknown_plate"
    NO_PLATE = "no_plate"
    LOW_CONFIDENCE = "low_confidence"
    ZONE_FULL = "zone_full"
    EXIT_KNOWN_INSIDE = "exit_known_inside"
    EXIT_NOT_INSIDE = "exit_not_inside"
    ANTI_PASSBACK = "anti_passback"
    GUARD_OVERRIDE = "guard_override"
    FACE_RESIDENT = "face_resident"
    FACE_UNKNOWN = "face_unknown"
    LIVENESS_FAILED = "liveness_failed"
    PIN = "pin"
    PIN_WRONG = "pin_wrong"
    PIN_LOCKED = "pin_locked"
    QR_PASS = "qr_pass"
    QR_INVALID = "qr_invalid"
    LIVENESS_CHALLENGE = "liveness_challenge"
    NO_FACE = "no_face"
    OUTSIDE_SCHEDULE = "outside_schedule"
    DATABASE_UNAVAILABLE = "database_unavailable"  # offline with no snapshot yet: a guard


class Credential(StrEnum):
    PLATE = "plate"
    FACE = "face"
    PIN = "pin"
    PIN_WRONG = "pin_wrong"
    PIN_LOCKED = "pin_locked"
    QR_PASS = "qr_pass"
    QR_INVALID = "qr_invalid"
    LIVENESS_CHALLENGE = "liveness_challenge"
    NO_FACE = "no_face"
    QR = "qr"
    GUARD = "guard"
    NONE = "none"


# The flag of a passage whose plate a guard typed instead of a camera reading it.
TYPED_PLATE = "typed"


@dataclass(frozen=True, slots=True)
class Sighting:
    """A vehicle at a gate: the plate voted over one or more frames.

    ``plate`` is ``None`` when no frame yielded a readable plate; the controller then asks a
    guard instead of guessing.
    """

    gate_id: str
    at: datetime
    plate: str | None
    confidence: float
    color: str = "unknown"
    # The plate family the frames voted for (vision/plate_grammar.py PlateKind: "trailer",
    # "double_row", "ordinary", …), None when nothing said (no plate, a sighting journalled
    # before it existed, a typed plate whose text is also issued on two rows): only the image
    # tells a two-row yellow plate from an ordinary one with the same text, so it comes with
    # the read, like the colour; a typed plate has the kind its text alone settles.
    kind: str | None = None
    frames: int = 1
    reads: int = 0
    # How sure the reader is of the province character (voted over frames); a low value lets
    # the plate match a registered one that differs only there (AccessPolicy).
    province_confidence: float = 1.0
    # A guard typed the plate (no camera read, e.g. the camera is dark): decided like a read,
    # and the passage says so (TYPED_PLATE), so the lists and reports can tell it apart.
    typed: bool = False

    def __post_init__(self) -> None:
        if not self.gate_id:
            raise ValueError("Sighting.gate_id must not be empty")
        if self.typed and self.plate is None:
            raise ValueError("Sighting.typed needs the plate the guard typed")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"Sighting.confidence must be in [0, 1], got {self.confidence}")
        if self.plate is not None and not self.plate:
            raise ValueError("Sighting.plate must be None or a non-empty string")
        if self.kind is not None and self.plate is None:
            raise ValueError("Sighting.kind needs a plate")
        if not 0.0 <= self.province_confidence <= 1.0:
            raise ValueError(
                f"Sighting.province_confidence must be in [0, 1], got {self.province_confidence}"
            )
        if self.frames < 1:
            raise ValueError(f"Sighting.frames must be >= 1, got {self.frames}")


@dataclass(frozen=True, slots=True)
class AccessDecision:
    verdict: Verdict
    reason: Reason
    credential: Credential = Credential.NONE
    alarm: str | None = None
    flags: tuple[str, ...] = field(default=())
    count_pass_use: bool = False
    pass_id: int | None = None
    vehicle_id: int | None = None
    household_id: int | None = None
    resident_id: int | None = None
    matched_plate: str | None = None
    match_distance: int = 0

    @property
    def opens(self) -> bool:
        return self.verdict is Verdict.ALLOW
