"""The gate runtime: sighting → decision → recorded passage → barrier → events.

Order matters for "a crash loses no passage": the passage and its consequences (presence,
pass use, zone count) are committed in one transaction *before* the barrier is driven; the
barrier's outcome is written afterwards in a second, tiny update. A crash between the two
leaves a passage whose barrier outcome reads ``pending``, never a barrier that opened with
no record. A passage whose decision does not open is written ``closed`` at once, so
``pending`` picks out exactly the passages a crash interrupted. A barrier that does not open
(``fault``) takes those consequences back in the same tiny update that writes its outcome,
and flags the passage ``admission_undone``.

When the database cannot be reached, a passage is decided from the offline snapshot
(``controllers.offline``), appended durably to the local journal *before* the barrier is
driven, and written to the database by :meth:`GateRuntime.replay_journal` once it answers
again (idempotently: each journal entry carries its own id into the passage row), each entry
once its barrier has answered. A guard's open naming a passage during the outage is
journalled too (:meth:`GateRuntime.open_named_offline`): the gates count its car as an online
open would, and the write-back gives that passage the open's outcome and admission.

One bad record never fails the car at the gate. A journal entry the database refuses for a
reason other than an outage (a constraint, a bug) is set aside (kept on disk, logged with its
traceback, an alarm for the guards) and the entries behind it, and the car that triggered the
write-back, go on. A live car whose own row is refused that way is decided from the snapshot
and journalled as in an outage, so its passage is kept and the write-back tries it once more.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import wall_clock
from controllers.barrier import NOT_OPEN
from controllers.events import Event, EventBus
from controllers.journal_writeback import JournalWriteBack, OutageAlarm
from controllers.offline import OfflineAccess
from controllers.passage_rows import (
    ALARM_REPEAT_WINDOW,
    alarm_event,
    may_move_a_zone,
    outcome_update,
    store_alarm_once,
    write_passage,
)
from controllers.policy import AccessPolicy, GateContext, decide
from controllers.ports import (
    OUTCOME_FAULT,
    AccessSnapshot,
    AccessStore,
    GuardOpen,
    JournalEntry,
    PassageJournal,
    PassageRecord,
    PendingAlarm,
)
from controllers.schedule import apply_schedule
from controllers.values import TYPED_PLATE, AccessDecision, Reason, Sighting, Verdict
from controllers.zone_counts_feed import ZoneCountsFeed
from errors import HardwareError, InvalidInputError, NotFoundError, StoreUnavailableError
from plate_privacy import plate_for_log

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

CLOCK_HELD = "clock_held"


class Opener(Protocol):
    """The part of a hardware barrier the runtime needs (see hardware.base.Barrier)."""

    @property
    def command_budget_s(self) -> float:
        """How long an open may take, its own retries included, before it returns or raises."""
        ...

    async def open(self) -> Any: ...


# The runtime waits this much longer than a barrier's own budget: its own time-out is only a
# backstop against a driver that hangs, never what ends a command that is still retrying.
BARRIER_WAIT_MARGIN_S = 1.0
# How long after a car's open an arm's failure to rise is still that car's: longer than any
# motion_timeout_s a gate would be given (10 s by default). A later open replaces the tie.
OPEN_FAULT_TIE_S = 60.0


@dataclass(frozen=True, slots=True)
class _OpenedFor:
    """What a gate's latest open was for (both ids None: a guard's open naming no car)."""

    passage_id: int | None
    journal_id: str | None
    plate: str | None
    at: float  # time.monotonic()


def utc_clock() -> datetime:
    return wall_clock.utcnow()


def system_clock_held() -> bool:
    """Whether the wall clock is holding a system clock that reads too early (wall_clock.py)."""
    return wall_clock.clock_behind() is not None


@dataclass(frozen=True, slots=True)
class PassageResult:
    passage_id: int | None  # None while it waits in the offline journal (see journal_id)
    gate_id: str
    plate: str | None
    confidence: float
    decision: AccessDecision
    barrier: str
    details: dict[str, Any] = field(default_factory=dict)
    journal_id: str | None = None
    # The same car decided at this gate moments ago (:data:`TYPED_REPEAT_WINDOW`: a plate
    # typed again, or read by the camera just after a guard typed it): this is that earlier
    # passage's result, and nothing was recorded, counted or driven again.
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class BarrierOpened:
    """An open's outcome as written to its passage, and what it did to the admission that
    passage made: ``"undone"`` (the barrier did not open), ``"redone"`` (an open of a
    passage whose admission a failed open had taken back), or None (nothing changed)."""

    barrier: str
    admission: str | None = None


@dataclass(frozen=True, slots=True)
class _Arrival:
    """What reaches a gate for one passage, carried unchanged from intake to the record."""

    gate: GateContext
    sighting: Sighting
    decided: AccessDecision | None  # None: the access policy decides (a vehicle)
    snapshot_path: str | None
    details: dict[str, Any]
    clock_held: bool = False

    def record(self, decision: AccessDecision, journal_id: str | None = None) -> PassageRecord:
        if self.sighting.typed and TYPED_PLATE not in decision.flags:
            # Online and offline alike, and on a decision no rule made (no snapshot yet).
            decision = replace(decision, flags=(*decision.flags, TYPED_PLATE))
        if self.clock_held and CLOCK_HELD not in decision.flags:
            # Its time is the controller's held clock, not the system's: the guard and the
            # office see that it is near, not exact.
            decision = replace(decision, flags=(*decision.flags, CLOCK_HELD))
        return PassageRecord(
            gate_id=self.gate.gate_id,
            direction=self.gate.direction,
            zone_id=self.gate.zone_id,
            sighting=self.sighting,
            decision=decision,
            snapshot_path=self.snapshot_path,
            details=self.details,
            journal_id=journal_id,
        )


class GateRuntime(JournalWriteBack):
    def __init__(
        self,
        *,
        store: AccessStore,
        gates: Mapping[str, GateContext],
        barriers: Mapping[str, Opener],
        policy: AccessPolicy,
        bus: EventBus,
        clock: Clock = utc_clock,
        clock_held: Callable[[], bool] = system_clock_held,
        fault_alarms: bool = True,
        journal: PassageJournal | None = None,
        offline: OfflineAccess | None = None,
        retry_after_s: float = 5.0,
    ) -> None:
        self._store = store
        self._gates = dict(gates)
        self._barriers = dict(barriers)
        self._policy = policy
        self._bus = bus
        # Every publish of the zones' counts goes through it, the routes' too (newest wins).
        self.zone_counts = ZoneCountsFeed(store.availability_view, bus)
        self._clock = clock
        self._clock_held = clock_held
        # Off when a safety supervisor reports every barrier fault through barrier_fault():
        # the runtime then only ties its passages to that alarm.
        self._fault_alarms = fault_alarms
        # Serialises "is there an open fault alarm? else raise one" across the supervisor's
        # report and a passage's failed open, which come at the same moment.
        self._alarm_lock = asyncio.Lock()
        # (kind, gate) -> when an alarm raised once per gate was last published while the
        # database was away: the same de-duplication as the database's, until it is back.
        self._offline_alarms: dict[tuple[str, str | None], datetime] = {}
        # One passage at a time per gate: two frames of one car must not both open and count.
        self._locks = {gate_id: asyncio.Lock() for gate_id in self._gates}
        # Without a journal an outage is an error (the caller sees StoreUnavailableError).
        self._journal = journal
        self._offline = offline or OfflineAccess()
        self._outage_logged = False
        # The database_outage alarm of the outage still going on, if one was raised: a later
        # write-back of the same outage (cars journalled while the first one ran) rewords it
        # instead of raising a second one. A passage recorded online ends the outage.
        self._outage: OutageAlarm | None = None
        # After a failed attempt, gates decide offline at once for this long instead of
        # waiting on the database again (an unreachable host costs a connect time-out per
        # car); the background loop probes it meanwhile.
        self._retry_after_s = retry_after_s
        self._offline_until = 0.0
        # Set while the database is not ready at all (down at start, schema not migrated):
        # gates decide offline without trying it until the start-up retry releases them.
        self._held_offline = False
        self._replay_lock = asyncio.Lock()
        # Journal ids of passages decided offline whose barrier has not answered yet. The
        # write-back leaves them in the journal: written now, with outcome ``pending``, the
        # outcome line that follows would find no entry, and ``pending`` would stay on a
        # passage no crash interrupted. After a restart none is held back: a pending entry
        # then is a crash's.
        self._unanswered: set[str] = set()
        # Set while the write-back itself (not one entry) keeps failing: its traceback is
        # logged once, not for every car that tries it first.
        self._write_back_failing = False
        # Allowed passages recorded online whose barrier did not open, newest last: a guard
        # opening one during a later outage cannot read it, yet anti-passback must see its
        # car inside. In memory only (a restart forgets them; the write-back still counts).
        self._faulted: dict[int, PassageRecord] = {}
        # gate id -> the passage (its id, or its journal id offline) the gate's latest open was
        # for, and when (monotonic): an arm that then does not rise (a motion time-out, seen
        # only once the barrier's motion_timeout_s is up) is that car's fault.
        self._opened_for: dict[str, _OpenedFor] = {}
        # gate id -> plate -> (when, result) of the plates decided there within
        # TYPED_REPEAT_WINDOW: a typed plate that repeats one, or a camera read that repeats
        # a typed one, is answered with it.
        self._recent_plates: dict[str, dict[str, tuple[datetime, PassageResult]]] = {}

    def gate(self, gate_id: str) -> GateContext:
        try:
            return self._gates[gate_id]
        except KeyError:
            raise NotFoundError(f"unknown gate {gate_id!r}") from None

    async def handle_sighting(
        self,
        sighting: Sighting,
        *,
        snapshot_path: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> PassageResult:
        """A vehicle at a gate: decide by the access policy, record, drive the barrier."""
        return await self._handle(sighting, None, snapshot_path, details or {})

    async def handle_decision(
        self,
        gate_id: str,
        decision: AccessDecision,
        *,
        at: datetime | None = None,
        snapshot_path: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> PassageResult:
        """A person at a gate, already decided (face, PIN, QR): the gate's schedule may still
        hold it for a guard; record and drive the gate. The result carries the decision
        that stands."""
        sighting = Sighting(gate_id=gate_id, at=at or self._clock(), plate=None, confidence=0.0)
        return await self._handle(sighting, decision, snapshot_path, details or {})

    async def _handle(
        self,
        sighting: Sighting,
        decided: AccessDecision | None,
        snapshot_path: str | None,
        details: dict[str, Any],
    ) -> PassageResult:
        gate = self.gate(sighting.gate_id)
        if decided is not None:
            # A person's credential was checked without the gate in view (face, PIN, QR,
            # online or from the offline snapshot); the gate's hours apply here, once for all.
            decided = apply_schedule(decided, gate.schedule, gate.direction, sighting.at)
        arrival = _Arrival(gate, sighting, decided, snapshot_path, details, self._clock_held())
        async with self._locks[gate.gate_id]:
            # Under the gate's lock, so two guards typing the same car at once are one car.
            earlier = self._repeat_of(sighting)
            if earlier is not None:
                return earlier
            record, passage_id, alarms, view = await self._record(arrival)
            try:
                if view is not None:
                    self._bus.publish(Event("passage", view))
                elif record.journal_id is not None:
                    # No row to read yet: the booth screen shows it from the journal meanwhile.
                    decision = record.decision
                    self._bus.publish(Event("passage_offline", {
                        "journal_id": record.journal_id, "gate_id": record.gate_id,
                        "plate": sighting.plate, "decision": str(decision.verdict),
                        # What a gate's screen needs to answer the driver or the person at a
                        # face gate as it would online (请转头再试, 一路平安, a visitor).
                        "reason": str(decision.reason), "flags": list(decision.flags),
                        "direction": str(record.direction), "pass_id": decision.pass_id,
                        "matched_plate": decision.matched_plate,
                    }))
                for alarm in alarms:
                    self._bus.publish(Event("alarm", alarm))
                barrier = "closed"
                if record.decision.opens:
                    barrier = await self.open_barrier(
                        gate.gate_id, passage_id=passage_id, journal_id=record.journal_id,
                        plate=sighting.plate,
                    )
                    if barrier == OUTCOME_FAULT and record.journal_id is not None:
                        self._offline.undo(record)  # the car did not move: anti-passback agrees
                    elif barrier == OUTCOME_FAULT and passage_id is not None:
                        await self._remember_faulted(passage_id, record)
                    if passage_id is None and record.journal_id is not None:
                        # Its row was shown before the barrier answered (a failed one is
                        # 「道闸未开，未计通行」 with the guard's open): the screen reads it again.
                        self._journal_row_changed(record, barrier)
            finally:
                # Its barrier's outcome is journalled now (or never will be: the open was cut
                # short): the write-back may take the entry.
                if record.journal_id is not None:
                    self._unanswered.discard(record.journal_id)
            result = PassageResult(
                passage_id=passage_id,
                gate_id=gate.gate_id,
                plate=sighting.plate,
                confidence=sighting.confidence,
                decision=record.decision,
                barrier=barrier,
                details=record.details,
                journal_id=record.journal_id,
            )
            self._remember_plate(result)
            if record.decision.opens and may_move_a_zone(record) and passage_id is not None:
                await self._publish_availability()
        logger.info(
            "passage %s at %s: plate=%s credential=%s decision=%s reason=%s barrier=%s",
            passage_id if passage_id is not None else f"journal:{record.journal_id}",
            gate.gate_id,
            plate_for_log(sighting.plate),
            record.decision.credential,
            record.decision.verdict,
            record.decision.reason,
            barrier,
        )
        return result

    def _repeat_of(self, sighting: Sighting) -> PassageResult | None:
        """The passage this sighting repeats, if any: the same plate decided at the same gate
        within TYPED_REPEAT_WINDOW. A typed plate repeats any such passage (a double click, a
        retry after the answer was lost, a second guard, a car the camera read after all); a
        camera read repeats only a typed one (the guard typed a car the camera could not read
        yet, and it read it as it came closer). A camera's repeats of its own reads are its
        voter's to hold back (its cooldown); a typed plate passes no voter, and a second
        decision would count the car or use a visitor's pass twice."""
        if sighting.plate is None:
            return None
        seen = self._recent_plates.get(sighting.gate_id, {}).get(sighting.plate)
        if seen is None or self._clock() - seen[0] >= TYPED_REPEAT_WINDOW:
            return None
        earlier = seen[1]
        if not sighting.typed and TYPED_PLATE not in earlier.decision.flags:
            return None
        return replace(earlier, repeat=True)

    def _remember_plate(self, result: PassageResult) -> None:
        if result.plate is None:
            return
        now = self._clock()
        recent = self._recent_plates.setdefault(result.gate_id, {})
        for plate in [p for p, (at, _) in recent.items() if now - at >= TYPED_REPEAT_WINDOW]:
            del recent[plate]
        if result.barrier == OUTCOME_FAULT or result.decision.reason is Reason.LOW_CONFIDENCE:
            # Its admission was taken back: the car typed again is a new try, counted then.
            # A doubtful read is what a guard's typing is for: the typed plate decides.
            recent.pop(result.plate, None)
        else:
            recent[result.plate] = (now, result)

    async def _record(
        self, arrival: _Arrival
    ) -> tuple[PassageRecord, int | None, list[dict[str, Any]], dict[str, Any] | None]:
        """Decide and record in the database, or offline in the journal when it is down (or
        refuses this passage for another reason)."""
        failure: StoreUnavailableError | None = None
        if self.database_suspect():
            failure = StoreUnavailableError("database unavailable (retrying shortly)")
        elif self.journal_waiting():
            # Passages from the outage go first: presence must see this car's earlier exit
            # before this entry is decided.
            failure = await self._write_back_first()
        if failure is None:
            try:
                return await asyncio.to_thread(self._decide_and_record, arrival)
            except StoreUnavailableError as err:
                if self._journal is None:
                    raise
                failure = err
            except Exception:
                if self._journal is None:
                    raise
                # The database answers but will not take this row (a constraint, a bug): the
                # car is not left at a closed barrier with an error, and its passage is kept.
                # Other cars are still served online; the write-back tries this one again.
                logger.exception("passage at %s (plate %s) refused by the database: decided "
                                 "from the offline snapshot and journalled",
                                 arrival.gate.gate_id, plate_for_log(arrival.sighting.plate))
                record = await self._journal_offline(arrival)
                return record, None, [], None
        self.mark_database_unavailable()
        if not self._outage_logged:
            self._outage_logged = True
            logger.error("database unavailable (%s): gates decide offline from the snapshot "
                         "taken at %s, and journal", failure,
                         self._offline.taken_at or "— (none)")
        record = await self._journal_offline(arrival)
        return record, None, [], None

    async def _write_back_first(self) -> StoreUnavailableError | None:
        """Write the journal before a car is decided; returns the outage if there is one.

        Anything else fails the write-back, not the car: entries the database refuses are set
        aside one by one in :meth:`_write_journal`, so what gets here is the write-back itself
        failing (the journal's own disk, a bug). The entries stay in the journal (nothing is
        lost), the background loop keeps trying, and the car is decided as usual."""
        try:
            await self.replay_journal()
        except StoreUnavailableError as err:
            return err
        except Exception:
            if not self._write_back_failing:
                logger.exception("writing the passage journal back failed; gates decide "
                                 "without waiting for it until it succeeds")
            self._write_back_failing = True
        return None

    async def _journal_offline(self, arrival: _Arrival) -> PassageRecord:
        """Decide from the snapshot and journal the passage, held back from the write-back
        until the caller has its barrier's answer in the journal too (:meth:`_handle`)."""
        journal_id = uuid.uuid4().hex
        # Before the entry reaches the file: a write-back that reads it must know to wait.
        self._unanswered.add(journal_id)
        try:
            return await asyncio.to_thread(self._decide_offline, arrival, journal_id)
        except BaseException:
            self._unanswered.discard(journal_id)
            raise

    def _decide_offline(self, arrival: _Arrival, journal_id: str) -> PassageRecord:
        """Decide from the snapshot and journal the passage; the caller drives the barrier."""
        assert self._journal is not None
        now = self._clock()
        sighting = arrival.sighting
        decision = arrival.decided
        if decision is None:
            permits = self._offline.permits(
                sighting.plate, province_unsure=self._policy.province_unsure(sighting)
            )
            if permits is None:  # no snapshot since start: nobody is known, ask a guard
                decision = AccessDecision(Verdict.REVIEW, Reason.DATABASE_UNAVAILABLE)
            else:
                decision = decide(
                    sighting, permits, None, now, gate=arrival.gate, policy=self._policy
                )
        decision = replace(decision, flags=(*decision.flags, "offline"))
        record = arrival.record(decision, journal_id=journal_id)
        self._journal.append(record)  # durable before the barrier moves
        self._offline.note(record)
        return record

    def database_suspect(self) -> bool:
        """Whether a recent attempt failed: callers then go offline without waiting on it."""
        return self._journal is not None and (
            self._held_offline or time.monotonic() < self._offline_until
        )

    def hold_offline(self, held: bool = True) -> None:
        """Decide offline without trying the database until released (``held=False``): it
        is not ready yet (down when the controller started, schema not brought up to date)."""
        self._held_offline = held

    def mark_database_unavailable(self) -> None:
        """Another caller (PIN, QR) found the database down: trip the same short breaker."""
        self._offline_until = time.monotonic() + self._retry_after_s

    def journal_waiting(self) -> bool:
        return self._journal is not None and self._journal.waiting()

    def journal_backlog(self) -> int:
        """How many things wait in the journal for the database: passages decided offline,
        barrier outcomes of passages stored just before it went away, alarms, guards' opens
        naming a passage (reads it: for health checks, not per car). 0 only once the journal
        is written back, whatever is left in it."""
        if not self.journal_waiting():
            return 0
        assert self._journal is not None
        return len(self._journal.backlog())

    def journalled_passages(self) -> list[JournalEntry]:
        """The passages waiting in the journal, oldest first (reads it: for the booth page
        during an outage, not per car)."""
        if not self.journal_waiting():
            return []
        assert self._journal is not None
        return self._journal.pending()

    def journalled_admission_undone(self, entry: JournalEntry) -> bool:
        """Whether the gates hold this journalled passage's car uncounted, as online a passage
        is flagged ``admission_undone``: allowed, its barrier failed, not counted since by a
        guard's open naming it (:meth:`OfflineAccess.admission_undone`). The booth screen
        offers the guard's open on such a row."""
        return self._offline.admission_undone(entry)

    def offline_household_labels(self) -> Mapping[int, str]:
        """「3栋 1201」 by household id from the offline snapshot (the one on disk after a
        start during an outage): the booth's rows from the journal name the flat with it, as
        stored rows do, while the households table cannot be read."""
        return self._offline.household_labels

    def unstored_alarms(self) -> list[PendingAlarm]:
        """The alarms published while the database was away that wait in the journal to be
        stored (reads it: for the alarm list, not per car)."""
        if not self.journal_waiting():
            return []
        assert self._journal is not None
        return self._journal.backlog().alarms

    async def refresh_offline(self) -> AccessSnapshot:
        """Take a fresh snapshot of who may pass (after the journal is written)."""
        read_from = self._offline.mark()
        snapshot = await asyncio.to_thread(self._store.snapshot, self._clock())
        self._offline.load(snapshot, read_from=read_from)
        return snapshot

    def _decide_and_record(
        self, arrival: _Arrival
    ) -> tuple[PassageRecord, int, list[dict[str, Any]], dict[str, Any]]:
        now = self._clock()
        gate, sighting = arrival.gate, arrival.sighting
        with self._store.unit() as unit:
            decision = arrival.decided
            if decision is None:
                permits = unit.permits(
                    sighting.plate, now, province_unsure=self._policy.province_unsure(sighting)
                )
                occupancy = unit.occupancy(gate.zone_id)
                decision = decide(
                    sighting, permits, occupancy, now, gate=gate, policy=self._policy
                )
            record = arrival.record(decision)
            passage_id, alarms = write_passage(unit, record)
            view = unit.passage_view(passage_id)
        self._outage = None  # a gate is served by the database again: that outage is over
        return record, passage_id, alarms, view

    async def open_barrier(
        self, gate_id: str, *, passage_id: int | None = None, journal_id: str | None = None,
        plate: str | None = None,
    ) -> str:
        """Command the gate's barrier open; returns the outcome written to the passage.
        ``plate``: the car it opens for, named by the alarm if the arm then does not rise."""
        opened = await self.open_barrier_for(gate_id, passage_id=passage_id,
                                             journal_id=journal_id, plate=plate)
        return opened.barrier

    async def open_barrier_for(
        self, gate_id: str, *, passage_id: int | None = None, journal_id: str | None = None,
        plate: str | None = None,
    ) -> BarrierOpened:
        """As :meth:`open_barrier`, and what the open did to the passage's admission: a
        guard's open that gives an undone admission back says so in its audit entry."""
        outcome = await self._drive_open(gate_id, passage_id=passage_id, journal_id=journal_id,
                                         plate=plate)
        return await self._finish(passage_id, outcome, journal_id)

    def named_offline(
        self, gate_id: str, *, passage_id: int | None = None, journal_id: str | None = None
    ) -> PassageRecord | None:
        """The passage a guard's action names while the database is unreachable, checked as
        online before anything moves: one decided offline must wait in the journal, at this
        gate (reads the journal). For one stored in the database, the record kept of an
        allowed passage whose barrier did not open, if there is one (None: unknown here, it
        is checked when the database answers)."""
        if journal_id is not None:
            entry = next((e for e in self.journalled_passages()
                          if e.record.journal_id == journal_id), None)
            if entry is None:
                raise NotFoundError(f"no passage {journal_id} waiting in the journal")
            record: PassageRecord | None = entry.record
        else:
            record = self._faulted.get(passage_id) if passage_id is not None else None
        if record is not None and record.gate_id != gate_id:
            # That barrier did not let this car through: its passage must not say it did.
            raise InvalidInputError(f"passage {passage_id or journal_id} was at gate "
                                    f"{record.gate_id}, not {gate_id}")
        return record

    async def journal_first(self) -> None:
        """Write the journal back, when it waits, before a guard's action names a passage
        online (as before a car is decided): a guard's open journalled for that passage
        during the outage is older than this one, and written after it would overwrite it.
        Raises StoreUnavailableError while the database is down."""
        if self.journal_waiting():
            failure = await self._write_back_first()
            if failure is not None:
                raise failure

    async def stored_passage(self, journal_id: str) -> int | None:
        """The id of the passage written from this journal entry, once the journal is
        written back (first, when it waits: as before a car is decided); None when no
        passage has it (it may still wait in the journal). Raises StoreUnavailableError
        while the database is down."""
        await self.journal_first()

        def read() -> int | None:
            with self._store.unit() as unit:
                return unit.journal_passage(journal_id)

        return await asyncio.to_thread(read)

    async def open_named_offline(
        self, gate_id: str, record: PassageRecord | None, *, passage_id: int | None = None,
        journal_id: str | None = None,
    ) -> BarrierOpened:
        """A guard's open naming a passage while the database is unreachable (``record``:
        :meth:`named_offline`'s answer). The barrier moves as for any open. Its answer is
        journalled for that passage, and the write-back gives it to the passage as an online
        open does: the barrier outcome, and an admission its failed open took back, once.
        Meanwhile the gates count the car as that open would (``"redone"``), when the
        passage is known here: one decided offline, or one recorded online whose barrier
        did not open since this process started."""
        outcome = await self._drive_open(gate_id, passage_id=passage_id, journal_id=journal_id)
        opened = GuardOpen(key=uuid.uuid4().hex, at=self._clock(), gate_id=gate_id,
                           outcome=outcome, passage_id=passage_id, journal_id=journal_id)
        if self._journal is None:
            logger.error("guard's open of %s at %s (%s) not journalled: no journal",
                         opened.named, gate_id, outcome)
            return BarrierOpened(outcome)
        try:
            await asyncio.to_thread(self._journal.append_guard_open, opened)
        except StoreUnavailableError as disk:
            # The barrier moved and the audit entry says so; the passage cannot be told.
            logger.error("guard's open of %s at %s (%s) not journalled: %s",
                         opened.named, gate_id, outcome, disk)
            return BarrierOpened(outcome)
        admission: str | None = None
        if record is not None:
            if outcome == OUTCOME_FAULT:
                self._offline.undo(record)  # as online: a failed open takes the admission back
            elif self._offline.redo(record):
                admission = "redone"
                if passage_id is not None:
                    # As online, where this clears admission_undone: a second open of it
                    # counts nothing (the gates keep no undo for a stored passage).
                    self._faulted.pop(passage_id, None)
            if journal_id is not None:
                self._journal_row_changed(record, outcome)
        logger.info("guard's open of %s at %s: %s, journalled%s", opened.named, gate_id,
                    outcome, " (its car counted again)" if admission else "")
        return BarrierOpened(outcome, admission)

    def _journal_row_changed(self, record: PassageRecord, outcome: str) -> None:
        """A passage waiting in the journal has a new barrier outcome (its own open's, or a
        guard's open naming it), and the gates may count its car differently: the booth
        screen reads its row again, as ``passage_updated`` makes it read a stored one."""
        self._bus.publish(Event("passage_offline_updated", {
            "journal_id": record.journal_id, "gate_id": record.gate_id,
            "barrier_outcome": outcome,
        }))

    async def _remember_faulted(self, passage_id: int, record: PassageRecord) -> None:
        """Keep an allowed passage recorded online whose barrier did not open, for a guard's
        open during a later outage, and tell the gates' offline view where its car is now:
        a snapshot taken between the passage and its barrier's answer has it inside, and
        would refuse its retry, or a guard's open, during an outage that follows."""
        self._faulted[passage_id] = record
        while len(self._faulted) > FAULTED_KEPT:
            del self._faulted[next(iter(self._faulted))]  # the oldest
        plate = record.decision.matched_plate or record.sighting.plate
        if plate is None or self._journal is None or self.database_suspect():
            return  # gone already: its outcome waits in the journal, the snapshot stands

        def inside() -> bool:
            with self._store.unit() as unit:
                return unit.is_inside(plate)

        try:
            self._offline.seen_online(plate, await asyncio.to_thread(inside))
        except StoreUnavailableError:
            pass  # gone meanwhile: the snapshot stands
        except Exception:
            # The barrier has answered and the passage is recorded: the camera gets its
            # answer whatever this read does (told an error, it would record the car twice).
            logger.exception("passage %s: where its car is now could not be read", passage_id)

    async def _drive_open(
        self, gate_id: str, *, passage_id: int | None, journal_id: str | None,
        plate: str | None = None,
    ) -> str:
        """Command the gate's barrier open; its answer (a fault is alarmed, tied to the
        passage given)."""
        barrier = self._barriers.get(gate_id)
        if barrier is None:
            outcome = "no_barrier"
        else:
            wait_s = barrier.command_budget_s + BARRIER_WAIT_MARGIN_S
            try:
                # Not asyncio.wait_for: on Python 3.11 it returns an answer that comes as this
                # task is cancelled and drops the cancel, and the caller went on to record
                # and report the open. asyncio.timeout raises the cancel at the next await.
                async with asyncio.timeout(wait_s):
                    state = await barrier.open()
                outcome = str(state)
                # A guard's open naming no passage is the latest too: a fault after it is
                # nobody's car.
                self._opened_for[gate_id] = _OpenedFor(passage_id, journal_id, plate,
                                                       time.monotonic())
            except (HardwareError, TimeoutError) as err:
                outcome = "fault"
                # A time-out's own text is empty: say what it means.
                why = f"no answer within {wait_s:g} s" if isinstance(err, TimeoutError) else (
                    str(err) or type(err).__name__
                )
                message = f"barrier at {gate_id} did not open: {why}"
                logger.warning("%s", message)
                # Offline (journal_id set) it is published now and stored from the journal.
                if self._fault_alarms or passage_id is not None or journal_id is not None:
                    await self.barrier_fault(
                        gate_id, message, passage_id=passage_id, journal_id=journal_id
                    )
        return outcome

    async def barrier_fault(
        self, gate_id: str, message: str, *, passage_id: int | None = None,
        journal_id: str | None = None,
    ) -> None:
        """A barrier fault for the guards: one ``hardware_fault`` alarm per gate while one is
        open (unacknowledged and under :data:`ALARM_REPEAT_WINDOW` old), as for a blocked car
        that keeps trying. During an outage every car's open fails and the machine goes
        fault → opening → fault each time; that is one thing to deal with, not one alarm per
        car. The first passage the fault concerns is tied to the alarm.

        An arm that did not rise after the barrier took the open (a motion time-out, reported
        by the barrier itself, naming no passage) is tied to the car the gate's latest open was
        for, if that open was within ``OPEN_FAULT_TIE_S``: the guard sees which car, counted in
        as the open was confirmed, may have turned away (guide 4.3: 「车已离开」)."""
        if passage_id is None and journal_id is None and message.startswith(NOT_OPEN):
            opened = self._opened_for.get(gate_id)
            if opened is not None and time.monotonic() - opened.at <= OPEN_FAULT_TIE_S:
                passage_id, journal_id = opened.passage_id, opened.journal_id
                if opened.plate:
                    # The booth's alarm names the car (api/console/rendering.alarm_plate);
                    # the city feed's alarm carries no message.
                    message = f"{message}; {opened.plate} was let in on that open"
        await self.raise_alarm(
            "hardware_fault", message, gate_id=gate_id, passage_id=passage_id,
            journal_id=journal_id, once_per_gate=True,
        )

    async def raise_alarm(
        self, kind: str, message: str, *, gate_id: str | None = None,
        passage_id: int | None = None, journal_id: str | None = None,
        once_per_gate: bool = False,
    ) -> None:
        """Store an alarm and publish it. While the database is unreachable it is published
        at once and journalled, and stored when the database answers: a barrier that breaks
        during an outage must still reach the guards (``journal_id``: the offline passage it
        concerns)."""
        now = self._clock()
        async with self._alarm_lock:
            alarm: dict[str, Any] | None = None
            failure: StoreUnavailableError | None = None
            if self.database_suspect():
                failure = StoreUnavailableError("database unavailable (retrying shortly)")
            else:
                try:
                    alarm = await asyncio.to_thread(
                        self._store_alarm, kind, gate_id, passage_id, message, now,
                        once_per_gate,
                    )
                except StoreUnavailableError as err:
                    self.mark_database_unavailable()
                    failure = err
            if failure is not None:
                pending = PendingAlarm(
                    key=uuid.uuid4().hex, kind=kind, gate_id=gate_id, message=message, at=now,
                    passage_id=passage_id, journal_id=journal_id, once_per_gate=once_per_gate,
                )
                alarm = await self._alarm_offline(pending, failure)
        if alarm is not None:
            self._bus.publish(Event("alarm", alarm))

    def _store_alarm(
        self, kind: str, gate_id: str | None, passage_id: int | None, message: str,
        at: datetime, once_per_gate: bool,
    ) -> dict[str, Any] | None:
        with self._store.unit() as unit:
            return store_alarm_once(unit, kind, gate_id, passage_id, message, at, once_per_gate)

    async def _alarm_offline(
        self, pending: PendingAlarm, err: StoreUnavailableError
    ) -> dict[str, Any] | None:
        """What is published for an alarm the database cannot take; None for a repeat."""
        key = (pending.kind, pending.gate_id)
        if pending.once_per_gate:
            last = self._offline_alarms.get(key)
            if last is not None and pending.at - last < ALARM_REPEAT_WINDOW:
                return None
            self._offline_alarms[key] = pending.at
        where = f"{pending.kind} at {pending.gate_id or 'the site'}"
        if self._journal is None:
            logger.error("%s published but not stored (%s): %s", where, err, pending.message)
        else:
            try:
                await asyncio.to_thread(self._journal.append_alarm, pending)
                logger.warning("%s published; stored when the database answers (%s)",
                               where, err)
            except StoreUnavailableError as disk:
                logger.error("%s published but not stored (%s; %s): %s",
                             where, err, disk, pending.message)
        return alarm_event(
            None, pending.kind, pending.gate_id, pending.passage_id, pending.message
        )

    async def _finish(
        self, passage_id: int | None, outcome: str, journal_id: str | None = None
    ) -> BarrierOpened:
        if journal_id is not None and passage_id is None and self._journal is not None:
            await asyncio.to_thread(self._journal.set_outcome, journal_id, outcome)
        if passage_id is None:
            return BarrierOpened(outcome)
        update: dict[str, Any] = {"id": passage_id, "barrier_outcome": outcome}
        try:
            update.update(await asyncio.to_thread(self._write_outcome, passage_id, outcome))
        except StoreUnavailableError as err:
            # The passage is committed and the barrier has answered: the caller gets both
            # (a camera told 503 would retry and record the car twice); the outcome
            # waits in the journal until the database is back.
            await self._outcome_later(passage_id, outcome, err)
        self._bus.publish(Event("passage_updated", update))
        return BarrierOpened(outcome, update.get("admission"))

    def _write_outcome(self, passage_id: int, outcome: str) -> dict[str, Any]:
        """The outcome, and for an admission undone or given back, what listeners need of
        the passage (the console's flags, the car whose parking hold to release)."""
        with self._store.unit() as unit:
            return outcome_update(unit, passage_id, outcome)

    async def _outcome_later(
        self, passage_id: int, outcome: str, err: StoreUnavailableError
    ) -> None:
        self.mark_database_unavailable()  # the next cars decide offline at once
        if self._journal is None:
            logger.error("barrier outcome %s of passage %s not recorded: %s",
                         outcome, passage_id, err)
            return
        try:
            await asyncio.to_thread(self._journal.set_passage_outcome, passage_id, outcome)
        except StoreUnavailableError as disk:
            logger.error("barrier outcome %s of passage %s not recorded: %s; %s",
                         outcome, passage_id, err, disk)
            return
        logger.warning("%s: barrier outcome %s of passage %s journalled, written when the "
                       "database answers", err, outcome, passage_id)

    async def _publish_availability(self) -> None:
        """The zones' counts for boards and the city hub, after a passage moved one."""
        try:
            await self.zone_counts.publish()
        except StoreUnavailableError as err:
            # The count itself is committed with the passage; the boards catch up with the
            # next change or their own refresh.
            logger.warning("availability not published after a passage: %s", err)


# How many allowed passages whose barrier did not open the runtime keeps for a guard's
# open during a later outage (a few hours of a bad barrier at a busy gate).
FAULTED_KEPT = 256
# A plate typed at a gate where the same plate was decided this recently (or read there
# this soon after it was typed) is that passage again, not a second car: as long as a
# camera's same-plate cooldown (plate_config.py).
TYPED_REPEAT_WINDOW = timedelta(seconds=30)
