"""An idle camera skips reading a still, empty lane; a car is always read."""

from __future__ import annotations

import numpy as np

from vision.motion import MotionGate


def scene(seed: int = 0, car: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((480, 640, 3), 100, np.uint8)
    image += rng.integers(0, 3, image.shape, dtype=np.uint8)  # sensor noise, not motion
    if car:
        image[200:420, 180:460] = (40, 40, 160)
    return image


def test_still_empty_lane_is_skipped_until_the_safety_interval() -> None:
    gate = MotionGate(max_skip_s=5.0)
    assert gate.should_read(scene(0), now=0.0)
    gate.record(scene(0), 0.0, had_plate=False)
    assert not gate.should_read(scene(1), now=1.0)  # noise only
    assert not gate.should_read(scene(2), now=4.9)
    assert gate.should_read(scene(3), now=5.0)  # read at least every max_skip_s
    assert gate.skipped == 2


def test_motion_is_read() -> None:
    gate = MotionGate()
    gate.record(scene(0), 0.0, had_plate=False)
    assert gate.should_read(scene(1, car=True), now=0.5)


def test_a_car_standing_at_the_barrier_keeps_being_read() -> None:
    gate = MotionGate()
    gate.record(scene(0, car=True), 0.0, had_plate=True)
    assert gate.should_read(scene(0, car=True), now=0.5)


def test_different_frame_size_is_read() -> None:
    gate = MotionGate()
    gate.record(scene(0), 0.0, had_plate=False)
    assert gate.should_read(np.full((300, 640, 3), 100, np.uint8), now=0.5)  # new aspect


def test_camera_pipeline_reads_an_idle_lane_rarely() -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from services.camera_pipeline import CameraPipeline
    from vision.plate_simulated import ScriptedPlateRecognizer
    from vision.types import Frame
    from vision.voting import PlateVoter

    recognizer = ScriptedPlateRecognizer()  # an empty lane: never a plate
    pipeline = CameraPipeline(
        recognizer=recognizer, voter=PlateVoter(), runtime=None,  # type: ignore[arg-type]
        snapshots=None, motion_gated={"main-in"},  # type: ignore[arg-type]
    )
    start = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)

    async def run() -> None:
        for i in range(40):  # 10 s at 4 fps
            frame = Frame(scene(i), "cam", start + timedelta(seconds=i / 4))
            await pipeline.process_frame("main-in", frame)

    asyncio.run(run())
    assert recognizer.calls == 2  # the first frame, then the 5-s safety read
