"""The in-process event bus: passages, alarms, gate states and availability fan out from here.

Subscribers (console live view, parking, display boards) each get a bounded queue; a slow
subscriber loses its oldest events rather than slowing the gate down. A listener (the city
MQTT publisher) is called on the event loop as each event is delivered, before the code that
published it goes on: it must be quick and must not lose an event to a full queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from wall_clock import utcnow

logger = logging.getLogger(__name__)

EventType = Literal[
    "passage", "passage_updated", "alarm", "gate", "availability", "audit",
    # A guard's gate action taken while the database is down (services/gate_actions.py): its
    # audit entry waits in the audit journal, published as "audit" (with the same journal_id)
    # once written. Only what the gate's screen needs: the gate, the action, its outcome and
    # the passage named; not an audit row (no id, no who or why), so nothing counts it twice.
    "audit_offline",
    # A passage decided while the database is down, shown from the journal until written.
    "passage_offline", "passage_offline_updated",
    # A gate's camera went dark or delivers again (services/camera_watch.py).
    "camera",
    # A space held for an entry just let in (services/parking.py): the passage's id, the
    # gate, the holder (plate), the space, its zone and walking distance; the gate's screen
    # tells the driver where to park (services/gate_screens.py).
    "space_held",
    # What a gate's screen is now meant to show (services/gate_screens.py): the booth's gate
    # card shows it, so the guard reads what the driver was told.
    "screen",
    # The controller is stopping: a subscriber's last event (EventBus.end_subscriptions), on
    # which a live stream ends instead of holding the stop up.
    "stopping",
]


def happened_at(data: dict[str, Any]) -> datetime | None:
    """When what an event reports happened (its data's ``at``; naive is UTC), or None when it
    carries no time (a live action). A passage or a guard's action written back from the
    journal after an outage carries its own, older time: listeners that act on the car at
    the gate now (a parking hold, the gate's screen) tell it by this."""
    at = data.get("at")
    if not at:
        return None
    when = datetime.fromisoformat(at)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    data: dict[str, Any]
    at: datetime = field(default_factory=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "at": self.at.isoformat(), "data": self.data}


class EventQueue(asyncio.Queue[Event]):
    """A subscriber's queue. ``overflowed`` is set when the bus dropped an event from it to
    make room (the subscriber fell further behind than the queue holds): a subscriber that
    must not miss a change (the console's stream) reads it and catches up another way."""

    overflowed = False
    # Set with STOPPING put in: the subscriber ends (even where it drains its queue unread).
    ended = False


STOPPING = Event("stopping", {})


class EventBus:
    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: set[EventQueue] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = False
        self.dropped = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop so publishers running in worker threads can publish safely."""
        self._loop = loop

    def publish(self, event: Event) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop:
            loop.call_soon_threadsafe(self._deliver, event)
        else:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                # One listener's fault must not keep the event from the others or the gate.
                logger.exception("event listener %r failed on a %s event", listener, event.type)
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                    queue.overflowed = True
                    self.dropped += 1
            queue.put_nowait(event)

    def end_subscriptions(self) -> None:
        """Hand every subscriber ``STOPPING`` (dropping its oldest event if its queue is full),
        and each one that subscribes later too: the live streams end on it, so a stop does
        not wait for their clients to leave. Safe from a signal handler or another thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._end)
        else:
            self._end()

    def _end(self) -> None:
        self._ended = True
        for queue in list(self._subscribers):
            _put_last(queue)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[EventQueue]:
        queue = EventQueue(self._queue_size)
        if self._ended:
            _put_last(queue)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @contextlib.contextmanager
    def listening(self, listener: Callable[[Event], None]) -> Iterator[None]:
        """Call ``listener`` with every event while the block lasts. With the bus bound to a
        loop it is called on that loop, whichever thread published."""
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def _put_last(queue: EventQueue) -> None:
    queue.ended = True
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(STOPPING)
