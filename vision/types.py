"""Typed values produced by the vision stage.

Nothing downstream of ``vision/`` sees an OpenCV or ONNX type: recognisers turn arrays into
these frozen, self-validating values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np

from vision.plate_grammar import PlateKind, double_row_kind, plate_kind


class PlateColor(StrEnum):
    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"
    WHITE = "white"
    BLACK = "black"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded camera image (BGR, uint8, HxWx3) with where and when it was taken."""

    image: np.ndarray = field(repr=False)
    source_id: str
    captured_at: datetime

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"Frame.image must be HxWx3, got shape {self.image.shape}")
        if self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image must be uint8, got {self.image.dtype}")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Axis-aligned box in pixel coordinates, x1 < x2 and y1 < y2."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValueError(f"BoundingBox needs x1<x2 and y1<y2, got {self}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One plate read in one frame.

    ``char_confidences`` has one value per character of ``text`` so that several frames can
    be voted character by character. ``double_row`` says the plate was read on two rows
    (a large vehicle's rear plate, a trailer): its text is the top row then the bottom row,
    spelt and voted like any 7-character plate.
    """

    text: str
    confidence: float
    color: PlateColor = PlateColor.UNKNOWN
    box: BoundingBox | None = None
    char_confidences: tuple[float, ...] = ()
    double_row: bool = False

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("PlateRead.text must not be empty")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"PlateRead.confidence must be in [0, 1], got {self.confidence}")
        if self.char_confidences and len(self.char_confidences) != len(self.text):
            raise ValueError(
                f"char_confidences has {len(self.char_confidences)} values for "
                f"{len(self.text)} characters"
            )
        if self.double_row and double_row_kind(self.text) is None:
            raise ValueError(f"{self.text!r} is not a plate issued on two rows")

    @property
    def kind(self) -> PlateKind | None:
        """The plate family: DOUBLE_ROW (yellow) or TRAILER for a large vehicle's or a
        trailer's two-row plate; from the text alone otherwise (None when not a plate)."""
        return double_row_kind(self.text) if self.double_row else plate_kind(self.text)
