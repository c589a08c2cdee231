"""Writing the passage journal back to the database once it answers again.

A mixin of :class:`controllers.runtime.GateRuntime`, which keeps the state it uses (set in its
``__init__``) and calls :meth:`JournalWriteBack.replay_journal` from a gate's first car after
an outage and from the background loop. Each entry is written in its own transaction, once its
barrier has answered, and dropped from the journal only after that commit (a crash in between
writes it again, keyed by its journal id, never loses it). One the database refuses for a
reason other than an outage is set aside (kept on disk, logged, an alarm for the guards), and
the entries behind it go on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from controllers.events import Event, EventBus
from controllers.passage_rows import (
    ALARM_MESSAGE_LIMIT,
    alarm_event,
    error_line,
    may_move_a_zone,
    outcome_update,
    record_outcome,
    shortened,
    store_alarm,
    store_alarm_once,
    write_passage,
)
from controllers.ports import (
    OUTCOME_PENDING,
    AccessStore,
    GuardOpen,
    JournalBacklog,
    JournalEntry,
    PassageJournal,
)
from errors import StoreUnavailableError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutageAlarm:
    """The database_outage alarm raised for the outage still going on, and what it says."""

    alarm_id: int
    first: datetime
    last: datetime
    written: int


class JournalWriteBack:
    """The write-back steps of :class:`controllers.runtime.GateRuntime`."""

    _store: AccessStore
    _bus: EventBus
    _journal: PassageJournal | None
    _replay_lock: asyncio.Lock
    _unanswered: set[str]
    _offline_until: float
    _write_back_failing: bool
    _outage: OutageAlarm | None
    _outage_logged: bool
    _offline_alarms: dict[tuple[str, str | None], datetime]

    if TYPE_CHECKING:
        async def raise_alarm(
            self, kind: str, message: str, *, gate_id: str | None = None,
            passage_id: int | None = None, journal_id: str | None = None,
            once_per_gate: bool = False,
        ) -> None: ...

        async def _publish_availability(self) -> None: ...

    async def replay_journal(self) -> int:
        """Write journalled passages to the database; returns how many were written.

        Raises StoreUnavailableError while the database is still down (nothing is lost:
        entries leave the journal only once their passage is committed, or set aside when
        the database refuses them for another reason)."""
        if self._journal is None:
            return 0
        set_aside: list[str] = []  # what was refused and moved aside, for the guards
        try:
            async with self._replay_lock:  # the background loop and a gate may both try
                # Taken before the journal is read: an entry not held back then had its
                # outcome journalled already, so the read finds it.
                unanswered = set(self._unanswered)
                backlog = answered(await asyncio.to_thread(self._journal.backlog), unanswered)
                if not backlog:
                    self._write_back_failing = False
                    return 0
                views, alarms, outcomes, reopened = await asyncio.to_thread(
                    self._write_journal, backlog, set_aside, unanswered
                )
                self._offline_until = 0.0
        finally:
            # Also when the write-back stopped at an outage after setting something aside.
            if set_aside:
                await self._alarm_set_aside(set_aside)
        self._write_back_failing = False
        for view in views:
            self._bus.publish(Event("passage", view))
        for passage_id, outcome in outcomes.items():
            self._bus.publish(
                Event("passage_updated", {"id": passage_id, "barrier_outcome": outcome})
            )
        for update in reopened:
            self._bus.publish(Event("passage_updated", update))
        for alarm in alarms:
            self._bus.publish(Event("alarm", alarm))
        if any(may_move_a_zone(e.record) for e in backlog.entries) or any(
            update.get("admission") for update in reopened
        ):
            await self._publish_availability()
        if backlog.entries:
            logger.info("wrote %d journalled passages to the database", len(views))
        if outcomes:
            logger.info("wrote %d journalled barrier outcomes to the database", len(outcomes))
        if reopened:
            logger.info("wrote %d guards' opens journalled during the outage to their "
                        "passages", len(reopened))
        return len(views)

    def _write_journal(
        self, backlog: JournalBacklog, set_aside: list[str], held: set[str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, str], list[dict[str, Any]]]:
        """Each entry in its own transaction; one the database refuses for a reason other
        than an outage is set aside (noted in ``set_aside``) and the next one goes on.
        ``held``: journal ids of passages still waiting for their barrier (not in
        ``backlog``). A guard's open goes in where it happened among the passages: the
        car it let through may have left again on a later one."""
        assert self._journal is not None
        entries = backlog.entries
        views: list[dict[str, Any]] = []
        alarms: list[dict[str, Any]] = []
        written: dict[int, str] = {}
        reopened: list[dict[str, Any]] = []
        done: set[str] = set()
        outcomes_done: set[int] = set()
        alarms_done: set[str] = set()
        reopens_done: set[str] = set()
        reopens = sorted(backlog.reopens, key=lambda r: r.at)  # stable: file order on ties
        # Passages whose guard's opens must wait for them: held, or not written yet.
        waiting = held | {e.record.journal_id for e in entries if e.record.journal_id}

        def reopens_until(until: datetime | None) -> None:
            while reopens and (until is None or reopens[0].at < until):
                opened = reopens.pop(0)
                try:
                    finished, update = self._write_guard_open(opened, waiting)
                except StoreUnavailableError:
                    raise
                except Exception as err:
                    self._set_aside(JournalBacklog(reopens=[opened]), guard_open_text(opened),
                                    err, set_aside)
                    continue
                if finished:
                    reopens_done.add(opened.key)
                if update is not None:
                    reopened.append(update)

        try:
            # First: these passages were stored before the outage, and their barriers
            # answered as it began, before the passages decided offline since. A failed one
            # takes its car out; after the car's retry was written (not counted: the failed
            # passage still had it inside) that left the car inside, recorded nowhere.
            for passage_id, outcome in backlog.outcomes.items():
                try:
                    with self._store.unit() as unit:
                        # Only over "pending": a guard's later open of the same passage,
                        # written once the database was back, is newer than this one.
                        if unit.outcome_of(passage_id) == OUTCOME_PENDING:
                            record_outcome(unit, passage_id, outcome)
                            written[passage_id] = outcome
                except StoreUnavailableError:
                    raise
                except Exception as err:
                    self._set_aside(
                        JournalBacklog(outcomes={passage_id: outcome}),
                        f"barrier outcome {outcome} of passage {passage_id}", err, set_aside,
                    )
                    continue
                outcomes_done.add(passage_id)
            for entry in entries:
                reopens_until(entry.record.sighting.at)
                record = entry.record
                assert record.journal_id is not None
                try:
                    with self._store.unit() as unit:
                        if not unit.has_journal_entry(record.journal_id):
                            passage_id, raised = write_passage(
                                unit, record, " (decided offline)"
                            )
                            alarms += raised
                            if record.decision.opens:  # the others were never driven
                                record_outcome(unit, passage_id, entry.barrier_outcome)
                            # With its journal id: the booth screen replaces the row it
                            # showed from the journal.
                            views.append({**unit.passage_view(passage_id),
                                          "journal_id": record.journal_id})
                except StoreUnavailableError:
                    raise
                except Exception as err:
                    self._set_aside(JournalBacklog(entries=[entry]), entry_text(entry), err,
                                    set_aside)
                    waiting.discard(record.journal_id)
                    continue
                done.add(record.journal_id)
                waiting.discard(record.journal_id)
            reopens_until(None)
            for pending in backlog.alarms:  # published when raised; stored now
                try:
                    with self._store.unit() as unit:
                        linked = pending.passage_id
                        if linked is None and pending.journal_id is not None:
                            linked = unit.journal_passage(pending.journal_id)
                        store_alarm_once(
                            unit, pending.kind, pending.gate_id, linked, pending.message,
                            pending.at, pending.once_per_gate,
                        )
                except StoreUnavailableError:
                    raise
                except Exception as err:
                    self._set_aside(
                        JournalBacklog(alarms=[pending]),
                        f"{pending.kind} alarm at {pending.gate_id or 'the site'}", err,
                        set_aside,
                    )
                    continue
                alarms_done.add(pending.key)
            if views:
                alarms.append(self._outage_alarm(entries, len(views)))
        finally:
            if done or outcomes_done or alarms_done or reopens_done:
                self._journal.discard(done, outcomes=outcomes_done, alarms=alarms_done,
                                      reopens=reopens_done)
        self._outage_logged = False
        self._offline_alarms.clear()  # the database de-duplicates again
        return views, alarms, written, reopened

    def _write_guard_open(
        self, opened: GuardOpen, waiting: set[str]
    ) -> tuple[bool, dict[str, Any] | None]:
        """Give a passage the guard's open journalled for it, as online (:func:`record_outcome`:
        its outcome, and an admission its failed open took back, unless the car was counted
        since). Returns whether the open is done with, and the passage's update for
        listeners. One naming a journalled passage not written yet waits for it; one naming
        no passage of its gate is dropped, as online it would have been refused (its audit
        entry keeps what the guard named)."""
        with self._store.unit() as unit:
            passage_id = opened.passage_id
            if opened.journal_id is not None:
                passage_id = unit.journal_passage(opened.journal_id)
                if passage_id is None:
                    if opened.journal_id in waiting:
                        return False, None
                    # Set aside with its passage, so an administrator who puts that back puts
                    # this back too.
                    raise LookupError(f"{opened.named} is not in the database (set aside?)")
            assert passage_id is not None
            gate_id = (unit.passage_view(passage_id)["gate_id"]
                       if unit.outcome_of(passage_id) is not None else None)
            if gate_id != opened.gate_id:
                logger.warning("journal: guard's open at %s named %s, %s: not written to it",
                               opened.gate_id, opened.named,
                               "no such passage" if gate_id is None else f"at gate {gate_id}")
                return True, None
            update: dict[str, Any] = {"id": passage_id, "barrier_outcome": opened.outcome,
                                      **outcome_update(unit, passage_id, opened.outcome)}
        if "admission" in update:
            logger.info("journal: guard's open of %s at %s: admission %s", opened.named,
                        opened.gate_id, update["admission"])
        return True, update

    def _set_aside(
        self, refused: JournalBacklog, what: str, err: Exception, set_aside: list[str]
    ) -> None:
        """Move one refused entry out of the journal's way: logged with its traceback (once:
        it is not retried), kept on disk, noted for the guards' alarm."""
        assert self._journal is not None
        why = error_line(err)
        where = self._journal.set_aside_path
        logger.error("journal: %s refused by the database (%s); set aside in %s",
                     what, why, where, exc_info=err)
        try:
            self._journal.set_aside(refused, why)
        except Exception:
            # It stays in the journal, in nobody's way: the next write-back tries it again.
            logger.exception("journal: %s could not be set aside; left in the journal", what)
            why += "; could not be moved, still in the journal"
        set_aside.append(f"{what} ({why})")

    async def _alarm_set_aside(self, set_aside: list[str]) -> None:
        """One alarm for the guards while one is open: entries are waiting for someone to
        look at them, and the log and the file say which."""
        assert self._journal is not None
        message = (f"{len(set_aside)} journal entry(ies) refused by the database, kept in "
                   f"{self._journal.set_aside_path} for an administrator: "
                   + "; ".join(set_aside))
        await self.raise_alarm(
            "journal_entry_set_aside", shortened(message, ALARM_MESSAGE_LIMIT),
            once_per_gate=True,
        )

    def _outage_alarm(self, entries: list[JournalEntry], written: int) -> dict[str, Any]:
        """One database_outage alarm per outage: raised by its first write-back, reworded
        with the new totals by the later ones (unless a guard acknowledged it already)."""
        first = min(e.record.sighting.at for e in entries)
        last = max(e.record.sighting.at for e in entries)
        earlier = self._outage
        if earlier is not None:
            first, last = min(first, earlier.first), max(last, earlier.last)
            written += earlier.written
        message = (f"database was unreachable: {written} passage(s) between "
                   f"{first.isoformat(timespec='seconds')} and "
                   f"{last.isoformat(timespec='seconds')} were decided offline and are now "
                   "recorded")
        with self._store.unit() as unit:
            if earlier is not None and unit.reword_alarm(earlier.alarm_id, message):
                alarm = alarm_event(earlier.alarm_id, "database_outage", None, None, message)
            else:
                alarm = store_alarm(unit, "database_outage", None, None, message)
        self._outage = OutageAlarm(alarm["id"], first, last, written)
        return alarm


def entry_text(entry: JournalEntry) -> str:
    """A journalled passage as an operator finds it again: plate, gate, time, journal id."""
    record = entry.record
    who = record.sighting.plate or (
        f"resident {record.decision.resident_id}" if record.decision.resident_id else "—"
    )
    return (f"passage {who} at {record.gate_id} "
            f"{record.sighting.at.isoformat(timespec='seconds')} "
            f"(journal id {record.journal_id})")


def guard_open_text(opened: GuardOpen) -> str:
    """A journalled guard's open as an operator finds it again."""
    return (f"guard's open of {opened.named} at {opened.gate_id} "
            f"{opened.at.isoformat(timespec='seconds')}")


def answered(backlog: JournalBacklog, unanswered: set[str]) -> JournalBacklog:
    """The backlog without the passages whose barrier has not answered yet, nor their
    alarms (stored once the passage is, to be tied to it); they stay in the journal."""
    if not unanswered:
        return backlog
    return JournalBacklog(
        entries=[e for e in backlog.entries if e.record.journal_id not in unanswered],
        outcomes=backlog.outcomes,
        alarms=[a for a in backlog.alarms if a.journal_id not in unanswered],
        reopens=backlog.reopens,  # one naming a held passage waits for it (_write_guard_open)
    )
