"""Checks that compare a time with "now" use the held clock (wall_clock.utcnow), as the
records they compare with are stamped by it: while the system clock reads too early (a board
without a real-time clock after a power cut) a comparison with the system's clock is off by
as much."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

import wall_clock
from api.schemas import PassIn, check_pass_window
from controllers.events import Event, EventBus
from hardware.simulated import SimulatedScreen
from services.gate_screens import GateScreenService, ScreenGate


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
