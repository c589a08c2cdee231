"""The other ways through a pedestrian gate: a resident's PIN, or a visitor pass's QR code.

Face entry must never be the only way in (PIPL, and residents who decline or whose face is not
recognised): a keypad PIN and a QR code on the visitor's phone or on paper both work.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controllers.person_policy import decide_pin, decide_qr
from controllers.values import AccessDecision, Reason
from errors import InvalidInputError, NotFoundError
from models.access_store import pass_permit
from models.events import Passage
from models.people import Resident
from models.vehicles import VisitorPass
from services.passwords import hash_password, verify_password

PIN_WINDOW = timedelta(minutes=10)
QR_PREFIX = "PG1"


def validate_pin(pin: str) -> None:
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise InvalidInputError("a PIN is 4 to 8 digits")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise InvalidInputError("choose a PIN that is not all one digit or a simple sequence")


def set_pin(session: Session, resident_id: int, pin: str) -> None:
    validate_pin(pin)
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFoundError(f"resident {resident_id} not found")
    resident.pin_hash = hash_password(pin)


def check_pin(session: Session, resident_id: int, pin: str, now: datetime) -> AccessDecision:
    resident = session.get(Resident, resident_id)
    if resident is None or resident.pin_hash is None:
        raise NotFoundError(f"resident {resident_id} has no PIN")
    failures = session.scalar(
        select(func.count())
        .select_from(Passage)
        .where(Passage.resident_id == resident_id)
        .where(Passage.reason == Reason.PIN_WRONG.value)
        .where(Passage.at >= now - PIN_WINDOW)
    )
    return decide_pin(
        resident_id=resident_id,
        household_id=resident.household_id,
        pin_ok=verify_password(resident.pin_hash, pin),
        recent_failures=int(failures or 0),
    )


def qr_code(key: str, pass_id: int) -> str:
    signature = hmac.new(key.encode(), f"pass:{pass_id}".encode(), hashlib.sha256).hexdigest()
    return f"{QR_PREFIX}.{pass_id}.{signature[:20]}"


def verified_pass_id(key: str, code: str) -> int | None:
    """The pass a QR code names, if its signature is ours; None for anything else."""
    prefix, _, rest = code.strip().partition(".")
    pass_text, _, _sig = rest.partition(".")
    signed = (
        prefix == QR_PREFIX
        and pass_text.isdigit()
        and hmac.compare_digest(qr_code(key, int(pass_text)), code.strip())
    )
    return int(pass_text) if signed else None


def check_qr(session: Session, key: str, code: str, now: datetime) -> AccessDecision:
    pass_id = verified_pass_id(key, code)
    visitor_pass = session.get(VisitorPass, pass_id) if pass_id is not None else None
    return decide_qr(pass_permit(visitor_pass) if visitor_pass else None, now)
