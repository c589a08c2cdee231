"""The access decision: pure, a table of rules over plain values.

``decide`` never touches a database, a camera or a clock of its own: the caller gathers what
is known about the plate (``Permits``), the zone (``ZoneOccupancy``) and passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal

from controllers.schedule import GateSchedule, TimeWindow, apply_schedule
from controllers.values import (
    AccessDecision,
    Credential,
    Direction,
    Reason,
    Sighting,
    Verdict,
)

AntiPassback = Literal["off", "soft", "hard"]


@dataclass(frozen=True, slots=True)
class VehiclePermit:
    """A registered resident vehicle and how many of its household's cars are inside."""

    vehicle_id: int
    household_id: int
    plate: str
    household_spaces: int
    household_cars_inside: int
    resident_id: int | None = None


@dataclass(frozen=True, slots=True)
class PassPermit:
    pass_id: int
    # None: a walk-in pass (步行访客), which admits by its QR code at a pedestrian gate only;
    # a vehicle gate never opens for it (``vehicle_passes``).
    plate: str | None
    household_id: int
    valid_from: datetime
    valid_to: datetime
    max_uses: int | None
    uses: int
    # A recurring pass (a cleaner 周一至周五 08:00–12:00): the weekdays and daily hours, in the
    # community's local time, it admits on within its window. None: any day, any time.
    hours: TimeWindow | None = None

    def window_status(self, now: datetime) -> Reason | None:
        """None when ``now`` is inside the pass's window and it has uses left, else why not
        (its daily hours aside: the console's 有效/未生效/已过期/已用完)."""
        if now < self.valid_from:
            return Reason.PASS_NOT_YET_VALID
        if now > self.valid_to:
            return Reason.PASS_EXPIRED
        if self.max_uses is not None and self.uses >= self.max_uses:
            return Reason.PASS_USED_UP
        return None

    def status(self, now: datetime, zone: tzinfo | None = None) -> Reason | None:
        """None when the pass admits now, else the reason it does not. Outside its weekdays
        or daily hours it is ``outside_schedule``, as a gate's own hours hold an entry; a
        pass that is over or used up says so first (no other hour would open it)."""
        problem = self.window_status(now)
        if problem is not None or self.hours is None:
            return problem
        if zone is None:
            # Hours are the community's wall clock: refuse to read them in another zone.
            raise ValueError(f"pass {self.pass_id} has daily hours: its status needs the "
                             "community's time zone")
        # Weekdays as on the calendar: a pass names its own days, holidays are not read.
        return None if self.hours.covers(now.astimezone(zone)) else Reason.OUTSIDE_SCHEDULE


@dataclass(frozen=True, slots=True)
class ListEntry:
    kind: Literal["allow", "block"]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Permits:
    """Everything the store knows about one plate, gathered before deciding."""

    vehicle: VehiclePermit | None = None
    passes: tuple[PassPermit, ...] = ()
    list_entry: ListEntry | None = None
    inside: bool = False
    matched_plate: str | None = None
    match_distance: int = 0


@dataclass(frozen=True, slots=True)
class ZoneOccupancy:
    zone_id: str
    capacity: int
    occupied: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.occupied)

    @property
    def full(self) -> bool:
        return self.occupied >= self.capacity


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    anti_passback: AntiPassback = "soft"
    residents_when_full: bool = True
    min_confidence: float = 0.8
    # Below this province-character confidence a read may match a registered plate that
    # differs only in its province (the character OCR misreads most); 0 turns it off.
    province_unsure_below: float = 0.7

    def province_unsure(self, sighting: Sighting) -> bool:
        return sighting.plate is not None and (
            sighting.province_confidence < self.province_unsure_below
        )


@dataclass(frozen=True, slots=True)
class GateContext:
    gate_id: str
    direction: Direction
    zone_id: str | None
    schedule: GateSchedule | None = None  # None: open at any hour (controllers.schedule)
    # The community's time zone, which visitor passes' daily hours are read in.
    zone: tzinfo | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    verdict: Verdict
    reason: Reason
    credential: Credential = Credential.PLATE
    alarm: str | None = None
    flags: tuple[str, ...] = field(default=())
    pass_id: int | None = None
    count_pass_use: bool = False


def decide(
    sighting: Sighting,
    permits: Permits,
    occupancy: ZoneOccupancy | None,
    now: datetime,
    *,
    gate: GateContext,
    policy: AccessPolicy,
) -> AccessDecision:
    """Decide whether the vehicle in ``sighting`` may pass ``gate``.

    The rules below decide as if at any hour; the gate's schedule then holds back an entry
    that would open outside its window, for a guard, and touches nothing else (so a blocked
    plate stays denied and an exit is never held: ``controllers.schedule``)."""
    if sighting.plate is None:
        outcome = _Outcome(Verdict.REVIEW, Reason.NO_PLATE, Credential.NONE)
    elif sighting.confidence < policy.min_confidence and not _blocked(permits):
        # A doubtful read still denies a blocked plate, but opens for nobody: an allow-list
        # entry is no surer of the read than a resident's car is.
        outcome = _Outcome(Verdict.REVIEW, Reason.LOW_CONFIDENCE)
    elif gate.direction is Direction.IN:
        outcome = _decide_entry(permits, occupancy, now, policy, gate.zone)
    else:
        outcome = _decide_exit(permits, policy)
    vehicle = permits.vehicle
    flags = outcome.flags
    if permits.matched_plate and sighting.plate and permits.matched_plate[0] != sighting.plate[0]:
        flags = (*flags, "province_tolerated")  # the guard sees why 皖… opened for 川…
    decision = AccessDecision(
        verdict=outcome.verdict,
        reason=outcome.reason,
        credential=outcome.credential,
        alarm=outcome.alarm,
        flags=flags,
        count_pass_use=outcome.count_pass_use,
        pass_id=outcome.pass_id,
        vehicle_id=vehicle.vehicle_id if vehicle else None,
        household_id=vehicle.household_id if vehicle else _pass_household(permits, outcome),
        resident_id=vehicle.resident_id if vehicle else None,
        matched_plate=permits.matched_plate,
        match_distance=permits.match_distance,
    )
    # The passage's own time, as recorded and shown to the guard, read in the site's zone.
    return apply_schedule(decision, gate.schedule, gate.direction, sighting.at)


def _blocked(permits: Permits) -> bool:
    return permits.list_entry is not None and permits.list_entry.kind == "block"


def _pass_household(permits: Permits, outcome: _Outcome) -> int | None:
    for p in permits.passes:
        if p.pass_id == outcome.pass_id:
            return p.household_id
    return None


def vehicle_passes(permits: Permits) -> tuple[PassPermit, ...]:
    """The passes a car may use: a walk-in pass has no plate, so no read can be its car,
    whatever store handed it over."""
    return tuple(p for p in permits.passes if p.plate is not None)


def _decide_entry(
    permits: Permits,
    occupancy: ZoneOccupancy | None,
    now: datetime,
    policy: AccessPolicy,
    zone: tzinfo | None,
) -> _Outcome:
    if _blocked(permits):
        return _Outcome(Verdict.DENY, Reason.BLOCKED, alarm="blocked_plate")

    flags: tuple[str, ...] = ()
    if permits.inside and policy.anti_passback != "off":
        if policy.anti_passback == "hard":
            return _Outcome(Verdict.DENY, Reason.ANTI_PASSBACK, alarm="anti_passback")
        flags = ("anti_passback",)

    full = occupancy is not None and occupancy.full
    if permits.list_entry is not None and permits.list_entry.kind == "allow":
        return _Outcome(Verdict.ALLOW, Reason.ALLOWED_LIST, flags=flags)

    vehicle = permits.vehicle
    # 一位多车: a household may have more cars than spaces; beyond its spaces a car is a visitor.
    over_quota = vehicle is not None and vehicle.household_cars_inside >= vehicle.household_spaces
    if vehicle is not None and not over_quota:
        if full and not policy.residents_when_full:
            return _Outcome(Verdict.DENY, Reason.ZONE_FULL, flags=flags)
        return _Outcome(Verdict.ALLOW, Reason.RESIDENT, flags=flags)

    visitor = _visitor_entry(permits, full, now, zone, flags)
    if visitor is not None:
        return visitor
    if over_quota:
        return _Outcome(Verdict.REVIEW, Reason.RESIDENT_OVER_QUOTA, flags=flags)
    return _Outcome(Verdict.REVIEW, Reason.UNKNOWN_PLATE, flags=flags)


def _visitor_entry(
    permits: Permits, full: bool, now: datetime, zone: tzinfo | None, flags: tuple[str, ...]
) -> _Outcome | None:
    passes = vehicle_passes(permits)
    if not passes:
        return None
    status = {p.pass_id: p.status(now, zone) for p in passes}
    valid = [p for p in passes if status[p.pass_id] is None]
    if valid:
        chosen = min(valid, key=lambda p: p.valid_to)
        if full:
            return _Outcome(Verdict.DENY, Reason.ZONE_FULL, flags=flags, pass_id=chosen.pass_id)
        return _Outcome(
            Verdict.ALLOW,
            Reason.VISITOR_PASS,
            flags=flags,
            pass_id=chosen.pass_id,
            count_pass_use=True,
        )
    off_hours = [p for p in passes if status[p.pass_id] is Reason.OUTSIDE_SCHEDULE]
    if off_hours:
        # A pass that opens at other hours: held for the guard as a gate's own hours hold an
        # entry (the card reads 不在通行时段 · 访客通行证), with the pass and its host, unused.
        held = min(off_hours, key=lambda p: p.valid_to)
        return _Outcome(Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE,
                        flags=(*flags, Reason.VISITOR_PASS.value), pass_id=held.pass_id)
    # The closest miss tells the guard the most: "not yet" beats "expired" beats "used up".
    order = (Reason.PASS_NOT_YET_VALID, Reason.PASS_EXPIRED, Reason.PASS_USED_UP)
    reasons = set(status.values())
    reason = next(r for r in order if r in reasons)
    return _Outcome(Verdict.REVIEW, reason, flags=flags)


def _decide_exit(permits: Permits, policy: AccessPolicy) -> _Outcome:
    if permits.inside:
        return _Outcome(Verdict.ALLOW, Reason.EXIT_KNOWN_INSIDE)
    known = (
        permits.vehicle is not None
        or bool(vehicle_passes(permits))
        or (permits.list_entry is not None and permits.list_entry.kind == "allow")
    )
    if policy.anti_passback == "hard":
        # Never trap a car inside on a machine's word: a guard looks at it instead.
        return _Outcome(Verdict.REVIEW, Reason.ANTI_PASSBACK, alarm="anti_passback")
    if known:
        return _Outcome(Verdict.ALLOW, Reason.EXIT_NOT_INSIDE, flags=("not_recorded_inside",))
    return _Outcome(Verdict.REVIEW, Reason.EXIT_NOT_INSIDE)
