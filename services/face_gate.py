"""A burst of frames at a pedestrian gate → face pipeline → decision → gate → passage."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api.schemas import FrameResult
from controllers.person_policy import FaceEvidence, decide_face
from controllers.runtime import GateRuntime
from errors import InvalidInputError
from models.people import Resident
from services.snapshots import SnapshotStore
from vision.face_pipeline import FacePipeline
from vision.face_types import FaceGateResult, GateReason
from vision.images import decode_image, encode_jpeg

# Gate reasons that mean "a face was there but is not a resident we can name".
_UNKNOWN = {
    GateReason.NOT_RECOGNISED, GateReason.NOT_STABLE, GateReason.CONFLICT,
    GateReason.SEVERAL_FACES,
}


def evidence_from(result: FaceGateResult) -> FaceEvidence:
    if result.reason in (GateReason.NO_FACE, GateReason.FACE_TOO_SMALL):
        return FaceEvidence(0, None, None)
    if result.reason is GateReason.OPEN:
        return FaceEvidence(result.frames_seen, result.identity_id, True)
    if result.reason is GateReason.SPOOF:
        return FaceEvidence(result.frames_seen, None, False)
    if result.reason is GateReason.LIVENESS_CHALLENGE:
        return FaceEvidence(result.frames_seen, None, None)
    assert result.reason in _UNKNOWN
    # Liveness was not the deciding question: nobody was recognised.
    return FaceEvidence(result.frames_seen, None, True)


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


class FaceGateService:
    def __init__(
        self,
        *,
        pipeline: FacePipeline,
        runtime: GateRuntime,
        snapshots: SnapshotStore,
        sessions: sessionmaker[Session],
        max_pixels: int,
        engine_lock: threading.Lock,
        max_frames: int = 32,
    ) -> None:
        self._engine_lock = engine_lock
        self._pipeline = pipeline
        self._runtime = runtime
        self._snapshots = snapshots
        self._sessions = sessions
        self._max_pixels = max_pixels
        self._max_frames = max_frames

    def _household(self, resident_id: int | None) -> int | None:
        if resident_id is None:
            return None
        with self._sessions() as session:
            resident = session.get(Resident, resident_id)
            return resident.household_id if resident else None

    def _process(self, frames: list[Any]) -> FaceGateResult:
        with self._engine_lock:
            return self._pipeline.process(frames)

    async def process(self, gate_id: str, images: list[bytes]) -> FrameResult:
        if len(images) > self._max_frames:
            raise InvalidInputError(f"at most {self._max_frames} frames per burst")
        frames = []
        for index, data in enumerate(images, start=1):
            try:
                frames.append(
                    await asyncio.to_thread(decode_image, data, max_pixels=self._max_pixels)
                )
            except InvalidInputError as err:
                raise type(err)(f"frame {index}: {err}") from err
        at = datetime.now(UTC)
        result = await asyncio.to_thread(self._process, frames)
        evidence = evidence_from(result)
        decision = decide_face(evidence, await asyncio.to_thread(self._household,
                                                                 evidence.resident_id))
        snapshot = await asyncio.to_thread(encode_jpeg, frames[len(frames) // 2])
        path = await asyncio.to_thread(self._snapshots.save, gate_id, at, snapshot)
        passage = await self._runtime.handle_decision(
            gate_id, decision, at=at, snapshot_path=path, details=result_details(result)
        )
        return FrameResult(
            passage_id=passage.passage_id,
            gate_id=gate_id,
            plate=None,
            confidence=0.0,
            decision=decision.verdict.value,
            reason=decision.reason.value,
            barrier=passage.barrier,
            candidates=[],
            timings_ms={},
        )
