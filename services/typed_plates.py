"""人工录入车牌: a guard types the plate of a car at a vehicle gate, for a camera that is dark
or a plate it cannot see, and the car goes through exactly what a camera read goes through.

The typed plate becomes a sighting like a read (sure of itself: the guard looked at the car)
and is handed to :meth:`GateRuntime.handle_sighting`, so the decision, the barrier, the
passage, presence, the zone count, anti-passback, schedules and, while the database is down,
the offline snapshot and the journal are those of a camera read; nothing here decides. The
passage is flagged ``typed`` and names the guard and the reason in its details, before the
barrier moves (the passage is committed, or journalled, first). The guard's audit entry
follows the decision, in the audit journal while the database is down, and links the passage
(by its journal id until it is written).

A guard's typo can match someone else's car: the answer says what was decided and for whom
(the household, a registered plate the typed one was matched to), for the booth page to
show at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controllers.runtime import PassageResult
from controllers.values import Sighting
from errors import InvalidInputError, StoreUnavailableError
from models.db import DATABASE_DOWN
from models.people import Household
from plate_privacy import plate_for_log
from services.audit_journal import JournalledAudit
from services.container import Services
from services.gate_actions import write_audit
from vision.plate_grammar import double_row_kind, plate_kind
from wall_clock import utcnow

logger = logging.getLogger(__name__)

TYPED_PLATE_ACTION = "gate.typed_plate"


@dataclass(frozen=True, slots=True)
class TypedPlateResult:
    passage: PassageResult
    # "8栋 601": whose car the decision took it for; None without a household (or one the
    # offline snapshot does not name while the database is down).
    household: str | None
    audit_id: int | None  # None while the entry waits in the audit journal (journal_id)
    audit_journal_id: str | None = None


def typed_kind(plate: str) -> str | None:
    """The plate family a typed plate's text alone settles: 挂 is a trailer and a green plate a
    new-energy one however the plate is mounted, so 通行记录's 号牌种类 finds a trailer the
    guard typed. A text also issued on two rows (沪C52088: ordinary, or a 双层黄牌) is
    left unsaid, since only the image tells them apart and the guard typed no image."""
    one_row, two_rows = plate_kind(plate), double_row_kind(plate)
    if one_row is None or two_rows not in (None, one_row):
        return None
    return one_row.value


def typed_sighting(gate_id: str, plate: str, at: datetime) -> Sighting:
    """What a typed plate is to the decision: one read, certain of every character (a
    guard reads the plate off the car; a low confidence would only send it to the review
    queue the guard is standing in for)."""
    return Sighting(gate_id=gate_id, at=at, plate=plate, confidence=1.0, reads=1, typed=True,
                    kind=typed_kind(plate))


async def enter_typed_plate(
    services: Services, *, username: str, gate_id: str, plate: str, reason: str
) -> TypedPlateResult:
    """Decide, record and drive the gate for a plate ``username`` typed; ``plate`` is
    canonical (api/schemas.py ``plate_field``). Unknown gate: NotFoundError; a pedestrian
    gate: InvalidInputError; both before anything is recorded."""
    services.runtime.gate(gate_id)  # unknown gate → 404 before anything is written
    gate = services.settings.gate(gate_id)
    if gate is not None and gate.kind == "pedestrian":
        raise InvalidInputError(
            f"gate {gate_id} is a pedestrian gate: a typed plate is for vehicle gates"
        )
    at = utcnow()
    details: dict[str, Any] = {"typed_by": username, "typed_reason": reason}
    result = await services.runtime.handle_sighting(
        typed_sighting(gate_id, plate, at), details=details
    )
    decision = result.decision
    if result.repeat:
        # Already decided and audited moments ago (a double click, a retry whose answer was
        # lost, a second guard): the earlier passage is the answer, and nothing is counted.
        logger.info("typed plate %s at %s by %s repeats passage %s", plate_for_log(plate), gate_id,
                    username, result.passage_id or f"journal:{result.journal_id}")
        return TypedPlateResult(passage=result, household=await _household(services, result),
                                audit_id=None)
    audit_details: dict[str, Any] = {
        "plate": plate,
        "matched_plate": decision.matched_plate,
        "decision": str(decision.verdict),
        "passage_reason": str(decision.reason),
        "outcome": result.barrier,
        "household_id": decision.household_id,
        "pass_id": decision.pass_id,
    }
    entry = JournalledAudit(
        key=uuid.uuid4().hex, at=at, username=username, action=TYPED_PLATE_ACTION,
        reason=reason, target=f"gate:{gate_id}", gate_id=gate_id,
        passage_id=result.passage_id, passage_journal_id=result.journal_id,
        details={k: v for k, v in audit_details.items() if v is not None},
    )
    audit_id, audit_journal_id = await _audit(services, entry, online=result.passage_id is not None)
    household = await _household(services, result)
    logger.info("typed plate %s at %s by %s (%s) → %s %s, barrier %s", plate_for_log(plate),
                gate_id, username, reason, decision.verdict, decision.reason, result.barrier)
    return TypedPlateResult(passage=result, household=household, audit_id=audit_id,
                            audit_journal_id=audit_journal_id)


async def _audit(
    services: Services, entry: JournalledAudit, *, online: bool
) -> tuple[int | None, str | None]:
    """The audit entry's id, or its key in the audit journal. The car was already dealt
    with: an entry that cannot be kept anywhere is logged, not turned into an error the
    guard would take for "nothing happened" (the passage names the guard and the reason)."""
    if online:
        try:
            audit_id = await asyncio.to_thread(
                write_audit, services, username=entry.username, action=TYPED_PLATE_ACTION,
                reason=entry.reason, gate_id=entry.gate_id, passage_id=entry.passage_id,
                target=entry.target, details=entry.details,
            )
            return audit_id, None
        except DATABASE_DOWN as err:
            services.runtime.mark_database_unavailable()
            logger.warning("typed plate at %s by %s: the database went away before its audit "
                           "entry was written (%s); journalled", entry.gate_id, entry.username,
                           type(err).__name__)
    journal = services.audit_journal
    if journal is None:
        logger.error("typed plate %s at %s by %s: no audit journal while the database is down; "
                     "the audit entry is lost (the passage names the guard)",
                     plate_for_log(entry.details.get("plate")), entry.gate_id, entry.username)
        return None, None
    try:
        await asyncio.to_thread(journal.record, entry)
    except StoreUnavailableError as err:
        logger.error("typed plate at %s by %s: audit entry not journalled: %s",
                     entry.gate_id, entry.username, err)
        return None, None
    return None, entry.key


async def _household(services: Services, result: PassageResult) -> str | None:
    """Whose car it was taken for. While the database is down the offline snapshot names the
    flat, as it does for the journal's rows: guide 4.6 has the guard check the flat in the
    toast against the car, and a typo matching a neighbour's car is as likely offline."""
    household_id = result.decision.household_id
    if household_id is None:
        return None
    if result.passage_id is None:  # decided offline, journalled
        return services.runtime.offline_household_labels().get(household_id)
    return await asyncio.to_thread(_household_label, services, household_id)


def _household_label(services: Services, household_id: int) -> str | None:
    try:
        with services.sessions() as session:
            household = session.get(Household, household_id)
            return f"{household.building} {household.unit}" if household else None
    except DATABASE_DOWN:
        # Gone since the passage was written: the snapshot still names the flat.
        return services.runtime.offline_household_labels().get(household_id)
