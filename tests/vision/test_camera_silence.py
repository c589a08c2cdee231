"""What the camera watch reads from a worker: how long its camera has been silent.

A snapshot camera or a recording is asked for its next picture only once the analyser has
taken the last one. While the analyser is busy (the first car after a database outage writes
the whole journal back before it is decided), the camera is not being asked: that wait is
the controller's, and must not read as the camera's silence (a false camera_offline alarm
for every snapshot camera exactly when the database comes back).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import numpy as np

from tests.vision.test_sources import config, image
from vision.camera_worker import CameraWorker
from vision.sources import SyntheticSource
from vision.types import Frame


def test_a_frame_waiting_for_a_busy_analyser_is_not_the_cameras_silence() -> None:
    counter = itertools.count()

    def frames() -> Iterator[np.ndarray | None]:
        while True:
            yield image(next(counter) % 250)

    release = asyncio.Event()
    taken: list[Frame] = []

    async def busy(frame: Frame) -> None:
        taken.append(frame)
        await release.wait()  # e.g. the journal written back under the gate's lock

    worker = CameraWorker("main-in", SyntheticSource(frames), config(), busy)

    async def scenario() -> tuple[float | None, float | None]:
        await worker.start()
        try:
            deadline = time.monotonic() + 5
            # One frame in the handler, the next read and waiting in the mailbox.
            while worker.stats.frames_read < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            assert len(taken) == 1 and worker.stats.frames_read == 2
            waiting = worker.silent_for(time.monotonic() + 120)
            release.set()
            while len(taken) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return waiting, worker.silent_for(time.monotonic())
        finally:
            release.set()
            await worker.stop()

    waiting, after = asyncio.run(scenario())
    assert waiting is not None and waiting < 1.0
    assert after is not None and after < 1.0


def test_a_source_that_stops_answering_is_silent_from_its_last_answer() -> None:
    def frames() -> Iterator[np.ndarray | None]:
        yield image(10)
        while True:
            time.sleep(0.05)
            raise ConnectionResetError("camera unplugged")

    seen: list[Frame] = []

    async def on_frame(frame: Frame) -> None:
        seen.append(frame)

    source = SyntheticSource(frames)
    worker = CameraWorker("main-in", source, config(reconnect_min_s=5.0, reconnect_max_s=5.0),
                          on_frame)

    async def scenario() -> float | None:
        await worker.start()
        try:
            deadline = time.monotonic() + 5
            while worker.stats.state != "backing_off" and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return worker.silent_for(time.monotonic() + 60)
        finally:
            await worker.stop()

    silent = asyncio.run(scenario())
    assert len(seen) == 1 and silent is not None and silent >= 60
