"""A camera worker end to end: a simulated camera shows a resident's drawn plate for several
frames; the real recogniser, the voter, the policy, the database and the simulated barrier
run; exactly one passage is recorded. Leaving, a car read in too few frames is still
decided once the voting window runs out."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from models.db import transaction
from models.events import Passage
from models.people import Household
from models.vehicles import Vehicle
from services.camera_pipeline import CameraPipeline, build_camera_workers
from services.container import build_services
from settings import CameraConfig
from vision.plate_render import render_gate_scene, render_plate
from vision.sources import CaptureSource, FolderSource, SyntheticSource
from vision.types import Frame, PlateColor
from vision.voting import PlateVoter

PLATE = "沪B7M261"


def test_one_car_in_view_for_many_frames_makes_one_passage(
    make_settings: Any, plate_recognizer: Any
) -> None:
    services = build_services(make_settings(), recognizer=plate_recognizer)
    with transaction(services.sessions) as session:
        household = Household(building="5栋", unit="302")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=PLATE, household_id=household.id))

    rng = random.Random(11)
    plate = render_plate(PLATE, PlateColor.BLUE)
    shown = 8

    def camera() -> Iterator[np.ndarray | None]:
        for i in range(shown):
            yield render_gate_scene(plate, rng, approach=0.4 + 0.6 * i / shown)
        while True:
            yield None  # the car has gone; a motion-triggered camera falls silent

    pipeline = CameraPipeline.from_services(services, voter=PlateVoter(min_reads=3))
    worker = pipeline.worker(
        "main-in", SyntheticSource(camera), CameraConfig(source="synthetic", fps=20)
    )
    services.background.append(worker)

    async def scenario() -> list[Any]:
        await services.start()
        try:
            deadline = time.monotonic() + 20
            while worker.stats.frames_analysed < shown and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            # Leaving: the exit camera catches only two frames, fewer than min_reads. The
            # sighting comes when the voting window runs out during the quiet that follows.
            t0 = datetime.now(UTC)
            outcomes = []
            for i in range(2):
                at = t0 + timedelta(seconds=0.25 * i)
                frame = Frame(render_gate_scene(plate, rng), "main-out", at)
                outcomes.append(await pipeline.process_frame("main-out", frame))
            outcomes.append(await pipeline.tick("main-out", t0 + timedelta(seconds=1)))
            outcomes.append(await pipeline.tick("main-out", t0 + timedelta(seconds=3.5)))
            outcomes.append(await pipeline.tick("main-out", t0 + timedelta(seconds=4.5)))
            return outcomes
        finally:
            await services.stop()

    try:
        exit_outcomes = asyncio.run(scenario())
        assert [o is not None for o in exit_outcomes] == [False, False, False, True, False]
        left = exit_outcomes[3]
        assert (left.plate, left.decision.reason.value) == (PLATE, "exit_known_inside")
        assert worker.stats.frames_analysed == shown
        with services.sessions() as session:
            passages = list(session.scalars(select(Passage)))
        assert [p.gate_id for p in passages] == ["main-in", "main-out"]
        passage = passages[0]
        assert (passage.gate_id, passage.plate) == ("main-in", PLATE)
        assert (passage.decision, passage.reason) == ("allow", "resident")
        assert passage.details["source"] == "camera" and passage.details["reads"] >= 3
        assert passage.snapshot_path is not None
        assert services.snapshots.path(passage.snapshot_path).stat().st_size > 10_000
        assert passage.barrier_outcome in ("opening", "open")
    finally:
        services.engine.dispose()


def test_build_camera_workers_for_configured_gates(make_settings: Any, plate_recognizer: Any,
                                                   tmp_path: Any) -> None:
    from settings import demo_community

    community = demo_community().model_dump()
    community["gates"][0]["camera"] = {"source": str(tmp_path)}
    community["gates"][1]["camera"] = {"source": "rtsp://cam:secret@10.0.0.9/stream"}
    services = build_services(make_settings(community=community), recognizer=plate_recognizer)
    try:
        workers = build_camera_workers(services.settings, services)
        assert [w.gate_id for w in workers] == ["main-in", "main-out"]
        assert isinstance(workers[0].source, FolderSource)
        assert isinstance(workers[1].source, CaptureSource)
        assert "secret" not in workers[1].source.name
    finally:
        services.engine.dispose()
