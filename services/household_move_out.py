"""搬离 in one step: a household and everything that lets its family in, removed together.

The property office used to remove a family row by row (cars, residents, passes, the flat,
then the list entries by hand). ``plan_move_out`` lists what one step removes, for the
admin to confirm: the residents (with their face templates, PIPL, and PINs), the cars (and
which are parked inside), the visitor passes the flat issued, and the allow-list entries of
the cars' plates. Block-list entries of those plates are listed but kept unless the admin
ticks them: a guard put them there for a reason that may outlast the family.

``move_out`` removes exactly what was confirmed, in the caller's transaction: the household
row is locked first and the plan read again under the lock; if it differs from the one the
admin saw (a car registered, a face enrolled meanwhile) nothing is removed
(:class:`MoveOutChangedError`, HTTP 409). The caller commits, then tells the gates
(``access_changed``) and the face matcher (``forget``), as the single deletions do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from errors import ConflictError, InvalidInputError, NotFoundError
from models.events import AuditEntry
from models.faces import FaceTemplate
from models.people import Household, Resident
from models.vehicles import PlateListEntry, Presence, Vehicle, VisitorPass
from services import presence_corrections

# The audit log's reason on the per-item entries (resident.delete, vehicle.delete, …) a move-out
# writes: the console words it as 搬离 (api/console/audit_texts.py).
MOVE_OUT_REASON = "move out"


class MoveOutChangedError(ConflictError):
    """The household's residents, faces, PINs, cars, passes or list entries changed since the
    plan was shown: nothing was removed; show the plan again."""


class NotTheHouseholdsBlocksError(InvalidInputError):
    """Ticked block-list entries that are not entries of the household's plates (a forged
    form: the page offers only the flat's own): nothing was removed."""

    def __init__(self, household_id: int, unknown: list[int], blocks: list[int]) -> None:
        super().__init__(
            f"block-list entries {unknown} are not entries of household {household_id}'s "
            f"plates; its block-list entries are {blocks or 'none'}"
        )
        # The console says it in the page's language, naming the entries.
        self.unknown = unknown


@dataclass(frozen=True, slots=True)
class MovingResident:
    id: int
    name: str
    faces: int
    has_pin: bool


@dataclass(frozen=True, slots=True)
class MovingVehicle:
    id: int
    plate: str
    inside: bool  # parked in the car park now: it still leaves (presence is kept)


@dataclass(frozen=True, slots=True)
class MovingPass:
    id: int
    plate: str | None  # None: a walk-in pass (QR code only)
    valid_from: datetime
    valid_to: datetime
    uses: int
    max_uses: int | None


@dataclass(frozen=True, slots=True)
class ListedPlate:
    id: int
    plate: str
    kind: str  # allow | block
    reason: str


@dataclass(frozen=True, slots=True)
class MoveOutPlan:
    household_id: int
    building: str
    unit: str
    spaces: int
    residents: tuple[MovingResident, ...]
    vehicles: tuple[MovingVehicle, ...]
    passes: tuple[MovingPass, ...]
    allow_entries: tuple[ListedPlate, ...]
    block_entries: tuple[ListedPlate, ...]  # kept unless ticked

    @property
    def label(self) -> str:
        return f"{self.building} {self.unit}"

    def fingerprint(self) -> str:
        """What the confirmation showed, as a short digest the confirm sends back. Which cars
        are inside is left out: a car leaving while the admin reads the page changes nothing
        that is removed. Names are left out too (a typo fixed is not a different family)."""
        shown = {
            "household": [self.household_id, self.building, self.unit],
            "residents": [[r.id, r.faces, r.has_pin] for r in self.residents],
            "vehicles": [[v.id, v.plate] for v in self.vehicles],
            "passes": [p.id for p in self.passes],
            "lists": [[e.id, e.plate, e.kind] for e in (*self.allow_entries,
                                                       *self.block_entries)],
        }
        return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:32]

    def counts(self, removed_blocks: int = 0) -> dict[str, int]:
        """The audit entry's counts (and the done page's)."""
        return {
            "residents": len(self.residents),
            "faces": sum(r.faces for r in self.residents),
            "pins": sum(r.has_pin for r in self.residents),
            "vehicles": len(self.vehicles),
            "vehicles_inside": sum(v.inside for v in self.vehicles),
            "passes": len(self.passes),
            "allow_entries": len(self.allow_entries),
            "block_entries": removed_blocks,
        }

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        for visitor_pass in body["passes"]:
            for key in ("valid_from", "valid_to"):
                visitor_pass[key] = visitor_pass[key].isoformat()
        return {**body, "label": self.label, "expected": self.fingerprint()}


def plan_move_out(session: Session, household_id: int) -> MoveOutPlan:
    """What a move-out of ``household_id`` removes, as it is now; NotFoundError (404) for an
    unknown flat."""
    household = session.get(Household, household_id, populate_existing=True)
    if household is None:
        raise NotFoundError(f"household {household_id} not found")
    residents = session.scalars(
        select(Resident).where(Resident.household_id == household_id).order_by(Resident.id)
    ).all()
    faces: dict[int, int] = {
        resident_id: count for resident_id, count in session.execute(
            select(FaceTemplate.resident_id, func.count())
            .where(FaceTemplate.resident_id.in_([r.id for r in residents]))
            .group_by(FaceTemplate.resident_id))
    }
    vehicles = session.scalars(
        select(Vehicle).where(Vehicle.household_id == household_id).order_by(Vehicle.id)
    ).all()
    plates = [v.plate for v in vehicles]
    # A car of theirs inside under any entry (its own, or once a visitor's) is inside.
    inside = set(session.scalars(select(Presence.plate).where(Presence.plate.in_(plates))))
    passes = session.scalars(
        select(VisitorPass).where(VisitorPass.host_household_id == household_id)
        .order_by(VisitorPass.id)
    ).all()
    entries = session.scalars(
        select(PlateListEntry).where(PlateListEntry.plate.in_(plates))
        .order_by(PlateListEntry.id)
    ).all()
    listed = [ListedPlate(e.id, e.plate, e.kind, e.reason) for e in entries]
    return MoveOutPlan(
        household_id=household.id, building=household.building, unit=household.unit,
        spaces=household.spaces,
        residents=tuple(MovingResident(r.id, r.name, int(faces.get(r.id, 0)),
                                       r.pin_hash is not None) for r in residents),
        vehicles=tuple(MovingVehicle(v.id, v.plate, v.plate in inside) for v in vehicles),
        passes=tuple(MovingPass(p.id, p.plate, p.valid_from, p.valid_to, p.uses, p.max_uses)
                     for p in passes),
        allow_entries=tuple(e for e in listed if e.kind == "allow"),
        block_entries=tuple(e for e in listed if e.kind == "block"),
    )


def lock_household(session: Session, household_id: int) -> None:
    """Hold the flat until the transaction ends, so nothing is added to it between what is
    read under the lock (a 搬离's plan, a deletion's count of what the flat still has) and
    its removal. PostgreSQL: SELECT … FOR UPDATE, which a new
    resident's, car's or pass's foreign key check (FOR KEY SHARE) waits for; it then finds
    the flat gone. SQLite ignores FOR UPDATE and begins a transaction at its first write, so
    a write to nothing takes its one write lock first (as services/users.py does)."""
    if session.connection().dialect.name == "sqlite":
        session.execute(
            update(Household).where(Household.id == household_id)
            .values(spaces=Household.spaces).execution_options(synchronize_session=False)
        )
    session.execute(select(Household.id).where(Household.id == household_id).with_for_update())


def _audit(session: Session, operator: str, action: str, target: str, **details: Any) -> int:
    entry = AuditEntry(username=operator, action=action, target=target,
                       reason=MOVE_OUT_REASON, details=details)
    session.add(entry)
    session.flush()
    return entry.id


def move_out(
    session: Session, household_id: int, *, operator: str, expected: str,
    remove_blocks: Collection[int] = (),
) -> MoveOutPlan:
    """Remove what ``plan_move_out`` listed with fingerprint ``expected``, and the block-list
    entries ``remove_blocks`` (ids among the plan's); returns the plan removed. Writes the
    entries the single deletions write (resident.delete, vehicle.delete, pass.delete,
    list.delete, with the reason 搬离 and ``move_out_audit_id``) and one household.move_out
    naming the flat and the counts. Nothing is committed here."""
    # The flat's visitor passes first, as a visitor's entry on one takes it (its use counted,
    # then the car's row, then the flat: models/access_store.py): such an entry written now
    # is waited for. Taken when it was deleted, after the flat, the pass was held by the
    # entry, which waited for the flat: PostgreSQL's deadlock, the move-out a 503 or the
    # passage taken for an outage.
    visitors = session.scalars(
        select(VisitorPass.plate).where(VisitorPass.host_household_id == household_id)
        .order_by(VisitorPass.id).with_for_update()).all()
    # Then the presence rows of its cars and its visitors' before the flat, as every writer
    # of a presence row takes them first (services/presence_corrections.lock_inside): an exit
    # of one of them written now is waited for, and the plan then sees it gone (not listed
    # inside, its row not touched).
    presence_corrections.lock_inside(session, [
        *session.scalars(select(Vehicle.plate).where(Vehicle.household_id == household_id)),
        *(plate for plate in visitors if plate is not None)])
    lock_household(session, household_id)
    # Then its cars, as a gate's entry of one takes the flat and then the car
    # (access_store._registration_now): a PATCH moving one to another flat written at this
    # moment holds it, and the plan then reads it gone (409). Deleted by the plan read before
    # the PATCH committed, the car it had just moved was gone from the other flat.
    session.execute(select(Vehicle.id).where(Vehicle.household_id == household_id)
                    .order_by(Vehicle.id).with_for_update())
    plan = plan_move_out(session, household_id)
    if plan.fingerprint() != expected:
        raise MoveOutChangedError(
            f"household {household_id} ({plan.label}) changed since the list was shown "
            "(a resident, face, PIN, car, pass or list entry was added or removed): nothing "
            "was removed; look at the list again and confirm"
        )
    blocks = {e.id: e for e in plan.block_entries}
    unknown = sorted(set(remove_blocks) - set(blocks))
    if unknown:
        raise NotTheHouseholdsBlocksError(household_id, unknown, sorted(blocks))
    ticked = sorted(set(remove_blocks))
    # Which flat (as household.delete says it) and how much went with it: once the rows are
    # gone this entry is what tells the office who moved out. First, so that each item's own
    # entry can name it, as 批量导入's entries name theirs (import_audit_id).
    summary = _audit(session, operator, "household.move_out", f"household:{household_id}",
                     building=plan.building, unit=plan.unit, spaces=plan.spaces,
                     **plan.counts(removed_blocks=len(ticked)))
    link = {"move_out_audit_id": summary}
    for vehicle in plan.vehicles:
        # A car parked inside stays inside, counted in its zone and able to leave, on no
        # household's spaces (as deleting the car alone does).
        presence_corrections.household_changed(session, vehicle.plate, household_id, None)
        session.execute(delete(Vehicle).where(Vehicle.id == vehicle.id))
        _audit(session, operator, "vehicle.delete", f"vehicle:{vehicle.id}", plate=vehicle.plate,
               **link)
    resident_ids = [r.id for r in plan.residents]
    # Explicitly, not left to the foreign key's cascade: the templates are what PIPL asks to
    # be gone, and the count is what the audit entry says was.
    session.execute(delete(FaceTemplate).where(FaceTemplate.resident_id.in_(resident_ids)))
    for resident in plan.residents:
        session.execute(delete(Resident).where(Resident.id == resident.id))
        _audit(session, operator, "resident.delete", f"resident:{resident.id}", **link)
    for visitor_pass in plan.passes:
        row = session.get(VisitorPass, visitor_pass.id)
        assert row is not None  # read under the lock above
        grant = row.grant()
        session.delete(row)
        _audit(session, operator, "pass.delete", f"pass:{visitor_pass.id}", **grant,
               uses=row.uses, **link)
    for entry in (*plan.allow_entries, *(blocks[i] for i in ticked)):
        session.execute(delete(PlateListEntry).where(PlateListEntry.id == entry.id))
        _audit(session, operator, "list.delete", f"plate:{entry.plate}", list=entry.kind,
               listed_reason=entry.reason, **link)
    session.execute(delete(Household).where(Household.id == household_id))
    return plan
