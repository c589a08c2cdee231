"""Camera frames → plate reads → votes → one sighting per car → the gate runtime.

The push endpoint decides on each frame it is sent (the camera did the triggering); a camera
worker sees every car in many frames, so its reads are voted by :class:`PlateVoter` and only
the voted sighting reaches :meth:`GateRuntime.handle_sighting` — the same path the push
endpoint ends in. The snapshot stored with the passage is the frame whose read of the voted
plate was most confident.

Stage timings go to the same ``parkgate_frame_stage_seconds`` histogram as pushed frames, with
``source="camera"``: ``recognize`` once per frame read (a frame the motion gate skips is not
read and not timed), ``snapshot`` and ``decide_record_barrier`` once per voted passage, since
only the frame (or quiet moment) that completes a sighting takes those steps. There is no
``decode``: the camera's reader thread decodes, paced by the camera, not by parkgate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from controllers.runtime import GateRuntime, PassageResult
from controllers.values import Sighting
from errors import StoreUnavailableError
from plate_privacy import plate_for_log
from services.frames import region_box
from services.metrics import Metrics
from services.snapshots import SnapshotStore
from settings import CameraConfig, RegionConfig, Settings
from vision.camera_worker import CameraWorker
from vision.images import encode_jpeg
from vision.motion import MotionGate
from vision.plate_recognizer import PlateRecognizer
from vision.sources import FrameSource, open_source
from vision.types import Frame, PlateRead
from vision.voting import PlateVoter

if TYPE_CHECKING:
    from services.container import Services

logger = logging.getLogger(__name__)

# Reads this different from the voted plate belong to another car (as in vision.voting).
_SAME_VEHICLE_MAX_DIFF = 2


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: holds an image
class _Evidence:
    at: datetime
    read: PlateRead
    image: np.ndarray


def _differences(a: str, b: str) -> int:
    shorter, longer = sorted((a, b), key=len)
    return sum(x != y for x, y in zip(shorter, longer, strict=False)) + len(longer) - len(shorter)


class CameraPipeline:
    """read → vote → snapshot → runtime, for frames from camera workers. One per process."""

    def __init__(
        self,
        *,
        recognizer: PlateRecognizer,
        voter: PlateVoter,
        runtime: GateRuntime,
        snapshots: SnapshotStore,
        regions: dict[str, RegionConfig | None] | None = None,
        motion_gated: set[str] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._recognizer = recognizer
        self._voter = voter
        self._runtime = runtime
        self._snapshots = snapshots
        self._regions = regions or {}
        self._motion = {gate_id: MotionGate() for gate_id in motion_gated or ()}
        self._metrics = metrics
        # Per gate: frames that read a plate and are not yet part of an emitted sighting.
        self._evidence: defaultdict[str, list[_Evidence]] = defaultdict(list)
        # Evidence older than the voting window can no longer belong to an open track.
        self._keep = voter.window + timedelta(seconds=1)
        self.results: list[PassageResult] = []  # the last 50 passages, for the demo and health
        self.passages = 0
        self.frames_read = 0
        self.plates_read = 0

    @classmethod
    def from_services(cls, services: Services, voter: PlateVoter | None = None) -> CameraPipeline:
        return cls(
            recognizer=services.recognizer,
            voter=voter or PlateVoter.from_config(services.settings.plate_voting),
            runtime=services.runtime,
            snapshots=services.snapshots,
            regions={g.id: g.region for g in services.settings.community.gates},
            motion_gated={
                g.id for g in services.settings.community.gates
                if g.camera is not None and g.camera.motion_gate
            },
            metrics=services.metrics,
        )

    def worker(self, gate_id: str, source: FrameSource, config: CameraConfig) -> CameraWorker:
        """A camera worker whose frames (and quiet periods) run through this pipeline."""
        self._runtime.gate(gate_id)  # unknown gate → NotFoundError now, not per frame

        async def on_frame(frame: Frame) -> None:
            await self.process_frame(gate_id, frame)

        async def on_idle(at: datetime) -> None:
            await self.tick(gate_id, at)

        return CameraWorker(gate_id, source, config, on_frame, on_idle=on_idle)

    async def process_frame(self, gate_id: str, frame: Frame) -> PassageResult | None:
        """Read one frame and vote; returns the passage when this frame completed a sighting."""
        gate = self._motion.get(gate_id)
        now = frame.captured_at.timestamp()
        if gate is not None and not gate.should_read(frame.image, now):
            return await self.tick(gate_id, frame.captured_at)
        reads, recognize_ms = await asyncio.to_thread(self._read, gate_id, frame.image)
        self._observe(gate_id, {"recognize": recognize_ms})
        if gate is not None:
            gate.record(frame.image, now, had_plate=bool(reads))
        self.frames_read += 1
        if reads:
            self.plates_read += 1
            self._remember(gate_id, _Evidence(frame.captured_at, reads[0], frame.image))
        sighting = self._voter.add(gate_id, reads, frame.captured_at)
        return await self._emit(gate_id, sighting)

    async def tick(self, gate_id: str, at: datetime) -> PassageResult | None:
        """No frame for a while: let a voting window that has run out emit its sighting."""
        # Reads older than the window can no longer be pending (e.g. re-reads of a car
        # already let through); with none left there is nothing to close.
        self._evidence[gate_id] = [
            e for e in self._evidence[gate_id] if at - e.at <= self._keep + self._voter.window
        ]
        if not self._evidence[gate_id]:
            return None
        return await self._emit(gate_id, self._voter.add(gate_id, [], at))

    def _read(self, gate_id: str, image: np.ndarray) -> tuple[list[PlateRead], float]:
        """The frame's reads and the milliseconds reading took (timed in the worker thread,
        so a wait for a free thread is not counted as recognising, as for pushed frames)."""
        started = time.perf_counter()
        region = region_box(self._regions.get(gate_id), image.shape[1], image.shape[0])
        reads = self._recognizer.read(image, region)
        return reads, (time.perf_counter() - started) * 1000

    def _observe(self, gate_id: str, timings_ms: dict[str, float]) -> None:
        if self._metrics is not None:
            self._metrics.observe_frame(gate_id, timings_ms, source="camera")

    def _remember(self, gate_id: str, evidence: _Evidence) -> None:
        kept = [e for e in self._evidence[gate_id] if evidence.at - e.at <= self._keep]
        # One frame per distinct text is enough to pick a snapshot; keeps memory bounded.
        same = next((e for e in kept if e.read.text == evidence.read.text), None)
        if same is None:
            kept.append(evidence)
        elif evidence.read.confidence > same.read.confidence:
            kept[kept.index(same)] = evidence
        self._evidence[gate_id] = kept[-16:]

    def _best_frame(self, gate_id: str, plate: str) -> np.ndarray | None:
        evidence = self._evidence[gate_id]
        mine = [e for e in evidence if _differences(e.read.text, plate) <= _SAME_VEHICLE_MAX_DIFF]
        self._evidence[gate_id] = [e for e in evidence if e not in mine]
        if not mine:
            return None
        return max(mine, key=lambda e: e.read.confidence).image

    async def _emit(self, gate_id: str, sighting: Sighting | None) -> PassageResult | None:
        if sighting is None:
            return None
        image = self._best_frame(gate_id, sighting.plate) if sighting.plate else None
        path = not_saved = None
        timings: dict[str, float] = {}
        if image is not None:
            started = time.perf_counter()
            jpeg = await asyncio.to_thread(encode_jpeg, image)
            path, not_saved = await asyncio.to_thread(
                self._snapshots.save_for_passage, gate_id, sighting.at, jpeg
            )
            # Only a passage with a snapshot is timed for it: a 0 for one without would pull
            # the snapshot quantiles down.
            timings["snapshot"] = (time.perf_counter() - started) * 1000
        details = {
            "source": "camera",
            "frames": sighting.frames,
            "reads": sighting.reads,
            "candidates": [{"plate": sighting.plate, "confidence": round(sighting.confidence, 4)}]
            if sighting.plate
            else [],
        }
        if not_saved is not None:
            details["snapshot"] = not_saved
        started = time.perf_counter()
        try:
            result = await self._runtime.handle_sighting(
                sighting, snapshot_path=path, details=details
            )
        except StoreUnavailableError as err:
            # Neither the database nor the journal could keep it (a disk full past its
            # reserve): the barrier stayed down. One line per car, the guard's to let in.
            logger.error("camera %s: passage of %s not recorded, barrier not driven: %s",
                         gate_id, plate_for_log(sighting.plate) or "(no plate)", err)
            return None
        timings["decide_record_barrier"] = (time.perf_counter() - started) * 1000
        self._observe(gate_id, timings)
        self.results = [*self.results[-49:], result]
        self.passages += 1
        return result


def build_camera_workers(settings: Settings, services: Services) -> list[CameraWorker]:
    """One worker per vehicle gate with a ``camera`` configured, sharing one pipeline."""
    configured = [g for g in settings.community.gates if g.camera is not None]
    if not configured:
        return []
    pipeline = CameraPipeline.from_services(services)
    workers = []
    for gate in configured:
        assert gate.camera is not None
        if gate.kind != "vehicle":
            logger.warning("gate %s has a camera but is a pedestrian gate; plate reading skipped",
                           gate.id)
            continue
        source = open_source(gate.camera.source, name=f"{gate.id} camera",
                             open_timeout_s=gate.camera.open_timeout_s,
                             read_timeout_s=gate.camera.read_timeout_s)
        workers.append(pipeline.worker(gate.id, source, gate.camera))
    return workers
