"""Configured spaces owned by a household or resident (``assigned_to: household:12``).

The console does not manage space numbers: ``parking.spaces`` / ``parking.spaces_csv`` name a
space's owner by database id (docs/parking.md). Ids are never handed out twice (migration
0016), so once a family moves out (搬离) or its flat is deleted, its spaces name an owner no
longer on file. Such a space stays reserved, as any ``assigned_to`` space is: guidance never
offers it to another driver (controllers/guidance.py), because a 产权/租赁 space belongs to
whoever takes the flat or the lease over, not to the next car that comes in. The office has
to re-point it by hand; these helpers say which spaces and where they are configured.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controllers.spaces import SpaceRecord
from models.people import Household, Resident
from services.parking_config import ParkingConfig

_OWNER = re.compile(r"(household|resident):(\d+)")
MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class AssignedSpace:
    space_id: str
    zone: str
    label: str
    assigned_to: str  # as configured: household:12 | resident:17
    configured_in: str  # parking.spaces, or the spaces_csv file

    def todo(self) -> str:
        """What the office does once the flat has its next household (English; the console
        words it in its own language)."""
        kind = self.assigned_to.split(":", 1)[0]
        return (
            f"space {self.space_id} (zone {self.zone}) stays assigned to {self.assigned_to}, "
            "which is no longer on file after the move-out: nobody is sent to it. Once the "
            f"flat's next household is registered, change `assigned_to: {self.assigned_to}` "
            f"to `{kind}:<its new id>` in {self.configured_in} and restart the controller; "
            "remove assigned_to if the space was sold or its lease ended."
        )


def owner_keys(household_id: int, resident_ids: Iterable[int]) -> set[str]:
    """The ``assigned_to`` values that name a household or one of its residents."""
    return {f"household:{household_id}", *(f"resident:{rid}" for rid in resident_ids)}


def configured_in(config: ParkingConfig, space_id: str) -> str:
    """Where the office finds the space's line: the inline list or the CSV file."""
    if any(space.id == space_id for space in config.spaces) or config.spaces_csv is None:
        return "parking.spaces"
    return f"parking.spaces_csv ({config.spaces_csv})"


def assigned_spaces(
    records: Iterable[SpaceRecord], keys: Collection[str], config: ParkingConfig
) -> tuple[AssignedSpace, ...]:
    """The configured spaces whose ``assigned_to`` is one of ``keys``, by space id."""
    return tuple(
        AssignedSpace(r.id, r.zone, r.label, r.assigned_to, configured_in(config, r.id))
        for r in sorted(records, key=lambda r: r.id)
        if r.assigned_to is not None and r.assigned_to in keys
    )


def owners_gone(
    session: Session, records: Collection[SpaceRecord], config: ParkingConfig
) -> tuple[AssignedSpace, ...]:
    """Spaces assigned to a household or resident id that is not on file (moved out,
    deleted, or a typo). A value of another shape is left alone: it never matched anyone."""
    named: dict[str, set[int]] = {"household": set(), "resident": set()}
    for record in records:
        found = _OWNER.fullmatch(record.assigned_to or "")
        # An id past what SQLite and PostgreSQL store names no one (and would be a
        # DataError in the query on PostgreSQL).
        if found and int(found[2]) <= MAX_ID:
            named[found[1]].add(int(found[2]))
    present = {
        *(f"household:{i}" for i in session.scalars(
            select(Household.id).where(Household.id.in_(named["household"])))),
        *(f"resident:{i}" for i in session.scalars(
            select(Resident.id).where(Resident.id.in_(named["resident"])))),
    }
    missing = {r.assigned_to for r in records
               if r.assigned_to and _OWNER.fullmatch(r.assigned_to)} - present
    return assigned_spaces(records, missing, config)
