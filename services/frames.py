"""One camera frame → plate read → sighting → the gate runtime; shared by push and workers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from controllers.runtime import GateRuntime, PassageResult
from controllers.values import Sighting
from errors import InvalidInputError
from services.snapshots import SnapshotStore
from settings import RegionConfig
from vision.images import decode_image, encode_jpeg, sniff_image_format
from vision.plate_recognizer import PlateRecognizer
from vision.types import BoundingBox, PlateRead


def region_box(region: RegionConfig | None, width: int, height: int) -> BoundingBox | None:
    if region is None:
        return None
    return BoundingBox(region.x1 * width, region.y1 * height, region.x2 * width, region.y2 * height)


def sighting_from_reads(gate_id: str, at: datetime, reads: list[PlateRead]) -> Sighting:
    """A single-frame sighting: the recogniser already ranked the reads by lane position."""
    if not reads:
        return Sighting(gate_id=gate_id, at=at, plate=None, confidence=0.0, reads=0)
    best = reads[0]
    return Sighting(
        gate_id=gate_id,
        at=at,
        plate=best.text,
        confidence=best.confidence,
        color=str(best.color),
        reads=1,
        province_confidence=best.char_confidences[0] if best.char_confidences else 1.0,
    )


@dataclass(frozen=True, slots=True)
class FrameOutcome:
    result: PassageResult
    timings_ms: dict[str, float]


class FrameProcessor:
    def __init__(
        self,
        *,
        recognizer: PlateRecognizer,
        runtime: GateRuntime,
        snapshots: SnapshotStore,
        regions: dict[str, RegionConfig | None],
        max_pixels: int,
    ) -> None:
        self._recognizer = recognizer
        self._runtime = runtime
        self._snapshots = snapshots
        self._regions = regions
        self._max_pixels = max_pixels

    def _read(self, gate_id: str, image: np.ndarray) -> list[PlateRead]:
        region = region_box(self._regions.get(gate_id), image.shape[1], image.shape[0])
        return self._recognizer.read(image, region)

    async def process_bytes(self, gate_id: str, data: bytes) -> FrameOutcome:
        """Decode untrusted bytes (clear 4xx errors on bad input) and handle the frame."""
        self._runtime.gate(gate_id)  # unknown gate → NotFoundError before any work
        started = time.perf_counter()
        image = await asyncio.to_thread(decode_image, data, max_pixels=self._max_pixels)
        decoded = time.perf_counter()
        jpeg = data if sniff_image_format(data) == "jpeg" else None
        outcome = await self.process_image(gate_id, image, jpeg=jpeg)
        outcome.timings_ms["decode"] = round((decoded - started) * 1000, 2)
        return outcome

    async def process_image(
        self, gate_id: str, image: np.ndarray, *, jpeg: bytes | None = None
    ) -> FrameOutcome:
        if image.ndim != 3 or image.dtype != np.uint8:
            raise InvalidInputError("frame must be a BGR uint8 image")
        at = datetime.now(UTC)
        t0 = time.perf_counter()
        reads = await asyncio.to_thread(self._read, gate_id, image)
        t1 = time.perf_counter()
        snapshot = jpeg if jpeg is not None else await asyncio.to_thread(encode_jpeg, image)
        path = await asyncio.to_thread(self._snapshots.save, gate_id, at, snapshot)
        t2 = time.perf_counter()
        sighting = sighting_from_reads(gate_id, at, reads)
        details = {"candidates": [{"plate": r.text, "confidence": round(r.confidence, 4)}
                                  for r in reads[:5]]}
        result = await self._runtime.handle_sighting(
            sighting, snapshot_path=path, details=details
        )
        t3 = time.perf_counter()
        timings = {
            "recognize": round((t1 - t0) * 1000, 2),
            "snapshot": round((t2 - t1) * 1000, 2),
            "decide_record_barrier": round((t3 - t2) * 1000, 2),
        }
        return FrameOutcome(result=result, timings_ms=timings)
