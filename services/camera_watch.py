"""Whether each gate's camera is delivering, for the guards, /healthz and /metrics.

A camera that goes dark (cable cut, camera rebooting, a stream that opens and stops) leaves
its gate without plate reads: residents' cars wait at the barrier for the guard. The worker
reconnects by itself; this watch makes the outage known: a ``camera_offline`` alarm once a
camera's source has answered no read for its ``offline_alarm_s``, and a ``camera`` event on
the bus at each change (down, up again) for the consoles.

"Answered" is any read that did not fail, a frame or a drop folder's "nothing new": a camera
that sends a snapshot only when it sees a car is quiet, not dark, between cars.

A camera that pushes its frames to the API is heard through its keep-alive (heartbeat) and
its frames: with ``push_camera.heartbeat_s`` set, silence past ``alarm_after_s`` is the same
outage. Its silence counts from the watch's start, so a restart is no outage until the camera
has had its whole limit to be heard. Without the setting it is listed, unwatched, once heard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from controllers.events import Event, EventBus
from controllers.runtime import GateRuntime
from settings import PushCameraConfig
from task_cancel import cancel_and_wait
from vision.camera_worker import CameraWorker

if TYPE_CHECKING:  # the container imports this module to build its cameras
    from services.container import Services

logger = logging.getLogger(__name__)

# How often cameras are looked at, at most: an outage is reported within this of its limit.
CHECK_EVERY_S = 5.0
# What a dark camera costs, in its alarm's message (the console's hint reads which it is).
PLATES_UNREAD = "plates there are not read"
FACES_UNREAD = "faces there are not recognised"


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """One camera as /healthz and /metrics show it."""

    up: bool | None  # None: a pushing camera nobody said how often to expect
    # read: the worker's connecting, streaming, backing_off, ended, stopped;
    # push: awaiting (not heard since start) or heard
    state: str
    silent_s: float | None  # since the camera was last heard; None when a worker is not running
    frames_read: int  # read by the worker, or pushed by the camera, since start
    failures: int  # opens refused and streams that broke, since start
    last_error: str | None
    delivery: Literal["read", "push"] = "read"
    watched: bool = True
    alarm_after_s: float | None = None  # the silence that is an outage; None when not watched
    heartbeats: int = 0


@dataclass
class PushedCamera:
    """What the watch knows of a camera that pushes to the API; lives on the event loop."""

    gate_id: str
    config: PushCameraConfig | None  # None: heard from, but not configured
    since: float  # when the watch began listening (its start), time.monotonic()
    last_heard_at: float | None = None
    frames: int = 0
    heartbeats: int = 0

    @property
    def alarm_after_s(self) -> float | None:
        return None if self.config is None else self.config.alarm_after_s

    def silent_for(self, now: float) -> float:
        return max(0.0, now - (self.last_heard_at or self.since))


class CameraWatch:
    """A background component: looks at every camera worker every few seconds."""

    def __init__(
        self,
        workers: Mapping[str, CameraWorker],
        runtime: GateRuntime,
        bus: EventBus,
        *,
        pushed: Mapping[str, PushCameraConfig] | None = None,
        gate_names: Mapping[str, str] | None = None,
        face_gates: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = dict(workers)
        self._runtime = runtime
        self._bus = bus
        self._names = dict(gate_names or {})
        # Pedestrian gates: their camera is a face terminal's, and its outage is told so.
        self._face_gates = frozenset(face_gates)
        self._clock = clock
        now = clock()
        self.pushed = {gate_id: PushedCamera(gate_id, config, since=now)
                       for gate_id, config in (pushed or {}).items()}
        self._down: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the watch is looking at cameras (it has some to watch and was started)."""
        return self._task is not None and not self._task.done()

    def heard(self, gate_id: str, *, frame: bool) -> PushedCamera:
        """A pushing camera at ``gate_id`` posted a heartbeat or (``frame``) a frame: it is
        alive, and if it was down it is up again now rather than at the next check."""
        camera = self.pushed.get(gate_id)
        if camera is None:  # a camera nobody configured: listed, not watched
            camera = PushedCamera(gate_id, None, since=self._clock())
            # A new dict, not an insert: /healthz and the gate list read health() in a worker
            # thread, and a dict that grows while it is iterated there raises.
            self.pushed = {**self.pushed, gate_id: camera}
            logger.warning("camera at %s pushes, but push_camera.heartbeat_s is not set for "
                           "the gate: nobody is told if it goes dark", gate_id)
        camera.last_heard_at = self._clock()
        if frame:
            camera.frames += 1
        else:
            camera.heartbeats += 1
        if gate_id in self._down:
            self._came_back(gate_id)
        return camera

    def health(self) -> dict[str, CameraHealth]:
        now = self._clock()
        cameras = {gate_id: self._health(gate_id, worker, now)
                   for gate_id, worker in self.workers.items()}
        pushed = self.pushed  # replaced, never changed in size (heard())
        cameras.update((gate_id, self._pushed_health(camera, now))
                       for gate_id, camera in pushed.items())
        return cameras

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
            alarm_after_s=worker.config.offline_alarm_s,
        )

    def _pushed_health(self, camera: PushedCamera, now: float) -> CameraHealth:
        limit = camera.alarm_after_s
        return CameraHealth(
            up=None if limit is None else camera.gate_id not in self._down,
            state="awaiting" if camera.last_heard_at is None else "heard",
            silent_s=round(camera.silent_for(now), 1),
            frames_read=camera.frames,
            failures=0,
            last_error=None,
            delivery="push",
            watched=limit is not None,
            alarm_after_s=limit,
            heartbeats=camera.heartbeats,
        )

    def _limits(self) -> list[float]:
        """The silence limit of every camera the watch checks."""
        limits = [w.config.offline_alarm_s for w in self.workers.values()]
        limits += [c.alarm_after_s for c in self.pushed.values() if c.alarm_after_s is not None]
        return limits

    async def start(self) -> None:
        # Silence counts from now: a pushing camera had no chance to be heard while parkgate
        # was down or starting, and must not be reported dark for it.
        now = self._clock()
        for camera in self.pushed.values():
            camera.since = now
        if self._limits() and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="camera-watch")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _loop(self) -> None:
        every = min(CHECK_EVERY_S, *(limit / 3 for limit in self._limits()))
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
            why = worker.stats.last_error or worker.stats.state
            await self._update(gate_id, dark, silent or 0.0, why)
        for gate_id, camera in list(self.pushed.items()):
            limit = camera.alarm_after_s
            if limit is None:
                continue
            silent = camera.silent_for(now)
            why = ("no heartbeat or frame pushed since parkgate started"
                   if camera.last_heard_at is None else "no heartbeat or frame pushed")
            await self._update(gate_id, silent >= limit, silent, why)

    async def _update(self, gate_id: str, dark: bool, silent: float, why: str) -> None:
        if dark and gate_id not in self._down:
            self._down.add(gate_id)
            await self._went_dark(gate_id, silent, why)
        elif not dark and gate_id in self._down:
            self._came_back(gate_id)

    def _came_back(self, gate_id: str) -> None:
        self._down.discard(gate_id)
        logger.info("camera %s: delivering again", gate_id)
        self._publish(gate_id, up=True)

    async def _went_dark(self, gate_id: str, silent: float, why: str) -> None:
        name = self._names.get(gate_id) or gate_id
        unread = FACES_UNREAD if gate_id in self._face_gates else PLATES_UNREAD
        message = (f"camera of {name} ({gate_id}) has delivered nothing for {silent:.0f} s "
                   f"({why}); {unread} until it is back")
        logger.error("camera %s: %s", gate_id, message)
        self._publish(gate_id, up=False)
        # One alarm per gate while it is open: a camera that flaps does not flood the guards.
        await self._runtime.raise_alarm("camera_offline", message, gate_id=gate_id,
                                        once_per_gate=True)

    def _publish(self, gate_id: str, *, up: bool) -> None:
        self._bus.publish(Event("camera", {"gate_id": gate_id, "up": up}))


def run_cameras(services: Services, workers: list[CameraWorker]) -> None:
    """Start ``workers`` with the services, watched (``services.cameras``) with the cameras
    that push. The watch is there without either: a camera that pushes unannounced is listed.

    Called again before the services start (the demo adds its simulated cameras to those
    build_services ran), the new watch takes over the first one's workers and its place: a
    second watch would also watch the pushing cameras, never hear them (heartbeats reach
    ``services.cameras``) and call each of them dark."""
    watched: dict[str, CameraWorker] = {}
    if services.cameras is not None:
        services.background.remove(services.cameras)
        watched.update(services.cameras.workers)  # already in services.background
    watched.update((w.gate_id, w) for w in workers)
    gates = services.settings.community.gates
    names = {g.id: g.name for g in gates if g.name}
    pushed = {g.id: g.push_camera for g in gates if g.push_camera is not None}
    watch = CameraWatch(watched, services.runtime, services.bus, pushed=pushed,
                        gate_names=names,
                        face_gates=[g.id for g in gates if g.kind == "pedestrian"])
    services.cameras = watch
    # The watch after its workers: it starts looking once they run.
    services.background.extend([*workers, watch])
