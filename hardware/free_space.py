"""Keeps free-space boards (余位屏) in step with zone availability.

The occupancy logic calls ``update(zone_id, free)`` whenever it recomputes a zone; only
changes go to the boards, all boards are written concurrently, and a board that is off
or hung never delays the others or the caller beyond its time-out. A board that missed a
value gets it again on the next ``update`` or ``refresh``.
"""

from __future__ import annotations

import asyncio
import logging

from errors import HardwareError
from hardware.base import Display

logger = logging.getLogger(__name__)


class FreeSpaceFeed:
    def __init__(self, displays: list[Display], timeout_s: float = 2.0) -> None:
        self.displays = displays
        self.timeout_s = timeout_s
        self._wanted: dict[str, int] = {}
        # What each board is known to show; missing means "unknown, send again".
        self._shown: list[dict[str, int]] = [{} for _ in displays]

    @property
    def wanted(self) -> dict[str, int]:
        return dict(self._wanted)

    async def start(self) -> None:
        for display in self.displays:
            try:
                await display.start()
            except HardwareError as err:
                logger.error("free-space board %r did not start: %s", display, err)

    async def stop(self) -> None:
        for display in self.displays:
            await display.stop()

    async def update(self, zone_id: str, free: int) -> None:
        self._wanted[zone_id] = free
        await self.refresh()

    async def refresh(self) -> None:
        """Send every value a board does not show yet."""
        await asyncio.gather(*(self._sync(i) for i in range(len(self.displays))))

    async def _sync(self, index: int) -> None:
        display, shown = self.displays[index], self._shown[index]
        for zone_id, free in list(self._wanted.items()):
            if shown.get(zone_id) == free:
                continue
            try:
                async with asyncio.timeout(self.timeout_s):
                    await display.show(zone_id, free)
            except (HardwareError, TimeoutError) as err:
                shown.pop(zone_id, None)
                logger.warning("free-space board %r: zone %s not updated: %r",
                               display, zone_id, err)
                return  # the board is unwell; try the rest on the next refresh
            shown[zone_id] = free
