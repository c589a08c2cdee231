"""Bulk import of households, residents and cars from the property office's spreadsheet.

One row is one resident and/or one car of a household (楼栋 + 房号); the rows of one
household are grouped. A household already on file is not added again, nor a resident of that
household with the same name, and a plate already registered to that same household is left
as it is. What the sheet says differently of a household on file (车位数, 备注) or of such a
resident (电话) is updated, an empty cell erasing nothing (``services/resident_import_updates``),
so importing a file twice writes nothing the second time. Nothing on file is ever deleted. A
row whose name and plate are both given makes the resident the car's driver.

Every row is checked by the rules the JSON API applies to one household, resident or car
(``api.schemas``' ``HouseholdIn``, ``ResidentIn``, ``VehicleIn``: label folding, names,
phone format, plate grammar and normalisation) and against the database and the rest of the
file (a plate registered to another household, a plate twice in the file). Problems are
collected per row, with the spreadsheet's row number and a Chinese message (the office reads
them), through the console's translation of the API's messages (``error_texts``).

A preview writes nothing. An import is all or nothing, in one transaction: a file with any
row in error imports nothing, so the office corrects the file and imports it again, with no
half-imported community to find and mend.

Audit: the existing convention (``api/routes/admin.py``) gives every household, resident and
car an entry of its own whose details name what was created (a flat's building and unit, a
car's plate, household and driver), because once it is deleted that entry is all that says
what it was, and a resident's personal-data export (PIPL art. 45) lists the staff actions on
their record by its target. A single summary entry could do neither: thousands of plates do
not fit one readable cell (the CSV export's cell is cut by Excel at 32,767 characters). So an
import writes those same per-object entries, each pointing at one ``household.import``
summary entry (file name, its SHA-256, the counts), which is what the 操作日志 page is
filtered by to see the import as one action; so do the ``household.update`` and
``resident.update`` entries of what it updates (``services/resident_import_updates``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.console.error_texts import explain_detail
from api.schemas import HouseholdIn, ResidentIn, VehicleIn, search_label
from errors import ConflictError
from models.db import transaction
from models.events import AuditEntry
from models.people import Household, Resident
from models.vehicles import Presence, Vehicle
from services.resident_import_file import ImportTable, SaidInChinese, read_table
from services.resident_import_updates import (
    FieldChange,
    changed_targets,
    same_phone,
    write_changes,
)

logger = logging.getLogger(__name__)

ACTION = "household.import"
# A row's cells as shown in the error table: enough to find it, not a whole long note.
CONTENT_MAX = 120
# What people write in the 车牌颜色 column → the API's plate_color values.
COLORS: dict[str, str] = {
    "": "unknown", "未知": "unknown", "不详": "unknown", "其他": "unknown", "unknown": "unknown",
    "蓝": "blue", "蓝色": "blue", "蓝牌": "blue", "blue": "blue",
    "黄": "yellow", "黄色": "yellow", "黄牌": "yellow", "yellow": "yellow",
    "绿": "green", "绿色": "green", "绿牌": "green", "新能源": "green", "渐变绿": "green",
    "黄绿": "green", "green": "green",
    "白": "white", "白色": "white", "白牌": "white", "white": "white",
    "黑": "black", "黑色": "black", "黑牌": "black", "black": "black",
}
# A number Excel shows in scientific notation ("1.38E+10") is saved so in a CSV: the digits
# past the third are gone, so it is not a phone to store or to guess back.
_SCIENTIFIC = re.compile(r"^[0-9]+(\.[0-9]+)?[eE]\+?[0-9]+$")
# Any valid id: the rows are checked by the API's schemas before their household exists.
_SOME_ID = 1

HouseholdKey = tuple[str, str]
# "3", "3栋", "3号楼" and "3幢" are one building written three ways; as labels they are three
# buildings, and a flat written both ways would become two households (its cars split, its
# 车位数 counted twice). What is left without the suffix groups the spellings.
_BUILDING_SUFFIX = re.compile(r"(号楼|栋|幢|座|号|楼)$")


def _building_core(label: str) -> str:
    return _BUILDING_SUFFIX.sub("", label)


class ImportConflictError(SaidInChinese, ConflictError):
    """Someone else's change collided with the import's writes (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    content: str
    message: str


@dataclass
class _SheetHousehold:
    """A household as the sheet gives it: created from it when new, compared with it when on
    file."""

    building: str
    unit: str
    spaces: int
    spaces_row: int | None
    notes: list[str] = field(default_factory=list)
    row: int = 0
    note_row: int | None = None

    @property
    def note(self) -> str:
        return "；".join(self.notes)[:500]


@dataclass
class _SheetPerson:
    """A resident as the sheet gives them; the phone is the first row's that has one."""

    key: HouseholdKey
    name: str
    phone: str | None
    row: int
    phone_row: int | None = None


@dataclass(frozen=True, slots=True)
class _NewVehicle:
    key: HouseholdKey
    plate: str
    plate_color: str
    driver: str | None  # the name of the row's resident, new or already on file
    row: int


@dataclass
class ImportPlan:
    """What a file would create, what it finds already on file and the rows in error."""

    file_name: str
    sha256: str
    table: ImportTable
    households: dict[HouseholdKey, _SheetHousehold] = field(default_factory=dict)
    residents: list[_SheetPerson] = field(default_factory=list)
    vehicles: list[_NewVehicle] = field(default_factory=list)
    existing_households: set[HouseholdKey] = field(default_factory=set)
    # (household id, name): one owner on two rows (two cars) is one resident already on file.
    existing_residents: set[tuple[int, str]] = field(default_factory=set)
    existing_vehicles: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Rows with a plate colour but no plate: the colour is left out, not an error, since
    # sheets have the colour column filled down (37 of 300 rows in the onboarding walk's).
    colour_without_plate: list[int] = field(default_factory=list)
    # Fields of households and residents on file that the sheet changes, in row order.
    changes: list[FieldChange] = field(default_factory=list)
    # Households on file that no row names: left as they are (an import never deletes).
    households_not_in_file: int = 0

    def summary(self) -> dict[str, Any]:
        """The counts as the preview, the result and the audit entry give them: ``existing``
        is ``update`` (some field changed) plus ``unchanged``."""

        def counts(create: int, existing: int, updated: int) -> dict[str, int]:
            return {"create": create, "existing": existing, "update": updated,
                    "unchanged": existing - updated}

        return {
            "rows": len(self.table.rows),
            "households": counts(len(self.households), len(self.existing_households),
                                 len(changed_targets(self.changes, "household"))),
            "residents": counts(len(self.residents), len(self.existing_residents),
                                len(changed_targets(self.changes, "resident"))),
            "vehicles": counts(len(self.vehicles), self.existing_vehicles, 0),
        }

    def changes_anything(self) -> bool:
        """Whether importing it creates or updates anything (a sheet imported again does not)."""
        return bool(self.households or self.residents or self.vehicles or self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "file_name": self.file_name,
            "encoding": self.table.encoding,
            "delimiter": self.table.delimiter,
            "header_row": self.table.header_row,
            "ignored_columns": list(self.table.ignored),
            "colour_without_plate": list(self.colour_without_plate),
            **self.summary(),
            "changes": [c.to_json() for c in self.changes],
            "households_not_in_file": self.households_not_in_file,
            "errors": [{"row": e.row, "content": e.content, "message": e.message}
                       for e in self.errors],
        }


def _zh(err: ValidationError) -> str:
    """A schema's refusal as the console says it (楼栋：不能为空, 车牌：“…”不是有效的车牌号…)."""
    problems = [{"loc": e["loc"], "msg": e["msg"]} for e in err.errors()]
    return explain_detail("zh", problems)


def _content(cells: tuple[str, ...]) -> str:
    # Excel pads a row with empty cells up to its widest used column (", , , ," in the
    # table): they say nothing about the row.
    shown = [c.strip() for c in cells]
    while shown and not shown[-1]:
        shown.pop()
    text = ", ".join(shown)
    return text if len(text) <= CONTENT_MAX else text[:CONTENT_MAX] + "…"


def _color(text: str) -> str | None:
    return COLORS.get(unicodedata.normalize("NFKC", text).strip().lower())


class _Planner:
    """Reads the database once (households, their residents' names, the plates) and checks
    the rows against it and against each other."""

    def __init__(self, session: Session, plan: ImportPlan) -> None:
        self.plan = plan
        self.households: dict[HouseholdKey, int] = {}
        # A household on file's spaces and note, to compare the sheet's with.
        self.on_file: dict[int, tuple[int, str]] = {}
        for hid, b, u, spaces, note in session.execute(select(
                Household.id, Household.building, Household.unit, Household.spaces,
                Household.note)):
            self.households[(b, u)] = hid
            self.on_file[hid] = (spaces, note)
        self.labels = {hid: f"{b} {u}" for (b, u), hid in self.households.items()}
        # (household id, name) → that flat's residents so named, (id, phone), oldest first.
        self.names: dict[tuple[int, str], list[tuple[int, str | None]]] = {}
        for rid, hid, name, phone in session.execute(select(
                Resident.id, Resident.household_id, Resident.name, Resident.phone)
                .order_by(Resident.id)):
            self.names.setdefault((hid, name), []).append((rid, phone))
        self.plates: dict[str, int] = {
            plate: hid for plate, hid in session.execute(
                select(Vehicle.plate, Vehicle.household_id))
        }
        self.plate_rows: dict[str, int] = {}
        # Everyone the sheet names, new or on file: one person on two rows gives one phone.
        self.people: dict[tuple[HouseholdKey, str], _SheetPerson] = {}
        # Every household the sheet names; the new ones are also the plan's ``households``.
        self.sheet: dict[HouseholdKey, _SheetHousehold] = {}
        self.buildings = self._building_spellings()

    def _building_spellings(self) -> dict[str, tuple[set[str], bool]]:
        """Per building (its label without 栋/号楼…): the spellings taken for it and whether
        they are the database's. The database's spellings are kept; a building new to it is
        spelt as most of the file's rows spell it (the first such row on a tie)."""
        taken: dict[str, tuple[set[str], bool]] = {}
        for building, _ in self.households:
            taken.setdefault(_building_core(building), (set(), True))[0].add(building)
        counts: dict[str, dict[str, int]] = {}
        for _, cells in self.plan.table.rows:
            label = search_label(self.plan.table.value(cells, "building"))
            if label and _building_core(label) not in taken:
                spellings = counts.setdefault(_building_core(label), {})
                spellings[label] = spellings.get(label, 0) + 1
        for core, spellings in counts.items():
            taken[core] = ({max(spellings, key=lambda s: spellings[s])}, False)
        return taken

    def _spelling_problems(self, key: HouseholdKey) -> list[str]:
        building, unit = key
        if key in self.households:
            return []
        problems = []
        spellings, on_file = self.buildings.get(_building_core(building), ({building}, False))
        if building not in spellings:
            other = "、".join(f"“{s}”" for s in sorted(spellings))
            where = "已登记的住户写的是" if on_file else "表里其他行写的是"
            problems.append(f"楼栋“{building}”和{where}{other}：同一栋楼请写成一样，"
                            "不然会成为另外一户")
        if _BUILDING_SUFFIX.search(building) and unit.startswith(building):
            example = unit.removeprefix(building).strip() or "1单元301"
            problems.append(f"房号“{unit}”里又写了楼栋“{building}”：房号只写单元和房间"
                            f"（如 {example}），不然会成为另外一户")
        return problems

    def row(self, number: int, cells: tuple[str, ...]) -> None:
        table = self.plan.table
        value = table.value
        problems: list[str] = []

        def fail(message: str) -> None:
            problems.append(message)

        spaces_text = value(cells, "spaces")
        spaces: Any = 1
        if spaces_text:
            spaces = int(spaces_text) if spaces_text.isdigit() else -1
            if spaces < 0:
                fail(f"车位数“{spaces_text[:20]}”不是整数（0–20）")
                spaces = 1
        household: HouseholdIn | None = None
        try:
            household = HouseholdIn(building=value(cells, "building"), unit=value(cells, "unit"),
                                    spaces=spaces, note=value(cells, "note"))
        except ValidationError as err:
            fail(_zh(err))
        name, phone = value(cells, "name"), value(cells, "phone") or None
        if phone and _SCIENTIFIC.match(phone):
            fail(f"电话“{phone[:20]}”是 Excel 的科学计数法，号码后面几位已经丢了：在 Excel 里"
                 "把电话这一列设成「文本」，重新填写这些号码后再另存为 CSV")
            phone = None
        resident: ResidentIn | None = None
        if name or phone:
            try:
                resident = ResidentIn(household_id=_SOME_ID, name=name, phone=phone)
            except ValidationError as err:
                fail(_zh(err))
        plate_text = value(cells, "plate")
        vehicle: VehicleIn | None = None
        color = _color(value(cells, "plate_color"))
        if color is None:
            shown = value(cells, "plate_color")[:20]
            fail(f"车牌颜色“{shown}”看不懂：填 蓝、黄、绿、白、黑 或留空")
        if plate_text:
            try:
                vehicle = VehicleIn.model_validate(
                    {"plate": plate_text, "household_id": _SOME_ID,
                     "plate_color": color or "unknown"})
            except ValidationError as err:
                fail(_zh(err))
        elif value(cells, "plate_color") and color is not None and color != "unknown":
            self.plan.colour_without_plate.append(number)
        if not name and not plate_text:
            fail("这一行既没有姓名也没有车牌：每行至少要有其中一项")
        if household is None:
            self._done(number, cells, problems)
            return
        key = (household.building, household.unit)
        problems += self._spelling_problems(key)
        if vehicle is not None:
            problems += self._plate_problems(number, key, vehicle.plate)
        if resident is not None:
            problems += self._person_problems(key, resident)
        problems += self._household_problems(key, household, bool(spaces_text))
        if problems:
            self._done(number, cells, problems)
            return
        self._add(number, key, household, resident, vehicle, bool(spaces_text))

    def _plate_problems(self, number: int, key: HouseholdKey, plate: str) -> list[str]:
        first = self.plate_rows.setdefault(plate, number)
        if first != number:
            return [f"车牌 {plate} 在第 {first} 行已经有了：同一车牌只能登记一次"]
        owner = self.plates.get(plate)
        if owner is not None and owner != self.households.get(key):
            return [f"车牌 {plate} 已登记在 {self.labels.get(owner, '?')}（住户 #{owner}），"
                    "不能再登记到这户；车换了住户请先在「住户与车辆」删除原来的登记"]
        return []

    def _person_problems(self, key: HouseholdKey, person: ResidentIn) -> list[str]:
        earlier = self.people.get((key, person.name))
        if (earlier is not None and person.phone and earlier.phone
                and person.phone != earlier.phone):
            first = earlier.phone_row or earlier.row
            return [f"{person.name} 的电话和第 {first} 行（同一户）不一样：同一个人只写一个电话"]
        return []

    def _household_problems(
        self, key: HouseholdKey, household: HouseholdIn, spaces_given: bool
    ) -> list[str]:
        given = self.sheet.get(key)
        if given is None or not spaces_given:
            return []
        if given.spaces_row is not None and given.spaces != household.spaces:
            return [f"车位数和第 {given.spaces_row} 行（同一户）不一样：同一户只写一个车位数"]
        return []

    def _done(self, number: int, cells: tuple[str, ...], problems: list[str]) -> None:
        self.plan.errors.append(RowError(number, _content(cells), "；".join(problems)))

    def _add(
        self, number: int, key: HouseholdKey, household: HouseholdIn,
        resident: ResidentIn | None, vehicle: VehicleIn | None, spaces_given: bool,
    ) -> None:
        plan = self.plan
        household_id = self.households.get(key)
        given = self.sheet.get(key)
        if given is None:
            given = self.sheet[key] = _SheetHousehold(
                household.building, household.unit, household.spaces, None, row=number)
            if household_id is None:
                plan.households[key] = given
        if household_id is not None:
            plan.existing_households.add(key)
        if spaces_given and given.spaces_row is None:
            given.spaces, given.spaces_row = household.spaces, number
        if household.note and household.note not in given.notes:
            given.notes.append(household.note)
            given.note_row = given.note_row or number
        if resident is not None:
            person = self.people.get((key, resident.name))
            if person is None:
                person = self.people[(key, resident.name)] = _SheetPerson(
                    key, resident.name, None, number)
                if household_id is not None and (household_id, resident.name) in self.names:
                    plan.existing_residents.add((household_id, resident.name))
                else:
                    plan.residents.append(person)
            if resident.phone and person.phone is None:
                person.phone, person.phone_row = resident.phone, number
        if vehicle is not None:
            if self.plates.get(vehicle.plate) is not None:
                plan.existing_vehicles += 1  # this household's already (else an error above)
            else:
                plan.vehicles.append(_NewVehicle(key, vehicle.plate, vehicle.plate_color,
                                                 resident.name if resident else None, number))


    def changes(self) -> None:
        """What the sheet says differently of households and residents on file, once every
        row is read (a phone or a 车位数 may be on any row of the person or flat). An empty
        cell is no value, never an erasure."""
        found: list[FieldChange] = []
        for key, given in self.sheet.items():
            hid = self.households.get(key)
            if hid is None:
                continue
            who = self.labels[hid]
            spaces, note = self.on_file[hid]
            if given.spaces_row is not None and given.spaces != spaces:
                found.append(FieldChange(given.spaces_row, f"household:{hid}", who, "spaces",
                                         spaces, given.spaces))
            if given.note and given.note_row is not None and given.note != note:
                found.append(FieldChange(given.note_row, f"household:{hid}", who, "note",
                                         note, given.note))
        for (key, name), person in self.people.items():
            hid = self.households.get(key)
            if hid is None or person.phone is None or person.phone_row is None:
                continue
            namesakes = self.names.get((hid, name), [])
            if not namesakes:
                continue
            if any(same_phone(phone, person.phone) for _, phone in namesakes):
                continue
            # Two namesakes in one flat: the first, as the driver of a row is the first.
            rid, phone = namesakes[0]
            found.append(FieldChange(person.phone_row, f"resident:{rid}",
                                     f"{self.labels[hid]} {name}", "phone", phone,
                                     person.phone))
        self.plan.changes = sorted(found, key=lambda c: c.row)
        self.plan.households_not_in_file = len(self.households) - len(
            {key for key in self.sheet if key in self.households})


def plan_import(session: Session, data: bytes, file_name: str) -> ImportPlan:
    """Read and check ``data`` against the database as it is in ``session``; writes nothing.
    A file that is not a table raises (``ImportFileError`` and its siblings)."""
    table = read_table(data)
    plan = ImportPlan(file_name=file_name, sha256=hashlib.sha256(data).hexdigest(), table=table)
    planner = _Planner(session, plan)
    for number, cells in table.rows:
        planner.row(number, cells)
    planner.changes()
    return plan


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """A preview or an import: the plan, whether it was applied, and its summary entry (None
    for a preview, and for an import that changed nothing: nothing was written to audit)."""

    plan: ImportPlan
    applied: bool
    audit_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "applied": self.applied, "audit_id": self.audit_id}


def _insert(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in one batched statement; their new ids in the same order. Thousands
    of ORM objects took most of an import's time (5,000 rows: 7 s of 11 s in the unit of
    work); the rows and their defaults are the same."""
    if not rows:
        return []
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


def _parked_cars_registered(session: Session, vehicles: list[dict[str, Any]]) -> set[str]:
    """The plates of ``vehicles`` parked inside as no household's car (its registration was
    deleted while it was inside: a car sold with a flat, 搬离): each takes its new
    household's space from now on, as a car added by hand does (api/routes/admin.py). One
    read of the few such rows, not one per imported car."""
    households = {v["plate"]: v["household_id"] for v in vehicles}
    parked = set()
    for row in session.scalars(select(Presence).where(
            Presence.household_id.is_(None), Presence.pass_id.is_(None))):
        if row.plate in households:
            row.household_id = households[row.plate]
            parked.add(row.plate)
    return parked


def _write(session: Session, plan: ImportPlan, operator: str) -> int:
    """Create what ``plan`` says, with its audit entries; returns the summary entry's id."""
    summary = AuditEntry(
        username=operator, action=ACTION, target=f"import:{plan.sha256[:16]}",
        details={"file": plan.file_name, "sha256": plan.sha256, **plan.summary()},
    )
    session.add(summary)
    session.flush()
    new_households = [
        {"building": h.building, "unit": h.unit, "spaces": h.spaces,
         "note": "；".join(h.notes)[:500]}
        for h in plan.households.values()
    ]
    household_ids = _insert(session, Household, new_households)
    ids: dict[HouseholdKey, int] = {
        (b, u): hid for hid, b, u in session.execute(
            select(Household.id, Household.building, Household.unit))
    }
    new_residents = [{"household_id": ids[r.key], "name": r.name, "phone": r.phone}
                     for r in plan.residents]
    resident_ids = _insert(session, Resident, new_residents)
    # Drivers by name in their household, the new residents and those already on file (the
    # first of two namesakes).
    drivers: dict[tuple[int, str], int] = {}
    for rid, hid, name in session.execute(
            select(Resident.id, Resident.household_id, Resident.name).order_by(Resident.id)):
        drivers.setdefault((hid, name), rid)
    new_vehicles = [
        {"plate": v.plate, "plate_color": v.plate_color, "household_id": ids[v.key],
         "resident_id": drivers.get((ids[v.key], v.driver)) if v.driver else None}
        for v in plan.vehicles
    ]
    vehicle_ids = _insert(session, Vehicle, new_vehicles)
    parked = _parked_cars_registered(session, new_vehicles)
    # The API's own entries for each object (api/routes/admin.py), details as it writes them,
    # plus the summary they came with; see the module's docstring for why each object has one.
    link = {"import_audit_id": summary.id}

    def entry(action: str, target: str, details: dict[str, Any]) -> dict[str, Any]:
        return {"username": operator, "action": action, "target": target,
                "details": {**details, **link}}

    entries = [
        *(entry("household.create", f"household:{hid}",
                {"building": h["building"], "unit": h["unit"], "spaces": h["spaces"]})
          for hid, h in zip(household_ids, new_households, strict=True)),
        *(entry("resident.create", f"resident:{rid}", {"household_id": r["household_id"]})
          for rid, r in zip(resident_ids, new_residents, strict=True)),
        *(entry("vehicle.create", f"vehicle:{vid}",
                {"plate": v["plate"], "household_id": v["household_id"],
                 "resident_id": v["resident_id"], "plate_color": v["plate_color"],
                 **({"inside": "followed"} if v["plate"] in parked else {})})
          for vid, v in zip(vehicle_ids, new_vehicles, strict=True)),
    ]
    if entries:
        session.execute(insert(AuditEntry), entries)
    write_changes(session, plan.changes, operator, summary.id)
    return summary.id


def run_import(
    sessions: sessionmaker[Session], data: bytes, file_name: str, *, operator: str,
    dry_run: bool, progress: Callable[[str], None] | None = None,
) -> ImportOutcome:
    """Preview (``dry_run``) or import ``data``. An import re-checks the file inside its own
    transaction and writes only when no row is in error; otherwise nothing is written and the
    outcome says so (``applied`` false, the errors listed)."""
    say = progress or (lambda _: None)
    if dry_run:
        with sessions() as session:
            plan = plan_import(session, data, file_name)
        return ImportOutcome(plan, applied=False)
    try:
        with transaction(sessions) as session:
            plan = plan_import(session, data, file_name)
            say(f"checked {len(plan.table.rows)} rows: {len(plan.errors)} with errors")
            if plan.errors:
                return ImportOutcome(plan, applied=False)
            if not plan.changes_anything():
                # Everything in the file is on file already: no audit entry, as for a consent
                # withdrawal that withdrew nothing (services/faces.py). An entry would list
                # the file as an import of 0 households, 0 residents, 0 cars among the changes.
                say("nothing to create or update")
                audit_id = None
            else:
                audit_id = _write(session, plan, operator)
                say("written; committing")
    except IntegrityError as err:
        # Checked above in this transaction; only a change committed meanwhile by someone
        # else (the same plate or flat added at the same moment) gets here.
        raise ImportConflictError(
            "the households, residents or cars changed while the file was imported (the same "
            "plate or flat was added at the same time); nothing was imported: import again",
            "导入时住户或车辆正好被别人修改（同一车牌或房号同时被登记），什么都没有导入：请重新导入",
        ) from err
    if audit_id is None:
        logger.info("import of %s by %s: everything in it is on file; nothing written",
                    file_name, operator)
        return ImportOutcome(plan, applied=True)
    counts = plan.summary()
    logger.info(
        "import of %s by %s: %d households, %d residents, %d vehicles created; %d households, "
        "%d residents updated (audit %d)",
        file_name, operator, counts["households"]["create"], counts["residents"]["create"],
        counts["vehicles"]["create"], counts["households"]["update"],
        counts["residents"]["update"], audit_id,
    )
    return ImportOutcome(plan, applied=True, audit_id=audit_id)
