"""The other ways through a pedestrian gate: a resident's PIN, or a visitor pass's QR code.

Face entry must never be the only way in (PIPL, and residents who decline or whose face is not
recognised): a keypad PIN and a QR code on the visitor's phone or on paper both work.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

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
# PG1 signed the pass id alone, so a cancelled pass's code opened the gate for the next pass
# given the same id; PG2 also signs the pass's own random ``qr_nonce``. PG1 codes are refused.
QR_PREFIX = "PG2"
# The whole code, ASCII only: ``[0-9]`` rather than ``\d`` or ``str.isdigit``, which accept
# digits that int() rejects ("²") or other scripts' digits, and an id that fits in a BIGINT.
_QR_CODE = re.compile(rf"{QR_PREFIX}\.([1-9][0-9]{{0,17}})\.[0-9a-f]{{20}}")


# What a keypad can type: str.isdigit would also take full-width "１２３４" or "²³", which
# no keypad sends and which slip past the simple-sequence rule below.
_PIN = re.compile(r"[0-9]{4,8}")


def validate_pin(pin: str) -> None:
    if not _PIN.fullmatch(pin):
        raise InvalidInputError("a PIN is 4 to 8 digits 0-9")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise InvalidInputError("choose a PIN that is not all one digit or a simple sequence")


def set_pin(session: Session, resident_id: int, pin: str) -> None:
    validate_pin(pin)
    _store_pin_hash(session, resident_id, hash_password(pin))


def clear_pin(session: Session, resident_id: int) -> bool:
    """Whether there was a PIN to clear: clearing none is no act to audit (a second admin, a
    stale page, an API call repeated), and the resident's export would list it as one."""
    return _store_pin_hash(session, resident_id, None) is not None


def _store_pin_hash(session: Session, resident_id: int, pin_hash: str | None) -> str | None:
    """Store ``pin_hash``; returns the one it replaces."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFoundError(f"resident {resident_id} not found")
    before, resident.pin_hash = resident.pin_hash, pin_hash
    return before


@functools.cache
def _decoy_pin_hash() -> str:
    """An argon2 hash of a random secret no one knows, made on first use (not at import)."""
    return hash_password(secrets.token_hex(16))


def pin_matches(pin_hash: str | None, pin: str) -> bool:
    """Whether ``pin`` is the PIN hashed in ``pin_hash``; False when there is no PIN.

    A resident without a PIN, or an id with no resident, must look exactly like a wrong PIN
    (same answer, a passage, a failure toward the lock-out) or the keypad tells anyone which
    residents have one. That includes the time taken, so the missing hash is replaced by a
    decoy that costs one argon2 verification as well.
    """
    matched = verify_password(pin_hash or _decoy_pin_hash(), pin)
    return matched and pin_hash is not None


def check_pin(session: Session, resident_id: int, pin: str, now: datetime) -> AccessDecision:
    resident = session.get(Resident, resident_id)
    failures = session.scalar(
        select(func.count())
        .select_from(Passage)
        .where(Passage.resident_id == resident_id)
        .where(Passage.reason == Reason.PIN_WRONG.value)
        .where(Passage.at >= now - PIN_WINDOW)
    )
    return decide_pin(
        resident_id=resident_id,
        household_id=resident.household_id if resident is not None else None,
        pin_ok=pin_matches(resident.pin_hash if resident is not None else None, pin),
        recent_failures=int(failures or 0),
    )


def qr_code(key: str, pass_id: int, nonce: str) -> str:
    """The code for one pass: its id, signed together with the pass's own ``qr_nonce``."""
    message = f"pass:{pass_id}:{nonce}".encode()
    signature = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    return f"{QR_PREFIX}.{pass_id}.{signature[:20]}"


def verified_pass_id(key: str, code: str, nonce_of: Callable[[int], str | None]) -> int | None:
    """The pass a QR code was issued for, if that very pass still exists; None for anything
    else (malformed, another version, forged, a deleted pass, a pass that reuses its id).

    ``nonce_of`` gives a pass's ``qr_nonce`` (None when there is no such pass): the database's
    online, the offline snapshot's during an outage, so both decide a code the same way.
    """
    match = _QR_CODE.fullmatch(code.strip())
    if match is None:
        return None
    pass_id = int(match[1])
    nonce = nonce_of(pass_id)
    if nonce is None:
        return None
    expected = qr_code(key, pass_id, nonce)
    return pass_id if hmac.compare_digest(expected.encode(), match[0].encode()) else None


def check_qr(
    session: Session, key: str, code: str, now: datetime, zone: tzinfo | None = None
) -> AccessDecision:
    """``zone``: the community's, which a recurring pass's weekdays and hours are read in."""
    def nonce_of(pass_id: int) -> str | None:
        visitor_pass = session.get(VisitorPass, pass_id)
        return visitor_pass.qr_nonce if visitor_pass is not None else None

    pass_id = verified_pass_id(key, code, nonce_of)
    # Already in the session's identity map: no second query.
    visitor_pass = session.get(VisitorPass, pass_id) if pass_id is not None else None
    return decide_qr(pass_permit(visitor_pass) if visitor_pass else None, now, zone)
