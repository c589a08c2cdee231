"""One camera frame → plate read → sighting → the gate runtime; shared by push and workers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from controllers.runtime import GateRuntime, PassageResult
from controllers.values import Sighting
from errors import InvalidInputError
from services.push_slots import PushSlots
from services.snapshots import SnapshotStore
from settings import RegionConfig
from vision.images import decode_image, encode_jpeg, sniff_image_format
from vision.plate_recognizer import PlateRecognizer
from vision.types import BoundingBox, PlateRead
from wall_clock import utcnow


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
        kind=str(best.kind) if best.kind is not None else None,
        reads=1,
        province_confidence=best.char_confidences[0] if best.char_confidences else 1.0,
    )


@dataclass(frozen=True, slots=True)
class FrameOutcome:
    result: PassageResult
    timings_ms: dict[str, float]


@dataclass(frozen=True, slots=True)
class FrameRead:
    """What is kept of a pushed frame once its decoded image is let go."""

    at: datetime
    reads: list[PlateRead]
    snapshot: bytes  # JPEG
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
        slots: PushSlots,
    ) -> None:
        self._recognizer = recognizer
        self._runtime = runtime
        self._snapshots = snapshots
        self._regions = regions
        self._max_pixels = max_pixels
        self._slots = slots

    @property
    def slots(self) -> PushSlots:
        return self._slots

    def _read(self, gate_id: str, image: np.ndarray) -> list[PlateRead]:
        region = region_box(self._regions.get(gate_id), image.shape[1], image.shape[0])
        return self._recognizer.read(image, region)

    def _read_frame(self, gate_id: str, data: bytes) -> FrameRead:
        """Decode, read and snapshot a frame: all that holds its image, run under a slot."""
        started = time.perf_counter()
        image = decode_image(data, max_pixels=self._max_pixels)
        decoded = time.perf_counter()
        if image.ndim != 3 or image.dtype != np.uint8:
            raise InvalidInputError("frame must be a BGR uint8 image")
        at = utcnow()
        reads = self._read(gate_id, image)
        recognised = time.perf_counter()
        snapshot = data if sniff_image_format(data) == "jpeg" else encode_jpeg(image)
        encoded = time.perf_counter()
        timings = {
            "decode": round((decoded - started) * 1000, 2),
            "recognize": round((recognised - decoded) * 1000, 2),
            "snapshot": round((encoded - recognised) * 1000, 2),  # saving it is added later
        }
        return FrameRead(at, reads, snapshot, timings)

    async def process_bytes(self, gate_id: str, data: bytes) -> FrameOutcome:
        """Decode untrusted bytes (clear 4xx errors on bad input) and handle the frame.

        At most ``api.max_concurrent_frames`` frames are decoded and read at once in the whole
        process (``BusyError``, HTTP 503, past ``api.burst_wait_s`` waiting for a slot);
        recording the passage and driving the barrier come after, outside the slot.
        """
        self._runtime.gate(gate_id)  # unknown gate → NotFoundError before any work
        frame = await self._slots.run(self._read_frame, gate_id, data)
        t0 = time.perf_counter()
        path, not_saved = await asyncio.to_thread(
            self._snapshots.save_for_passage, gate_id, frame.at, frame.snapshot
        )
        t1 = time.perf_counter()
        sighting = sighting_from_reads(gate_id, frame.at, frame.reads)
        details: dict[str, Any] = {
            "candidates": [{"plate": r.text, "confidence": round(r.confidence, 4)}
                           for r in frame.reads[:5]]
        }
        if not_saved is not None:
            details["snapshot"] = not_saved
        result = await self._runtime.handle_sighting(
            sighting, snapshot_path=path, details=details
        )
        t2 = time.perf_counter()
        timings = {
            **frame.timings_ms,
            "snapshot": round(frame.timings_ms["snapshot"] + (t1 - t0) * 1000, 2),
            "decide_record_barrier": round((t2 - t1) * 1000, 2),
        }
        return FrameOutcome(result=result, timings_ms=timings)
