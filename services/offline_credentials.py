"""PIN and QR at a pedestrian gate while the database is unreachable.

Face entry keeps working offline (its templates live in memory); the other ways in must too,
or the resident who declined face recognition is the one left outside during an outage (PIPL
requires an alternative that works as well). The snapshot holds only what the checks read:
PIN hashes (argon2, never PINs) and visitor passes with the nonces their QR codes are signed
with. Failures and pass uses made offline are counted here, so a lock-out and a pass's use
limit still hold until the database is back and the journalled passages carry them there.
The checks themselves are the online ones (``pin_matches``, ``verified_pass_id``), so a code
or a PIN is decided the same way whether the database answers or not.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.person_policy import decide_pin, decide_qr
from controllers.policy import PassPermit
from controllers.values import AccessDecision, Reason
from errors import StoreUnavailableError
from models.events import Passage
from models.people import Resident
from models.vehicles import VisitorPass
from services.credentials import PIN_WINDOW, pin_matches, verified_pass_id


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
        self._qr_nonces: dict[int, str] = {}
        self._failures: defaultdict[int, list[datetime]] = defaultdict(list)
        self._uses: Counter[int] = Counter()

    def load(
        self, sessions: sessionmaker[Session], passes: Iterable[PassPermit], now: datetime
    ) -> None:
        """Take the PINs (with the lock-outs in progress) from the database; ``passes`` come
        from the gates' own offline snapshot, already read."""
        by_id = {p.pass_id: p for p in passes}
        with sessions() as session:
            nonces = {
                row.id: row.qr_nonce
                for row in session.execute(select(
                    VisitorPass.id, VisitorPass.qr_nonce, VisitorPass.plate,
                    VisitorPass.host_household_id, VisitorPass.valid_from, VisitorPass.valid_to,
                ))
                # Read after the gates' snapshot: a pass deleted in between has no nonce here,
                # and one recreated under the same id in between must not lend its nonce to
                # the old pass's permit. Either way the code is refused until the next refresh.
                if (permit := by_id.get(row.id)) is not None
                and (permit.plate, permit.household_id, permit.valid_from, permit.valid_to)
                == (row.plate, row.host_household_id, row.valid_from, row.valid_to)
            }
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
            self._qr_nonces = nonces
            self._uses.clear()  # the database now counts the uses written back

    def check_pin(self, resident_id: int, pin: str, now: datetime) -> AccessDecision:
        with self._lock:
            pins = self._require()
            # No PIN (or no such resident) is a wrong PIN, counted toward the lock-out, as
            # online: the keypad must not tell which residents have a PIN.
            record = pins.get(resident_id)
            recent = [t for t in self._failures.get(resident_id, ()) if t >= now - PIN_WINDOW]
        decision = decide_pin(
            resident_id=resident_id,
            household_id=record.household_id if record is not None else None,
            # argon2: outside the lock
            pin_ok=pin_matches(record.pin_hash if record is not None else None, pin),
            recent_failures=len(recent),
        )
        if decision.reason is Reason.PIN_WRONG:
            with self._lock:
                self._failures[resident_id] = [*recent, now]
        return decision

    def check_qr(self, code: str, now: datetime, zone: tzinfo | None = None) -> AccessDecision:
        with self._lock:
            self._require()
            pass_id = verified_pass_id(self._key, code, self._qr_nonces.get)
            permit = self._passes.get(pass_id) if pass_id is not None else None
            if permit is not None:
                permit = replace(permit, uses=permit.uses + self._uses[permit.pass_id])
            decision = decide_qr(permit, now, zone)
            if decision.count_pass_use and decision.pass_id is not None:
                self._uses[decision.pass_id] += 1
        return decision

    def count_use(self, pass_id: int) -> None:
        """A use :meth:`check_qr` did not count: a guard's open naming a passage whose gate
        had not opened (its use given back) let the visitor through after all, and the
        gates counted it (``OfflineAccess.redo``); the code must not open once more."""
        with self._lock:
            self._uses[pass_id] += 1

    def give_back(self, pass_id: int) -> None:
        """A use counted by :meth:`check_qr` that did not happen: the gate's hours held the
        visitor for a guard, or the gate did not open. Online the database takes such a use
        back with the passage; offline it is given back here."""
        with self._lock:
            if self._uses[pass_id] > 0:
                self._uses[pass_id] -= 1

    def _require(self) -> dict[int, _Pin]:
        if self._pins is None:
            raise StoreUnavailableError(
                "the database is unavailable and no offline snapshot was taken yet"
            )
        return self._pins
