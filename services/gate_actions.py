"""A guard's manual command to a barrier: drive it, and write who did it and why.

Every attempt is audited, including refused and failed ones: the audit log answers "who
opened the gate at 02:13?" even when the barrier did not move. While the database is down
the barrier still moves, and the entry goes to the audit journal on disk first
(services/audit_journal.py), to be written to the audit log once the database answers, and
the bus hears of it at once as ``audit_offline`` (the gate's screen says 保安已放行). An
open naming a passage then (a stored one by its id, one decided offline by its journal id)
is journalled for that passage too, and counts its car as online (GateRuntime.
open_named_offline).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from controllers.events import Event
from controllers.ports import OUTCOME_PENDING, PassageRecord
from controllers.runtime import BARRIER_WAIT_MARGIN_S
from controllers.values import Credential
from errors import (
    ConflictError,
    HardwareError,
    InvalidInputError,
    NotFoundError,
    StoreUnavailableError,
)
from hardware.base import ScreenMessage
from models.db import DATABASE_DOWN, transaction
from models.events import AuditEntry, Passage
from services.audit_journal import FileAuditJournal, JournalledAudit
from services.container import Services
from wall_clock import utcnow

# Named (and typed) for the except clause: mypy does not take (*DATABASE_DOWN, X) there.
DATABASE_OR_STORE_DOWN: tuple[type[Exception], ...] = (*DATABASE_DOWN, StoreUnavailableError)

logger = logging.getLogger(__name__)

GateAction = Literal["open", "close", "hold_open", "release"]
GATE_ACTIONS: tuple[str, ...] = get_args(GateAction)


@dataclass(frozen=True, slots=True)
class GateActionResult:
    gate_id: str
    action: str
    state: str
    audit_id: int | None  # None while the entry waits in the audit journal (journal_id)
    journal_id: str | None = None
    # "redone": the open named a passage whose failed open had taken its admission back,
    # and gave it back (presence, zone count, pass use).
    admission: Literal["redone"] | None = None
    # For hold_open and release: whether the guard's hold was set or lifted by this action
    # (None: the driver cannot tell). The state alone cannot: a gate opening for a car and one
    # held while its arm rises both answer "opening", and a fire alarm's hold looks like one.
    hold_changed: bool | None = None


def gate_states(services: Services) -> list[dict[str, Any]]:
    """Every configured gate with its barrier's live state, in configuration order."""
    rows = []
    cameras = services.cameras.health() if services.cameras is not None else {}
    screens = services.screens
    for gate in services.settings.community.gates:
        barrier = services.barriers.get(gate.id)
        camera = cameras.get(gate.id)
        rows.append(
            {
                "id": gate.id,
                "name": gate.name or gate.id,
                "kind": gate.kind,
                "direction": gate.direction,
                "zone": gate.zone,
                "state": str(barrier.state) if barrier is not None else "none",
                "fault": barrier.fault if barrier is not None else None,
                # None: no camera is watched at this gate (none, or one that pushes
                # without push_camera.heartbeat_s).
                "camera_up": camera.up if camera is not None else None,
                # What the gate's screen (车道屏) is meant to show; None: it has none.
                "screen": _screen_lines(screens.shown(gate.id)) if screens is not None
                else None,
            }
        )
    return rows


def _screen_lines(message: ScreenMessage | None) -> list[str] | None:
    return list(message.lines) if message is not None else None


def write_audit(
    services: Services,
    *,
    username: str,
    action: str,
    reason: str,
    gate_id: str | None = None,
    passage_id: int | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    with transaction(services.sessions) as session:
        entry = AuditEntry(
            username=username,
            action=action,
            target=target,
            gate_id=gate_id,
            passage_id=passage_id,
            reason=reason,
            details=details or {},
        )
        session.add(entry)
        session.flush()
        entry_id = entry.id
    # Published once committed, so a listener that reads the log finds the row.
    services.bus.publish(
        Event(
            "audit",
            {"id": entry_id, "username": username, "action": action, "gate_id": gate_id,
             "passage_id": passage_id, "reason": reason, "details": details or {}},
        )
    )
    return entry_id


@dataclass(frozen=True, slots=True)
class _Named:
    """Where the action is audited, and the passage it names as the database knows it."""

    online: bool
    passage_id: int | None
    journal_id: str | None = None  # offline: a passage decided offline, not written yet
    # While the database is down: the passage named, as the gates know it (None: unknown
    # here; the write-back checks it).
    record: PassageRecord | None = None

    @property
    def offline_passage(self) -> bool:
        """Names a passage while the database is down: its open goes through the journal."""
        return not self.online and (self.passage_id is not None or self.journal_id is not None)


def _check_passage(services: Services, gate_id: str, passage_id: int | None) -> None:
    if passage_id is None:
        return
    with services.sessions() as session:
        passage = session.get(Passage, passage_id)
        if passage is None:
            raise NotFoundError(f"passage {passage_id} not found")
        # The passage gets this barrier's outcome and the audit links the two: a passage at
        # another gate would record an opening that never happened there.
        if passage.gate_id != gate_id:
            raise InvalidInputError(
                f"passage {passage_id} was at gate {passage.gate_id}, not {gate_id}"
            )


class _ActionAudit:
    """Where one gate action's audit entry goes: one row once the barrier answered, or while
    the database is down the audit journal, begun (fsynced) before the barrier moves and
    finished with its answer. An action that finds the database gone only when writing its
    row (nothing told it before) journals the whole entry then. One that ends without the
    barrier's answer (a shutdown cancels the request while the command is on the wire) is
    journalled then with the outcome ``pending`` (:meth:`abandon`): the barrier may have
    moved, and every override is audited with who and why. One cut off before the barrier
    was commanded (while its entry was being begun) is withdrawn (:meth:`withdraw`): as
    online, where nothing is written before the command, it leaves no entry."""

    def __init__(self, services: Services, entry: JournalledAudit) -> None:
        self._services = services
        self._entry = entry
        self.journal_id: str | None = None
        self._open = False  # begun in the journal, the barrier's answer still to come
        # The entry's write (the row, or the journal's) is in a worker thread's hands, and
        # ends there even if this task is cancelled.
        self._handed_over = False
        # The begin runs in a worker thread that a cancel of this task does not stop (nor,
        # once a worker took it, prevent): whichever of the two comes second undoes it.
        self._begin_lock = threading.Lock()
        self._withdrawn = False

    def _journal(self) -> FileAuditJournal:
        journal = self._services.audit_journal
        if journal is None:
            raise StoreUnavailableError("database unavailable and no audit journal to keep "
                                        "the action in: not carried out")
        return journal

    def begin_offline(self) -> None:
        """In a worker thread: the entry, durable before the barrier is commanded."""
        with self._begin_lock:
            if self._withdrawn:
                return  # cancelled while this waited for a worker
        self._journal().begin(replace(self._entry, details={"outcome": OUTCOME_PENDING}))
        with self._begin_lock:
            self.journal_id = self._entry.key
            self._open = not self._withdrawn
        if not self._open:
            self._withdraw_begun()  # cancelled while this wrote

    def withdraw(self) -> None:
        """The action ended before its barrier was commanded (cancelled while its entry was
        being begun): no entry, begun or to be. Synchronous, as :meth:`abandon`."""
        with self._begin_lock:
            self._withdrawn = True
            begun, self._open = self._open, False
        if begun:
            self._withdraw_begun()

    def _withdraw_begun(self) -> None:
        entry = self._entry
        try:
            self._journal().withdraw(entry.key)
        except StoreUnavailableError as err:
            logger.error("%s at %s by %s (reason: %s) ended before the barrier was commanded, "
                         "but its journal entry (outcome pending) could not be withdrawn: %s",
                         entry.action, entry.gate_id, entry.username, entry.reason, err)
            return
        self.journal_id = None
        logger.info("%s at %s by %s ended before the barrier was commanded: not audited",
                    entry.action, entry.gate_id, entry.username)

    async def finish(self, outcome: str, **extra: Any) -> int | None:
        """Audits the action's outcome; returns the row's id, None while journalled."""
        details = {"outcome": outcome, **extra}
        if self.journal_id is not None:
            await self._hand_over(self._finish_offline, details)
            self._publish_offline(details)
            return None
        audit_id = await self._hand_over(self._write_or_journal, details)
        if audit_id is None:
            self._publish_offline(details)
        return audit_id

    async def _hand_over(
        self, write: Callable[[dict[str, Any]], int | None], details: dict[str, Any]
    ) -> int | None:
        """Runs ``write`` in a worker thread, given to the pool here and now and shielded:
        asyncio.to_thread's job is dropped when its task is cancelled before a worker took
        it, and a shutdown's cancel then left the action (the barrier moved) with no entry,
        or a journalled one waiting for an answer that had come. A cancel still ends this
        task at once; the write goes on."""
        work = asyncio.get_running_loop().run_in_executor(None, write, details)
        self._handed_over = True
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            # Nobody awaits the write any more: its failure would only be asyncio's "Future
            # exception was never retrieved", without the guard or the action.
            work.add_done_callback(self._lost_write)
            raise

    def _lost_write(self, work: asyncio.Future[int | None]) -> None:
        if work.cancelled() or work.exception() is None:
            return
        entry = self._entry
        logger.error("%s at %s by %s (reason: %s) was cut off, and its audit entry could not "
                     "be written: %s", entry.action, entry.gate_id, entry.username,
                     entry.reason, work.exception())

    def _write_or_journal(self, details: dict[str, Any]) -> int | None:
        """In a worker thread: the row, or the journal when the database is gone, in one go
        that a cancel of the awaiting task does not cut in two."""
        entry = self._entry
        try:
            return write_audit(
                self._services, username=entry.username, action=entry.action,
                reason=entry.reason, gate_id=entry.gate_id, passage_id=entry.passage_id,
                target=entry.target, details=details,
            )
        except DATABASE_DOWN as err:
            self._services.runtime.mark_database_unavailable()
            logger.warning("%s at %s by %s: the database went away before its audit entry "
                           "was written (%s); journalled", entry.action, entry.gate_id,
                           entry.username, type(err).__name__)
            self._journal().record(replace(entry, details=details))
            self.journal_id = entry.key
            return None

    def _publish_offline(self, details: dict[str, Any]) -> None:
        """What happened at the gate, now: its audit row is published (as ``audit``) only
        when the database answers, minutes later, and the gate's screen must tell the car
        at the gate now. The same journal id marks that row, so nothing takes both for two
        actions."""
        entry = self._entry
        self._services.bus.publish(Event("audit_offline", {
            "journal_id": entry.key, "action": entry.action, "gate_id": entry.gate_id,
            "passage_id": entry.passage_id, "passage_journal_id": entry.passage_journal_id,
            "details": details,
        }))

    def abandon(self, why: BaseException) -> None:
        """The action ended without an answer (cancelled, a bug), and the barrier may have
        moved all the same: the entry is written with the outcome ``pending``. Begun in the
        journal (offline), as it is. Online, where nothing was written yet, the whole entry
        is journalled now, in this call: nothing can cut a synchronous write short (a
        second cancel, the loop closing behind a shutdown), and the offline loop writes it
        to the audit log within seconds, or the next start does."""
        if self._handed_over:
            return  # being written with the answer
        if self._open:
            self._finish_offline(None)
            return
        if self.journal_id is not None:
            return
        entry = replace(self._entry, details={"outcome": OUTCOME_PENDING})
        try:
            self._journal().record(entry)
        except StoreUnavailableError as err:
            logger.error("%s at %s by %s (reason: %s) ended before the barrier answered "
                         "(%s), and could not be audited: %s", entry.action, entry.gate_id,
                         entry.username, entry.reason, type(why).__name__, err)
            return
        self.journal_id = entry.key
        logger.warning("%s at %s by %s (reason: %s) ended before the barrier answered (%s); "
                       "the barrier may have moved: audited as pending (journal %s)",
                       entry.action, entry.gate_id, entry.username, entry.reason,
                       type(why).__name__, entry.key)

    def _finish_offline(self, details: dict[str, Any] | None) -> None:
        assert self.journal_id is not None
        self._open = False
        try:
            self._journal().finish(self.journal_id, details)
        except StoreUnavailableError as err:
            # The entry itself is on disk: only its outcome is lost, and the barrier moved.
            logger.error("%s at %s by %s: outcome %s not journalled: %s", self._entry.action,
                         self._entry.gate_id, self._entry.username, details, err)


async def _named(
    services: Services, gate_id: str, passage_id: int | None, journal_id: str | None
) -> _Named:
    """Whether to audit in the database: not when it is known to be down (the guard's own
    account check or a gate found so a moment ago), nor when checking the passage finds it
    so. The passage is checked before anything moves, after the journal is written back
    (a guard's open of it journalled during the outage goes first); one named by its
    journal id is looked up in the database then, and is named by its id from then on."""
    runtime = services.runtime
    online = not runtime.database_suspect()
    if online:
        try:
            if journal_id is not None:
                stored = await runtime.stored_passage(journal_id)
                if stored is None:
                    # Still in the journal (its barrier answering): as during an outage, it
                    # gets this open once it is written. Unknown there too: 404 below.
                    online = False
                else:
                    passage_id, journal_id = stored, None
            elif passage_id is not None:
                await runtime.journal_first()
            if online:
                await asyncio.to_thread(_check_passage, services, gate_id, passage_id)
        except DATABASE_OR_STORE_DOWN:
            runtime.mark_database_unavailable()
            online = False
    named = _Named(online, passage_id, journal_id)
    if not named.offline_passage:
        return named
    record = await asyncio.to_thread(
        runtime.named_offline, gate_id, passage_id=passage_id, journal_id=journal_id
    )
    return _Named(False, passage_id, journal_id, record)


async def perform_gate_action(
    services: Services,
    *,
    username: str,
    gate_id: str,
    action: str,
    reason: str,
    passage_id: int | None = None,
    passage_journal_id: str | None = None,
) -> GateActionResult:
    """Drive one barrier command; raises NotFound/Conflict/Hardware errors after auditing.

    An open that names a passage of this gate whose barrier did not open gives that
    passage's admission back (once: the car is counted in, or out, when the guard lets it
    through). A passage decided during a database outage is named by its journal id
    (``passage_journal_id``). During an outage a stored passage named cannot be checked:
    the audit entry links it once written if it was at this gate, and an open is journalled
    for it, written to it then as online; meanwhile the gates count the car when they know
    the passage (see GateRuntime.open_named_offline)."""
    if action not in GATE_ACTIONS:
        raise InvalidInputError(f"action must be one of {', '.join(GATE_ACTIONS)}, got {action!r}")
    if passage_id is not None and passage_journal_id is not None:
        raise InvalidInputError("name a passage by passage_id or passage_journal_id, not both")
    services.runtime.gate(gate_id)  # unknown gate → 404 before anything is written
    barrier = services.barriers.get(gate_id)
    if barrier is None:
        raise NotFoundError(f"gate {gate_id!r} has no barrier to drive")
    named = await _named(services, gate_id, passage_id, passage_journal_id)
    audit = _ActionAudit(services, JournalledAudit(
        key=uuid.uuid4().hex, at=utcnow(), username=username, action=f"gate.{action}",
        reason=reason, target=f"gate:{gate_id}", gate_id=gate_id, passage_id=named.passage_id,
        passage_journal_id=named.journal_id,
    ))
    if not named.online:
        try:
            await asyncio.to_thread(audit.begin_offline)  # durable before the barrier moves
        except BaseException:
            audit.withdraw()
            raise
    held_before = _held(barrier)
    try:
        state, admission = await _drive(services, barrier, audit, gate_id, action, username,
                                        named)
    except BaseException as err:
        audit.abandon(err)
        raise
    held_after = _held(barrier)
    hold_changed = (
        held_before != held_after
        if action in ("hold_open", "release") and None not in (held_before, held_after)
        else None
    )
    details: dict[str, Any] = {}
    if admission:  # audited with the action: this open, not the car's own passage, counted the car
        details["admission"] = admission
    if hold_changed is False:
        # A 取消常开 of a gate not held (or 常开 of one held) leaves "open" as its outcome,
        # which reads in the log like the release asked for: say that nothing changed.
        details["hold_unchanged"] = True
    audit_id = await audit.finish(state, **details)
    logger.info("gate %s: %s by %s (%s) → %s%s%s", gate_id, action, username, reason, state,
                f" (passage {named.passage_id or named.journal_id} counted again)"
                if admission else "",
                "" if audit_id is not None else f" (audit journalled: {audit.journal_id})")
    return GateActionResult(gate_id=gate_id, action=action, state=state, audit_id=audit_id,
                            journal_id=audit.journal_id if audit_id is None else None,
                            admission=admission, hold_changed=hold_changed)


def _count_qr_use(services: Services, record: PassageRecord | None,
                  admission: str | None) -> None:
    """A QR passage the gates counted again (``redone``) used its pass: the pedestrian gate's
    offline QR check counts uses on its own (it gave this one back when the gate did not
    open), so it is told too, or a single-use code opens again during the outage."""
    credentials = services.offline_credentials
    if admission != "redone" or record is None or credentials is None:
        return
    decision = record.decision
    if (decision.credential is Credential.QR and decision.count_pass_use
            and decision.pass_id is not None):
        credentials.count_use(decision.pass_id)


def _held(barrier: Any) -> bool | None:
    """Whether a guard's hold is set on the barrier (its state machine says; None for a
    driver without one)."""
    machine = getattr(barrier, "machine", None)
    held = getattr(machine, "held", None)
    return held if isinstance(held, bool) else None


async def _drive(
    services: Services, barrier: Any, audit: _ActionAudit, gate_id: str, action: str,
    username: str, named: _Named,
) -> tuple[str, Literal["redone"] | None]:
    """The barrier's state after the command, and for an open that gave the passage named
    its admission back, ``"redone"``; a refusal or failure is audited and raised."""
    if action == "open":
        # Through the runtime so a linked passage gets its barrier outcome (and an admission
        # its failed open took back, once) and a fault its alarm; during an outage through
        # the journal, and the gates count the car meanwhile.
        runtime = services.runtime
        if not named.offline_passage:
            opened = await runtime.open_barrier_for(
                gate_id, passage_id=named.passage_id if named.online else None
            )
        else:
            opened = await runtime.open_named_offline(
                gate_id, named.record, passage_id=named.passage_id, journal_id=named.journal_id
            )
            _count_qr_use(services, named.record, opened.admission)
        if opened.barrier == "fault":
            message = f"gate {gate_id}: open failed: {barrier.fault or 'no confirmation'}"
            await audit.finish("fault", error=message)
            raise HardwareError(message)
        return opened.barrier, "redone" if opened.admission == "redone" else None
    command = getattr(barrier, action)
    try:
        # The barrier's own budget (its retries, and a command already on the wire) and a
        # margin, as for an open: a shorter limit cut a close off mid-retry.
        wait_s = barrier.command_budget_s + BARRIER_WAIT_MARGIN_S
        # Not asyncio.wait_for: on Python 3.11 it returns an answer that comes as this task
        # is cancelled and drops the cancel, and the command was audited and answered as
        # done. asyncio.timeout raises the cancel at the next await.
        async with asyncio.timeout(wait_s):
            state = await command()
        return str(state), None
    except ConflictError as err:
        await audit.finish("refused", error=str(err))
        raise
    except (HardwareError, TimeoutError) as err:
        # Said as a failed open is ("gate …: open failed: …"): the driver's words alone
        # ("modbus://…: cannot connect") reached the booth as they were, never saying which
        # action had failed.
        message = (
            f"gate {gate_id}: {action} failed: {err}" if str(err)
            else f"gate {gate_id}: {action} not confirmed in time"
        )
        logger.warning("gate %s: %s by %s failed: %s", gate_id, action, username, message)
        # A safety supervisor, when wired in, already raises an alarm when a barrier goes
        # into fault; only a failure it cannot see gets an alarm of its own here.
        supervised = getattr(services, "safety", None) is not None
        if not supervised or str(barrier.state) != "fault":
            await services.runtime.raise_alarm("hardware_fault", message, gate_id=gate_id)
        await audit.finish("fault", error=message)
        raise HardwareError(message) from err
