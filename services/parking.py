"""Parking spaces in the running product: sensors, bay cameras, guidance holds, boards, overstay.

``ParkingService`` is a background component (``start``/``stop`` from the FastAPI lifespan)
that owns the pure ``SpaceBoard`` (controllers/spaces.py) and ``HoldBook``
(controllers/guidance.py) and feeds them:

- **Sensors** publish JSON to MQTT (schema in docs/parking.md); a paho network thread hands
  each payload to the board (``services/space_sensors.py``; the built-in demo gets a
  simulated car park through the same path). Malformed payloads, unknown spaces, readings
  from the future or out of order, and payloads whose topic names another space are counted
  and logged and never change a space.
- **Bay cameras** (only when configured) run one thread each: frame → ``BayMonitor`` →
  camera readings.
- **Boards** (余位屏) are re-sent a zone's free count when the bus says availability changed,
  and periodically, so a board that rebooted catches up.
- **Guidance holds**: an allowed entry at an ``in`` gate holds the best space near the
  household's building for a few minutes, so two cars entering together are sent apart.
  With a ``HoldStore`` they are kept in the database (``services/guidance_holds.py``) and
  taken back on start (after a start during an outage, once the database answers), so a
  restart does not send a second car to a held space.
- **Overstay**: visitor cars still inside after their pass ended raise one ``overstay`` alarm.

Board state is touched from the event loop, the MQTT thread, camera threads and request
threads, so it sits behind one lock; the pure objects themselves are not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controllers.events import Event, EventBus, happened_at
from controllers.guidance import GuidancePolicy, Hold, HoldBook, Recommendation, recommend
from controllers.ports import HoldStore
from controllers.spaces import (
    CameraReading,
    Ingest,
    SpaceBoard,
    SpaceKind,
    SpaceState,
    parse_sensor_payload,
)
from errors import InvalidInputError, NotFoundError, StoreUnavailableError
from hardware.base import Display
from hardware.registry import create_display
from models.base import utcnow
from models.db import outage_as_unavailable
from models.people import Household, Resident
from services.assigned_spaces import AssignedSpace, assigned_spaces, owners_gone
from services.availability_cache import (
    AvailabilityCache,
    CachedBody,
    TokenBucketLimiter,
    make_etag,
)
from services.bay_cameras import BayCameraWorker
from services.guidance_holds import HoldKeeper
from services.overstay import raise_overstay_alarms
from services.parking_config import (
    DisplayBoardConfig,
    ParkingConfig,
    resolve_spaces,
    uses_builtin_demo,
)
from services.space_sensors import MqttSpaceSensors, SimulatedSpaceSensors, SpaceSensorFeed
from task_cancel import cancel_and_wait
from vision.space_config import build_monitor

logger = logging.getLogger(__name__)

SPACES_MAX_AGE_S = 1.0  # space states age with time (staleness), not only on events


def _log_rejection(kind: str, count: int, detail: str) -> None:
    # A broken sensor may publish every second: log the first few, then every 100th.
    if count <= 5 or count % 100 == 0:
        logger.warning("space reading rejected (%s, %d so far): %s", kind, count, detail)


def topic_space(topic_filter: str, topic: str) -> str | None:
    """The space id in ``topic`` at the filter's single ``+`` level, if it has exactly one."""
    levels = topic_filter.split("/")
    if levels.count("+") != 1:
        return None
    parts = topic.split("/")
    index = levels.index("+")
    return parts[index] if len(parts) == len(levels) else None


class ParkingService:
    def __init__(
        self,
        config: ParkingConfig,
        *,
        community: str,
        zone_ids: Iterable[str],
        sessions: sessionmaker[Session],
        bus: EventBus,
        explicit: bool = True,
        clock: Callable[[], datetime] = utcnow,
        hold_store: HoldStore | None = None,
    ) -> None:
        self.config = config
        self.community = community
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        records = resolve_spaces(
            config, set(zone_ids), explicit=explicit, community=community
        )
        self.board = SpaceBoard(records, config.staleness)
        self.holds = HoldBook(timedelta(minutes=config.hold_minutes))
        self._hold_keeper = (
            HoldKeeper(hold_store, self._active_holds) if hold_store is not None else None
        )
        self.policy = GuidancePolicy(zone_weight_m=config.zone_weight_m)
        # Availability streams wait on this; it carries no data, only "look again".
        self.changes = EventBus(queue_size=8)
        self._running = False
        self.zones_cache = AvailabilityCache(sessions, on_commit=self._zones_committed)
        limit = config.rate_limit
        self.limiter = (
            TokenBucketLimiter(limit.rate_per_s, limit.burst, max_clients=limit.max_clients)
            if limit.enabled
            else None
        )
        self.streams = 0
        self._lock = threading.RLock()
        self._space_generation = 0
        self._spaces_entry: tuple[int, float, CachedBody] | None = None
        self._assigned: dict[str, list[str]] = {}
        for rec in records:
            if rec.assigned_to:
                self._assigned.setdefault(rec.assigned_to, []).append(rec.id)
        self.topic = config.sensors.topic.replace("{community}", community)
        self.topic_mismatch = 0
        self.sensor_messages = 0
        # Spaces whose sensor last reported a battery at or below staleness.low_battery_pct:
        # said once when it goes low and once when a reading above it follows (replaced).
        self._low_battery: set[str] = set()
        # Build camera monitors now: a missing model file is a configuration error at start-up.
        self._stop = threading.Event()
        self._cameras = [
            BayCameraWorker(c, build_monitor(c), self.apply_camera_readings, clock, self._stop)
            for c in config.cameras
        ]
        self._displays: list[tuple[DisplayBoardConfig, Display]] = [
            (d, create_display(d.id, d.display)) for d in config.displays
        ]
        self._shown: dict[tuple[str, str], int] = {}
        self._feeds: list[SpaceSensorFeed] = []
        if config.sensors.enabled:
            self._feeds.append(MqttSpaceSensors(config.sensors, self.topic, self.ingest_sensor))
        simulate = config.sensors.simulate
        if simulate is None:
            simulate = uses_builtin_demo(community, explicit=explicit)
        if simulate:
            self._feeds.append(
                SimulatedSpaceSensors(list(self.board.spaces), self.topic, self.ingest_sensor)
            )
        self._tasks: list[asyncio.Task[None]] = []
        self._threads: list[threading.Thread] = []
        self.auto_holds = 0
        self.overstay_alarms = 0
        self._overstay_waiting = False  # the database was down at the last check

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.changes.bind(asyncio.get_running_loop())
        self._running = True
        self._stop.clear()
        if self._hold_keeper is not None:
            # Before the sensors start: a car already in a restored space releases it.
            await asyncio.to_thread(self._restore_holds)
            self._hold_keeper.start()
        for board, display in self._displays:
            try:
                await display.start()
            except Exception:  # a board being down must not keep parking down
                logger.exception("display board %s failed to start", board.id)
        for feed in self._feeds:
            await feed.start()
        for camera in self._cameras:
            thread = threading.Thread(
                target=camera.run, name=f"bays-{camera.config.id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._tasks = [
            asyncio.create_task(self._pump(), name="parking-pump"),
            asyncio.create_task(self._overstay_loop(), name="parking-overstay"),
            asyncio.create_task(self._display_refresh_loop(), name="parking-displays"),
            asyncio.create_task(self._report_owners_gone(), name="parking-owners"),
        ]

    async def stop(self) -> None:
        self._running = False
        self._stop.set()
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()
        for feed in reversed(self._feeds):
            await feed.stop()
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 10.0)
        self._threads.clear()
        for board, display in self._displays:
            try:
                await display.stop()
            except Exception:
                logger.exception("display board %s failed to stop", board.id)
        if self._hold_keeper is not None:
            await asyncio.to_thread(self._hold_keeper.stop)
        # zones_cache keeps its session hooks: a stopped service may be started again.

    # ---- sensors ---------------------------------------------------------------------------

    def ingest_sensor(self, payload: bytes, topic: str | None = None) -> Ingest | str:
        """Offer one sensor payload; returns the board's outcome or ``"topic_mismatch"``."""
        now = self._clock()
        self.sensor_messages += 1
        try:
            reading = parse_sensor_payload(payload)
        except InvalidInputError as err:
            with self._lock:
                outcome = self.board.ingest_sensor_payload(payload, now)  # counts it
                count = self.board.rejected[outcome]
            _log_rejection(str(outcome), count, f"{err} (topic {topic})")
            return outcome
        expected = topic_space(self.topic, topic) if topic is not None else None
        if expected is not None and expected != reading.space_id:
            self.topic_mismatch += 1
            _log_rejection(
                "topic_mismatch", self.topic_mismatch,
                f"topic {topic} carries space {reading.space_id!r}",
            )
            return "topic_mismatch"
        with self._lock:
            before = self._state(reading.space_id, now)
            outcome = self.board.apply_sensor(reading, now)
            after = self._state(reading.space_id, now)
            # A car arrived in the space: whoever held it parked there or elsewhere.
            released = (
                outcome is Ingest.ACCEPTED
                and reading.occupied
                and self.holds.release_space(reading.space_id) is not None
            )
            if released:
                before = None  # the "held" flag changed even if the state did not
            count = self.board.rejected[outcome]
            battery_news = (
                self._battery_changed(reading.space_id, reading.battery)
                if outcome is Ingest.ACCEPTED
                else None
            )
        if released:
            self._holds_changed()
        if outcome is not Ingest.ACCEPTED:
            _log_rejection(str(outcome), count, f"space {reading.space_id!r} (topic {topic})")
        elif before != after:
            self._spaces_changed()
        if battery_news == "low":
            logger.warning(
                "space sensor %s reports its battery at %d%% (staleness.low_battery_pct %d): "
                "replace it before it goes silent and the space shows as unknown",
                reading.space_id, reading.battery, self.board.staleness.low_battery_pct,
            )
        elif battery_news == "recovered":
            logger.info("space sensor %s reports its battery at %d%% again (replaced)",
                        reading.space_id, reading.battery)
        return outcome

    def _battery_changed(self, space_id: str, battery: int | None) -> str | None:
        """"low" when an accepted reading first reports the battery at or below the
        threshold, "recovered" when one above it follows; None otherwise (no battery sent,
        or nothing new). Called under the lock."""
        if battery is None:
            return None
        low = battery <= self.board.staleness.low_battery_pct
        if low and space_id not in self._low_battery:
            self._low_battery.add(space_id)
            return "low"
        if not low and space_id in self._low_battery:
            self._low_battery.discard(space_id)
            return "recovered"
        return None

    def _state(self, space_id: str, now: datetime) -> SpaceState | None:
        if space_id not in self.board.spaces:
            return None
        return self.board.status(space_id, now).state

    # ---- cameras ---------------------------------------------------------------------------

    def apply_camera_readings(self, readings: Iterable[CameraReading]) -> int:
        """Apply one frame's readings; returns how many spaces changed state."""
        now = self._clock()
        changed = 0
        released = False
        with self._lock:
            for reading in readings:
                before = self._state(reading.space_id, now)
                outcome = self.board.apply_camera(reading, now)
                if outcome is not Ingest.ACCEPTED:
                    _log_rejection(str(outcome), self.board.rejected[outcome],
                                   f"camera {reading.camera_id} space {reading.space_id!r}")
                elif self._state(reading.space_id, now) != before:
                    changed += 1
                    if reading.occupied and self.holds.release_space(reading.space_id) is not None:
                        released = True
        if released:
            self._holds_changed()
        if changed:
            self._spaces_changed()
        return changed

    # ---- snapshots for the API -------------------------------------------------------------

    def _zones_committed(self) -> None:
        """A zone's count was committed (any thread): streams look again.

        The bus's availability event may come before the commit (a correction announces it
        from inside its transaction), so a stream woken by it alone could keep the old count
        until the next change or heartbeat."""
        if not self._running:
            return  # no streams, and the loop they ran on may be closed
        with contextlib.suppress(RuntimeError):  # the loop closed while stopping
            self.changes.publish(Event("availability", {"what": "zones"}))

    def _spaces_changed(self) -> None:
        with self._lock:
            self._space_generation += 1
        self.changes.publish(Event("availability", {"what": "spaces"}))

    def space_row(self, space_id: str) -> dict[str, Any]:
        """One space as ``spaces_snapshot`` lists it; ``NotFoundError`` for an unknown id and
        for a space with an owner (``assigned``, or any kind with ``assigned_to``; private: the
        same answer, so its id tells nothing)."""
        for row in self.spaces_snapshot().data["spaces"]:
            if row["id"] == space_id:
                return dict(row)
        raise NotFoundError(f"space {space_id!r} not found")

    def spaces_snapshot(self, monotonic: Callable[[], float] = time.monotonic) -> CachedBody:
        """Every space's state as a ready JSON body with its ETag (rebuilt ≤ once a second)."""
        now_m = monotonic()
        with self._lock:
            entry = self._spaces_entry
            if (
                entry is not None
                and entry[0] == self._space_generation
                and now_m - entry[1] < SPACES_MAX_AGE_S
            ):
                return entry[2]
            now = self._clock()
            rows = []
            for rec in self.board.spaces.values():
                if rec.kind is SpaceKind.ASSIGNED or rec.assigned_to is not None:
                    # Whether a household's own space is taken says who is home. An owner
                    # makes it theirs whatever its kind (guidance keeps it for them): a CSV
                    # row with the kind left blank is `standard` with an `assigned_to`.
                    continue
                st = self.board.status(rec.id, now)
                rows.append({
                    "id": rec.id,
                    "label": rec.label or None,  # a space without one: null, not ""
                    "zone": rec.zone,
                    "kind": str(rec.kind),
                    "state": str(st.state),
                    "source": str(st.source),
                    "since": st.at.isoformat() if st.at else None,
                    "conflict": st.conflict,
                    "held": self.holds.holder_of(rec.id, now) is not None,
                })
            # Totals of the listed spaces only: an assigned space counted in its zone's
            # `occupied` would tell who is home as plainly as its own row.
            zones = {
                z: {"spaces": 0, "free": 0, "occupied": 0, "unknown": 0}
                for z in sorted({rec.zone for rec in self.board.spaces.values()})
            }
            for row in rows:
                totals = zones[str(row["zone"])]
                totals["spaces"] += 1
                totals[str(row["state"])] += 1
            data = {"spaces": rows, "zones": zones}
            body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
            # The ETag covers the content only, so a rebuild with nothing changed still matches.
            cached = CachedBody(body, make_etag(body), data)
            self._spaces_entry = (self._space_generation, now_m, cached)
            return cached

    # ---- guidance --------------------------------------------------------------------------

    def assigned_space(self, resident_id: int | None, household_id: int | None) -> str | None:
        """The resident's (else the household's) own space, preferring one not occupied."""
        keys = []
        if resident_id is not None:
            keys.append(f"resident:{resident_id}")
        if household_id is not None:
            keys.append(f"household:{household_id}")
        candidates = [sid for key in keys for sid in self._assigned.get(key, [])]
        if not candidates:
            return None
        now = self._clock()
        with self._lock:
            for sid in candidates:
                if self.board.status(sid, now).state is not SpaceState.OCCUPIED:
                    return sid
        return candidates[0]

    def spaces_of(self, keys: Collection[str]) -> tuple[AssignedSpace, ...]:
        """The configured spaces assigned to one of ``keys`` (``household:12``, …)."""
        return assigned_spaces(self.board.spaces.values(), keys, self.config)

    def owners_gone(self) -> tuple[AssignedSpace, ...]:
        """Spaces assigned to a household or resident not on file (``StoreUnavailableError``
        while the database cannot be reached)."""
        with outage_as_unavailable(), self._sessions() as session:
            return owners_gone(session, list(self.board.spaces.values()), self.config)

    async def _report_owners_gone(self) -> None:
        """Once per start, one WARNING naming the spaces whose owner is gone (a move-out or a
        deleted flat not followed by the configuration): they stay reserved for nobody until
        the office re-points them. Started during an outage, it asks again until it can."""
        while True:
            try:
                gone = await asyncio.to_thread(self.owners_gone)
            except StoreUnavailableError:
                await asyncio.sleep(self.config.overstay_check_s)
                continue
            except Exception:  # a bug here must not go unseen, nor stop parking
                logger.exception("parking: checking the assigned spaces' owners failed")
                return
            if gone:
                logger.warning(
                    "parking: %d assigned space(s) name a household or resident no longer on "
                    "file (moved out or deleted): %s; nobody is sent to them until assigned_to "
                    "names the new owner (docs/parking.md)", len(gone),
                    ", ".join(f"{s.space_id} (zone {s.zone}, {s.assigned_to}, in "
                              f"{s.configured_in})" for s in gone))
            return

    def known_buildings(self) -> set[str]:
        return {b for rec in self.board.spaces.values() for b in rec.distances_m}

    def recommend(
        self,
        *,
        building: str,
        needs: Iterable[SpaceKind] = (),
        assigned_space: str | None = None,
        holder: str | None = None,
        hold: bool = False,
    ) -> tuple[Recommendation | None, Hold | None]:
        """Best space for one driver; with ``hold`` it is held for ``holder`` atomically."""
        if hold and not holder:
            raise InvalidInputError("a hold needs a holder (e.g. the plate)")
        now = self._clock()
        with self._lock:
            rec = recommend(
                self.board.views(now),
                building=building,
                now=now,
                needs=tuple(needs),
                assigned_space=assigned_space,
                holds=self.holds.active(now),
                holder=holder,
                policy=self.policy,
            )
            placed: Hold | None = None
            if rec is not None and hold and holder:
                placed = self.holds.hold(rec.space_id, holder, now)
        if placed is not None:
            self._holds_changed()
            self._spaces_changed()
        return rec, placed

    def hold_space(self, space_id: str, holder: str) -> Hold:
        """Hold one named space (``NotFoundError``; ``ConflictError`` if it is occupied or
        another car holds it)."""
        now = self._clock()
        with self._lock:
            if space_id not in self.board.spaces:
                raise NotFoundError(f"space {space_id!r} not found")
            placed = self.holds.hold_space(self.board.view(space_id, now), holder, now)
        self._holds_changed()
        self._spaces_changed()
        return placed

    def release(self, holder: str) -> Hold | None:
        with self._lock:
            released = self.holds.release(holder)
        if released is not None:
            self._holds_changed()
            self._spaces_changed()
        return released

    def _active_holds(self) -> tuple[Hold, ...]:
        now = self._clock()
        with self._lock:
            return self.holds.active(now)

    def _holds_changed(self) -> None:
        if self._hold_keeper is not None:
            self._hold_keeper.changed()

    def _restore_holds(self) -> None:
        """Take back the holds the last run stored: now, or when the database is down, in the
        keeper's writer once it answers (and before it writes)."""
        assert self._hold_keeper is not None
        with self._lock:
            self.holds.expect_restore()  # until then, cars and spaces released are remembered
        self._hold_keeper.restore(self._take_back_holds)

    def _take_back_holds(self, stored: list[Hold]) -> int:
        """Merge stored holds into the book (any thread); returns how many were taken back.

        Not those on spaces this configuration no longer has or that a car is seen in; the
        book also skips cars and spaces released since the start (they parked or left)."""
        now = self._clock()
        with self._lock:
            usable = [
                h for h in stored
                if h.space_id in self.board.spaces
                and self.board.status(h.space_id, now).state is not SpaceState.OCCUPIED
            ]
            restored = self.holds.restore(usable, now)
        if restored:
            self._spaces_changed()
        return len(restored)

    def fallback_zone(self) -> dict[str, Any] | None:
        """"Park anywhere in zone X": the zone with most free spaces by gate counting."""
        zones = self.zones_cache.snapshot().data["zones"]
        best = max(zones, key=lambda z: z["free"], default=None)
        if best is None or best["free"] <= 0:
            return None
        return {"zone": best["id"], "name": best["name"], "free": best["free"]}

    def _still_arriving(self, passage: dict[str, Any]) -> bool:
        """Whether a car let in at the passage's time may still be looking for a space.

        A passage written from the offline journal when the database came back is published
        minutes after the car went in: a hold for it would only keep a space from the next
        driver (and log a line per replayed entry)."""
        entered = happened_at(passage)
        return entered is None or self._clock() - entered < self.holds.ttl

    def _entry_hold(self, passage: dict[str, Any]) -> None:
        """Hold the best space for a car just allowed in (runs in a worker thread)."""
        holder = passage.get("matched_plate") or passage.get("plate")
        household_id = passage.get("household_id")
        if not holder or household_id is None:
            return
        with self._sessions() as session:
            household = session.get(Household, household_id)
            building = household.building if household is not None else None
        if building is None:
            return
        visitor = passage.get("pass_id") is not None
        resident_id = passage.get("resident_id")
        assigned = None if visitor else self.assigned_space(resident_id, household_id)
        rec, placed = self.recommend(
            building=building,
            needs=(SpaceKind.VISITOR,) if visitor else (),
            assigned_space=assigned,
            holder=holder,
            hold=True,
        )
        if placed is not None:
            self.auto_holds += 1
            logger.info(
                "held space %s for an entry to building %s until %s",
                placed.space_id, building, placed.until.isoformat(),
                extra={"passage_id": passage.get("id"), "reasons": rec.reasons if rec else ()},
            )
            self._bus.publish(Event("space_held", self._held_view(passage, placed, rec)))

    def _held_view(
        self, passage: dict[str, Any], placed: Hold, rec: Recommendation | None
    ) -> dict[str, Any]:
        """What the bus says of a hold made for an entry: tied to its passage by id, so the
        gate's screen shows it to that car and not to the next one."""
        record = self.board.spaces.get(placed.space_id)
        return {
            "passage_id": passage.get("id"),
            "gate_id": passage.get("gate_id"),
            "holder": placed.holder,
            "space_id": placed.space_id,
            "label": (record.label if record is not None else "") or placed.space_id,
            "zone": record.zone if record is not None else None,
            "distance_m": (
                rec.distance_m if rec is not None and rec.space_id == placed.space_id else None
            ),
            "until": placed.until.isoformat(),
        }

    def resident_building(self, resident_id: int) -> tuple[str, int]:
        """(building, household id) of a resident; ``NotFoundError`` if unknown."""
        with self._sessions() as session:
            resident = session.get(Resident, resident_id)
            household = session.get(Household, resident.household_id) if resident else None
            if resident is None or household is None:
                raise NotFoundError(f"resident {resident_id} not found")
            return household.building, household.id

    # ---- bus: boards, holds, streams -------------------------------------------------------

    async def _pump(self) -> None:
        async with self._bus.subscribe() as queue:
            try:
                await self._update_displays()
            except StoreUnavailableError as err:
                # Started during an outage: the boards get their counts with the availability
                # published once the database answers. Letting this end the pump would stop
                # boards, holds and the availability streams for good.
                logger.warning("free-space boards wait for the database: %s", err)
            while True:
                event = await queue.get()
                try:
                    await self._handle(event)
                except Exception:  # one bad event must not stop boards and holds
                    logger.exception("parking: handling a %s event failed", event.type)

    async def _handle(self, event: Event) -> None:
        if event.type == "availability":
            self.zones_cache.invalidate()
            self.changes.publish(Event("availability", {"what": "zones"}))
            await self._update_displays(event.data.get("zones"))
        elif event.type == "passage" and event.data.get("decision") == "allow":
            if event.data.get("direction") == "in" and self.config.auto_hold:
                if self._still_arriving(event.data):
                    await asyncio.to_thread(self._entry_hold, event.data)
            elif event.data.get("direction") == "out":
                holder = event.data.get("matched_plate") or event.data.get("plate")
                if holder:
                    self.release(holder)
        elif (
            event.type == "passage_updated"
            and event.data.get("admission") == "undone"
            and event.data.get("direction") == "in"
        ):
            # The barrier did not open: the car is not coming to the space held for it.
            holder = event.data.get("matched_plate") or event.data.get("plate")
            if holder:
                self.release(holder)

    async def _update_displays(
        self, zones: list[dict[str, Any]] | None = None, *, force: bool = False
    ) -> None:
        if not self._displays:
            return
        if zones is None:
            zones = (await asyncio.to_thread(self.zones_cache.snapshot)).data["zones"]
        free = {z["id"]: int(z["free"]) for z in zones}
        for board, display in self._displays:
            for zone_id in board.zones:
                value = free.get(zone_id)
                key = (board.id, zone_id)
                if value is None or (not force and self._shown.get(key) == value):
                    continue
                try:
                    await display.show(zone_id, value)
                except Exception as err:  # HardwareError and driver bugs alike: retry later
                    self._shown.pop(key, None)
                    logger.warning("display board %s zone %s: %s", board.id, zone_id, err)
                else:
                    self._shown[key] = value

    async def _display_refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.display_refresh_s)
            if self._displays:
                await self._update_displays(force=True)

    # ---- overstay --------------------------------------------------------------------------

    async def _overstay_loop(self) -> None:
        while True:
            await self._overstay_once()
            await asyncio.sleep(self.config.overstay_check_s)

    async def _overstay_once(self) -> None:
        try:
            for alarm in await asyncio.to_thread(self.check_overstays):
                self._bus.publish(Event("alarm", alarm))
            self._overstay_waiting = False
        except StoreUnavailableError as err:
            # Once per outage, not a traceback a minute: the first check after it catches up.
            if not self._overstay_waiting:
                logger.warning("overstay check waits for the database: %s", err)
            self._overstay_waiting = True
        except Exception:
            logger.exception("overstay check failed")

    def check_overstays(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Raise one ``overstay`` alarm per visitor car inside after its pass ended
        (``StoreUnavailableError`` while the database cannot be reached)."""
        with outage_as_unavailable():
            raised = raise_overstay_alarms(self._sessions, now or self._clock())
        self.overstay_alarms += len(raised)
        for alarm in raised:
            logger.warning("%s", alarm["message"], extra={"alarm_id": alarm["id"]})
        return raised

    @property
    def boards(self) -> dict[str, Display]:
        """The free-space boards by id (read-only view for the console and tests)."""
        return {board.id: display for board, display in self._displays}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            rejected = Counter({str(k): v for k, v in self.board.rejected.items()})
            return {
                "spaces": len(self.board.spaces),
                "sensor_messages": self.sensor_messages,
                "accepted": self.board.accepted,
                "rejected": dict(rejected, topic_mismatch=self.topic_mismatch),
                "auto_holds": self.auto_holds,
                "overstay_alarms": self.overstay_alarms,
            }

