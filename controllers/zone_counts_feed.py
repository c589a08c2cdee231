"""The zones' counts as the boards, the gates' screens and the city feed get them: the
newest read wins.

After each change that moves a zone (a passage, a guard's 标记已离场, an office correction)
the counts are read afresh in a worker thread and published. Two such reads running at once
can finish in the other order; the older count, published last, would stay on the boards and
on the retained MQTT topic until the next change, which at night can be hours. A read begun
later sees every commit an earlier one saw, so a read that finishes after one begun later
has been published is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from controllers.events import Event, EventBus

logger = logging.getLogger(__name__)


class ZoneCountsFeed:
    """Reads the counts with ``read`` (which may raise, e.g. while the database is down) and
    publishes them on ``bus`` as an ``availability`` event, newest read last."""

    def __init__(self, read: Callable[[], dict[str, Any]], bus: EventBus) -> None:
        self._read = read
        self._bus = bus
        self._lock = threading.Lock()
        self._begun = 0  # reads begun, numbered in the order they began
        self._published = 0  # the number of the read published last

    def publish_now(self) -> bool:
        """Read and publish; False when a read begun later was published first (this one's
        counts may be older). Call it after the change is committed, from a worker thread
        (a synchronous route) or with no event loop: on the loop itself the read would
        block it (use :meth:`publish`)."""
        with self._lock:
            self._begun += 1
            number = self._begun
        view = self._read()
        with self._lock:
            if number < self._published:
                logger.debug("zone counts read %d dropped: read %d was published first",
                             number, self._published)
                return False
            self._published = number
            # Under the lock: the bus hands events from worker threads to the loop in the
            # order they are published, so the boards get them in the order read.
            self._bus.publish(Event("availability", view))
        return True

    async def publish(self) -> bool:
        """:meth:`publish_now` in a worker thread."""
        return await asyncio.to_thread(self.publish_now)
