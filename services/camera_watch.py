"""Whether each gate's camera is delivering, for the guards, /healthz and /metrics.

A camera that goes dark (cable cut, camera rebooting, a stream that opens and stops) leaves
its gate without plate reads: residents' cars wait at the barrier for the guard. The worker
reconnects by itself; this watch makes the outage known: a ``camera_offline`` alarm once a
camera's source has answered no read for its ``offline_alarm_s``, and a ``camera`` event on
the bus at each change (down, up again) for the consoles.

"Answered" is any read that did not fail, a frame or a drop folder's "nothing new": a camera
that sends a snapshot only when it sees a car is quiet, not dark, between cars.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controllers.events import Event, EventBus
from controllers.runtime import GateRuntime
from vision.camera_worker import CameraWorker

if TYPE_CHECKING:  # the container imports this module to build its cameras
    from services.container import Services

logger = logging.getLogger(__name__)

# How often cameras are looked at, at most: an outage is reported within this of its limit.
CHECK_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """One camera as /healthz and /metrics show it."""

    up: bool
    state: str  # the worker's: connecting, streaming, backing_off, ended, stopped
    silent_s: float | None  # since the source last answered; None when not watched
    frames_read: int
    failures: int  # opens refused and streams that broke, since start
    last_error: str | None


class CameraWatch:
    """A background component: looks at every camera worker every few seconds."""

    def __init__(
        self,
        workers: Mapping[str, CameraWorker],
        runtime: GateRuntime,
        bus: EventBus,
        *,
        gate_names: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = dict(workers)
        self._runtime = runtime
        self._bus = bus
        self._names = dict(gate_names or {})
        self._clock = clock
        self._down: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def health(self) -> dict[str, CameraHealth]:
        now = self._clock()
        return {gate_id: self._health(gate_id, worker, now)
                for gate_id, worker in self.workers.items()}

    def _health(self, gate_id: str, worker: CameraWorker, now: float) -> CameraHealth:
        stats = worker.stats
        silent = worker.silent_for(now)
        return CameraHealth(
            # Down from the alarm until it answers again: a recording that ended is not out.
            up=gate_id not in self._down,
            state=stats.state,
            silent_s=None if silent is None else round(silent, 1),
            frames_read=stats.frames_read,
            # Not opens: a snapshot camera "opens" without a word to the camera, so every
            # retry of a dead one would look like a reconnect that worked.
            failures=stats.open_failures + stats.stream_failures,
            last_error=stats.last_error,
        )

    async def start(self) -> None:
        if self.workers and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="camera-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        every = min(CHECK_EVERY_S, *(w.config.offline_alarm_s / 3 for w in self.workers.values()))
        while True:
            await asyncio.sleep(every)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watch must outlive one bad look; the next may work
                logger.exception("camera watch: checking the cameras failed")

    async def check(self) -> None:
        """Report each camera that went dark or came back since the last check."""
        now = self._clock()
        for gate_id, worker in self.workers.items():
            silent = worker.silent_for(now)
            dark = silent is not None and silent >= worker.config.offline_alarm_s
            if dark and gate_id not in self._down:
                self._down.add(gate_id)
                await self._went_dark(gate_id, worker, silent or 0.0)
            elif not dark and gate_id in self._down:
                self._down.discard(gate_id)
                logger.info("camera %s: delivering again", gate_id)
                self._publish(gate_id, up=True)

    async def _went_dark(self, gate_id: str, worker: CameraWorker, silent: float) -> None:
        name = self._names.get(gate_id) or gate_id
        why = worker.stats.last_error or worker.stats.state
        message = (f"camera of {name} ({gate_id}) has delivered nothing for {silent:.0f} s "
                   f"({why}); plates there are not read until it is back")
        logger.error("camera %s: %s", gate_id, message)
        self._publish(gate_id, up=False)
        # One alarm per gate while it is open: a camera that flaps does not flood the guards.
        await self._runtime.raise_alarm("camera_offline", message, gate_id=gate_id,
                                        once_per_gate=True)

    def _publish(self, gate_id: str, *, up: bool) -> None:
        self._bus.publish(Event("camera", {"gate_id": gate_id, "up": up}))


def run_cameras(services: Services, workers: list[CameraWorker]) -> None:
    """Start ``workers`` with the services, watched (``services.cameras``)."""
    if not workers:
        return
    names = {g.id: g.name for g in services.settings.community.gates if g.name}
    watch = CameraWatch({w.gate_id: w for w in workers}, services.runtime, services.bus,
                        gate_names=names)
    services.cameras = watch
    # The watch after its workers: it starts looking once they run.
    services.background.extend([*workers, watch])
