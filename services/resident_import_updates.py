"""批量导入's updates: what a re-imported sheet says differently about what is on file.

A property office keeps one master sheet and imports it again after changes. For a household
on file (same 楼栋 + 房号) its 车位数 and 备注, and for a resident on file (same flat, same
name) their 电话, are made what the sheet says, so the system holds what the office believes
it holds. An empty cell says nothing: a sheet without a phone never erases the one on file,
a sheet without a 车位数 keeps the household's. The preview lists each change (old → new)
and the import applies exactly those, in the import's one transaction.

Audit: each object changed gets a ``household.update`` / ``resident.update`` entry, as a
console edit does, naming the fields changed (``fields``) and, as a pass edit does, the old
and new values (``changes``) of the spaces only: a household's note is free text about the
family and stays out of the log as at creation, and a phone stays out as a new resident's
does (``resident.create``), so that a resident erased on request (PIPL) does not live on in
a log kept whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from models.events import AuditEntry
from models.people import Household, Resident

Field = Literal["spaces", "note", "phone"]
# What may be logged of a change: the spaces' numbers; of a note or a phone only that it
# changed (see the module's docstring).
_LOGGED_VALUES: frozenset[str] = frozenset({"spaces"})
_PHONE_NOISE = re.compile(r"[\s()\-]")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of one object on file that the import changes: ``target`` as the audit log
    names it (``household:3``, ``resident:7``), ``who`` as the office reads it (3栋 1201,
    3栋 1201 张伟), ``row`` the sheet's row the new value is on."""

    row: int
    target: str
    who: str
    field: Field
    old: int | str | None
    new: int | str

    @property
    def object_id(self) -> int:
        return int(self.target.split(":", 1)[1])

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "target": self.target, "who": self.who, "field": self.field,
                "old": self.old, "new": self.new}


def same_phone(on_file: str | None, given: str) -> bool:
    """Whether a sheet's phone is the one on file, however it is spaced or dashed: a number
    written 138-0013-8000 in the console and 13800138000 in the sheet is not a change."""
    return on_file is not None and (
        _PHONE_NOISE.sub("", on_file) == _PHONE_NOISE.sub("", given))


def changed_targets(changes: Iterable[FieldChange], kind: str) -> set[str]:
    return {c.target for c in changes if c.target.startswith(f"{kind}:")}


def write_changes(
    session: Session, changes: list[FieldChange], operator: str, import_audit_id: int
) -> None:
    """Apply ``changes`` (one batched UPDATE per table) with an audit entry per object."""
    by_target: dict[str, list[FieldChange]] = {}
    for change in changes:
        by_target.setdefault(change.target, []).append(change)
    for model, kind in ((Household, "household"), (Resident, "resident")):
        rows = [{"id": found[0].object_id, **{c.field: c.new for c in found}}
                for target, found in by_target.items() if target.startswith(f"{kind}:")]
        if rows:
            # Bulk UPDATE by primary key: one statement for thousands of rows.
            session.execute(update(model), rows)
    entries = [
        {"username": operator, "action": f"{target.split(':', 1)[0]}.update", "target": target,
         "details": {
             "fields": [c.field for c in found],
             **({"changes": logged} if (logged := {
                 c.field: [c.old, c.new] for c in found if c.field in _LOGGED_VALUES})
                else {}),
             "import_audit_id": import_audit_id,
         }}
        for target, found in by_target.items()
    ]
    if entries:
        session.execute(insert(AuditEntry), entries)
