"""A camera worker stopped as a frame arrives stops.

The analysing task waited for the next frame with ``asyncio.wait_for``, which on Python 3.11
returns a frame that arrives as its task is cancelled and drops the cancellation: the loop,
which ran until cancelled, went on analysing and ``CameraWorker.stop()`` never returned (a
shutdown that hangs), as 9c156c4 found for the Modbus reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import numpy as np
import pytest

from settings import CameraConfig
from tests.cancel_window import cancel_after_turns
from vision.camera_worker import CameraWorker
from vision.types import Frame

pytestmark = pytest.mark.timeout(120)

STOP_WITHIN_S = 10.0  # generous: a stop that works returns in milliseconds


class HeldCamera:
    """A recording-like camera (a fake: frames are handed over one by one) whose each read
    waits until the test lets a frame through."""

    name = "held camera"
    realtime = False  # the reader waits until its frame is taken: a point the test can see

    def __init__(self) -> None:
        self.release = threading.Event()

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray | None:
        if not self.release.wait(0.05):
            return None  # nothing new yet: the reader asks again unless stopped
        self.release.clear()
        return np.zeros((16, 16, 3), np.uint8)

    def close(self) -> None:
        pass


def test_a_worker_stopped_as_a_frame_arrives_stops() -> None:
    """The stop comes 0 to 5 loop turns after the reader posted a frame to the loop: stop()
    returns, and no frame is handled once it began."""

    async def main() -> None:
        for turns in range(6):
            camera = HeldCamera()
            stop_began = asyncio.Event()
            late: list[Frame] = []

            async def on_frame(frame: Frame, late: list[Frame] = late,
                               stop_began: asyncio.Event = stop_began) -> None:
                if stop_began.is_set():
                    late.append(frame)

            worker = CameraWorker("main-in", camera, CameraConfig(source="held", fps=30),
                                  on_frame, idle_after_s=0.5)
            await worker.start()
            await asyncio.sleep(0.05)  # the analysing task waits for a frame
            # The frame's hand-over is queued on this loop while it is held here: from the
            # reader marking it awaiting analysis on, the post is in the loop's queue.
            camera.release.set()
            deadline = time.monotonic() + STOP_WITHIN_S
            while not worker.stats.awaiting_analysis:
                assert time.monotonic() < deadline, "the reader never delivered the frame"
                time.sleep(0.001)
            for _ in range(turns):
                await asyncio.sleep(0)
            stopping = asyncio.create_task(_stop(worker, stop_began))
            done, _ = await asyncio.wait({stopping}, timeout=STOP_WITHIN_S)
            assert stopping in done, f"{turns} turns: stop() did not return"
            assert not worker.running
            assert late == [], f"{turns} turns: a frame was handled after stop() began"

    asyncio.run(main())


def test_a_worker_whose_handler_loses_the_cancel_stops() -> None:
    """A frame handler that swallows the stop's cancel (a library's wait_for inside it can):
    the analysing loop ends on the stop flag instead of waiting for the next frame."""

    async def main() -> None:
        camera = HeldCamera()
        handling = asyncio.Event()

        async def on_frame(frame: Frame) -> None:
            handling.set()
            # A slow recogniser that loses the cancel, as asyncio.wait_for on 3.11 can.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

        worker = CameraWorker("main-in", camera, CameraConfig(source="held", fps=30),
                              on_frame, idle_after_s=0.5)
        await worker.start()
        camera.release.set()
        async with asyncio.timeout(STOP_WITHIN_S):
            await handling.wait()
        stopping = asyncio.create_task(worker.stop())
        done, _ = await asyncio.wait({stopping}, timeout=STOP_WITHIN_S)
        assert stopping in done, "stop() did not return"
        assert not worker.running

    asyncio.run(main())


def test_a_stop_cancelled_while_the_worker_winds_down_ends_cancelled() -> None:
    """The worker's frame handler takes a while to wind down on the stop's cancel (a clean-up
    it awaits); the shutdown calling stop() is cancelled 0-5 loop turns into that (a second
    Ctrl-C, a shutdown time limit): stop() ends cancelled instead of swallowing that cancel
    and going on (the old suppress(CancelledError) around the wait returned normally)."""

    async def main() -> None:
        for turns in range(6):
            camera = HeldCamera()
            handling, winding_down = asyncio.Event(), asyncio.Event()

            async def on_frame(frame: Frame, handling: asyncio.Event = handling,
                               winding_down: asyncio.Event = winding_down) -> None:
                handling.set()
                try:
                    await asyncio.Event().wait()  # a slow recogniser
                except asyncio.CancelledError:
                    winding_down.set()
                    await asyncio.sleep(STOP_WITHIN_S)  # cut short by the caller's cancel
                    raise

            worker = CameraWorker("main-in", camera, CameraConfig(source="held", fps=30),
                                  on_frame, idle_after_s=0.5)
            await worker.start()
            camera.release.set()
            went_on: list[int] = []

            async def shutdown(worker: CameraWorker = worker, went_on: list[int] = went_on,
                               turns: int = turns) -> None:
                await worker.stop()
                went_on.append(turns)

            async with asyncio.timeout(STOP_WITHIN_S):
                await handling.wait()
            stopping = asyncio.create_task(shutdown())
            async with asyncio.timeout(STOP_WITHIN_S):
                await winding_down.wait()
            assert await cancel_after_turns(stopping, turns, "stop"), f"{turns} turns: late"
            assert went_on == [], f"{turns} turns: the shutdown went on after its cancel"
            await worker.stop()  # a second stop finishes what the cancelled one left
            assert not worker.running and worker.stats.state == "stopped"

    asyncio.run(main())


async def _stop(worker: CameraWorker, began: asyncio.Event) -> None:
    began.set()
    await worker.stop()
