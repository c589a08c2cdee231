"""PIN and QR at a pedestrian gate while the database is unreachable.

Face entry keeps working offline (its templates live in memory); the other ways in must too,
or the resident who declined face recognition is the one left outside during an outage (PIPL
requires an alternative that works as well). The snapshot holds only what the checks read:
PIN hashes (argon2, never PINs) and visitor passes. Failures and pass uses made offline are
counted here, so a lock-out and a pass's use limit still hold until the database is back and
the journalled passages carry them there.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.person_policy import decide_pin, decide_qr
from controllers.policy import PassPermit
from controllers.values import AccessDecision, Reason
from errors import NotFoundError, StoreUnavailableError
from models.events import Passage
from models.people import Resident
from services.credentials import PIN_WINDOW, verified_pass_id
from services.passwords import verify_password


@dataclass(frozen=True, slots=True)
class _Pin:
    household_id: int | None
    pin_hash: str


class OfflineCredentials:
    def __init__(self, key: str) -> None:
        self._key = key
        self._lock = threading.Lock()
        self._pins: dict[int, _Pin] | None = None
        self._passes: dict[int, PassPermit] = {}
        self._failures: defaultdict[int, list[datetime]] = defaultdict(list)
        self._uses: Counter[int] = Counter()

    def load(
        self, sessions: sessionmaker[Session], passes: Iterable[PassPermit], now: datetime
    ) -> None:
        """Take the PINs (with the lock-outs in progress) from the database; ``passes`` come
        from the gates' own offline snapshot, already read."""
        by_id = {p.pass_id: p for p in passes}
        with sessions() as session:
            pins = {
                r.id: _Pin(r.household_id, r.pin_hash)
                for r in session.scalars(select(Resident).where(Resident.pin_hash.is_not(None)))
                if r.pin_hash is not None
            }
            failures: defaultdict[int, list[datetime]] = defaultdict(list)
            for resident_id, at in session.execute(
                select(Passage.resident_id, Passage.at)
                .where(Passage.reason == Reason.PIN_WRONG.value)
                .where(Passage.at >= now - PIN_WINDOW)
            ):
                if resident_id is not None:
                    failures[resident_id].append(at)
        with self._lock:
            self._pins, self._passes, self._failures = pins, by_id, failures
            self._uses.clear()  # the database now counts the uses written back

    def check_pin(self, resident_id: int, pin: str, now: datetime) -> AccessDecision:
        with self._lock:
            pins = self._require()
            record = pins.get(resident_id)
            if record is None:
                raise NotFoundError(f"resident {resident_id} has no PIN")
            recent = [t for t in self._failures[resident_id] if t >= now - PIN_WINDOW]
        decision = decide_pin(
            resident_id=resident_id,
            household_id=record.household_id,
            pin_ok=verify_password(record.pin_hash, pin),  # argon2: outside the lock
            recent_failures=len(recent),
        )
        if decision.reason is Reason.PIN_WRONG:
            with self._lock:
                self._failures[resident_id] = [*recent, now]
        return decision

    def check_qr(self, code: str, now: datetime) -> AccessDecision:
        pass_id = verified_pass_id(self._key, code)
        with self._lock:
            self._require()
            permit = self._passes.get(pass_id) if pass_id is not None else None
            if permit is not None:
                permit = replace(permit, uses=permit.uses + self._uses[permit.pass_id])
            decision = decide_qr(permit, now)
            if decision.count_pass_use and decision.pass_id is not None:
                self._uses[decision.pass_id] += 1
        return decision

    def _require(self) -> dict[int, _Pin]:
        if self._pins is None:
            raise StoreUnavailableError(
                "the database is unavailable and no offline snapshot was taken yet"
            )
        return self._pins
