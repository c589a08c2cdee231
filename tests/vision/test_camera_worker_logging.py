"""A camera that stays away is not a log line per retry. Measured in the log-volume walk: a
snapshot camera unplugged for two minutes logged a warning and a "reconnected" line (said at
each open, before the camera had answered anything) every back-off step, then every
``reconnect_max_s`` for as long as it stayed away: 5,760 lines a day for one dead camera. Now
the outage's first failure is a warning, retries are DEBUG unless the error changes, and the
first answer logs one line with how long and how many failures."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from settings import CameraConfig
from vision.camera_worker import CameraWorker
from vision.sources import CorruptFrameError, SourceUnavailableError
from vision.types import Frame

pytestmark = pytest.mark.timeout(120)

CONFIG = CameraConfig(source="fake", fps=30, reconnect_min_s=0.01, reconnect_max_s=0.02)
LOGGER = "vision.camera_worker"


class AwayCamera:
    """Refuses ``refusals`` opens with ``errors`` in turn, then answers; optionally a run of
    corrupt frames first."""

    name = "lane camera"
    realtime = True

    def __init__(self, refusals: int, errors: list[str], corrupt: int = 0) -> None:
        self.refusals = refusals
        self.errors = errors
        self.corrupt = corrupt
        self.opens = 0
        self.lock = threading.Lock()

    def open(self) -> None:
        with self.lock:
            self.opens += 1
            if self.opens <= self.refusals:
                # The first half of the refusals with the first error, the rest with the last.
                which = 0 if self.opens <= self.refusals // 2 else len(self.errors) - 1
                raise SourceUnavailableError(self.errors[which])

    def read(self) -> np.ndarray | None:
        time.sleep(0.002)
        if self.corrupt > 0:
            self.corrupt -= 1
            raise CorruptFrameError("lane camera: undecodable frame")
        return np.zeros((8, 8, 3), np.uint8)

    def close(self) -> None:
        pass


def run_until(camera: AwayCamera, done: Callable[[CameraWorker], bool]) -> CameraWorker:
    async def main() -> CameraWorker:
        async def on_frame(frame: Frame) -> None:
            pass

        worker = CameraWorker("main-in", camera, CONFIG, on_frame)
        await worker.start()
        try:
            deadline = time.monotonic() + 20
            while not done(worker):
                assert time.monotonic() < deadline, worker.stats
                await asyncio.sleep(0.01)
        finally:
            await worker.stop()
        return worker

    return asyncio.run(main())


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


def test_a_camera_refusing_many_opens_logs_one_warning_then_one_recovery_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    refused = "lane camera: [Errno 111] Connection refused"
    worker = run_until(AwayCamera(12, [refused]), lambda w: w.stats.frames_read > 3)
    assert worker.stats.open_failures == 12
    warnings = lines(caplog, logging.WARNING)
    assert len(warnings) == 1, warnings
    assert "cannot open lane camera" in warnings[0] and "Connection refused" in warnings[0]
    recovered = [m for m in lines(caplog, logging.INFO) if "answers again" in m]
    assert len(recovered) == 1, lines(caplog, logging.INFO)
    assert "12 failure(s)" in recovered[0] and "Connection refused" in recovered[0]
    assert not [m for m in lines(caplog, logging.INFO) if "reconnected" in m]


def test_the_retries_are_still_there_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    run_until(AwayCamera(6, ["lane camera: timed out"]), lambda w: w.stats.frames_read > 3)
    retries = [m for m in lines(caplog, logging.DEBUG) if "cannot open" in m]
    assert len(retries) == 5, retries
    assert "failure 6 since" in retries[-1]


def test_an_error_that_changes_during_the_outage_is_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    errors = ["lane camera: [Errno 111] Connection refused", "lane camera: 401 Unauthorized"]
    run_until(AwayCamera(8, errors), lambda w: w.stats.frames_read > 3)
    warnings = lines(caplog, logging.WARNING)
    assert len(warnings) == 2, warnings
    assert "Connection refused" in warnings[0] and "401 Unauthorized" in warnings[1]


def test_a_run_of_corrupt_frames_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    worker = run_until(AwayCamera(0, ["-"], corrupt=10), lambda w: w.stats.frames_read > 3)
    assert worker.stats.corrupt_frames == 10
    warnings = lines(caplog, logging.WARNING)
    assert len(warnings) == 1 and "corrupt frame" in warnings[0], warnings
