"""Checks that compare a time with "now" use the held clock (wall_clock.utcnow), as the
records they compare with are stamped by it: while the system clock reads too early (a board
without a real-time clock after a power cut) a comparison with the system's clock is off by
as much."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import wall_clock
from api.schemas import PassIn, check_pass_window
from controllers.events import Event, EventBus
from hardware.registry import create_screen
from hardware.simulated import SimulatedScreen
from services.city_mqtt import CityPublisher
from services.gate_screens import GateScreenService, ScreenGate
from settings import MqttPublishConfig
from tests.hardware.rigs import free_port
from tests.hardware.test_screens import (  # noqa: F401 (device and listener: fixtures)
    SCREEN_CONFIG,
    WELCOME,
    ScreenDevice,
    broker_up,
    device,
    listener,
)


@pytest.fixture(autouse=True)
def held_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's system clock, the real one (what datetime.now reads), is a year behind
    the latest time the controller saw: the comparisons a held clock breaks are the ones
    made with it."""
    floor = datetime.now(UTC) + timedelta(days=365)
    clock = wall_clock.WallClock(floor, system=wall_clock.system_now)
    monkeypatch.setattr(wall_clock, "CLOCK", clock)
    assert clock.behind() is not None


def test_a_pass_already_over_by_the_held_clock_is_refused() -> None:
    now = wall_clock.utcnow()
    with pytest.raises(ValueError, match="already be over"):
        check_pass_window(now - timedelta(days=2), now - timedelta(days=1))
    with pytest.raises(ValueError, match="already be over"):
        PassIn.model_validate({
            "plate": "闽A12345", "host_household_id": 1,
            "valid_from": (now - timedelta(days=2)).isoformat(),
            "valid_to": (now - timedelta(hours=1)).isoformat(),
        })
    check_pass_window(now, now + timedelta(hours=2))  # one still to come is taken


async def _until(check: Callable[[], bool], what: str, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _passage(pid: int, plate: str, at: datetime) -> Event:
    return Event("passage", {
        "id": pid, "at": at.isoformat(), "gate_id": "main-in", "direction": "in",
        "plate": plate, "decision": "allow", "reason": "resident", "flags": [],
        "pass_id": None,
    })


def _screens(scenario: Callable[[SimulatedScreen, EventBus], Awaitable[None]]) -> None:
    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        sim = SimulatedScreen("main-in")
        gate = ScreenGate("main-in", "B", pedestrian=False, hold_s=5.0, timeout_s=1.0)
        service = GateScreenService([(gate, sim)], bus=bus, zone_names={"B": "B区"},
                                    free_counts=lambda: {"B": 23})
        await service.start()
        try:
            await scenario(sim, bus)
        finally:
            await service.stop()

    asyncio.run(main())


def test_the_gate_screen_tells_a_written_back_passage_by_the_held_clock() -> None:
    """A passage written back from the journal 10 minutes after its car (stamped by the held
    clock) is not shown to whoever is at the gate now; the car at the gate now is."""

    async def scenario(sim: SimulatedScreen, bus: EventBus) -> None:
        await _until(lambda: sim.shown is not None and sim.shown.lines == ("余位 23",), "idle")
        now = wall_clock.utcnow()
        bus.publish(_passage(1, "闽A11111", now - timedelta(minutes=10)))
        await asyncio.sleep(0.3)  # time enough to show it, were it taken as current
        assert all("闽A·11111" not in m.lines for m in sim.history), sim.history
        bus.publish(_passage(2, "闽A22222", now))
        await _until(lambda: sim.shown is not None and "闽A·22222" in sim.shown.lines,
                     "the car at the gate now")

    _screens(scenario)


def _by_the_held_clock(when: datetime, what: str) -> None:
    """``when`` is the held clock's now (a year past the system's), give or take the test."""
    assert abs(when - wall_clock.utcnow()) < timedelta(minutes=1), (
        f"{what} {when.isoformat()}: the system clock, not the held one")


def test_a_gate_screens_payload_time_is_the_held_clocks(
    device: ScreenDevice,  # noqa: F811
    listener: tuple[str, queue.Queue[tuple[str, dict[str, Any], int, bool]]],  # noqa: F811
) -> None:
    """The ``at`` of a message to a gate's screen, over HTTP and over MQTT: a screen that
    drops a message older than the last it showed, or shows the time, compares it with the
    passages' times, which the held clock stamps."""
    prefix, received = listener
    screens = [
        create_screen("main-in", SCREEN_CONFIG.validate_python(
            {"driver": "http", "url": f"http://127.0.0.1:{device.port}/screen"})),
        create_screen("main-in", SCREEN_CONFIG.validate_python(
            {"driver": "mqtt", "host": "127.0.0.1", "topic": f"{prefix}/{{gate_id}}"})),
    ]

    async def scenario() -> None:
        for screen in screens:
            await screen.start()
            try:
                if hasattr(screen, "conn"):
                    await screen.conn.wait_connected(5)
                await screen.show(WELCOME)
            finally:
                await screen.stop()

    asyncio.run(scenario())
    _by_the_held_clock(datetime.fromisoformat(device.bodies[0]["at"]), "HTTP screen's at")
    _topic, body, _qos, _retained = received.get(timeout=5)
    _by_the_held_clock(datetime.fromisoformat(body["at"]), "MQTT screen's at")


def test_the_city_links_since_is_the_held_clocks() -> None:
    """/healthz's ``city_mqtt.since`` (when the link came up or went down) beside the
    records' times, which the held clock stamps: created, started, up, and stopped."""
    up = CityPublisher(MqttPublishConfig(enabled=True, port=1883), "held", EventBus())
    down = CityPublisher(MqttPublishConfig(enabled=True, port=free_port()), "held", EventBus())
    _by_the_held_clock(up.status.since, "since, created")

    async def scenario() -> None:
        for publisher in (up, down):
            await publisher.start()
            _by_the_held_clock(publisher.status.since, "since, started")
        try:
            await _until(lambda: up.status.connected, "the link up", timeout=5.0)
            _by_the_held_clock(up.status.since, "since, link up")
        finally:
            for publisher in (up, down):
                await publisher.stop()
        _by_the_held_clock(up.status.since, "since, stopped")

    if not broker_up():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883 (.ci/run starts it)")
    asyncio.run(scenario())
