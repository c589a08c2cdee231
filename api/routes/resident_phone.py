"""A resident's whole phone number for the one who must call them, audited each time.

Guards read residents with their phones masked (138****8000, api/routes/admin.py): a visitor
without a pass is let in once the host says so on the phone, so the booth needs one number at a
time, not the directory. Each reveal is an audit entry (``resident.phone_reveal``: who, which
resident, when, the reason if given; never the number) written in the request's transaction,
committed before the number is sent: a reveal that cannot be recorded is not made. During a
database outage the residents table cannot be read either, so the route answers 503 like any
other read (the offline snapshot holds no phones on purpose).
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from fastapi import APIRouter, HTTPException
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.deps import SessionDep, StaffUser
from api.params import PathId
from api.schemas import PhoneRevealIn, PhoneRevealOut
from errors import NotFoundError
from models.events import AuditEntry
from models.people import Resident, User
from wall_clock import utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["admin"])

ACTION = "resident.phone_reveal"
# A booth calls a host for a visitor without a pass, a few an hour on a busy shift; an account
# reading a number a minute for an hour is copying the directory, not calling hosts.
REVEALS_PER_WINDOW = 30
WINDOW = timedelta(hours=1)


@router.post("/residents/{resident_id}/phone-reveal", response_model=PhoneRevealOut)
def reveal_phone(
    resident_id: PathId, session: SessionDep, user: StaffUser, body: PhoneRevealIn | None = None
) -> PhoneRevealOut:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFoundError(f"resident {resident_id} not found")
    if not resident.phone:
        # Nothing to reveal: the guard's masked list already reads no number for them, so the
        # answer tells nothing new. Not a reveal, so neither audited as one nor counted.
        raise NotFoundError(f"resident {resident_id} has no phone number on record")
    _one_reveal_at_a_time(session, user.name)
    since = utcnow() - WINDOW
    count, oldest = session.execute(
        select(func.count(), func.min(AuditEntry.at)).where(
            AuditEntry.action == ACTION, AuditEntry.username == user.name,
            AuditEntry.at >= since)).one()
    if count >= REVEALS_PER_WINDOW:
        wait = max(1, math.ceil((oldest - since).total_seconds()))
        logger.warning("phone reveal refused for %s: %d in the last hour", user.name, count)
        raise HTTPException(
            429, f"{count} phone numbers revealed by {user.name} in the last hour: "
                 f"try again in {wait} s or ask the office",
            headers={"Retry-After": str(wait)})
    entry = AuditEntry(username=user.name, action=ACTION, target=f"resident:{resident.id}",
                       reason=body.reason if body else "",
                       details={"household_id": resident.household_id})
    session.add(entry)
    session.flush()  # the entry's id for the answer; committed before the answer is sent
    return PhoneRevealOut(id=resident.id, phone=resident.phone, audit_id=entry.id)


def _one_reveal_at_a_time(session: Session, username: str) -> None:
    """Hold the account's row until the reveal is committed, so its reveals are counted one
    after the other. Counted side by side, each reads the entries committed before any of
    them: a script sending its requests at once got as many numbers as the server ran at a
    time (40 threads) past the limit. PostgreSQL: SELECT … FOR UPDATE; SQLite ignores it and
    begins a transaction at its first write, so a write to nothing takes its one write lock
    first (as services/users.py does)."""
    if session.connection().dialect.name == "sqlite":
        session.execute(
            update(User).where(User.username == username).values(active=User.active)
            .execution_options(synchronize_session=False)
        )
    session.execute(select(User.id).where(User.username == username).with_for_update())
