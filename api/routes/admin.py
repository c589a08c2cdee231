"""Admin CRUD: households, residents, vehicles, visitor passes and plate lists.

Every change is written to the audit log in the same transaction as the change itself.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import AdminUser, Principal, ServicesDep, SessionDep, StaffUser
from api.params import Offset, PathId, QueryId
from api.pass_patch import EDITABLE, UNLOGGED, PassPatch, edit_changes
from api.schemas import (
    HouseholdIn,
    HouseholdOut,
    HouseholdPatch,
    ListEntryIn,
    ListEntryOut,
    PassIn,
    PassOut,
    ResidentIn,
    ResidentOut,
    ResidentPatch,
    VehicleIn,
    VehicleOut,
    VehiclePatch,
    search_label,
    search_plate,
)
from errors import ConflictError, InvalidInputError, NotFoundError
from models.base import Base
from models.db import empty_write_ahead_log
from models.events import AuditEntry
from models.people import Household, Resident, flat_order
from models.vehicles import PlateListEntry, Vehicle, VisitorPass
from services import presence_corrections
from services.container import Services
from services.household_move_out import lock_household
from services.phone_privacy import mask_phones_in, phone_as_shown
from wall_clock import utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["admin"])

M = TypeVar("M", bound=Base)


def audit(
    session: Session, user: Principal, action: str, target: str, *, reason: str = "",
    **details: Any,
) -> None:
    """One staff action. The reason goes in the log's own column (the console's 原因, the
    CSV's ``reason``), where a reader looks for why; it was buried in the details before."""
    session.add(AuditEntry(username=user.name, action=action, target=target, reason=reason,
                           details=details))


def _get(session: Session, model: type[M], entity_id: int, label: str) -> M:
    entity = session.get(model, entity_id)
    if entity is None:
        raise NotFoundError(f"{label} {entity_id} not found")
    return entity


def _flush(session: Session, what: str) -> None:
    """Flush so constraint violations become a 409/422 here, not a 500 at commit."""
    try:
        session.flush()
    except IntegrityError as err:
        session.rollback()
        message = str(err.orig).lower()
        if "unique" in message or "duplicate" in message:
            raise ConflictError(f"{what} already exists") from err
        raise InvalidInputError(f"{what} refers to something that does not exist") from err


def gates_told(session: Session, services: Services) -> None:
    """Commit a change of who may pass, then have the gates' offline snapshot retaken at
    the offline loop's next wake: an outage starting right after a plate was blocked, a car
    deleted or a pass ended must not decide by the snapshot of up to offline_refresh_s
    before. Committed first, or the snapshot could be read before the change is there."""
    session.commit()
    services.access_changed()


def counts_told(services: Services, inside: str | None) -> None:
    """After a committed correction that merged a car inside into the row already there
    under its right plate (its old zone came down one): the boards and the city feed get
    the counts at once, as after a guard's 标记已离场."""
    if inside == "merged":
        services.runtime.zone_counts.publish_now()


def _require_household(session: Session, household_id: int) -> None:
    """404 unless the flat exists; held (FOR KEY SHARE, as the foreign key of what is added
    to it takes) until the transaction ends. A flat being deleted at this moment is waited
    for and found gone: "household N not found", where the insert's foreign key failed
    later and the answer was "refers to something that does not exist"."""
    if not _household_held(session, household_id):
        raise NotFoundError(f"household {household_id} not found")


def _household_held(session: Session, household_id: int) -> bool:
    """Whether the flat exists, held FOR KEY SHARE until the transaction ends."""
    return session.scalar(select(Household.id).where(Household.id == household_id)
                          .with_for_update(read=True, key_share=True)) is not None


def _require_resident(session: Session, resident_id: int | None, household_id: int) -> None:
    if resident_id is None:
        return
    resident = _get(session, Resident, resident_id, "resident")
    if resident.household_id != household_id:
        raise InvalidInputError(
            f"resident {resident_id} belongs to household {resident.household_id}, "
            f"not {household_id}"
        )


def _patch(entity: Base, patch: BaseModel) -> dict[str, Any]:
    changes = patch.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(entity, key, value)
    return changes


# --- households -------------------------------------------------------------------------


def _household_out(household: Household, user: Principal) -> HouseholdOut:
    """A household as ``user`` may read it: a guard reads numbers in its note masked, as a
    resident's phone (the office writes "业主 138… 轮椅" there; 批量导入 joins rows' notes)."""
    out = HouseholdOut.model_validate(household)
    if user.is_admin:
        return out
    return out.model_copy(update={"note": mask_phones_in(out.note)})


@router.get("/households", response_model=list[HouseholdOut])
def list_households(
    session: SessionDep,
    user: StaffUser,
    building: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[HouseholdOut]:
    # In the console's order (models/people.py flat_order: 2栋 before 10栋), which SQL cannot
    # give: every flat's labels are read and sorted, then only the page's rows are loaded.
    query = select(Household.id, Household.building, Household.unit)
    if building:
        query = query.where(Household.building == search_label(building))
    ordered = sorted(session.execute(query), key=lambda row: flat_order(row.building, row.unit))
    page = [row.id for row in ordered[offset:offset + limit]]
    found = {h.id: h for h in session.scalars(select(Household).where(Household.id.in_(page)))}
    # A flat deleted between the two reads (PostgreSQL reads each statement's commits) is
    # left out, as it would be from a later page.
    return [_household_out(found[hid], user) for hid in page if hid in found]


@router.post("/households", response_model=HouseholdOut, status_code=201)
def create_household(body: HouseholdIn, session: SessionDep, user: AdminUser) -> Household:
    household = Household(**body.model_dump())
    session.add(household)
    _flush(session, f"household {body.building} {body.unit}")
    # Which flat, not only its id: once it is deleted this is all that names it. The note is
    # free text (anything about the family) and stays out of the log.
    audit(session, user, "household.create", f"household:{household.id}",
          building=body.building, unit=body.unit, spaces=body.spaces)
    return household


@router.get("/households/{household_id}", response_model=HouseholdOut)
def get_household(household_id: PathId, session: SessionDep, user: StaffUser) -> HouseholdOut:
    return _household_out(_get(session, Household, household_id, "household"), user)


@router.patch("/households/{household_id}", response_model=HouseholdOut)
def update_household(
    household_id: PathId, body: HouseholdPatch, session: SessionDep, services: ServicesDep,
    user: AdminUser,
) -> Household:
    household = _get(session, Household, household_id, "household")
    before = {key: getattr(household, key) for key in body.model_fields_set}
    changes = _patch(household, body)
    _flush(session, "household")
    # As 批量导入's household.update: the fields edited and, of the values, the flat's own
    # (楼栋, 房号, 车位数) old -> new. Not the note: free text about the family (names,
    # phones), kept out at creation too, must not live on in a log kept whole.
    details: dict[str, Any] = {"fields": list(changes)}
    shown = {key: [before[key], value] for key, value in changes.items()
             if key != "note" and before[key] != value}
    if shown:
        details["changes"] = shown
    audit(session, user, "household.update", f"household:{household_id}", **details)
    if "spaces" in changes:  # the snapshot's 业主超车位 check counts them
        gates_told(session, services)
    return household


@router.delete("/households/{household_id}", status_code=204)
def delete_household(household_id: PathId, session: SessionDep, user: AdminUser) -> Response:
    # Held before what it still has is counted: a car, resident or pass added at this moment
    # was not counted yet (uncommitted), and the flat's deletion, waiting for it, then took it
    # with the flat (ON DELETE CASCADE), both answered as done. Now it waits for that and
    # counts it (409), or the addition waits for the deletion and finds the flat gone (404).
    lock_household(session, household_id)
    household = _get(session, Household, household_id, "household")
    # Visitor passes too: deleting them with the household would void a guest's pass
    # without anyone having decided so.
    owned = (
        ("vehicles", Vehicle.household_id),
        ("residents", Resident.household_id),
        ("visitor passes", VisitorPass.host_household_id),
    )
    for label, column in owned:
        count = session.scalar(select(func.count()).where(column == household_id))
        if count:
            raise ConflictError(
                f"household {household_id} still has {count} {label}; remove them first"
            )
    session.delete(household)
    # Which flat, as at creation: once it is gone the audit page can name it by nothing else.
    audit(session, user, "household.delete", f"household:{household_id}",
          building=household.building, unit=household.unit, spaces=household.spaces)
    return Response(status_code=204)


# --- residents --------------------------------------------------------------------------


def _resident_out(resident: Resident, user: Principal) -> ResidentOut:
    """A resident as ``user`` may read them: the office whole, a guard with the phone masked
    (PIPL's minimum necessary; the whole number is one audited reveal away)."""
    out = ResidentOut.model_validate(resident)
    if user.is_admin or out.phone is None:
        return out
    return out.model_copy(update={"phone": phone_as_shown(out.phone, whole=False),
                                  "phone_masked": True})


@router.get("/residents", response_model=list[ResidentOut])
def list_residents(
    session: SessionDep,
    user: StaffUser,
    household_id: QueryId = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[ResidentOut]:
    query = select(Resident).order_by(Resident.id)
    if household_id is not None:
        query = query.where(Resident.household_id == household_id)
    return [_resident_out(r, user) for r in session.scalars(query.limit(limit).offset(offset))]


@router.post("/residents", response_model=ResidentOut, status_code=201)
def create_resident(body: ResidentIn, session: SessionDep, user: AdminUser) -> Resident:
    _require_household(session, body.household_id)
    resident = Resident(**body.model_dump())
    session.add(resident)
    _flush(session, "resident")
    # In which flat, so a deleted resident is still explained by the log. Not the name nor
    # the phone: a resident erased on request (PIPL) must not live on in a log kept whole;
    # the audit page names the resident while they are on file.
    audit(session, user, "resident.create", f"resident:{resident.id}",
          household_id=body.household_id)
    return resident


@router.get("/residents/{resident_id}", response_model=ResidentOut)
def get_resident(resident_id: PathId, session: SessionDep, user: StaffUser) -> ResidentOut:
    return _resident_out(_get(session, Resident, resident_id, "resident"), user)


@router.patch("/residents/{resident_id}", response_model=ResidentOut)
def update_resident(
    resident_id: PathId, body: ResidentPatch, session: SessionDep, user: AdminUser
) -> Resident:
    resident = _get(session, Resident, resident_id, "resident")
    if body.household_id is not None and body.household_id != resident.household_id:
        _require_household(session, body.household_id)
        # A resident's cars are registered to their household (spaces are counted per
        # household): moving the person alone would leave their cars with the old one.
        driven = session.scalar(
            select(func.count()).where(
                Vehicle.resident_id == resident_id, Vehicle.household_id != body.household_id
            )
        )
        if driven:
            raise ConflictError(
                f"resident {resident_id} has {driven} vehicle(s) registered to household "
                f"{resident.household_id}; move or unlink them first"
            )
    household_before = resident.household_id
    changes = _patch(resident, body)
    _flush(session, "resident")
    # Which fields were edited, as 批量导入's resident.update names them, and of the values
    # only the household's (a flat, not a person). Not the name nor the phone: a resident
    # erased on request (PIPL) must not live on in a log kept whole, so resident.create
    # leaves them out too; the audit page names the resident while they are on file.
    details: dict[str, Any] = {"fields": list(changes)}
    if changes.get("household_id") not in (None, household_before):
        details["changes"] = {"household_id": [household_before, changes["household_id"]]}
    audit(session, user, "resident.update", f"resident:{resident_id}", **details)
    return resident


@router.delete("/residents/{resident_id}", status_code=204)
def delete_resident(
    resident_id: PathId, session: SessionDep, services: ServicesDep, user: AdminUser
) -> Response:
    """Deletes the resident and, by cascade, their face templates (PIPL)."""
    resident = _get(session, Resident, resident_id, "resident")
    session.delete(resident)
    audit(session, user, "resident.delete", f"resident:{resident_id}")
    # Committed before the matcher forgets them: a face templates reload reading between
    # the two would otherwise find the rows still there and bring the face back (PIPL). The
    # keypad's offline check still holds their PIN until the gates are told.
    gates_told(session, services)
    if services.faces is not None:
        services.faces.forget(resident_id)
    # As a face deletion does: their embeddings, name and phone out of SQLite's write-ahead
    # log at once, not only by the hourly retention run (README, Privacy).
    empty_write_ahead_log(services.engine)
    return Response(status_code=204)


# --- vehicles ---------------------------------------------------------------------------


@router.get("/vehicles", response_model=list[VehicleOut])
def list_vehicles(
    session: SessionDep,
    _: StaffUser,
    household_id: QueryId = None,
    plate: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[Vehicle]:
    query = select(Vehicle).order_by(Vehicle.id)
    if household_id is not None:
        query = query.where(Vehicle.household_id == household_id)
    if plate:
        query = query.where(Vehicle.plate == search_plate(plate))
    return list(session.scalars(query.limit(limit).offset(offset)))


@router.post("/vehicles", response_model=VehicleOut, status_code=201)
def create_vehicle(
    body: VehicleIn, session: SessionDep, services: ServicesDep, user: AdminUser
) -> Vehicle:
    # The car's row inside before its flat, the order every writer takes (docs/parking.md):
    # a visitor's car registered to its host flat as the flat's 搬离 ran held the flat (the
    # key-share lock) and waited for the row, which the 搬离 held while it waited for the flat.
    presence_corrections.lock_inside(session, [body.plate])
    _require_household(session, body.household_id)
    _require_resident(session, body.resident_id, body.household_id)
    if session.scalar(select(Vehicle.id).where(Vehicle.plate == body.plate)) is not None:
        raise ConflictError(f"plate {body.plate} is already registered")
    vehicle = Vehicle(**body.model_dump())
    session.add(vehicle)
    _flush(session, f"plate {body.plate}")
    # A car parked inside when its old registration was deleted (sold with the flat, 搬离)
    # takes one of its new household's spaces from now on, or their other car would be let
    # in over them (一位多车). A visitor's car inside stays its pass's.
    moved = presence_corrections.household_changed(session, body.plate, None, body.household_id)
    # Whose car, not only its plate: once it is deleted this is all that says.
    audit(session, user, "vehicle.create", f"vehicle:{vehicle.id}", plate=body.plate,
          household_id=body.household_id, resident_id=body.resident_id,
          plate_color=body.plate_color, **({"inside": "followed"} if moved else {}))
    gates_told(session, services)
    return vehicle


@router.get("/vehicles/{vehicle_id}", response_model=VehicleOut)
def get_vehicle(vehicle_id: PathId, session: SessionDep, _: StaffUser) -> Vehicle:
    return _get(session, Vehicle, vehicle_id, "vehicle")


def _vehicle_locked(session: Session, vehicle: Vehicle, plate: str, household_id: int
                    ) -> Vehicle:
    """``vehicle`` read again once what its change writes is locked, in the order every
    writer of these rows takes them (models/access_store.py): its presence rows (under its
    plate and the corrected ``plate``), the flat it is on after the change (a key-share lock,
    as the car's foreign key takes), then the car; 404 when the car or that flat is gone. A
    搬离 of its flat takes them so (the rows, the flat, its cars). Updated first, the car was
    held while this waited for the row the move-out held, and the move-out waited for the
    car to delete it: PostgreSQL's deadlock, one of the two answered 503. Now the second
    waits for the first and sees what it did: the car gone (404 here), or moved away (the
    move-out's 409)."""
    presence_corrections.lock_inside(session, {vehicle.plate, plate})
    flat_there = _household_held(session, household_id)
    locked = session.get(Vehicle, vehicle.id, with_for_update=True, populate_existing=True)
    if locked is None:
        raise NotFoundError(f"vehicle {vehicle.id} not found")
    if not flat_there:
        raise NotFoundError(f"household {household_id} not found")
    return locked


@router.patch("/vehicles/{vehicle_id}", response_model=VehicleOut)
def update_vehicle(
    vehicle_id: PathId, body: VehiclePatch, session: SessionDep, services: ServicesDep,
    user: AdminUser,
) -> Vehicle:
    """Correct a car's record: its plate, colour, driver or household. A mistyped plate is
    corrected here, also by an integration: the car, if parked inside, is inside under the
    corrected plate from now on (it leaves by it, counted once), and the audit entry says
    `inside`. Deleting the car and registering it again instead
    leaves it recorded inside under the old plate (see DELETE)."""
    vehicle = _get(session, Vehicle, vehicle_id, "vehicle")
    household_id = body.household_id if body.household_id is not None else vehicle.household_id
    vehicle = _vehicle_locked(session, vehicle, body.plate or vehicle.plate, household_id)
    # The driver stays the same unless given: they must live in the (new) household too.
    driver = body.resident_id if "resident_id" in body.model_fields_set else vehicle.resident_id
    _require_resident(session, driver, household_id)
    was_plate, was_household = vehicle.plate, vehicle.household_id
    changes = _patch(vehicle, body)
    _flush(session, f"plate {vehicle.plate}")
    # A car parked inside while its record is fixed stays one car, the household's.
    inside = presence_corrections.plate_corrected(
        session, was_plate, vehicle.plate, household_id=was_household
    )
    if vehicle.plate != was_plate and presence_corrections.household_changed(
        session, vehicle.plate, None, vehicle.household_id
    ):
        # Inside under the right plate as nobody's car (a guard let it in as unknown; a row
        # merged into takes it in plate_corrected): it is this household's, as registering
        # it says (create).
        inside = inside or "followed"
    if presence_corrections.household_changed(
        session, vehicle.plate, was_household, vehicle.household_id
    ):
        inside = inside or "followed"
    # Old -> new of what identifies the car, as household.update and pass.update log it: a
    # corrected plate's entry named only the new one, so the office could not tell from the
    # log which plate the car had before (a complaint about the old plate found nothing).
    details: dict[str, Any] = dict(changes)
    moved = {key: [old, new] for key, old, new in (
        ("plate", was_plate, vehicle.plate), ("household_id", was_household, vehicle.household_id),
    ) if old != new}
    if moved:
        details["changes"] = moved
    if inside:
        details["inside"] = inside
    audit(session, user, "vehicle.update", f"vehicle:{vehicle_id}", **details)
    gates_told(session, services)
    counts_told(services, inside)
    return vehicle


@router.delete("/vehicles/{vehicle_id}", status_code=204)
def delete_vehicle(
    vehicle_id: PathId, session: SessionDep, services: ServicesDep, user: AdminUser
) -> Response:
    """Delete a car's registration (sold, moved away). Not for a mistyped plate: use PATCH,
    which the car parked inside follows. A car deleted while inside stays recorded inside
    under its plate, on no household's spaces; registered again under another plate it
    leaves as a car not recorded inside, and the old plate stays inside (its zone counted)
    until a guard's 标记已离场 (`POST /api/v1/presence/{plate}/left`)."""
    vehicle = _get(session, Vehicle, vehicle_id, "vehicle")
    # Still counted in its zone if it is inside, no longer on the household's spaces.
    presence_corrections.household_changed(session, vehicle.plate, vehicle.household_id, None)
    session.delete(vehicle)
    audit(session, user, "vehicle.delete", f"vehicle:{vehicle_id}", plate=vehicle.plate)
    gates_told(session, services)
    return Response(status_code=204)


# --- visitor passes ---------------------------------------------------------------------


@router.get("/passes", response_model=list[PassOut])
def list_passes(
    session: SessionDep,
    _: StaffUser,
    plate: str | None = None,
    host_household_id: QueryId = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[VisitorPass]:
    query = select(VisitorPass).order_by(VisitorPass.valid_from.desc())
    if plate:
        query = query.where(VisitorPass.plate == search_plate(plate))
    if host_household_id is not None:
        query = query.where(VisitorPass.host_household_id == host_household_id)
    return list(session.scalars(query.limit(limit).offset(offset)))


@router.post("/passes", response_model=PassOut, status_code=201)
def create_pass(
    body: PassIn, session: SessionDep, services: ServicesDep, user: StaffUser
) -> VisitorPass:
    """Guards register visitors at the booth, so this needs guard or admin."""
    _require_household(session, body.host_household_id)
    visitor_pass = VisitorPass(**body.columns(), created_by=user.name)
    session.add(visitor_pass)
    _flush(session, "pass")
    audit(session, user, "pass.create", f"pass:{visitor_pass.id}", **visitor_pass.grant())
    gates_told(session, services)
    return visitor_pass


@router.get("/passes/{pass_id}", response_model=PassOut)
def get_pass(pass_id: PathId, session: SessionDep, _: StaffUser) -> VisitorPass:
    return _get(session, VisitorPass, pass_id, "pass")


@router.patch("/passes/{pass_id}", response_model=PassOut)
def update_pass(
    pass_id: PathId, body: PassPatch, session: SessionDep, services: ServicesDep,
    user: StaffUser,
) -> VisitorPass:
    """Whoever may register a pass may edit it (guards at the booth too): extend, shorten or
    end it, correct the plate or the note, change its days and hours (api/pass_patch.py)."""
    visitor_pass = _get(session, VisitorPass, pass_id, "pass")
    before = {name: getattr(visitor_pass, name) for name in EDITABLE}
    after = body.columns(visitor_pass, utcnow())
    changes = edit_changes(before, after)
    for name in changes:
        setattr(visitor_pass, name, after[name])
    if not changes:
        return visitor_pass
    _flush(session, "pass")
    inside = None
    if "plate" in changes and before["plate"] is not None and visitor_pass.plate is not None:
        # The visitor parked inside under the mistyped plate leaves under the right one.
        inside = presence_corrections.plate_corrected(
            session, before["plate"], visitor_pass.plate, pass_id=pass_id
        )
    # Who changed what, old -> new: the log is what explains why a gate opened after the
    # pass's first end, and what the car inside did. The note's words stay out of it, as at
    # creation.
    audit(session, user, "pass.update", f"pass:{pass_id}", fields=list(changes),
          changes={name: list(pair) for name, pair in changes.items() if name not in UNLOGGED},
          **({"inside": inside} if inside else {}))
    gates_told(session, services)  # online the next decision reads the row itself
    counts_told(services, inside)
    logger.info("pass %s edited by %s: %s", pass_id, user.name, ", ".join(changes))
    return visitor_pass


@router.delete("/passes/{pass_id}", status_code=204)
def delete_pass(
    pass_id: PathId, session: SessionDep, services: ServicesDep, user: AdminUser
) -> Response:
    visitor_pass = _get(session, VisitorPass, pass_id, "pass")
    # Its car inside stays counted, on no household's spaces: not the host's own car.
    presence_corrections.pass_deleted(session, visitor_pass)
    session.delete(visitor_pass)
    # And how much of it was used: the log is all that is left of it.
    audit(session, user, "pass.delete", f"pass:{pass_id}", **visitor_pass.grant(),
          uses=visitor_pass.uses)
    gates_told(session, services)
    return Response(status_code=204)


# --- allow/block lists ------------------------------------------------------------------


@router.get("/lists", response_model=list[ListEntryOut])
def list_entries(
    session: SessionDep,
    _: StaffUser,
    kind: str | None = Query(None, pattern="^(allow|block)$"),
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[PlateListEntry]:
    query = select(PlateListEntry).order_by(PlateListEntry.id)
    if kind:
        query = query.where(PlateListEntry.kind == kind)
    return list(session.scalars(query.limit(limit).offset(offset)))


@router.post("/lists", response_model=ListEntryOut, status_code=201)
def create_entry(
    body: ListEntryIn, session: SessionDep, services: ServicesDep, user: AdminUser
) -> PlateListEntry:
    if session.scalar(select(PlateListEntry.id).where(PlateListEntry.plate == body.plate)):
        raise ConflictError(f"plate {body.plate} is already on a list")
    entry = PlateListEntry(**body.model_dump(), created_by=user.name)
    session.add(entry)
    _flush(session, f"list entry for {body.plate}")
    audit(session, user, f"list.{body.kind}", f"plate:{body.plate}", reason=body.reason)
    gates_told(session, services)
    return entry


@router.delete("/lists/{entry_id}", status_code=204)
def delete_entry(
    entry_id: PathId, session: SessionDep, services: ServicesDep, user: AdminUser
) -> Response:
    entry = _get(session, PlateListEntry, entry_id, "list entry")
    session.delete(entry)
    audit(session, user, "list.delete", f"plate:{entry.plate}", **entry.listing())
    gates_told(session, services)
    return Response(status_code=204)
