"""Free-space boards on every driver that has one, and the feed that keeps them current."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import TypeAdapter

from errors import HardwareError
from hardware.base import Display
from hardware.config import DisplayConfig
from hardware.free_space import FreeSpaceFeed
from hardware.registry import create_display
from hardware.simulated import SimulatedDisplay
from tests.hardware.rigs import RIGS, Rig, eventually, run_with_rig

DISPLAY_CONFIG: TypeAdapter[Any] = TypeAdapter(DisplayConfig)
DRIVERS = [name for name in RIGS if name not in ("gpio", "mqtt_shelly")]


def shown(rig: Rig, display: Display, zone_id: str) -> int | None:
    if isinstance(display, SimulatedDisplay):
        return display.shown.get(zone_id)
    return rig.display_value(zone_id)


async def take_down(rig: Rig, display: Display) -> None:
    if isinstance(display, SimulatedDisplay):
        display.offline = True
    else:
        await rig.link_down()


async def bring_up(rig: Rig, display: Display) -> None:
    if isinstance(display, SimulatedDisplay):
        display.offline = False
    else:
        await rig.link_up()


@pytest.mark.parametrize("driver", DRIVERS)
def test_board_shows_free_spaces_and_survives_its_peer_going_down(driver: str) -> None:
    async def scenario(rig: Rig) -> None:
        config = rig.display_config()
        assert config is not None
        display = create_display("board", DISPLAY_CONFIG.validate_python(config))
        assert isinstance(display, Display)
        await display.start()
        try:
            async def show_soon(zone: str, free: int) -> None:
                async def attempt() -> None:
                    while True:
                        try:
                            await display.show(zone, free)
                            return
                        except HardwareError:
                            await asyncio.sleep(0.1)

                await asyncio.wait_for(attempt(), 10)
                await eventually(lambda: shown(rig, display, zone) == free, what="board value")

            await show_soon("B1", 12)
            await show_soon("B2", 0)
            await take_down(rig, display)
            with pytest.raises(HardwareError):
                await display.show("B1", 11)
            await bring_up(rig, display)
            await show_soon("B1", 11)
        finally:
            await display.stop()

    run_with_rig(driver, scenario)


def test_feed_sends_only_changes_and_catches_up_after_an_outage() -> None:
    async def scenario() -> None:
        good, flaky = SimulatedDisplay("good"), SimulatedDisplay("flaky")
        feed = FreeSpaceFeed([good, flaky], timeout_s=0.2)
        await feed.start()
        await feed.update("B1", 10)
        await feed.update("B1", 10)
        assert good.history == [("B1", 10)]
        flaky.offline = True
        await feed.update("B1", 9)  # must not raise: the entry flow keeps going
        assert good.shown == {"B1": 9}
        assert flaky.shown == {"B1": 10}
        flaky.offline = False
        await feed.update("B2", 3)
        assert flaky.shown == {"B1": 9, "B2": 3}
        assert feed.wanted == {"B1": 9, "B2": 3}
        await feed.stop()

    asyncio.run(scenario())


def test_feed_does_not_wait_for_a_hung_board() -> None:
    class HungDisplay(SimulatedDisplay):
        async def show(self, zone_id: str, free: int) -> None:
            await asyncio.Event().wait()

    async def scenario() -> None:
        good = SimulatedDisplay("good")
        feed = FreeSpaceFeed([HungDisplay("hung"), good], timeout_s=0.1)
        await asyncio.wait_for(feed.update("B1", 5), 1.0)
        assert good.shown == {"B1": 5}

    asyncio.run(scenario())
