"""Skip plate reading while a gate camera watches an empty, unchanging lane.

Reading a frame with no car runs every fallback of the recogniser (~0.5 s of CPU), so an idle
camera at 4 fps would keep a core busy. The gate compares a small blurred grey copy of each
frame with the last frame that was read: while the scene is still *and* the last read found no
plate, frames are skipped. A car at the barrier is never skipped (its last read found a plate)
and a frame is read at least every ``max_skip_s`` as a safety net.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_WIDTH = 160


@dataclass
class MotionGate:
    changed_fraction: float = 0.005  # of pixels that must change for "motion"
    pixel_delta: int = 12  # grey levels a pixel must change by to count
    max_skip_s: float = 5.0
    _reference: np.ndarray | None = None
    _last_read_at: float | None = None
    _last_had_plate: bool = False
    skipped: int = 0

    @staticmethod
    def _small(image: np.ndarray) -> np.ndarray:
        scale = _WIDTH / image.shape[1]
        size = (_WIDTH, max(1, round(image.shape[0] * scale)))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def should_read(self, image: np.ndarray, now: float) -> bool:
        small = self._small(image)
        reference = self._reference
        if (
            reference is None
            or reference.shape != small.shape
            or self._last_had_plate
            or self._last_read_at is None
            or now - self._last_read_at >= self.max_skip_s
        ):
            return True
        moved = np.count_nonzero(cv2.absdiff(small, reference) > self.pixel_delta)
        if moved >= self.changed_fraction * small.size:
            return True
        self.skipped += 1
        return False

    def record(self, image: np.ndarray, now: float, *, had_plate: bool) -> None:
        """After a read: this frame becomes the reference the next frames are compared to."""
        self._reference = self._small(image)
        self._last_read_at = now
        self._last_had_plate = had_plate
