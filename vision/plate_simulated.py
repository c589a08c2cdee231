"""A scripted :class:`PlateRecognizer` for simulations and pipeline tests without models.

It is a complete driver, not a stub: it validates its input like the real recogniser, can be
told to be slow or to fail, and replays reads in order (or from a callable), so gate and
pipeline code can be exercised end to end on any machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from errors import InvalidInputError, RecognitionError
from vision.plate_grammar import normalize_plate
from vision.types import BoundingBox, PlateColor, PlateRead

Script = Callable[[np.ndarray, BoundingBox | None], Sequence[PlateRead | str]]


def _as_read(item: PlateRead | str) -> PlateRead:
    if isinstance(item, PlateRead):
        return item
    text = normalize_plate(item)
    if text is None:
        raise ValueError(f"{item!r} is not a valid plate")
    return PlateRead(
        text=text,
        confidence=0.99,
        color=PlateColor.BLUE,
        char_confidences=tuple(0.99 for _ in text),
    )


class ScriptedPlateRecognizer:
    """Returns scripted reads per call: ``frames[i]`` for the i-th call, then ``[]``.

    ``frames`` items are lists of plates (strings or :class:`PlateRead`); a ``script``
    callable may decide from the image instead. ``latency_s`` sleeps per call like a real
    model; ``fail_every`` raises :class:`RecognitionError` on every n-th call.
    """

    def __init__(
        self,
        frames: Iterable[Sequence[PlateRead | str]] = (),
        *,
        script: Script | None = None,
        latency_s: float = 0.0,
        fail_every: int = 0,
    ) -> None:
        self._frames = [[_as_read(r) for r in frame] for frame in frames]
        self._script = script
        self._latency_s = latency_s
        self._fail_every = fail_every
        self._calls = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return self._calls

    def read(self, image: np.ndarray, region: BoundingBox | None = None) -> list[PlateRead]:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
            raise InvalidInputError("expected a BGR uint8 HxWx3 image")
        with self._lock:
            index = self._calls
            self._calls += 1
        if self._latency_s:
            time.sleep(self._latency_s)
        if self._fail_every and (index + 1) % self._fail_every == 0:
            raise RecognitionError(f"scripted failure on call {index + 1}")
        if self._script is not None:
            return [_as_read(r) for r in self._script(image, region)]
        return list(self._frames[index]) if index < len(self._frames) else []
