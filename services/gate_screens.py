"""Lane screens (车道屏) and face-terminal screens: what the person at a gate is told.

Data flows one way: a decision is recorded and drives the barrier, the event reaches the bus,
and this service, a bus subscriber like the console, turns it into a ``ScreenMessage``
(services/screen_texts.py) for the gate's screen. Nothing on the gate's path waits for a
screen: a screen that is off, hung or erroring costs its own lane a time-out, logged once
per outage, and the barrier has long moved.

Each gate has one ``ScreenLane``: it keeps the newest message meant for the screen and one
task sends them in order, one at a time, so a late answer for car 1 can never land after
car 2's message; a message superseded while an earlier one was on the wire is skipped, not
sent late. Every message carries the lane's ``seq`` as well, so a device can drop one that
arrives out of order. After a gate's ``hold_s`` the lane goes back to the idle screen (the
free spaces of the gate's zone, when known).

A space parkgate holds for an entry (``space_held``, published by services/parking.py with
the passage's id) is added to that entry's message only while the screen still shows that
very passage: two cars in a row at one gate never get each other's space.

During a database outage the screens follow the same car: a passage decided offline
(``passage_offline``) is shown from its journal id, and a barrier fault on it
(``passage_offline_updated``) replaces its message while it is still shown, as online; a
guard's open whose audit entry waits in the journal (``audit_offline``) shows 保安已放行 as
it happens. What the write-back publishes once the database answers (the stored passage, the
``audit`` row, both carrying their journal id) is never shown: it was shown live, if at all,
and the car has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controllers.events import Event, EventBus, happened_at
from errors import HardwareError
from hardware.base import GateScreen, ScreenMessage
from models.people import Household
from services import screen_texts
from task_cancel import cancel_and_wait
from wall_clock import utcnow

logger = logging.getLogger(__name__)

# A message the screen did not take is tried again this often while it is still the newest.
RETRY_S = 3.0
# A passage older than its gate's hold_s plus this is history (a journal written back after
# an outage), not a car at the gate: its screen is left alone.
LATE_PASSAGE_GRACE_S = 5.0
# The longest the screens wait for a visitor's host building from the database; past it the
# visitor is greeted without it. The events of every gate are handled one after another, so a
# database that does not answer must not hold up the next car's message at any gate.
BUILDING_WAIT_S = 0.5
# Guards' actions that let the car at the gate through (the review queue's resolutions).
GUARD_ALLOWED = ("allowed_once", "visitor_pass")


@dataclass(frozen=True, slots=True)
class ScreenGate:
    """What a lane needs to know of its gate."""

    gate_id: str
    zone_id: str | None
    pedestrian: bool
    hold_s: float
    timeout_s: float

    def __post_init__(self) -> None:
        if not self.gate_id:
            raise ValueError("ScreenGate.gate_id must not be empty")
        if self.hold_s <= 0 or self.timeout_s <= 0:
            raise ValueError(
                f"ScreenGate.hold_s and timeout_s must be > 0, got {self.hold_s}, "
                f"{self.timeout_s}"
            )


class ScreenLane:
    """One gate's screen: the newest message meant for it, sent in order by one task."""

    def __init__(
        self,
        gate: ScreenGate,
        screen: GateScreen,
        idle: Callable[[], ScreenMessage],
        changed: Callable[[str, ScreenMessage], None] | None = None,
    ) -> None:
        self.gate = gate
        self.screen = screen
        self._idle = idle
        self._changed = changed
        self._seq = 0
        self._wanted: ScreenMessage | None = None
        # The passage decided offline that the wanted message answers (it has no id yet).
        self._wanted_journal_id: str | None = None
        self._delivered = 0  # seq of the last message the screen took
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._retry_timer: asyncio.TimerHandle | None = None
        # The plate line of the passage shown now, for a barrier fault's message.
        self.plate_line: str | None = None
        self.failing = False
        self.last_error: str | None = None
        self.sent = 0
        self.failures = 0

    @property
    def wanted(self) -> ScreenMessage | None:
        """What the lane means the screen to show now (sent, or on its way)."""
        return self._wanted

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"screen-{self.gate.gate_id}")
        self.want(self._idle())

    async def stop(self) -> None:
        for timer in (self._idle_timer, self._retry_timer):
            if timer is not None:
                timer.cancel()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def want(
        self, message: ScreenMessage, plate_line: str | None = None,
        journal_id: str | None = None,
    ) -> ScreenMessage:
        """Make ``message`` the screen's next one; it goes back to idle after ``hold_s``.
        ``journal_id``: the passage decided offline it answers (its barrier may still
        fault)."""
        self._seq += 1
        message = replace(message, seq=self._seq)
        self._wanted = message
        self._wanted_journal_id = None if message.idle else journal_id
        if self._changed is not None:
            self._changed(self.gate.gate_id, message)
        if not message.idle:
            self.plate_line = plate_line
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if not message.idle:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self.gate.hold_s, self._back_to_idle, message.seq)
        self._wake.set()
        return message

    def showing_passage(self, passage_id: Any) -> ScreenMessage | None:
        """The message of that passage if it is still the one meant for the screen."""
        message = self._wanted
        if message is None or message.idle or passage_id is None:
            return None
        return message if message.passage_id == passage_id else None

    def showing_journalled(self, journal_id: Any) -> ScreenMessage | None:
        """As :meth:`showing_passage` for a passage decided offline, by its journal id."""
        message = self._wanted
        if message is None or message.idle or journal_id is None:
            return None
        return message if self._wanted_journal_id == journal_id else None

    def free_changed(self) -> None:
        """The zone's free count changed: an idle screen shows the new one."""
        message = self._wanted
        if message is not None and message.idle:
            fresh = self._idle()
            if fresh.lines != message.lines:
                self.want(fresh)

    def _back_to_idle(self, seq: int) -> None:
        self._idle_timer = None
        if self._wanted is not None and self._wanted.seq == seq:
            self.want(self._idle())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            message = self._wanted
            if message is None or message.seq <= self._delivered:
                continue
            if await self._send(message):
                self._delivered = message.seq
            elif self._wanted is message:
                # Still the newest: try again shortly (a screen rebooting, a network blip).
                self._retry_timer = asyncio.get_running_loop().call_later(
                    RETRY_S, self._wake.set
                )
            if self._wanted is not message:
                self._wake.set()  # a newer one came while this one was on the wire

    async def _send(self, message: ScreenMessage) -> bool:
        try:
            async with asyncio.timeout(self.gate.timeout_s):
                if message.idle:
                    await self.screen.clear(message)
                else:
                    await self.screen.show(message)
        except (HardwareError, TimeoutError) as err:
            self._failed(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
            return False
        except Exception as err:  # a driver's bug must not end the lane
            if not self.failing:
                logger.exception("screen at %s: sending a message failed", self.gate.gate_id)
            self._failed(repr(err), logged=True)
            return False
        self.sent += 1
        if self.failing:
            logger.info("screen at %s answers again", self.gate.gate_id)
        self.failing = False
        self.last_error = None
        return True

    def _failed(self, why: str, *, logged: bool = False) -> None:
        self.failures += 1
        self.last_error = why
        if not self.failing and not logged:
            # Once per outage: a dead screen at a busy gate would otherwise log every car.
            logger.warning("screen at %s did not take a message within %g s (%s); the gate "
                           "works on, the screen is retried", self.gate.gate_id,
                           self.gate.timeout_s, why)
        self.failing = True


class GateScreenService:
    """Follows the event bus and keeps every gate's screen telling the right thing."""

    def __init__(
        self,
        screens: list[tuple[ScreenGate, GateScreen]],
        *,
        bus: EventBus,
        sessions: sessionmaker[Session] | None = None,
        zone_names: dict[str, str] | None = None,
        free_counts: Callable[[], dict[str, int]] | None = None,
        # The clock events are stamped by (wall_clock.py): with the system's, while it read
        # too early every passage written back from the journal looked current.
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._bus = bus
        self._sessions = sessions
        self._zone_names = dict(zone_names or {})
        self._free_counts = free_counts
        self._clock = clock
        self._free: dict[str, int] = {}
        self.lanes: dict[str, ScreenLane] = {
            gate.gate_id: ScreenLane(gate, screen, self._idle_for(gate), self._announce)
            for gate, screen in screens
        }
        self._buildings: dict[int, str | None] = {}
        self._task: asyncio.Task[None] | None = None
        self._counts_task: asyncio.Task[None] | None = None
        self._subscription = contextlib.AsyncExitStack()

    def _announce(self, gate_id: str, message: ScreenMessage) -> None:
        """Tell the consoles what the gate's screen is meant to show now."""
        self._bus.publish(Event("screen", {
            "gate_id": gate_id, "lines": list(message.lines),
            "level": str(message.level) if message.level is not None else None,
        }))

    def _idle_for(self, gate: ScreenGate) -> Callable[[], ScreenMessage]:
        def idle() -> ScreenMessage:
            free = self._free.get(gate.zone_id) if gate.zone_id is not None else None
            return screen_texts.idle_message(free)

        return idle

    def shown(self, gate_id: str) -> ScreenMessage | None:
        """What the gate's screen is meant to show now (the console's gate card)."""
        lane = self.lanes.get(gate_id)
        return lane.wanted if lane is not None else None

    async def start(self) -> None:
        if not self.lanes:
            return
        await asyncio.gather(*(self._start_screen(lane) for lane in self.lanes.values()))
        # Subscribed before start() returns: a car decided right after it is not missed.
        events = await self._subscription.enter_async_context(self._bus.subscribe())
        for lane in self.lanes.values():
            lane.start()
        self._task = asyncio.create_task(self._pump(events), name="gate-screens")

    @staticmethod
    async def _start_screen(lane: ScreenLane) -> None:
        try:
            async with asyncio.timeout(lane.gate.timeout_s):
                await lane.screen.start()
        except Exception as err:  # a screen being down must not keep the gates down
            logger.warning("screen at %s did not start: %r", lane.gate.gate_id, err)

    async def stop(self) -> None:
        await cancel_and_wait(*(t for t in (self._task, self._counts_task) if t is not None))
        self._task = self._counts_task = None
        await self._subscription.aclose()
        for lane in self.lanes.values():
            await lane.stop()
            try:
                await lane.screen.stop()
            except Exception:
                logger.exception("screen at %s failed to stop", lane.gate.gate_id)

    async def _pump(self, events: asyncio.Queue[Event]) -> None:
        # Beside the events, not before them nor in start(): a database that does not answer
        # (a connect time-out) must hold up neither the controller's start nor the first cars'
        # messages; the idle screens show the counts once read.
        self._counts_task = asyncio.create_task(self._read_free_counts(),
                                                name="gate-screens-free-counts")
        while True:
            event = await events.get()
            try:
                await self.handle(event)
            except Exception:  # one bad event must not silence every screen
                logger.exception("screens: handling a %s event failed", event.type)

    async def handle(self, event: Event) -> None:
        data = event.data
        if event.type == "availability":
            self._free_changed(data)
            return
        lane = self.lanes.get(str(data.get("gate_id")))
        if event.type == "passage_updated":
            self._barrier_answered(data)
        elif lane is None:
            return
        elif event.type == "passage" and data.get("journal_id") is not None:
            # Written back from the journal: shown from passage_offline when it was decided.
            # Shown again now it would cover what came since (its barrier's fault, a guard's
            # open, the next car).
            return
        elif event.type == "passage" and self._current(lane, data):
            building = None
            if data.get("pass_id") is not None and data.get("decision") == "allow":
                building = await self._building(data.get("household_id"))
            message = screen_texts.passage_message(
                data, pedestrian=lane.gate.pedestrian, host_building=building
            )
            lane.want(message, plate_line=self._plate_line(lane, data))
        elif event.type == "passage_offline":
            journal_id = data.get("journal_id")
            lane.want(screen_texts.offline_message(data, pedestrian=lane.gate.pedestrian),
                      plate_line=self._plate_line(lane, data),
                      journal_id=journal_id if isinstance(journal_id, str) else None)
        elif event.type == "passage_offline_updated":
            self._offline_barrier_answered(lane, data)
        elif event.type == "space_held":
            self._space_held(lane, data)
        elif event.type == "audit_offline" and _guard_let_through(data):
            # The guard acted just now, the database down: its audit entry waits in the
            # journal, and is published as "audit" once written (not shown then).
            self._guard_opened(lane, data, data.get("passage_journal_id"))
        elif (event.type == "audit" and data.get("journal_id") is None
              and _guard_let_through(data) and self._current(lane, data)):
            # A live action carries no "at" and no journal id; one written back after an
            # outage was shown as audit_offline when the guard acted: that car is gone,
            # 保安已放行 now (a second time) would tell the next one.
            self._guard_opened(lane, data, None)

    @staticmethod
    def _guard_opened(lane: ScreenLane, data: dict[str, Any], journal_id: Any) -> None:
        passage_id = data.get("passage_id")
        lane.want(
            screen_texts.guard_opened_message(
                passage_id if isinstance(passage_id, int) else None
            ),
            journal_id=journal_id if isinstance(journal_id, str) else None,
        )

    async def _read_free_counts(self) -> None:
        if self._free_counts is None:
            return
        try:
            counts = await asyncio.to_thread(self._free_counts)
        except Exception as err:  # started during an outage: availability events follow
            logger.info("screens start without free-space counts: %s", err)
            return
        self._free = {**counts, **self._free}  # an availability event already heard wins
        for lane in self.lanes.values():
            lane.free_changed()

    def _current(self, lane: ScreenLane, data: dict[str, Any]) -> bool:
        """Whether a passage or a guard's action is about the car at the gate now, not one
        written back from a journal after an outage."""
        when = happened_at(data)
        if when is None:
            return True
        age = (self._clock() - when).total_seconds()
        return age < lane.gate.hold_s + LATE_PASSAGE_GRACE_S

    @staticmethod
    def _plate_line(lane: ScreenLane, passage: dict[str, Any]) -> str | None:
        if lane.gate.pedestrian:
            return None
        return screen_texts.shown_plate(passage.get("plate"))

    def _space_held(self, lane: ScreenLane, data: dict[str, Any]) -> None:
        message = lane.showing_passage(data.get("passage_id"))
        if message is None:
            return  # that car's message is gone: the screen shows the next car now
        zone = data.get("zone")
        lane.want(
            screen_texts.with_hold(
                message,
                space=str(data.get("label") or data.get("space_id")),
                zone=self._zone_names.get(zone, zone) if zone else None,
                distance_m=data.get("distance_m"),
            ),
            plate_line=lane.plate_line,
        )

    def _barrier_answered(self, data: dict[str, Any]) -> None:
        if data.get("barrier_outcome") != "fault":
            return
        for lane in self.lanes.values():
            message = lane.showing_passage(data.get("id"))
            if message is not None:
                lane.want(screen_texts.fault_message(lane.plate_line, message.passage_id),
                          plate_line=lane.plate_line)

    @staticmethod
    def _offline_barrier_answered(lane: ScreenLane, data: dict[str, Any]) -> None:
        """A passage decided offline (or a guard's open naming it) got its barrier's answer:
        a fault is told as online, while the screen still shows that passage."""
        if data.get("barrier_outcome") != "fault":
            return
        journal_id = data.get("journal_id")
        if lane.showing_journalled(journal_id) is not None:
            lane.want(screen_texts.fault_message(lane.plate_line, None),
                      plate_line=lane.plate_line, journal_id=journal_id)

    def _free_changed(self, data: dict[str, Any]) -> None:
        zones = data.get("zones")
        if not isinstance(zones, list):
            return
        for zone in zones:
            if isinstance(zone, dict) and "id" in zone and zone.get("free") is not None:
                self._free[str(zone["id"])] = int(zone["free"])
        for lane in self.lanes.values():
            lane.free_changed()

    async def _building(self, household_id: Any) -> str | None:
        """The building of a visitor's host household (cached: buildings do not move)."""
        if not isinstance(household_id, int) or self._sessions is None:
            return None
        if household_id not in self._buildings:
            try:
                async with asyncio.timeout(BUILDING_WAIT_S):
                    building = await asyncio.to_thread(self._read_building, household_id)
            except Exception as err:  # down or slow: greet without the building
                logger.debug("screens: building of household %s unknown: %s", household_id, err)
                return None
            if len(self._buildings) > 4096:
                self._buildings.clear()
            self._buildings[household_id] = building
        return self._buildings[household_id]

    def _read_building(self, household_id: int) -> str | None:
        assert self._sessions is not None
        with self._sessions() as session:
            household = session.get(Household, household_id)
            return household.building if household is not None else None

    def health(self) -> dict[str, bool]:
        """Per gate with a screen: whether it took the last message sent to it."""
        return {gate_id: not lane.failing for gate_id, lane in self.lanes.items()}


def _guard_let_through(entry: dict[str, Any]) -> bool:
    """A guard's open of the gate, or a car let through from the review queue."""
    details = entry.get("details") or {}
    if entry.get("action") == "gate.open":
        return details.get("outcome") not in ("fault", "refused", "pending")
    if entry.get("action") == "passage.resolve":
        return details.get("resolution") in GUARD_ALLOWED
    return False
