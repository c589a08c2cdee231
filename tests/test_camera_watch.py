"""The camera watch's own rules for cameras that push, on a clock the test moves: when silence
counts from, one report per outage, and reads from the worker threads that serve /healthz.

tests/api/test_camera_heartbeat.py drives the same watch through HTTP in real time."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from controllers.events import EventBus
from services.camera_watch import CameraWatch
from settings import PushCameraConfig

# Heard at least every 10 s: dark after max(30 s, 3 × 10 s) = 30 s.
CONFIG = PushCameraConfig(heartbeat_s=10, key_name="cam")
LIMIT_S = 30.0


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Alarms:
    """The part of the gate runtime the watch calls: what it raised, in order."""

    def __init__(self) -> None:
        self.raised: list[tuple[str, str | None]] = []

    async def raise_alarm(self, kind: str, message: str, *, gate_id: str | None = None,
                          once_per_gate: bool = False) -> None:
        self.raised.append((kind, gate_id))


def _watch(clock: _Clock, alarms: _Alarms, bus: EventBus) -> CameraWatch:
    return CameraWatch({}, alarms, bus, pushed={"main-in": CONFIG},  # type: ignore[arg-type]
                       clock=clock)


def test_silence_counts_from_the_start_not_from_when_the_watch_was_built() -> None:
    """Services are built, then the app starts (a slow migration, a database that answers
    late): the camera had no chance to be heard before the start."""
    clock, alarms, bus = _Clock(), _Alarms(), EventBus()
    events: list[dict[str, Any]] = []
    watch = _watch(clock, alarms, bus)
    clock.now += 600  # built 10 minutes before the start

    async def run() -> None:
        await watch.start()
        await watch.stop()  # the test looks itself, on its own clock
        clock.now += LIMIT_S - 1
        await watch.check()
        assert alarms.raised == [] and watch.health()["main-in"].up is True
        clock.now += 1
        await watch.check()
        await watch.check()  # still dark: no second report
        assert alarms.raised == [("camera_offline", "main-in")]
        assert events == [{"gate_id": "main-in", "up": False}]
        assert watch.health()["main-in"].up is False

        watch.heard("main-in", frame=False)
        assert watch.health()["main-in"].up is True
        assert events[-1] == {"gate_id": "main-in", "up": True}
        clock.now += LIMIT_S - 1
        await watch.check()
        assert len(alarms.raised) == 1 and len(events) == 2

    with bus.listening(lambda e: events.append(e.data) if e.type == "camera" else None):
        asyncio.run(run())


@pytest.fixture
def quick_thread_switches() -> Iterator[None]:
    """Threads take turns every microsecond instead of every 5 ms, so that a read in one
    thread meets a change in another within a few hundred tries."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_health_read_in_a_worker_thread_meets_a_camera_first_heard(
    quick_thread_switches: None, caplog: pytest.LogCaptureFixture
) -> None:
    """/healthz and the gate list are plain ``def`` routes: health() runs in a worker thread
    while heard() adds a camera nobody configured on the event loop."""
    caplog.set_level(logging.ERROR, logger="services.camera_watch")  # one warning per gate
    watch = _watch(_Clock(), _Alarms(), EventBus())
    failures: list[BaseException] = []
    done = threading.Event()

    def read_health() -> None:
        while not done.is_set():
            try:
                watch.health()
            except RuntimeError as err:  # dictionary changed size during iteration
                failures.append(err)
                return

    reader = threading.Thread(target=read_health)
    reader.start()
    try:
        for n in range(3000):
            watch.heard(f"gate-{n}", frame=True)
            if failures:
                break
    finally:
        done.set()
        reader.join()
    assert failures == []
    assert len(watch.health()) == 3001



def test_the_demos_cameras_join_the_one_watch(make_settings: Any, plate_recognizer: Any) -> None:
    """The demo runs its simulated cameras after build_services ran the configured ones: a
    second watch would also watch main-in's pushing camera, never hear its heartbeats (they
    reach services.cameras) and raise camera_offline for a camera that is fine."""
    from demo import SimulatedGateCamera, build_demo_workers
    from services.camera_watch import run_cameras
    from services.container import build_services
    from settings import demo_community

    community = demo_community().model_dump()
    community["gates"][0]["push_camera"] = {"heartbeat_s": 10, "key_name": "cam-main"}
    services = build_services(make_settings(community=community), recognizer=plate_recognizer)
    try:
        _, workers = build_demo_workers(services, {"main-out": SimulatedGateCamera("main-out")})
        run_cameras(services, workers)
        watches = [c for c in services.background if isinstance(c, CameraWatch)]
        assert watches == [services.cameras]
        assert services.cameras is not None
        assert list(services.cameras.workers) == ["main-out"]
        assert list(services.cameras.pushed) == ["main-in"]
        assert services.background.count(workers[0]) == 1
    finally:
        services.engine.dispose()
