"""One camera's worker: a reader thread feeding a one-frame mailbox, analysed at ``fps``.

The reader thread owns the :class:`~vision.sources.FrameSource`: it opens it, reconnects with
exponential back-off (``reconnect_min_s`` … ``reconnect_max_s``, reset by the first good
frame), skips and counts corrupt frames, and posts each frame into a mailbox on the event
loop. A live camera is read continuously and the mailbox keeps only the newest frame (a slow
recogniser must never work through a backlog of old pictures while a car waits); a recording
or a synthetic source is handed over frame by frame, none skipped. The analysing task takes
the newest frame at most ``fps`` times per second and awaits the frame handler. Nothing a
source or a handler raises stops the worker: it is logged, counted and retried.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from settings import CameraConfig
from task_cancel import cancel_and_wait
from vision.sources import (
    CorruptFrameError,
    FrameSource,
    SourceEndedError,
    backoff_delays,
    sleep_interruptibly,
)
from vision.types import Frame
from wall_clock import utcnow

logger = logging.getLogger(__name__)

FrameHandler = Callable[[Frame], Awaitable[Any]]
IdleHandler = Callable[[datetime], Awaitable[Any]]
# Who reported an error: the reader (the camera: open, read, corrupt frame), or the analysing
# side (the frame handler, the idle handler). Each side's success clears only its own error.
ErrorSide = Literal["source", "handler", "idle"]


@dataclass
class WorkerStats:
    """Counters for the health endpoint and the logs."""

    state: str = "stopped"  # stopped, connecting, streaming, backing_off, ended
    opens: int = 0
    open_failures: int = 0
    frames_read: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0  # replaced in the mailbox by a newer frame before analysis
    corrupt_frames: int = 0
    stream_failures: int = 0
    handler_errors: int = 0
    # The current problem, for /healthz and the camera_offline alarm: None once the side that
    # failed works again (the camera answers a read, the handler handles a frame), so a camera
    # that recovered is not shown as still broken. The counters above keep the history.
    last_error: str | None = None
    # time.monotonic() of the last read the source answered without failing (a frame, or
    # "nothing new" from a drop folder), and of the worker's start: whether the camera is out.
    last_answer_at: float | None = None
    started_at: float | None = None
    # A recording's or snapshot camera's frame is waiting for the analyser to take it: the
    # camera is not being asked meanwhile, so that wait is no silence of the camera's.
    awaiting_analysis: bool = False
    _error_side: ErrorSide | None = field(default=None, repr=False)
    # The reader thread and the event loop both set and clear last_error: without it, a
    # reader clearing its own error could wipe a handler's error set in between.
    _error_lock: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                        compare=False)

    def failed(self, side: ErrorSide, error: str) -> None:
        with self._error_lock:
            self.last_error = error
            self._error_side = side

    def recovered(self, side: ErrorSide) -> None:
        """``side`` worked: its error, if it is the current one, is over."""
        if self._error_side != side:  # the common case, once per read: no lock taken
            return
        with self._error_lock:
            if self._error_side == side:
                self.last_error = None
                self._error_side = None


@dataclass
class _Outage:
    """A camera's failures from the first one until it answers again (reader thread only)."""

    since: float
    failures: int
    error: str


class _Mailbox:
    """A one-slot box on the event loop: ``put`` replaces, ``take`` waits for a frame."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._ready = asyncio.Event()
        self.replaced = 0

    def put(self, frame: Frame) -> None:
        if self._frame is not None:
            self.replaced += 1
        self._frame = frame
        self._ready.set()

    async def take(self) -> Frame:
        while self._frame is None:
            self._ready.clear()
            await self._ready.wait()
        frame, self._frame = self._frame, None
        self._ready.clear()
        return frame


class CameraWorker:
    """Reads one gate's camera and hands frames to ``on_frame`` (a background component)."""

    def __init__(
        self,
        gate_id: str,
        source: FrameSource,
        config: CameraConfig,
        on_frame: FrameHandler,
        *,
        on_idle: IdleHandler | None = None,
        idle_after_s: float = 1.0,
        max_corrupt_in_row: int = 25,
    ) -> None:
        if idle_after_s <= 0:
            raise ValueError(f"idle_after_s must be > 0, got {idle_after_s}")
        self.gate_id = gate_id
        self.source = source
        self.config = config
        self.stats = WorkerStats()
        self._on_frame = on_frame
        self._on_idle = on_idle
        self._idle_after_s = idle_after_s
        self._max_corrupt_in_row = max_corrupt_in_row
        self._delays: Iterator[float] = backoff_delays(
            config.reconnect_min_s, config.reconnect_max_s
        )
        self._stop = threading.Event()
        self._consumed = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mailbox: _Mailbox | None = None
        self._outage: _Outage | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def silent_for(self, now: float) -> float | None:
        """Seconds since the source last answered a read (since the start when it never
        did), at ``now`` (time.monotonic()); None when the worker is not watching a camera
        (stopped, or a recording that ended)."""
        stats = self.stats
        if stats.state in ("stopped", "ended") or stats.started_at is None:
            return None
        if stats.awaiting_analysis:
            # Busy on our side (e.g. the first car after a database outage writes the
            # journal back under its gate's lock): the camera answered and is not asked.
            return 0.0
        return max(0.0, now - (stats.last_answer_at or stats.started_at))

    async def start(self) -> None:
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._mailbox = _Mailbox()
        self._stop.clear()
        self.stats.started_at = time.monotonic()
        self.stats.last_answer_at = None
        self._thread = threading.Thread(
            target=self._read_loop, name=f"camera-{self.gate_id}", daemon=True
        )
        self._thread.start()
        self._task = asyncio.create_task(self._analyse_loop(), name=f"camera-{self.gate_id}")
        logger.info("camera worker for %s started on %s at %.1f fps",
                    self.gate_id, self.source.name, self.config.fps)

    async def stop(self) -> None:
        self._stop.set()
        self._consumed.set()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._thread is not None:
            # A blocked open ends at its time-out; a blocked RTSP read at up to three read
            # time-outs (OpenCV's FFmpeg reader retries one that timed out): past 15 s the
            # daemon thread is left to end on its own.
            await asyncio.to_thread(self._thread.join, 15.0)
            if self._thread.is_alive():
                logger.warning("camera reader for %s did not stop in time", self.gate_id)
            self._thread = None
        self.stats.state = "stopped"
        logger.info("camera worker for %s stopped", self.gate_id)

    # -- analysing side (event loop) ------------------------------------------------------

    async def _analyse_loop(self) -> None:
        assert self._mailbox is not None
        interval = 1.0 / self.config.fps
        # Ends on the stop flag too, not only on the cancel: a cancel lost on its way (as
        # asyncio.wait_for lost one, below) must not leave stop() waiting for ever.
        while not self._stop.is_set():
            try:
                # Not asyncio.wait_for: on Python 3.11 it returns a frame that arrives as this
                # task is cancelled and drops the cancel, so the loop analysed on and stop()
                # never returned. asyncio.timeout raises the cancel at the next await.
                async with asyncio.timeout(self._idle_after_s):
                    frame = await self._mailbox.take()
            except TimeoutError:
                await self._idle()
                continue
            self._consumed.set()
            self.stats.frames_dropped = self._mailbox.replaced
            started = time.monotonic()
            try:
                await self._on_frame(frame)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.stats.handler_errors += 1
                self.stats.failed("handler", f"handler: {err}")
                logger.exception("camera %s: frame handling failed", self.gate_id)
            else:
                self.stats.recovered("handler")
            self.stats.frames_analysed += 1
            # Throttle to fps; the mailbox meanwhile keeps only the newest frame.
            await asyncio.sleep(max(0.0, started + interval - time.monotonic()))

    async def _idle(self) -> None:
        if self._on_idle is None:
            return
        try:
            await self._on_idle(utcnow())
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.stats.handler_errors += 1
            self.stats.failed("idle", f"idle: {err}")
            logger.exception("camera %s: idle handling failed", self.gate_id)
        else:
            self.stats.recovered("idle")

    # -- reading side (thread) ------------------------------------------------------------

    def _read_loop(self) -> None:
        self._reset_backoff()
        self._outage = None
        while not self._stop.is_set():
            self.stats.state = "connecting"
            try:
                self.source.open()
            except Exception as err:  # any driver failure: count it and try again later
                self.stats.open_failures += 1
                self.stats.failed("source", f"open: {err}")
                delay = next(self._delays)
                self._log_failure(f"cannot open {self.source.name}", err,
                                  f"retrying in {delay:.1f} s")
                self.stats.state = "backing_off"
                if sleep_interruptibly(self._stop, delay):
                    break
                continue
            self.stats.opens += 1
            if self.stats.opens > 1:
                # Opened is not answered (a snapshot camera's open only makes a client): the
                # camera is back at its first answer, logged there with the outage's count.
                logger.debug("camera %s: reconnected to %s", self.gate_id, self.source.name)
            self.stats.state = "streaming"
            try:
                self._stream()
            except SourceEndedError as err:
                logger.info("camera %s: %s; no more frames", self.gate_id, err)
                self.stats.state = "ended"
                self._close_source()
                return
            except Exception as err:
                self.stats.stream_failures += 1
                self.stats.failed("source", f"read: {err}")
                delay = next(self._delays)
                self._log_failure(f"{self.source.name} failed", err,
                                  f"reconnecting in {delay:.1f} s")
                self._close_source()
                self.stats.state = "backing_off"
                if sleep_interruptibly(self._stop, delay):
                    break
                continue
            self._close_source()
        self._close_source()

    def _log_failure(self, what: str, err: BaseException, then: str) -> None:
        """A camera that stays away is retried every ``reconnect_max_s`` (30 s) for as long
        as it is away, and a line per retry filled the journal of a box with a dead camera
        (two lines a minute, all day). The first failure is a warning; the retries are
        DEBUG unless the error changes (a camera that refused now asks for a password); the
        answer that ends it says how long and how many (``_log_recovery``)."""
        error = str(err)
        outage = self._outage
        if outage is None:
            self._outage = _Outage(since=time.monotonic(), failures=1, error=error)
            logger.warning("camera %s: %s (%s); %s (retries are logged once it answers "
                           "again or fails differently)", self.gate_id, what, error, then)
            return
        outage.failures += 1
        level = logging.DEBUG if error == outage.error else logging.WARNING
        outage.error = error
        logger.log(level, "camera %s: %s (%s); %s (failure %d since %.0f s)", self.gate_id,
                   what, error, then, outage.failures, time.monotonic() - outage.since)

    def _log_recovery(self) -> None:
        outage, self._outage = self._outage, None
        if outage is None:
            return
        logger.info("camera %s: %s answers again after %.0f s and %d failure(s) (last: %s)",
                    self.gate_id, self.source.name, time.monotonic() - outage.since,
                    outage.failures, outage.error)

    def _reset_backoff(self) -> None:
        self._delays = backoff_delays(self.config.reconnect_min_s, self.config.reconnect_max_s)

    def _stream(self) -> None:
        """Read and deliver frames until stopped; raises when the source fails."""
        got_frame = False
        corrupt_in_row = 0
        poll = min(0.05, 1.0 / self.config.fps)
        while not self._stop.is_set():
            try:
                image = self.source.read()
            except CorruptFrameError as err:
                self.stats.corrupt_frames += 1
                corrupt_in_row += 1
                self.stats.failed("source", f"corrupt: {err}")
                # One line for a run of them (the run's end, 25 in a row, is an outage).
                logger.log(logging.WARNING if corrupt_in_row == 1 else logging.DEBUG,
                           "camera %s: skipped a corrupt frame (%s)", self.gate_id, err)
                if corrupt_in_row >= self._max_corrupt_in_row:
                    raise CorruptFrameError(
                        f"{corrupt_in_row} corrupt frames in a row from {self.source.name}"
                    ) from err
                continue
            # Answered (a frame, or a drop folder's "nothing new"): what made it silent or
            # refuse is over. Cleared before the answer's time is set: once the watch counts
            # the camera as heard again, its error is gone too.
            self.stats.recovered("source")
            self.stats.last_answer_at = time.monotonic()
            if self._outage is not None:
                self._log_recovery()
            if image is None:
                sleep_interruptibly(self._stop, poll)
                continue
            corrupt_in_row = 0
            if not got_frame:
                got_frame = True
                # A source that delivers again is healthy: the next outage backs off afresh.
                self._reset_backoff()
            self.stats.frames_read += 1
            if not self._deliver(image):
                return

    def _deliver(self, image: np.ndarray) -> bool:
        loop = self._loop
        mailbox = self._mailbox
        if loop is None or mailbox is None:
            return False
        frame = Frame(image=image, source_id=self.gate_id, captured_at=utcnow())
        self._consumed.clear()
        try:
            loop.call_soon_threadsafe(mailbox.put, frame)
        except RuntimeError:  # the event loop closed under us: shutting down
            return False
        if not self.source.realtime:
            # Recordings and synthetic cameras: wait until this frame was taken, none skipped.
            self.stats.awaiting_analysis = True
            try:
                while not self._consumed.wait(0.2):
                    if self._stop.is_set():
                        return False
            finally:
                # The camera's silence counts again from now, when it is asked again, not
                # from its answer before the wait.
                self.stats.last_answer_at = time.monotonic()
                self.stats.awaiting_analysis = False
        return True

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:  # closing a broken source may fail too; it is released anyway
            logger.debug("camera %s: closing %s failed", self.gate_id, self.source.name,
                         exc_info=True)
