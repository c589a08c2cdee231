"""A burst of frames at a pedestrian gate → face pipeline → decision → gate → passage."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from api.schemas import FrameResult
from controllers.person_policy import FaceEvidence, decide_face
from controllers.runtime import GateRuntime
from errors import InvalidInputError
from models.db import DATABASE_DOWN
from models.people import Resident
from services.push_slots import PushSlots
from services.snapshots import SnapshotStore
from vision.face_pipeline import FacePipeline
from vision.face_types import FaceGateResult, GateReason
from vision.images import decode_depth_png, decode_image, encode_jpeg
from wall_clock import utcnow

logger = logging.getLogger(__name__)

# Gate reasons that mean "a face was there but is not a resident we can name".
_UNKNOWN = {
    GateReason.NOT_RECOGNISED, GateReason.NOT_STABLE, GateReason.CONFLICT,
    GateReason.SEVERAL_FACES,
}


def evidence_from(result: FaceGateResult) -> FaceEvidence:
    if result.reason in (GateReason.NO_FACE, GateReason.FACE_TOO_SMALL):
        return FaceEvidence(0, None, None, too_small=result.reason is GateReason.FACE_TOO_SMALL)
    if result.reason is GateReason.OPEN:
        return FaceEvidence(result.frames_seen, result.identity_id, True)
    if result.reason is GateReason.SPOOF:
        return FaceEvidence(result.frames_seen, None, False)
    if result.reason is GateReason.LIVENESS_CHALLENGE:
        return FaceEvidence(result.frames_seen, None, None)
    assert result.reason in _UNKNOWN
    # Liveness was not the deciding question: nobody was recognised.
    return FaceEvidence(
        result.frames_seen, None, True, several=result.reason is GateReason.SEVERAL_FACES
    )


def result_details(result: FaceGateResult) -> dict[str, Any]:
    details: dict[str, Any] = {
        "face_reason": str(result.reason),
        "distance": None if result.distance == float("inf") else round(result.distance, 4),
        "frames_matched": result.frames_matched,
        "frames_seen": result.frames_seen,
    }
    if result.liveness is not None:
        details["liveness"] = {
            "live": result.liveness.live,
            "score": round(result.liveness.score, 5),
            "reason": str(result.liveness.reason),
        }
    return details


@dataclass(frozen=True, slots=True)
class BurstRead:
    """What is kept of a burst once its frames are let go."""

    at: datetime
    result: FaceGateResult
    snapshot: bytes  # JPEG of the middle frame


class FaceGateService:
    def __init__(
        self,
        *,
        pipeline: FacePipeline,
        runtime: GateRuntime,
        snapshots: SnapshotStore,
        sessions: sessionmaker[Session],
        max_pixels: int,
        slots: PushSlots,
        engine_lock: threading.Lock | None = None,
        max_frames: int = 32,
        max_burst_pixels: int = 100_000_000,
    ) -> None:
        # Guards the pipeline's face engine (dlib's detector and predictor are not documented
        # as safe for concurrent use of one instance): bursts of every pedestrian gate take
        # it in turn. Enrolment has an engine and a lock of its own (services/faces.py).
        self._engine_lock = engine_lock or threading.Lock()
        self._slots = slots
        self._pipeline = pipeline
        self._runtime = runtime
        self._snapshots = snapshots
        self._sessions = sessions
        self._max_pixels = max_pixels
        self._max_frames = max_frames
        self._max_burst_pixels = max_burst_pixels
        # Gates whose last burst was too short for liveness to judge, warned of once until
        # one sends a long enough burst again.
        self._short_bursts: set[str] = set()

    @property
    def slots(self) -> PushSlots:
        return self._slots

    @property
    def pipeline(self) -> FacePipeline:
        return self._pipeline

    @property
    def engine_lock(self) -> threading.Lock:
        return self._engine_lock

    def _household(self, resident_id: int | None) -> int | None:
        if resident_id is None:
            return None
        try:
            with self._sessions() as session:
                resident = session.get(Resident, resident_id)
                return resident.household_id if resident else None
        except DATABASE_DOWN as err:
            # The match itself needs no database (templates live in memory): a resident still
            # walks in during an outage; the passage is journalled without the household.
            logger.warning("household of resident %s unknown, database unavailable: %s",
                           resident_id, err)
            return None

    def _process(self, frames: list[Any], depth: list[Any] | None) -> FaceGateResult:
        with self._engine_lock:
            return self._pipeline.process(frames, depth)

    def _decode_depth(self, depth: list[bytes], frames: list[np.ndarray]) -> list[np.ndarray]:
        if len(depth) != len(frames):
            raise InvalidInputError(
                f"{len(depth)} depth maps for {len(frames)} images: send one per image"
            )
        maps = []
        for index, (data, frame) in enumerate(zip(depth, frames, strict=True), start=1):
            try:
                depth_map = decode_depth_png(data, max_pixels=self._max_pixels)
            except InvalidInputError as err:
                raise type(err)(f"depth map {index}: {err}") from err
            if depth_map.shape != frame.shape[:2]:
                raise InvalidInputError(
                    f"depth map {index} is {depth_map.shape[1]}x{depth_map.shape[0]} but its "
                    f"image is {frame.shape[1]}x{frame.shape[0]}: align depth to colour first"
                )
            maps.append(depth_map)
        return maps

    def _read_burst(self, images: list[bytes], depth: list[bytes] | None) -> BurstRead:
        """Decode, check and snapshot a burst: all that holds its frames, run under a slot."""
        frames: list[np.ndarray] = []
        pixels = 0
        for index, data in enumerate(images, start=1):
            try:
                frame = decode_image(data, max_pixels=self._max_pixels)
            except InvalidInputError as err:
                raise type(err)(f"frame {index}: {err}") from err
            if frames and frame.shape[:2] != frames[0].shape[:2]:
                # Liveness follows points from frame to frame, which needs one size: a mixed
                # burst ended in OpenCV's assertion, a 500, once a resident was recognised.
                raise InvalidInputError(
                    f"frame {index} is {frame.shape[1]}x{frame.shape[0]} but frame 1 is "
                    f"{frames[0].shape[1]}x{frames[0].shape[0]}: send a burst's frames at one "
                    "size"
                )
            # Every frame is held until the liveness check has seen them all: a burst of
            # small, well-compressed but huge frames would otherwise take gigabytes.
            pixels += frame.shape[0] * frame.shape[1]
            if pixels > self._max_burst_pixels:
                raise InvalidInputError(
                    f"frame {index}: the burst holds over {self._max_burst_pixels:,} pixels in "
                    "all (api.max_burst_pixels): send fewer or smaller frames"
                )
            frames.append(frame)
        maps = self._decode_depth(depth, frames) if depth else None
        at = utcnow()
        result = self._process(frames, maps)
        return BurstRead(at, result, encode_jpeg(frames[len(frames) // 2]))

    def _warn_if_too_short(self, gate_id: str, frames: int) -> None:
        """Liveness needs ``min_frames`` frames with the face: a camera that pushes fewer (a
        terminal set to ~1 s at 10 fps) never opens for anyone, and the screen asks every
        resident to turn their head. Only the installer can fix it: the log says so."""
        config = self._pipeline.liveness.config
        needed = config.min_frames
        if frames >= needed or config.mode == "off":
            self._short_bursts.discard(gate_id)
            return
        if gate_id in self._short_bursts:
            return
        self._short_bursts.add(gate_id)
        logger.warning(
            "%s: a burst of %d frames; liveness needs at least %d with the face "
            "(faces.liveness.min_frames), so no face opens this gate and each resident is "
            "asked to turn their head: set the camera to push bursts of at least %d frames "
            "(~1 s at %d fps or more)", gate_id, frames, needed, needed, needed,
        )

    async def process(
        self, gate_id: str, images: list[bytes], depth: list[bytes] | None = None
    ) -> FrameResult:
        """``depth``: optional 16-bit PNG depth maps (mm), one per image, aligned to it.

        At most ``api.max_concurrent_bursts`` bursts are decoded at once in the whole process
        (``BusyError``, HTTP 503, past ``api.burst_wait_s`` waiting for a slot); recording the
        passage and driving the gate come after the frames are let go, outside the slot.
        """
        if len(images) > self._max_frames:
            raise InvalidInputError(f"at most {self._max_frames} frames per burst")
        self._warn_if_too_short(gate_id, len(images))
        read = await self._slots.run(self._read_burst, images, depth)
        at, result = read.at, read.result
        evidence = evidence_from(result)
        decision = decide_face(evidence, await asyncio.to_thread(self._household,
                                                                 evidence.resident_id))
        path, not_saved = await asyncio.to_thread(
            self._snapshots.save_for_passage, gate_id, at, read.snapshot
        )
        details = result_details(result)
        if not_saved is not None:
            details["snapshot"] = not_saved
        passage = await self._runtime.handle_decision(
            gate_id, decision, at=at, snapshot_path=path, details=details
        )
        return FrameResult(
            passage_id=passage.passage_id,
            journal_id=passage.journal_id,
            gate_id=gate_id,
            plate=None,
            confidence=0.0,
            # What stands after the gate's schedule, not only what the face said.
            decision=passage.decision.verdict.value,
            reason=passage.decision.reason.value,
            barrier=passage.barrier,
            candidates=[],
            timings_ms={},
        )
