"""A camera's last_error is what is wrong now: set when the camera (or the frame handling)
fails, cleared once it works again, so /healthz does not show a recovered camera as broken.
The failure counters keep the history."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from settings import CameraConfig
from vision.camera_worker import CameraWorker, ErrorSide, WorkerStats
from vision.sources import SourceUnavailableError
from vision.types import Frame

pytestmark = pytest.mark.timeout(120)

DEADLINE_S = 20.0
CONFIG = CameraConfig(source="flaky", fps=30, reconnect_min_s=0.02, reconnect_max_s=0.05)


class FlakyCamera:
    """A recording-like camera (a fake) that refuses to open, or fails its reads, while told."""

    name = "flaky camera"
    realtime = False

    def __init__(self) -> None:
        self.refuse_open = threading.Event()
        self.fail_reads = threading.Event()

    def open(self) -> None:
        if self.refuse_open.is_set():
            raise SourceUnavailableError("flaky camera: connection refused")

    def read(self) -> np.ndarray | None:
        if self.fail_reads.is_set():
            raise SourceUnavailableError("flaky camera: stream stopped delivering frames")
        time.sleep(0.005)
        return np.zeros((16, 16, 3), np.uint8)

    def close(self) -> None:
        pass


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(("break_it", "prefix"), [
    # The stream breaks and the camera then refuses the reconnects (a camera rebooting).
    (lambda camera: (camera.refuse_open.set(), camera.fail_reads.set()), "open: "),
    (lambda camera: camera.fail_reads.set(), "read: "),
], ids=["open-refused", "stream-broke"])
def test_a_camera_that_recovers_has_no_last_error(
    break_it: Callable[[FlakyCamera], None], prefix: str
) -> None:
    async def main() -> None:
        camera = FlakyCamera()
        analysed = 0

        async def on_frame(frame: Frame) -> None:
            nonlocal analysed
            analysed += 1

        worker = CameraWorker("main-in", camera, CONFIG, on_frame)
        await worker.start()
        try:
            await _until(lambda: analysed > 0, "the first frame")
            assert worker.stats.last_error is None
            break_it(camera)
            await _until(lambda: worker.stats.open_failures + worker.stats.stream_failures >= 2,
                         "two failures")
            assert (worker.stats.last_error or "").startswith(prefix), worker.stats.last_error
            camera.refuse_open.clear()
            camera.fail_reads.clear()
            before = analysed
            await _until(lambda: analysed > before + 2, "frames again")
            # Streaming again: the old failure is no longer reported as the camera's problem;
            # the counters still say it happened.
            assert worker.stats.last_error is None
            assert worker.stats.open_failures + worker.stats.stream_failures >= 2
        finally:
            await worker.stop()

    asyncio.run(main())


def test_frame_handling_that_works_again_has_no_last_error() -> None:
    async def main() -> None:
        handled: list[Frame] = []

        async def on_frame(frame: Frame) -> None:
            if not handled:
                handled.append(frame)
                raise RuntimeError("database is locked")
            handled.append(frame)

        worker = CameraWorker("main-in", FlakyCamera(), CONFIG, on_frame)
        await worker.start()
        try:
            await _until(lambda: worker.stats.handler_errors == 1, "the handler's failure")
            await _until(lambda: len(handled) > 2, "frames handled again")
            assert worker.stats.last_error is None and worker.stats.handler_errors == 1
        finally:
            await worker.stop()

    asyncio.run(main())


@pytest.mark.parametrize(("failed", "worked", "left"), [
    ("source", "source", None),
    ("source", "handler", "error"),  # frames handled from a buffer say nothing of the camera
    ("source", "idle", "error"),
    ("handler", "source", "error"),  # the camera answering does not fix the recogniser
    ("handler", "handler", None),
    ("idle", "handler", "error"),
    ("idle", "idle", None),
])
def test_each_side_clears_only_its_own_error(
    failed: ErrorSide, worked: ErrorSide, left: str | None
) -> None:
    stats = WorkerStats()
    stats.failed(failed, "error")
    stats.recovered(worked)
    assert stats.last_error == left
