"""A car inside stays the same car when the office corrects its record.

Presence (who is inside) is keyed by plate and remembers the household or visitor pass the
car came in under. An admin who fixes a mistyped plate, moves a car to another flat or
deletes it while the car is parked inside must not leave a phantom behind: a presence row
under the old plate would count against the household's spaces (一位多车) for good, so its
other car would be refused at the entry, and the real car would leave under a plate nobody
had seen come in.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.access_store import off_its_zone
from models.vehicles import Presence, VisitorPass


def _inside_as(
    session: Session, plate: str, *, household_id: int | None = None, pass_id: int | None = None
) -> Presence | None:
    """The presence row of ``plate`` if it was made by this household's own car (no pass)
    or by this pass; another car's row under the same plate is left alone."""
    query = select(Presence).where(Presence.plate == plate)
    if pass_id is not None:
        query = query.where(Presence.pass_id == pass_id)
    else:
        query = query.where(Presence.household_id == household_id, Presence.pass_id.is_(None))
    return session.scalars(query).first()


def lock_inside(session: Session, plates: Collection[str]) -> None:
    """Lock the presence rows of ``plates`` (in plate order) and read them afresh, before
    anything else the caller writes: the order every writer of a presence row takes (a
    visitor's pass, the rows, the flat, the car's registration, then the zones;
    docs/parking.md, models/access_store.py). An exit of the car
    written at this moment holds its row: the caller waits for it and then finds the car
    gone, where a row read unlocked and updated afterwards matched nothing (StaleDataError).
    SQLite has no row locks and ignores FOR UPDATE, and Python's sqlite3 begins a
    transaction only at its first write: a write to nothing first takes its one write lock,
    so the rows are read once the exit has committed (as services/users.py does)."""
    wanted = sorted(set(plates))
    if not wanted:
        return
    if session.connection().dialect.name == "sqlite":
        session.execute(
            update(Presence).where(Presence.plate.in_(wanted)).values(plate=Presence.plate)
            .execution_options(synchronize_session=False)
        )
    session.scalars(
        select(Presence).where(Presence.plate.in_(wanted)).order_by(Presence.plate)
        .with_for_update().execution_options(populate_existing=True)
    ).all()


# What a correction did to the car inside, as its audit entry says it ("inside").
Followed = Literal["followed", "merged"]


def plate_corrected(
    session: Session, old: str, new: str, *, household_id: int | None = None,
    pass_id: int | None = None,
) -> Followed | None:
    """The car inside under ``old`` (a household's car, or a pass's) is inside under ``new``
    from now on: "followed", its row moved; None when it was not inside. If ``new`` is
    already inside (the gate read the right plate on a later entry, the car having left
    unseen), that row stays and the old one goes, its zone down one as the unseen exit would
    have taken it: "merged". One car is inside once, and counted once. The row kept stays
    whose it is (a household's own car, a pass's visitor): a correction never hands a
    resident's record to a pass, nor a visitor's to a household. Only a row that is nobody's
    (an unknown car a guard let in) takes the corrected record's household and pass: the
    correction says whose car that is, as registering it would (a household's car) and as
    the row under the old plate said (a pass's visitor, whose overstay alarm then watches
    it)."""
    if old == new:
        return None
    # Both rows locked, and read afresh, before any zone: the order every writer of a
    # presence row takes (models/access_store.py). An exit of the car written at this moment
    # holds its row and then waits for its zone; taking the zone first waited on that row
    # for ever (a deadlock), and a row read unlocked could be one the exit had just taken
    # off, its zone down a second time.
    lock_inside(session, (old, new))
    before = _inside_as(session, old, household_id=household_id, pass_id=pass_id)
    if before is None:
        return None
    kept = session.get(Presence, new)
    if kept is not None:
        if kept.household_id is None and kept.pass_id is None:
            kept.household_id, kept.pass_id = before.household_id, before.pass_id
        off_its_zone(session, before)
        session.delete(before)
        session.flush()
        return "merged"
    session.add(Presence(
        plate=new, zone_id=before.zone_id, household_id=before.household_id,
        pass_id=before.pass_id, entered_at=before.entered_at, passage_id=before.passage_id,
    ))
    session.delete(before)
    session.flush()
    return "followed"


def household_changed(
    session: Session, plate: str, old: int | None, new: int | None
) -> bool:
    """A household's own car inside now belongs to household ``new`` (None: to no household
    any more, the car was deleted while inside; ``old`` None: a car inside that was no
    household's, registered now); True when it was inside. The car stays counted in its zone;
    only whose space it takes changes."""
    if old == new:
        return False
    lock_inside(session, [plate])
    inside = _inside_as(session, plate, household_id=old)
    if inside is None:
        return False
    inside.household_id = new
    session.flush()
    return True


def pass_deleted(session: Session, visitor_pass: VisitorPass) -> bool:
    """A visitor pass about to be deleted: its car inside on it stays inside, counted in its
    zone, on no household's spaces, as a deleted car's does; True when it was inside. Left
    to the database's SET NULL of the row's pass, it was the host's own car: counted
    against the host's spaces, so the host's own car went to a guard.

    The pass is taken first, then the car's row, as an entry on the pass takes them (its use,
    then the row): one written at this moment holds the pass, so this waits for it, and then
    finds its car inside and reads the use it counted (the audit entry's ``uses``). On
    SQLite, which ignores FOR UPDATE, ``lock_inside``'s write waits for it instead, and the
    pass is read again after it."""
    session.execute(select(VisitorPass.id).where(VisitorPass.id == visitor_pass.id)
                    .with_for_update())
    if visitor_pass.plate is not None:
        lock_inside(session, [visitor_pass.plate])
    session.refresh(visitor_pass)
    if visitor_pass.plate is None:
        return False  # a walk-in pass: no car
    inside = _inside_as(session, visitor_pass.plate, pass_id=visitor_pass.id)
    if inside is None:
        return False
    inside.household_id, inside.pass_id = None, None
    session.flush()
    return True
