"""Deciding while the database is unreachable, from the last snapshot of who may pass.

A controller that stops opening for residents whenever its database hiccups is worse than a
card reader: gate cameras on the market keep a local white-list for exactly this reason. The
runtime keeps an :class:`AccessSnapshot` of every known plate's permits, refreshed while the
database answers; during an outage it decides from it with the same policy (``decide``), and
the passage goes to the local journal until the database is back.

What the snapshot cannot know is said by the decision's ``offline`` flag: zone occupancy is
unknown (a full zone is not enforced). Presence, visitor-pass uses and each household's cars
inside are the snapshot's plus the passages decided offline since, so anti-passback, a pass's
use limit and a household's spaces (一位多车) still hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from controllers.plate_match import match_plate
from controllers.policy import Permits
from controllers.ports import (
    OUTCOME_FAULT,
    AccessSnapshot,
    GuardOpen,
    JournalBacklog,
    JournalEntry,
    PassageRecord,
)
from controllers.values import AccessDecision, Direction, Verdict

V = TypeVar("V")


class OfflineAccess:
    """The last snapshot, plus the presence changes and pass uses of passages decided since
    it was taken."""

    def __init__(self, *, max_distance: int = 1, province_tolerance: bool = False) -> None:
        self._max_distance = max_distance
        self._province_tolerance = province_tolerance
        self._snapshot: AccessSnapshot | None = None
        # Cars that entered or left while offline: anti-passback must see them.
        self._inside: dict[str, bool] = {}
        # Visitor-pass uses counted while offline: a single-use pass opens once, not per visit.
        self._uses: Counter[int] = Counter()
        # A household's own car moved while offline -> (its household, +1 now on one of its
        # spaces / -1 off one / 0, against the snapshot): a one-space household's second car
        # is over its quota as it would be online. Per car, as online: a car is checked
        # against its household's *other* cars, and one let in on a visitor pass uses none.
        self._spaces: dict[str, tuple[int, int]] = {}
        # journal id -> (plate, what _inside said before that passage, the pass it used, what
        # _spaces said before it), to undo it.
        self._before: dict[
            str, tuple[str | None, bool | None, int | None, tuple[int, int] | None]
        ] = {}
        # plate -> (when, in :meth:`mark`'s count, the database said where its car is now;
        # what it said), for a snapshot whose read began before that (:meth:`load`).
        self._seen: dict[str, tuple[int, bool]] = {}
        self._seen_count = 0

    @property
    def taken_at(self) -> datetime | None:
        return self._snapshot.taken_at if self._snapshot else None

    @property
    def household_labels(self) -> Mapping[int, str]:
        """「3栋 1201」 by household id, as the snapshot has them: what the booth's rows of
        passages decided offline name the flat with. Empty without a snapshot."""
        return self._snapshot.household_labels if self._snapshot else {}

    def mark(self) -> int:
        """Where :meth:`seen_online` has got to: taken as a snapshot's read begins, and given
        to :meth:`load` with it."""
        return self._seen_count

    def load(self, snapshot: AccessSnapshot, *, read_from: int | None = None) -> None:
        """A fresh snapshot; taken after the journal was written, so it already holds the
        presence changes and pass uses recorded offline. ``read_from``: the :meth:`mark`
        taken as its read began. What :meth:`seen_online` was told after that is newer than
        the snapshot and stays: a snapshot read while a barrier's failure took its car's
        admission back, installed after it, had the car inside, and the guard's open for it
        during the outage that followed counted nothing (the refresh runs every
        ``offline_refresh_s``, so under load this happened)."""
        newer = {plate: seen for plate, seen in self._seen.items()
                 if read_from is not None and seen[0] > read_from}
        self._snapshot = snapshot
        self._inside.clear()
        self._uses.clear()
        self._spaces.clear()
        self._before.clear()
        self._seen = newer
        self._inside.update({plate: inside for plate, (_, inside) in newer.items()})

    def permits(self, plate: str | None, *, province_unsure: bool = False) -> Permits | None:
        """What the snapshot knows about ``plate``; None when there has never been one."""
        if self._snapshot is None:
            return None
        if plate is None:
            return Permits()
        known = self._snapshot.permits
        matched, distance = plate, 0
        if plate not in known:
            match = match_plate(
                plate,
                known.keys(),
                max_distance=self._max_distance,
                province_tolerance=self._province_tolerance or province_unsure,
            )
            if match is None:
                return Permits(inside=self._inside.get(plate, False))
            matched, distance = match.plate, match.distance
        base = known[matched]
        vehicle = base.vehicle
        if vehicle is not None:
            moved = sum(change for car, (household, change) in self._spaces.items()
                        if household == vehicle.household_id and car != matched)
            if moved:
                vehicle = replace(
                    vehicle, household_cars_inside=max(0, vehicle.household_cars_inside + moved)
                )
        return replace(
            base,
            vehicle=vehicle,
            passes=tuple(replace(p, uses=p.uses + self._uses[p.pass_id]) for p in base.passes),
            inside=self._inside.get(matched, base.inside),
            matched_plate=matched if matched != plate else None,
            match_distance=distance,
        )

    def note(self, record: PassageRecord) -> None:
        """An allowed passage decided offline moves its car in or out, and uses its pass."""
        decision = record.decision
        if decision.verdict is not Verdict.ALLOW:
            return
        plate = decision.matched_plate or record.sighting.plate
        used = decision.pass_id if decision.count_pass_use else None
        spaces = self._space_use(plate, decision, record.direction)
        if record.journal_id is not None:
            before = self._inside.get(plate) if plate is not None else None
            space_before = self._spaces.get(plate) if plate is not None else None
            self._before[record.journal_id] = (plate, before, used, space_before)
        if used is not None:
            self._uses[used] += 1
        if plate is not None and spaces is not None:
            self._spaces[plate] = spaces
        if plate is not None:
            self._inside[plate] = record.direction is Direction.IN

    def _space_use(
        self, plate: str | None, decision: AccessDecision, direction: Direction
    ) -> tuple[int, int] | None:
        """A household's own car after this passage: its household and whether it is on one
        of its spaces, against the snapshot (which counts a car inside as on one). None when
        it is no household's car, or an entry of a car already inside changes nothing."""
        if plate is None or self._snapshot is None:
            return None
        known = self._snapshot.permits.get(plate)
        if known is None or known.vehicle is None:
            return None  # a visitor's pass, not one of the household's own cars
        if direction is Direction.IN and self._inside.get(plate, known.inside):
            return None
        # Let in on a visitor pass (over its quota), it uses none of its household's spaces.
        on_space = direction is Direction.IN and decision.pass_id is None
        return known.vehicle.household_id, int(on_space) - int(known.inside)

    def replay(self, backlog: JournalBacklog) -> None:
        """The moves of the passages waiting in the journal, which a snapshot taken before
        them does not hold (a start during an outage), with the guards' opens naming them
        where they happened among them."""
        records = {e.record.journal_id: e.record for e in backlog.entries}
        # A stored passage's record is not in the journal: the write-back counts its car.
        reopens = sorted((r for r in backlog.reopens if r.journal_id in records),
                         key=lambda r: r.at)
        for entry in backlog.entries:
            while reopens and reopens[0].at < entry.record.sighting.at:
                self._reopen(records, reopens.pop(0))
            # A car whose barrier did not open did not move: counting it would refuse its
            # next try as anti-passback.
            if entry.barrier_outcome != OUTCOME_FAULT:
                self.note(entry.record)
        for opened in reopens:
            self._reopen(records, opened)

    def _reopen(self, records: dict[str | None, PassageRecord], opened: GuardOpen) -> None:
        record = records[opened.journal_id]
        if opened.outcome == OUTCOME_FAULT:
            self.undo(record)
        else:
            self.redo(record)

    def seen_online(self, plate: str, inside: bool) -> None:
        """Where the database has the car now, newer than the snapshot: a barrier that did
        not open took its admission back after the snapshot may have been taken (a
        snapshot read after this replaces it; one read before it does not)."""
        self._seen_count += 1
        self._seen[plate] = (self._seen_count, inside)
        self._inside[plate] = inside

    def redo(self, record: PassageRecord) -> bool:
        """A guard opened the barrier of an allowed passage whose own open had failed: its
        car moves and uses its pass after all, as online (``redo_admission``). Returns
        whether that changed anything: not for a refused passage (online a gate action does
        not admit one either), one still counted, or a car already where this passage takes
        it (it got through on a retry, which counted it)."""
        decision = record.decision
        if decision.verdict is not Verdict.ALLOW or record.journal_id in self._before:
            return False
        plate = decision.matched_plate or record.sighting.plate
        if plate is not None and self._is_inside(plate) == (record.direction is Direction.IN):
            return False
        self.note(record)
        return True

    def admission_undone(self, entry: JournalEntry) -> bool:
        """Whether a passage waiting in the journal is what online is flagged
        ``admission_undone``: allowed, its barrier did not open, so its car was not counted
        (nor its pass used), and no guard's open naming it has counted it since (:meth:`redo`;
        one that found the car counted by a retry leaves it so, as online). A passage that
        moves nothing here (a resident on foot, by face or PIN) has no admission to take
        back, as online."""
        record, decision = entry.record, entry.record.decision
        if decision.verdict is not Verdict.ALLOW or entry.barrier_outcome != OUTCOME_FAULT:
            return False
        plate = decision.matched_plate or record.sighting.plate
        if plate is None and not (decision.pass_id is not None and decision.count_pass_use):
            return False
        return record.journal_id not in self._before

    def _is_inside(self, plate: str) -> bool:
        if plate in self._inside:
            return self._inside[plate]
        known = self._snapshot.permits.get(plate) if self._snapshot is not None else None
        return known is not None and known.inside

    def undo(self, record: PassageRecord) -> None:
        """The passage's barrier did not open: its car did not move, nor used its pass."""
        if record.journal_id is None or record.journal_id not in self._before:
            return
        plate, before, used, space_before = self._before.pop(record.journal_id)
        if used is not None and self._uses[used] > 0:
            self._uses[used] -= 1
        if plate is not None:
            _put_back(self._spaces, plate, space_before)
            _put_back(self._inside, plate, before)


def _put_back(values: dict[str, V], key: str, before: V | None) -> None:
    """``values[key]`` as it was: set to ``before``, or absent when it was."""
    if before is None:
        values.pop(key, None)
    else:
        values[key] = before
