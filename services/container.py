"""The composition root's product: every long-lived service, built from the settings.

Nothing heavy happens at import time; ``build_services`` loads models and opens the database,
``start``/``stop`` (called from the FastAPI lifespan) bring drivers and workers up and down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import Event, EventBus
from controllers.offline import OfflineAccess
from controllers.passage_rows import ALARM_MESSAGE_LIMIT, error_line
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction
from errors import DatabaseStartError, StoreUnavailableError
from hardware.base import Barrier, BarrierStatus
from hardware.registry import (
    SafetyEvent,
    SafetyEventKind,
    SafetySupervisor,
    create_barrier,
    create_input,
    create_screen,
)
from models.access_store import SqlAccessStore
from models.db import empty_write_ahead_log, make_session_factory, outage_as_unavailable
from models.holds import SqlHoldStore
from plate_privacy import log_full_plates
from services.access_signal import AccessSignalWatch
from services.audit_journal import LOGIN_PREFIX, FileAuditJournal, write_back
from services.camera_watch import CameraWatch, run_cameras
from services.city_mqtt import CityPublisher
from services.city_spool import open_city_spool
from services.clock_watch import ClockWatch, load_clock_floor
from services.controller_id import controller_id
from services.database_lock import DatabaseLock
from services.database_start import data_dir_history, open_database, prepare_database
from services.disk_space import DiskSpace
from services.face_gate import FaceGateService
from services.faces import FaceService
from services.frames import FrameProcessor
from services.gate_screens import GateScreenService, ScreenGate
from services.known_staff import (
    KnownAccount,
    LastSeenActive,
    active_staff,
    open_known_staff,
)
from services.loop_watch import LoopWatch
from services.metrics import Metrics
from services.offline_credentials import OfflineCredentials
from services.offline_snapshot import FileAccessSnapshot
from services.parking import ParkingService
from services.passage_journal import FilePassageJournal
from services.passage_retention import forget_old_passages
from services.push_slots import PushSlots
from services.session_ends import recent_logouts
from services.snapshots import SnapshotStore
from services.storage_watch import StorageWatch, snapshots_in_use
from services.tokens import EndedSessions, TokenSigner
from settings import Settings
from task_cancel import cancel_and_wait
from vision.face_matcher import FaceMatcher
from vision.face_pipeline import FacePipeline
from vision.faces import FaceEngine
from vision.liveness import LivenessChecker
from vision.plate_recognizer import PlateRecognizer, create_plate_recognizer
from wall_clock import utcnow

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus
    store: SqlAccessStore
    runtime: GateRuntime
    barriers: dict[str, Barrier]
    frames: FrameProcessor
    snapshots: SnapshotStore
    signer: TokenSigner
    recognizer: PlateRecognizer
    parking: ParkingService | None = None
    faces: FaceService | None = None
    face_gate: FaceGateService | None = None
    safety: SafetySupervisor | None = None
    # The city platform's MQTT link (None when off), for /healthz.
    city: CityPublisher | None = None
    offline_credentials: OfflineCredentials | None = None
    # The gates' offline snapshot on disk, so a restart during an outage still knows who
    # may pass (services/offline_snapshot.py).
    offline_file: FileAccessSnapshot | None = None
    # Every active staff account, for logins during an outage (services/known_staff.py).
    staff: LastSeenActive = field(default_factory=LastSeenActive)
    # Guards' gate actions taken while the database was down, waiting for the audit log
    # (services/audit_journal.py); None: such an action is refused (503), not unaudited.
    audit_journal: FileAuditJournal | None = None
    # False while the database has not answered since start: migrating, syncing and loading
    # the face templates are still to do (the offline loop retries them).
    database_ready: bool = True
    # What data_dir held at start that shows a database was used (database_start.py).
    database_history: tuple[str, ...] = ()
    # This controller's hold on its database (services/database_lock.py): taken before the
    # database is first used, given back when the services stop.
    database_lock: DatabaseLock | None = None
    # Prometheus metrics: here, not on the app, because the camera workers built with these
    # services time their frames into the histogram /metrics serves.
    metrics: Metrics = field(default_factory=Metrics)
    # Free space on data_dir's disk and its reserve (services/disk_space.py), for /healthz.
    disk: DiskSpace | None = None
    # Whether the system clock is behind the time this controller last saw
    # (services/clock_watch.py), for /healthz.
    clock: ClockWatch | None = None
    # The watch of the camera workers and of the cameras that push (services/camera_watch.py);
    # build_services always sets it.
    cameras: CameraWatch | None = None
    # Logs what holds the event loop when it stops answering (services/loop_watch.py).
    loop_watch: LoopWatch = field(default_factory=LoopWatch)
    # The gates' screens (车道屏): what the person at each gate is told
    # (services/gate_screens.py); build_services always sets it.
    screens: GateScreenService | None = None
    # Sessions and API tokens logged out: refused on every request, filled again at start
    # from the log-outs' audit entries (services/session_ends.py).
    ended_sessions: EndedSessions = field(default_factory=EndedSessions)
    background: list[Any] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Whether the audit table's log-outs were read since start (not during an outage).
    _logouts_read: bool = False
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _offline_file_failing: bool = False
    # Set by a committed change of who may pass (api/routes/admin.gates_told: lists, cars,
    # passes, a household's spaces, a resident or their PIN; an import): the offline loop
    # retakes the snapshot, and the keypad's PINs, at its next wake, not up to
    # offline_refresh_s later.
    _access_changed: threading.Event = field(default_factory=threading.Event)

    def access_changed(self) -> None:
        """A committed change the gates' offline snapshot must see soon: an outage starting
        right after a pass was shortened must not let the old window open the gate."""
        self._access_changed.set()

    async def start(self) -> None:
        self.bus.bind(asyncio.get_running_loop())
        # First: a start-up step that blocks the loop is one of the stalls worth knowing of.
        await self.loop_watch.start()
        if self.safety is not None:
            loop = asyncio.get_running_loop()

            def on_safety(event: SafetyEvent) -> None:
                # Keep a reference: the loop holds tasks only weakly.
                task = loop.create_task(self._record_safety_event(event))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

            # Before the barriers start: one that cannot reach its device is a fault from
            # its first second, and that fault must be an alarm, not wait for the first car.
            self.safety.add_listener(on_safety)
        for barrier in self.barriers.values():
            barrier.add_listener(self._on_barrier_status)
        # Side by side: a gate whose broker or Modbus server is down waits up to its command
        # timeout before it reports the fault, and the others need not wait behind it.
        await asyncio.gather(*(self._start_barrier(b) for b in self.barriers.values()))
        if self.safety is not None:
            # After the barriers: a fire alarm active at start opens gates that are running.
            await self.safety.start()
        for component in self.background:
            await component.start()
        if self.city is not None:
            # The broker still holds each gate's state from before the restart (an arm
            # open, a fault since mended) and a barrier that starts closed, as it was, reports
            # no change: without this a hub would show the old state until the gate moves.
            for barrier in self.barriers.values():
                self.city.publish(Event("gate", {
                    "gate_id": barrier.gate_id, "state": str(barrier.state),
                    "fault": barrier.fault,
                }))
        # Before the API answers anyone: a copy of a token logged out before the restart
        # must be refused from the first request.
        await self.read_logouts()
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
        self._tasks.append(asyncio.create_task(self._offline_loop(), name="offline"))
        if self.faces is not None:
            self._tasks.append(asyncio.create_task(self._face_reload_loop(self.faces),
                                                   name="face-reload"))

    @staticmethod
    async def _start_barrier(barrier: Barrier) -> None:
        try:
            await barrier.start()
        except Exception:  # one gate's hardware must not keep the others down
            logger.exception("barrier %s failed to start", barrier.gate_id)

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()
        for component in reversed(self.background):
            await component.stop()
        if self.safety is not None:
            await self.safety.stop()
        for barrier in self.barriers.values():
            with contextlib.suppress(Exception):
                await barrier.stop()
        if self.faces is not None:
            self.faces.close()
        await self.loop_watch.stop()
        if self.database_lock is not None:
            self.database_lock.release()

    def _on_barrier_status(self, status: BarrierStatus) -> None:
        self.bus.publish(
            Event(
                "gate",
                {
                    "gate_id": status.gate_id,
                    "state": str(status.state),
                    "fault": status.fault,
                    "at": status.at.isoformat(),
                },
            )
        )

    async def _record_safety_event(self, event: SafetyEvent) -> None:
        if event.kind is SafetyEventKind.BARRIER_RECOVERED:
            self.bus.publish(Event("gate", {"gate_id": event.gate_id, "recovered": True}))
            return
        # Through the runtime: stored and published, or during a database outage published
        # at once and stored from the journal once it answers.
        if event.kind is SafetyEventKind.BARRIER_FAULT and event.gate_id is not None:
            # One alarm per gate while it is open, tied to the passage whose open failed
            # when a car's open is what found the fault.
            await self.runtime.barrier_fault(event.gate_id, event.message)
            return
        await self.runtime.raise_alarm(str(event.kind), event.message, gate_id=event.gate_id)

    async def _offline_loop(self) -> None:
        """Write the journal as soon as the database answers (first thing after a restart),
        and refresh the offline snapshot every ``offline_refresh_s``. Wakes every
        ``offline_retry_s`` to see whether a passage was journalled meanwhile."""
        access = self.settings.access
        loop = asyncio.get_running_loop()
        next_refresh = loop.time()
        failing = False
        broken = RepeatedFailure("offline journal: writing or refreshing", WRITE_BACK_REMINDER_S)
        # A change made by a command run beside the service (services/access_signal.py).
        signal = AccessSignalWatch(self.settings.data_dir)
        staff_broken = RepeatedFailure("staff accounts for outage logins: refreshing",
                                       WRITE_BACK_REMINDER_S)
        lock_broken = RepeatedFailure("database lock: taking it again", WRITE_BACK_REMINDER_S)
        while True:
            if (
                not self.database_ready
                or self.runtime.journal_waiting()
                or self.audit_waiting()
                or loop.time() >= next_refresh
                or self._access_changed.is_set()
                or signal.changed()
            ):
                # Cleared before reading: an edit committed during the refresh asks again.
                told = self._access_changed.is_set()
                self._access_changed.clear()
                try:
                    if not self.database_ready:
                        await self.finish_start()
                    await self.runtime.replay_journal()
                    await self.write_back_audit()
                    if not self._logouts_read:  # started during an outage
                        await self.read_logouts()
                    if access.offline_decisions:
                        await self.refresh_offline()
                    next_refresh = loop.time() + access.offline_refresh_s
                    if failing:
                        logger.info("database reachable again; offline snapshot refreshed")
                    failing = False
                    broken.succeeded()
                except (StoreUnavailableError, DatabaseStartError) as err:
                    # Once per outage at WARNING: a long outage must not flood the log. A
                    # database that answers but cannot be used is an ERROR (an operator must
                    # act); the gates stay offline meanwhile.
                    unusable = isinstance(err, DatabaseStartError)
                    logger.log(
                        logging.DEBUG if failing else logging.ERROR if unusable
                        else logging.WARNING,
                        "database %s, retrying every %.0f s (%s)",
                        "not usable" if unusable else "unavailable", access.offline_retry_s, err,
                    )
                    failing = True
                    if told:
                        # Told during the outage (a commit whose answer was lost, e.g. a
                        # move-out answered 503 that did happen): retaken once it answers,
                        # not at the next scheduled refresh.
                        self._access_changed.set()
                except Exception as err:  # keep trying: a passage here must reach the database
                    broken.failed(err, access.offline_retry_s)
                # On its own: a journal entry that keeps failing must not leave the accounts
                # a login during the next outage is checked against as they were.
                if self.database_ready:
                    try:
                        await self.refresh_staff()
                        staff_broken.succeeded()
                    except StoreUnavailableError:
                        pass  # said above, once per outage
                    except Exception as err:
                        staff_broken.failed(err, access.offline_retry_s)
                if self.database_ready and self.database_lock is not None:
                    try:
                        await asyncio.to_thread(self.database_lock.keep)
                        lock_broken.succeeded()
                    except StoreUnavailableError:
                        pass  # said above, once per outage
                    except Exception as err:  # DatabaseInUseError: another box took it
                        lock_broken.failed(err, access.offline_retry_s)
            await asyncio.sleep(access.offline_retry_s)

    async def _face_reload_loop(self, faces: FaceService) -> None:
        """Every ``faces.reload_check_s``: face templates added or deleted by another process
        (``main.py enrol-faces``) reach the matcher. On a worker thread: the reload builds the
        whole gallery (O(N²)) and the pedestrian gates run on this loop."""
        every = self.settings.faces.reload_check_s
        broken = RepeatedFailure("face templates: checking the database for changes",
                                 WRITE_BACK_REMINDER_S)
        while True:
            await asyncio.sleep(every)
            if not self.database_ready:
                continue  # finish_start loads them once it answers
            try:
                await asyncio.to_thread(_reload_faces, faces)
                broken.succeeded()
            except StoreUnavailableError:
                pass  # the offline loop says so, once per outage
            except Exception as err:  # keep checking: a later import must still arrive
                broken.failed(err, every)

    def audit_waiting(self) -> bool:
        return self.audit_journal is not None and self.audit_journal.waiting()

    async def read_logouts(self) -> None:
        """The log-outs whose tokens may still be presented, from the audit journal and the
        audit table (services/session_ends.py); the table only once the database is ready,
        so after a start during an outage the offline loop calls this again."""
        found, self._logouts_read = await asyncio.to_thread(
            recent_logouts, self.sessions, self.audit_journal,
            read_database=self.database_ready and not self.runtime.database_suspect(),
            lookback_s=self.settings.api.token_ttl_minutes * 60,
        )
        for fingerprint, until in found:
            self.ended_sessions.add(fingerprint, until)
        if found:
            logger.info("%d logged-out session(s) still refused after the restart", len(found))

    def audit_backlog(self) -> int:
        """How many entries (gate actions, logins) wait in the audit journal (reads it: for
        health checks and the outage banner, not per action)."""
        journal = self.audit_journal
        return len(journal.pending()) if journal is not None and journal.waiting() else 0

    async def write_back_audit(self) -> None:
        """The guards' gate actions and the logins journalled during an outage, into the
        audit log (after the passages: an action names a passage by its id). Logins are not
        published: the staff's live stream does not show attempted names and addresses."""
        if self.audit_journal is None or not self.audit_journal.waiting():
            return
        result = await asyncio.to_thread(write_back, self.sessions, self.audit_journal)
        for entry in result.written:
            if not str(entry["action"]).startswith(LOGIN_PREFIX):
                self.bus.publish(Event("audit", entry))
        if result.written:
            logger.info("wrote %d journalled audit entries to the audit log",
                        len(result.written))
        if result.set_aside:
            message = (f"{len(result.set_aside)} journalled audit entr(ies) refused by the "
                       f"database, kept in {self.audit_journal.set_aside_path} for an "
                       "administrator: " + "; ".join(result.set_aside))
            await self.runtime.raise_alarm(
                "audit_entry_set_aside", message[:ALARM_MESSAGE_LIMIT], once_per_gate=True
            )

    async def finish_start(self) -> None:
        """What start-up could not do while the database was down: migrate and sync it, load
        the face templates, publish availability, and let the gates use it again."""
        if self.database_lock is not None:
            # Before the database is used: another controller may have come to serve it
            # meanwhile (DatabaseInUseError: the gates stay offline, the error is logged).
            await asyncio.to_thread(self.database_lock.acquire)
        await asyncio.to_thread(
            prepare_database, self.engine, self.sessions, self.settings, self.database_history
        )
        if self.faces is not None:
            await asyncio.to_thread(_load_faces, self.faces)
        self.database_ready = True
        self.runtime.hold_offline(False)
        logger.info("database reachable: schema up to date, gates use it again")
        await self.runtime.zone_counts.publish()

    async def refresh_staff(self) -> None:
        """Who can log in during an outage: every active staff account, as the database has
        it now (services/known_staff.py)."""
        mark = self.staff.refresh_mark()
        self.staff.replace_all(await asyncio.to_thread(_active_staff, self.sessions), mark)

    async def refresh_offline(self) -> None:
        """Snapshots for deciding while the database is down: plates, then PINs and passes."""
        snapshot = await self.runtime.refresh_offline()
        if self.offline_file is not None:
            try:
                await asyncio.to_thread(self.offline_file.save, snapshot)
            except OSError as err:  # the gates still have it in memory
                # Once, not every offline_refresh_s for as long as the disk stays full.
                logger.log(logging.DEBUG if self._offline_file_failing else logging.WARNING,
                           "offline snapshot not saved to %s: %s", self.offline_file.path, err)
                self._offline_file_failing = True
            else:
                if self._offline_file_failing:
                    logger.info("offline snapshot saved again to %s", self.offline_file.path)
                self._offline_file_failing = False
        if self.offline_credentials is not None:
            passes = [p for permits in snapshot.permits.values() for p in permits.passes]
            passes.extend(snapshot.walk_in_passes)
            await asyncio.to_thread(
                _load_credentials, self.offline_credentials, self.sessions, passes
            )
        if self.parking is not None:
            # The public availability keeps counts to serve (marked stale) through an outage
            # even when nobody asked for them since start.
            await asyncio.to_thread(self.parking.zones_cache.snapshot)

    async def _retention_loop(self) -> None:
        """Hourly: :meth:`retention_pass`. A failure is logged and tried again the next hour;
        it must not end the loop."""
        while True:
            await self.retention_pass()
            await asyncio.sleep(3600)

    async def retention_pass(self) -> None:
        """Snapshots, then old passages (services/passage_retention.py), unless the clock is
        doubted."""
        retention = self.settings.retention
        if self.clock is not None and not self.clock.retention_allowed():
            # A clock reading a year ahead would have every passage anonymised at once
            # (services/clock_watch.py): nothing is removed while it is doubted.
            logger.warning("retention skipped this hour: the system clock reads far past the "
                           "latest time seen and is doubted for a day (clock_ahead)")
            return
        try:
            await asyncio.to_thread(self.snapshots.purge_older_than, retention.snapshot_days)
        except OSError as err:
            logger.warning("snapshot retention failed, retrying in an hour: %s", err)
        if self.database_ready:
            try:
                await asyncio.to_thread(
                    _forget_old_passages, self.sessions, retention.passage_days
                )
            except StoreUnavailableError as err:
                logger.info("passage retention waits for the database: %s", err)
            except Exception:
                logger.exception("passage retention failed, retrying in an hour")
            try:
                # What retention anonymised and what was erased on request (a face, a
                # resident) out of SQLite's write-ahead log as well (models/db.py).
                if not await asyncio.to_thread(empty_write_ahead_log, self.engine):
                    logger.info("write-ahead log busy; emptied at the next hourly run")
            except Exception as err:  # a database going away meanwhile
                logger.info("write-ahead log not emptied (%s); next hour", error_line(err))


# While the background write-back keeps failing for another reason than an outage (the
# journal's disk, a bug), a one-line reminder this often: its traceback is logged once.
WRITE_BACK_REMINDER_S = 300.0


class RepeatedFailure:
    """The log of a step retried until it works: the traceback of its first failure, then
    one line at most every ``remind_s`` while it keeps failing, and one when it works again.
    A traceback per retry (every few seconds) buries everything else in the log."""

    def __init__(
        self, what: str, remind_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._what = what
        self._remind_s = remind_s
        self._clock = clock
        self._since: float | None = None  # when it started failing
        self._reminded = 0.0

    def failed(self, err: BaseException, retry_s: float) -> None:
        now = self._clock()
        if self._since is None:
            self._since = self._reminded = now
            logger.error("%s failed; retrying every %g s, reminding every %g s until it "
                         "works", self._what, retry_s, self._remind_s, exc_info=err)
        elif now - self._reminded >= self._remind_s:
            self._reminded = now
            logger.error("%s still failing after %.0f s: %s", self._what, now - self._since,
                         error_line(err))

    def succeeded(self) -> None:
        if self._since is not None:
            logger.info("%s works again after %.0f s", self._what, self._clock() - self._since)
            self._since = None


def build_screens(
    settings: Settings, bus: EventBus, sessions: sessionmaker[Session], store: SqlAccessStore
) -> GateScreenService:
    """The screen of every gate that has one; a bus subscriber, off the gates' path."""
    screens = [
        (
            ScreenGate(
                gate_id=g.id, zone_id=g.zone, pedestrian=g.kind == "pedestrian",
                hold_s=g.screen.hold_s, timeout_s=g.screen.timeout_s,
            ),
            create_screen(g.id, g.screen),
        )
        for g in settings.community.gates
        if g.screen is not None
    ]

    def free_counts() -> dict[str, int]:
        return {z["id"]: int(z["free"]) for z in store.availability_view()["zones"]}

    return GateScreenService(
        screens, bus=bus, sessions=sessions,
        # What a driver reads on the signs: the zone's name, else "B区".
        zone_names={z.id: z.name or f"{z.id}区" for z in settings.community.zones},
        free_counts=free_counts,
    )


def gate_contexts(settings: Settings) -> dict[str, GateContext]:
    zone = settings.community.zone_info()
    calendar = settings.community.calendar.build()
    log_calendar_years(settings, datetime.now(zone).year)
    return {
        g.id: GateContext(
            gate_id=g.id, direction=Direction(g.direction), zone_id=g.zone,
            schedule=g.schedule.build(zone, calendar) if g.schedule is not None else None,
            zone=zone,
        )
        for g in settings.community.gates
    }


def log_calendar_years(settings: Settings, this_year: int) -> None:
    """Say which years the holiday package knows: past them, only listed dates are holidays."""
    years = settings.community.calendar.official_years()
    if years is None:
        return
    if this_year in years:
        logger.info("holiday calendar: chinese_calendar covers %d-%d", years.start, years[-1])
    else:
        logger.warning(
            "holiday calendar: chinese_calendar covers %d-%d, not %d: gate schedules read %d's "
            "holidays and make-up working days only from community.calendar (upgrade the "
            "package or list them there)", years.start, years[-1], this_year, this_year,
        )


def _load_faces(faces: FaceService) -> None:
    with outage_as_unavailable():
        faces.load_all()


def _reload_faces(faces: FaceService) -> None:
    with outage_as_unavailable():
        faces.reload_if_changed()


def _forget_old_passages(sessions: sessionmaker[Session], days: int) -> None:
    with outage_as_unavailable():
        forget_old_passages(sessions, days)


def _active_staff(sessions: sessionmaker[Session]) -> list[KnownAccount]:
    with outage_as_unavailable():
        return active_staff(sessions)


def _load_credentials(
    credentials: OfflineCredentials, sessions: sessionmaker[Session], passes: list[Any]
) -> None:
    # The database may go away between the gates' snapshot and this read: an outage, retried
    # by the offline loop, not an error with a traceback.
    with outage_as_unavailable():
        credentials.load(sessions, passes, utcnow())


def _start_offline(
    offline: OfflineAccess | None, offline_file: FileAccessSnapshot,
    journal: FilePassageJournal, err: StoreUnavailableError, retry_s: float,
) -> None:
    """The database is down at start: decide from the snapshot kept on disk (unless offline
    decisions are off), with the moves of the passages still waiting in the journal, which
    the snapshot does not hold yet."""
    snapshot = offline_file.load() if offline is not None else None
    backlog = journal.backlog()
    waiting = backlog.entries
    if offline is not None and snapshot is not None:
        offline.load(snapshot)
        offline.replay(backlog)  # with the guards' opens of those passages
        how = (f"gates decide from the offline snapshot taken at "
               f"{snapshot.taken_at.isoformat(timespec='seconds')} ({len(snapshot.permits)} "
               "plates)")
    else:
        how = ("no offline snapshot on disk" if offline is not None else "offline decisions "
               "are off") + ", so every vehicle goes to a guard (review, database_unavailable)"
    logger.warning("database unavailable at start (%s): %s; passages are journalled (%d "
                   "waiting); retrying every %.0f s", err, how, len(waiting), retry_s)


def build_services(
    settings: Settings, *, recognizer: PlateRecognizer | None = None,
    controller: bool = True,
) -> Services:
    """Everything the controller runs, holding its database (``DatabaseInUseError`` when
    another controller serves it; given back by ``Services.stop``). ``controller=False``: a
    command run beside the controller (``enrol-faces``) uses the services without holding
    the database, which the running controller holds."""
    lock = DatabaseLock(settings.resolved_database_url, settings.data_dir) if controller else None
    try:
        return _build_services(settings, recognizer, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _build_services(
    settings: Settings, recognizer: PlateRecognizer | None, lock: DatabaseLock | None
) -> Services:
    history = data_dir_history(settings.data_dir)  # before this run writes anything there
    log_full_plates(settings.log_full_plates)
    # Before anything is recorded (a migration's rows, the journal written back): a system
    # clock that reads earlier than the last time this controller saw is held there.
    load_clock_floor(settings.data_dir)
    engine = open_database(settings, history)
    sessions = make_session_factory(engine)
    disk = DiskSpace(settings.data_dir, settings.storage)
    journal = FilePassageJournal(settings.data_dir / "journal" / "passages.jsonl", disk)
    offline_file = FileAccessSnapshot(settings.data_dir / "journal" / "offline_snapshot.json")
    offline = OfflineAccess(
        max_distance=settings.access.fuzzy_max_distance,
        province_tolerance=settings.access.fuzzy_province_tolerance,
    )
    try:
        if lock is not None:  # before migrating: a second controller is refused, not migrating
            lock.acquire()
        # A command beside the controller (enrol-faces) leaves the site to it.
        prepare_database(engine, sessions, settings, history, site=lock is not None)
        ready = True
    except StoreUnavailableError as err:
        # Start anyway: the gates must work during an outage, a restart included.
        ready = False
        _start_offline(
            offline if settings.access.offline_decisions else None, offline_file, journal,
            err, settings.access.offline_retry_s,
        )
    bus = EventBus()
    store = SqlAccessStore(
        sessions,
        max_distance=settings.access.fuzzy_max_distance,
        province_tolerance=settings.access.fuzzy_province_tolerance,
    )
    barriers = {g.id: create_barrier(g.id, g.barrier) for g in settings.community.gates}
    policy = AccessPolicy(
        anti_passback=settings.access.anti_passback,
        residents_when_full=settings.access.residents_when_full == "allow",
        min_confidence=settings.access.min_plate_confidence,
        province_unsure_below=settings.access.fuzzy_province_unsure_below,
    )
    runtime = GateRuntime(
        store=store,
        gates=gate_contexts(settings),
        barriers=barriers,
        policy=policy,
        bus=bus,
        fault_alarms=False,  # the safety supervisor below reports every barrier fault
        journal=journal,
        offline=offline,
        retry_after_s=settings.access.offline_retry_s,
    )
    runtime.hold_offline(not ready)
    snapshots = SnapshotStore(settings.data_dir / "snapshots", disk)
    recognizer = recognizer or create_plate_recognizer(settings.plates)
    frames = FrameProcessor(
        recognizer=recognizer,
        runtime=runtime,
        snapshots=snapshots,
        regions={g.id: g.region for g in settings.community.gates},
        max_pixels=settings.api.max_image_pixels,
        slots=PushSlots(
            settings.api.max_concurrent_frames, settings.api.burst_wait_s,
            what="vehicle-gate frames", setting="api.max_concurrent_frames",
            wait_setting="api.burst_wait_s",
        ),
    )
    signer = TokenSigner(settings.signing_key(), settings.api.token_ttl_minutes * 60)
    face_engine = FaceEngine(settings.faces)
    face_matcher = FaceMatcher.from_config(settings.faces)
    faces = FaceService(
        # An engine of its own (~15 MB): a 12 MP photo keeps an engine 1.5-3 s, and the
        # pedestrian gates must not wait for it (bench.face_enrol_contention).
        engine=FaceEngine(settings.faces),
        matcher=face_matcher,
        sessions=sessions,
        max_pixels=settings.api.max_image_pixels,
        enrol_nice=settings.faces.enrol_nice,
        max_pending=settings.faces.max_pending_enrolments,
    )
    if ready:
        faces.load_all()
    fire = settings.safety.fire_alarm
    safety = SafetySupervisor(create_input("fire-alarm", fire) if fire is not None else None)
    for barrier in barriers.values():
        safety.register(barrier)
    clock = ClockWatch(settings.data_dir, runtime.raise_alarm)
    background: list[Any] = [
        clock,
        StorageWatch(disk, snapshots, runtime, in_use=lambda: snapshots_in_use(sessions)),
    ]
    parking = ParkingService(
        settings.parking,
        community=settings.community.name,
        zone_ids=[z.id for z in settings.community.zones],
        sessions=sessions,
        bus=bus,
        explicit="parking" in settings.model_fields_set,
        hold_store=SqlHoldStore(sessions),
    )
    background.append(parking)
    screens = build_screens(settings, bus, sessions, store)
    background.append(screens)
    city: CityPublisher | None = None
    if settings.mqtt.enabled:
        city = CityPublisher(
            settings.mqtt,
            settings.community.name,
            bus,
            publish_plates=settings.mqtt.publish_plates,
            initial=store.availability_view() if ready else None,
            spool=open_city_spool(
                settings.data_dir / "journal", durable=settings.mqtt.durable_queue
            ),
            controller=controller_id(settings.data_dir),
        )
        background.append(city)
    services = Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        bus=bus,
        store=store,
        runtime=runtime,
        barriers=barriers,
        frames=frames,
        snapshots=snapshots,
        signer=signer,
        recognizer=recognizer,
        parking=parking,
        faces=faces,
        face_gate=FaceGateService(
            pipeline=FacePipeline(
                face_engine, face_matcher, LivenessChecker(settings.faces.liveness), settings.faces
            ),
            runtime=runtime,
            snapshots=snapshots,
            sessions=sessions,
            max_pixels=settings.api.max_image_pixels,
            max_burst_pixels=settings.api.max_burst_pixels,
            slots=PushSlots(
                settings.api.max_concurrent_bursts, settings.api.burst_wait_s,
                what="pedestrian-gate bursts", setting="api.max_concurrent_bursts",
                wait_setting="api.burst_wait_s",
            ),
        ),
        safety=safety,
        city=city,
        background=background,
        offline_credentials=OfflineCredentials(settings.signing_key()),
        offline_file=offline_file,
        staff=open_known_staff(
            settings.data_dir / "journal", on_disk=settings.access.offline_logins,
            max_age_days=settings.access.offline_logins_max_age_days,
        ),
        audit_journal=FileAuditJournal(settings.data_dir / "journal" / "audit.jsonl", disk),
        disk=disk,
        clock=clock,
        screens=screens,
        database_ready=ready,
        database_history=history,
        database_lock=lock,
    )
    # Imported here: the camera pipeline imports this module for its Services type.
    from services.camera_pipeline import build_camera_workers

    run_cameras(services, build_camera_workers(settings, services))
    return services
