"""Find plate-shaped regions before reading them (colour + edge morphology)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.types import PlateColor


@dataclass(frozen=True, slots=True)
class PlateCandidate:
    """A proposed plate: its corners in the searched image, a colour guess and a score."""

    quad: np.ndarray  # 4×2 float32, ordered tl, tr, br, bl, image coordinates
    color: PlateColor
    score: float


def crop_color(crop: np.ndarray) -> PlateColor:
    """Dominant plate background colour of an upright plate crop (BGR)."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    coloured = (s > 70) & (v > 50)
    n = h.size
    votes = {
        PlateColor.BLUE: int(np.count_nonzero(coloured & (h >= 100) & (h <= 125))),
        PlateColor.YELLOW: int(np.count_nonzero(coloured & (h >= 11) & (h <= 34))),
        PlateColor.GREEN: int(np.count_nonzero(coloured & (h >= 35) & (h <= 90))),
    }
    best = max(votes, key=lambda c: votes[c])
    if votes[best] > 0.25 * n:
        return best
    if np.count_nonzero((s < 50) & (v > 150)) > 0.4 * n:
        return PlateColor.WHITE
    if np.count_nonzero(v < 60) > 0.4 * n:
        return PlateColor.BLACK
    return PlateColor.UNKNOWN


def find_plate_candidates(image: np.ndarray, *, max_side: int = 800) -> list[PlateCandidate]:
    """Plate proposals, best first. Placeholder until the localiser lands."""
    del image, max_side
    return []
