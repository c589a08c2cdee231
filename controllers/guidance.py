"""Send each driver to one free space near their building. Pure: values in, a decision out.

Rules, in order (the first that yields a space wins):

1. The resident's **assigned space**, unless a fresh source says it is occupied or another
   driver holds it. An unknown state still sends them there: it is theirs, and nobody else
   is sent to it.
2. The space this driver **already holds**, while it is still free, so that asking twice
   gives the same answer.
3. The best **free** space that is not held by someone else and that the driver may use:
   ``standard`` spaces and the kinds listed in ``needs`` (``accessible``, ``ev``,
   ``visitor``); ``assigned`` spaces belong to their owners and are never offered. Ranked by:
   a space of a needed kind first, then walking distance to ``building`` plus a penalty for
   busy zones (``GuidancePolicy.zone_weight_m`` metres per 100 % occupancy), then id.
   Spaces with no known distance to the building come last.

``None`` when nothing fits: the caller falls back to "park anywhere in zone X" from counting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from controllers.spaces import SpaceKind, SpaceState, SpaceView, building_key
from errors import ConflictError


class GuidanceReason(StrEnum):
    """Why a space was recommended. Stable codes shown on displays and stored with passages."""

    ASSIGNED_SPACE = "assigned_space"
    ASSIGNED_STATE_UNKNOWN = "assigned_state_unknown"
    ASSIGNED_UNAVAILABLE = "assigned_unavailable"  # occupied, held by another or not found
    HELD_FOR_YOU = "held_for_you"
    NEEDED_KIND = "needed_kind"
    NEEDED_KIND_UNAVAILABLE = "needed_kind_unavailable"
    NEAREST_FREE = "nearest_free"
    DISTANCE_UNKNOWN = "distance_unknown"


@dataclass(frozen=True, slots=True)
class GuidancePolicy:
    zone_weight_m: float = 30.0  # a full zone "costs" this many extra metres of walking
    alternatives: int = 3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.zone_weight_m) and self.zone_weight_m >= 0):
            raise ValueError(f"zone_weight_m must be finite and ≥ 0, got {self.zone_weight_m}")
        if self.alternatives < 0:
            raise ValueError(f"alternatives must be ≥ 0, got {self.alternatives}")


@dataclass(frozen=True, slots=True)
class Hold:
    space_id: str
    holder: str
    until: datetime

    def active(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True, slots=True)
class Recommendation:
    space_id: str
    zone: str
    kind: SpaceKind
    distance_m: float | None
    reasons: tuple[GuidanceReason, ...]
    alternatives: tuple[str, ...] = field(default=())
    label: str = ""


def _zone_occupancy(spaces: Sequence[SpaceView]) -> dict[str, float]:
    known: dict[str, list[bool]] = {}
    for s in spaces:
        if s.state is not SpaceState.UNKNOWN:
            known.setdefault(s.zone, []).append(s.state is SpaceState.OCCUPIED)
    return {z: sum(v) / len(v) for z, v in known.items()}


def recommend(
    spaces: Sequence[SpaceView],
    *,
    building: str,
    now: datetime,
    needs: Iterable[SpaceKind] = (),
    assigned_space: str | None = None,
    holds: Iterable[Hold] = (),
    holder: str | None = None,
    zone_occupancy: Mapping[str, float] | None = None,
    policy: GuidancePolicy | None = None,
) -> Recommendation | None:
    """Pick a space for one driver (rules in the module docstring).

    ``holds`` are other drivers' short holds (expired ones are ignored); ``holder`` identifies
    this driver so their own hold is not counted against them. ``zone_occupancy`` (0–1 per
    zone, e.g. from gate counting) defaults to the occupied share of known spaces.
    """
    policy = policy or GuidancePolicy()
    building = building_key(building)  # "3栋" asks for the building the spaces call "3"
    wanted = frozenset(needs) - {SpaceKind.STANDARD, SpaceKind.ASSIGNED}
    by_id = {s.id: s for s in spaces}
    held_by = {h.space_id: h.holder for h in holds if h.active(now)}
    mine = {sid for sid, who in held_by.items() if holder is not None and who == holder}

    def held_by_other(space_id: str) -> bool:
        return space_id in held_by and space_id not in mine

    def view_of(space: SpaceView, reasons: list[GuidanceReason]) -> Recommendation:
        return Recommendation(
            space.id,
            space.zone,
            space.kind,
            space.distances_m.get(building),
            tuple(reasons),
            label=space.label,
        )

    notes: list[GuidanceReason] = []
    if assigned_space is not None:
        own = by_id.get(assigned_space)
        if own is not None and own.state is not SpaceState.OCCUPIED and not held_by_other(own.id):
            reasons = [GuidanceReason.ASSIGNED_SPACE]
            if own.state is SpaceState.UNKNOWN:
                reasons.append(GuidanceReason.ASSIGNED_STATE_UNKNOWN)
            return view_of(own, reasons)
        notes.append(GuidanceReason.ASSIGNED_UNAVAILABLE)

    for sid in sorted(mine):
        space = by_id.get(sid)
        if space is not None and space.state is SpaceState.FREE:
            return view_of(space, [*notes, GuidanceReason.HELD_FOR_YOU])

    occupancy = dict(_zone_occupancy(spaces))
    if zone_occupancy:
        occupancy.update(zone_occupancy)

    def rank(space: SpaceView) -> tuple[int, float, str]:
        distance = space.distances_m.get(building)
        cost = math.inf if distance is None else distance
        cost += policy.zone_weight_m * min(max(occupancy.get(space.zone, 0.0), 0.0), 1.0)
        return (0 if space.kind in wanted else 1, cost, space.id)

    candidates = sorted(
        (
            s
            for s in spaces
            if s.state is SpaceState.FREE
            and s.assigned_to is None
            and (s.kind is SpaceKind.STANDARD or s.kind in wanted)
            and not held_by_other(s.id)
        ),
        key=rank,
    )
    if not candidates:
        return None
    best = candidates[0]
    reasons = list(notes)
    if best.kind in wanted:
        reasons.append(GuidanceReason.NEEDED_KIND)
    elif wanted:
        reasons.append(GuidanceReason.NEEDED_KIND_UNAVAILABLE)
    reasons.append(
        GuidanceReason.NEAREST_FREE
        if building in best.distances_m
        else GuidanceReason.DISTANCE_UNKNOWN
    )
    rec = view_of(best, reasons)
    alternatives = tuple(s.id for s in candidates[1 : 1 + policy.alternatives])
    return Recommendation(
        rec.space_id, rec.zone, rec.kind, rec.distance_m, rec.reasons, alternatives, rec.label
    )


@dataclass(slots=True)
class _Releases:
    holders: set[str] = field(default_factory=set)
    spaces: set[str] = field(default_factory=set)


class HoldBook:
    """Short holds so two cars granted entry a few seconds apart are not sent to one space.

    One hold per driver (a new hold replaces the old) and one driver per space. Expired holds
    are dropped lazily; ``purge`` drops them eagerly.
    """

    def __init__(self, ttl: timedelta = timedelta(minutes=3)) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"hold ttl must be positive, got {ttl}")
        self.ttl = ttl
        self._by_space: dict[str, Hold] = {}
        self._released_meanwhile: _Releases | None = None

    def hold(self, space_id: str, holder: str, now: datetime, ttl: timedelta | None = None) -> Hold:
        """Hold ``space_id`` for ``holder``; ``ConflictError`` if another driver holds it."""
        if not space_id or not holder:
            raise ValueError("space_id and holder must not be empty")
        current = self._by_space.get(space_id)
        if current is not None and current.active(now) and current.holder != holder:
            raise ConflictError(
                f"space {space_id} is already held for another car until "
                f"{current.until:%H:%M:%S %Z}; release that hold first or pick another space"
            )
        self.release(holder)
        hold = Hold(space_id, holder, now + (ttl or self.ttl))
        self._by_space[space_id] = hold
        return hold

    def hold_space(self, space: SpaceView, holder: str, now: datetime) -> Hold:
        """Hold a space a person named (``recommend`` only offers free ones).

        ``ConflictError`` if a car is in it or another car holds it; nothing changes then, so
        the car keeps any hold it had. An unknown state is held: the guard may see the space
        when no sensor or camera covers it.
        """
        if space.state is SpaceState.OCCUPIED:
            raise ConflictError(
                f"space {space.id} is occupied: its sensor or camera sees a car there, so it "
                "cannot be held; pick a free space"
            )
        return self.hold(space.id, holder, now)

    def expect_restore(self) -> None:
        """Stored holds will be restored later (their store cannot be read yet): until
        ``restore``, remember every car and space released, so that a car that parked or left
        meanwhile does not get its hold back."""
        if self._released_meanwhile is None:
            self._released_meanwhile = _Releases()

    def restore(self, holds: Iterable[Hold], now: datetime) -> tuple[Hold, ...]:
        """Take back holds kept across a restart, each until its own end; returns those taken.

        Expired ones are dropped, and the book's rules still hold: one car per space and one
        space per car (the later-ending hold wins), and a hold made since is not displaced.
        After ``expect_restore``, holds of cars and on spaces released since are dropped too.
        """
        # An expired entry left for a car would make ``release`` find it instead of the
        # restored one: drop them first, so each car has one entry.
        self.purge(now)
        released, self._released_meanwhile = self._released_meanwhile or _Releases(), None
        taken: list[Hold] = []
        holders = {h.holder for h in self._by_space.values()} | released.holders
        for hold in sorted(holds, key=lambda h: h.until, reverse=True):
            if (
                not hold.active(now)
                or hold.holder in holders
                or hold.space_id in self._by_space
                or hold.space_id in released.spaces
            ):
                continue
            self._by_space[hold.space_id] = hold
            holders.add(hold.holder)
            taken.append(hold)
        return tuple(taken)

    def release(self, holder: str) -> Hold | None:
        """Drop the holder's hold (they parked, left or were sent elsewhere)."""
        if self._released_meanwhile is not None:
            self._released_meanwhile.holders.add(holder)
        for sid, h in list(self._by_space.items()):
            if h.holder == holder:
                return self._by_space.pop(sid)
        return None

    def release_space(self, space_id: str) -> Hold | None:
        """Drop any hold on a space (a sensor saw a car arrive in it)."""
        if self._released_meanwhile is not None:
            self._released_meanwhile.spaces.add(space_id)
        return self._by_space.pop(space_id, None)

    def active(self, now: datetime) -> tuple[Hold, ...]:
        return tuple(h for h in self._by_space.values() if h.active(now))

    def holder_of(self, space_id: str, now: datetime) -> str | None:
        h = self._by_space.get(space_id)
        return h.holder if h is not None and h.active(now) else None

    def purge(self, now: datetime) -> int:
        expired = [sid for sid, h in self._by_space.items() if not h.active(now)]
        for sid in expired:
            del self._by_space[sid]
        return len(expired)
