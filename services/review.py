"""A guard resolves a passage the controller sent to review: allow once, allow with a new
visitor pass, or deny.

The passage row itself stays as decided (passages are append-only); only its resolution
columns are written. An allowed resolution has the same consequences as an allowed entry
(presence, pass use, zone count), applied through the access store's own ``apply_admission``
so the two paths cannot drift apart, and then the barrier is opened through the runtime.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast, get_args

from sqlalchemy import ColumnElement, CursorResult, case, func, literal, select, update
from sqlalchemy.orm import Session

from controllers.events import Event
from controllers.passage_rows import alarm_event, may_move_a_zone
from controllers.ports import PassageRecord
from controllers.values import AccessDecision, Credential, Direction, Reason, Sighting, Verdict
from errors import ConflictError, InvalidInputError, NotFoundError
from models.access_store import passage_to_dict
from models.events import AuditEntry, Passage
from models.people import Household
from models.vehicles import VisitorPass
from plate_privacy import plate_for_log
from services.container import Services
from wall_clock import utcnow

logger = logging.getLogger(__name__)

Resolution = Literal["allow_once", "visitor_pass", "deny"]
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
# What is stored in Passage.resolution (String(32)) for each choice.
STORED = {"allow_once": "allowed_once", "visitor_pass": "visitor_pass", "deny": "denied"}


@dataclass(frozen=True, slots=True)
class VisitorPassRequest:
    host_household_id: int
    valid_from: datetime
    valid_to: datetime
    max_uses: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.valid_from.tzinfo is None or self.valid_to.tzinfo is None:
            raise ValueError("valid_from and valid_to need a time zone")
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    passage_id: int
    resolution: Resolution
    reason: str
    plate: str | None = None
    visitor: VisitorPassRequest | None = None
    # The guard checked: the vehicle has no plate. The camera's read (another car's plate in
    # view, a sticker) is then not what went through and must not be counted inside.
    no_plate: bool = False

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution!r}")
        if self.no_plate and self.plate is not None:
            raise ValueError("give either a plate or no_plate, not both")
        if self.no_plate and self.visitor is not None:
            raise ValueError("a visitor pass needs a plate: a car with no_plate can be let in "
                             "once (allow_once)")
        if (self.resolution == "visitor_pass") != (self.visitor is not None):
            raise ValueError("a visitor pass is given exactly when resolution is visitor_pass")

    @property
    def allows(self) -> bool:
        return self.resolution != "deny"


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    passage: dict[str, Any]
    resolution: str
    barrier: str | None
    pass_id: int | None
    alarms: list[dict[str, Any]] = field(default_factory=list)


# A passage waiting for a guard: sent to review and not resolved yet.
WAITING = (Passage.decision == "review", Passage.resolution.is_(None))


def review_queue(session: Session, limit: int = 50, gate_id: str | None = None) -> list[Passage]:
    """Unresolved review passages, oldest first: the car waiting longest is served first."""
    query = select(Passage).where(*WAITING)
    if gate_id:
        query = query.where(Passage.gate_id == gate_id)
    # Oldest first, i.e. by (at, id): decision and resolution are the same on every row, and
    # naming them lets the planner read the rows in order off ix_passages_decision_resolution_at.
    # Ordered by at alone, PostgreSQL walked the index on at from the first passage ever,
    # expecting a waiting car every few rows (most passages have no resolution, some are
    # reviews) where there are a handful in a year: 0.2 s with a month of history, seconds
    # with a year, on every booth-page poll (bench/scale.py).
    order = (Passage.decision, Passage.resolution, Passage.at, Passage.id)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def review_waiting(session: Session) -> int:
    """How many passages wait for a guard, all of them: the booth page lists the oldest
    (``review_queue``) and says how many more wait behind them."""
    return session.scalar(select(func.count()).select_from(Passage).where(*WAITING)) or 0


def _record(
    services: Services, username: str, req: ReviewDecision, now: datetime
) -> tuple[dict[str, Any], int | None, list[dict[str, Any]], str, bool]:
    """The resolution written with its consequences: the passage's view, the new pass's id,
    the alarms raised, its gate, and whether a zone's count may have moved (boards to be
    told)."""
    alarms: list[dict[str, Any]] = []
    moves_zone = False
    with services.store.unit() as unit:
        session = unit.session
        stored = STORED[req.resolution]
        # Claim the passage with one conditional UPDATE before reading anything: two guards
        # pressing at once cannot both resolve it (and open and count twice), and on SQLite
        # the write lock is taken first so the transaction never has to upgrade a snapshot.
        # An UPDATE's result is a CursorResult (it has the row count); execute() is typed
        # for any statement.
        claimed = cast(CursorResult[Any], session.execute(
            update(Passage)
            .where(Passage.id == req.passage_id, *WAITING)
            .values(
                resolved_by=username, resolved_at=now, resolution=stored,
                resolved_plate=None if req.no_plate else _resolved_plate(req.plate),
            )
            .execution_options(synchronize_session=False)
        )).rowcount
        passage = session.get(Passage, req.passage_id)
        if passage is None:
            raise NotFoundError(f"passage {req.passage_id} not found")
        if claimed != 1 and passage.decision != "review":
            raise ConflictError(
                f"passage {passage.id} was decided {passage.decision!r} by the controller; "
                "only review passages can be resolved (use a gate action instead)"
            )
        if claimed != 1:
            raise ConflictError(
                f"passage {passage.id} was already resolved ({passage.resolution}) "
                f"by {passage.resolved_by}"
            )
        plate = passage.resolved_plate
        pass_id: int | None = None
        household_id: int | None = None
        if req.visitor is not None:
            visitor = req.visitor
            if plate is None:
                raise InvalidInputError("the camera read no plate: type the plate for the pass")
            if session.get(Household, visitor.host_household_id) is None:
                raise InvalidInputError(f"household {visitor.host_household_id} does not exist")
            visitor_pass = VisitorPass(
                plate=plate, host_household_id=visitor.host_household_id,
                valid_from=visitor.valid_from, valid_to=visitor.valid_to,
                max_uses=visitor.max_uses, note=visitor.note, created_by=username,
            )
            session.add(visitor_pass)
            session.flush()
            pass_id, household_id = visitor_pass.id, visitor.host_household_id
            session.add(AuditEntry(
                username=username, action="pass.create", target=f"pass:{pass_id}",
                gate_id=passage.gate_id, passage_id=passage.id, reason=req.reason,
                details=visitor_pass.grant(),
            ))
        if req.allows:
            record = PassageRecord(
                gate_id=passage.gate_id,
                direction=Direction(passage.direction),
                zone_id=passage.zone_id,
                sighting=Sighting(gate_id=passage.gate_id, at=now, plate=plate, confidence=1.0),
                decision=AccessDecision(
                    Verdict.ALLOW, Reason.GUARD_OVERRIDE, credential=Credential.GUARD,
                    pass_id=pass_id, count_pass_use=pass_id is not None,
                    household_id=household_id if pass_id is not None else _own_car(passage),
                ),
                snapshot_path=None,
            )
            moves_zone = may_move_a_zone(record)
            for kind in unit.apply_admission(record, passage.id):
                message = f"{kind} at {passage.gate_id}: plate {plate or '—'} (guard {username})"
                alarm_id = unit.raise_alarm(
                    kind, gate_id=passage.gate_id, passage_id=passage.id, message=message
                )
                alarms.append(alarm_event(alarm_id, kind, passage.gate_id, passage.id, message))
        session.add(AuditEntry(
            username=username, action="passage.resolve", target=f"passage:{passage.id}",
            gate_id=passage.gate_id, passage_id=passage.id, reason=req.reason,
            details={"resolution": stored, "plate": plate, "read_plate": passage.plate,
                     "pass_id": pass_id},
        ))
        session.flush()
        return passage_to_dict(passage), pass_id, alarms, passage.gate_id, moves_zone


def _resolved_plate(typed: str | None) -> ColumnElement[str]:
    """The plate the car is let in under. Left as the camera read it (the booth's form offers
    the read), the guard confirms the car the controller took the read for: a misread matched
    to a registered plate counts as that plate, or the car would be inside under a plate
    nothing else knows, its exit not recorded and the same misread later an unknown car.
    Not on a read too doubtful to open (``low_confidence``): the controller took it for no
    car, and the card shows the guard the read, not the look-alike, so a stranger's car let
    in as read would be inside as the resident's, on the household's space."""
    read = case(
        (Passage.reason == Reason.LOW_CONFIDENCE.value, Passage.plate),
        else_=func.coalesce(Passage.matched_plate, Passage.plate),
    )
    if typed is None:
        return read
    return case((Passage.plate == typed, read), else_=literal(typed))


def _own_car(passage: Passage) -> int | None:
    """The household of the resident's car the controller identified, when the guard let in
    that car (not one whose plate they typed): it counts against its household's spaces."""
    if passage.vehicle_id is None or passage.resolved_plate != (
        passage.matched_plate or passage.plate
    ):
        return None
    return passage.household_id


async def resolve_review(services: Services, username: str, req: ReviewDecision) -> ReviewOutcome:
    now = utcnow()
    view, pass_id, alarms, gate_id, moves_zone = await asyncio.to_thread(
        _record, services, username, req, now
    )
    services.bus.publish(Event("passage_updated", {
        "id": view["id"], "resolution": view["resolution"], "resolved_by": username,
        "resolved_plate": view["resolved_plate"], "resolved_at": view["resolved_at"],
    }))
    for alarm in alarms:
        services.bus.publish(Event("alarm", alarm))
    services.bus.publish(Event("audit", {
        "username": username, "action": "passage.resolve", "gate_id": gate_id,
        "passage_id": view["id"], "reason": req.reason,
        "details": {"resolution": view["resolution"], "pass_id": pass_id},
    }))
    barrier: str | None = None
    if req.allows:
        barrier = await services.runtime.open_barrier(gate_id, passage_id=view["id"])
        view["barrier_outcome"] = barrier
        # As the runtime after a gate's own decision: an exit by a gate that counts into no
        # zone still takes the car off the zone that counted it in (cbc1b84).
        if moves_zone:
            await services.runtime.zone_counts.publish()
    logger.info(
        "passage %s resolved %s by %s (plate %s, pass %s): barrier %s",
        view["id"], view["resolution"], username, plate_for_log(view["resolved_plate"]), pass_id,
        barrier,
    )
    return ReviewOutcome(
        passage=view, resolution=view["resolution"], barrier=barrier, pass_id=pass_id,
        alarms=alarms,
    )
