"""Decision table for the access rules (issue 2): plain values in, a verdict and reason out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controllers.occupancy import apply_passage, correct, move_by
from controllers.policy import (
    AccessPolicy,
    GateContext,
    ListEntry,
    PassPermit,
    Permits,
    VehiclePermit,
    ZoneOccupancy,
    decide,
)
from controllers.values import Direction, Reason, Sighting, Verdict

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
IN = GateContext("main-in", Direction.IN, "A")
OUT = GateContext("main-out", Direction.OUT, "A")
FREE = ZoneOccupancy("A", capacity=40, occupied=10)
FULL = ZoneOccupancy("A", capacity=40, occupied=40)
SOFT = AccessPolicy(anti_passback="soft")
HARD = AccessPolicy(anti_passback="hard")
OFF = AccessPolicy(anti_passback="off")
FULL_DENIES_RESIDENTS = AccessPolicy(residents_when_full=False)

RESIDENT = VehiclePermit(1, 7, "闽A12345", household_spaces=1, household_cars_inside=0)
RESIDENT_SECOND_CAR = VehiclePermit(2, 7, "闽AD12345", household_spaces=1, household_cars_inside=1)
PASS_TODAY = PassPermit(5, "粤B88888", 7, NOW - timedelta(hours=1), NOW + timedelta(hours=3), 2, 0)
PASS_TOMORROW = PassPermit(6, "粤B88888", 7, NOW + timedelta(days=1), NOW + timedelta(days=2), 1, 0)
PASS_EXPIRED = PassPermit(7, "粤B88888", 7, NOW - timedelta(days=2), NOW - timedelta(days=1), 1, 0)
PASS_USED = PassPermit(8, "粤B88888", 7, NOW - timedelta(hours=1), NOW + timedelta(hours=1), 1, 1)
BLOCK = ListEntry("block", "unpaid fees")
ALLOW = ListEntry("allow", "ambulance")


def sighting(plate: str | None = "闽A12345", confidence: float = 0.97) -> Sighting:
    return Sighting(gate_id="main-in", at=NOW, plate=plate, confidence=confidence)


CASES = [
    # name, sighting, permits, occupancy, gate, policy, verdict, reason
    ("resident enters", sighting(), Permits(vehicle=RESIDENT), FREE, IN, SOFT,
     Verdict.ALLOW, Reason.RESIDENT),
    ("resident enters a full zone by default", sighting(), Permits(vehicle=RESIDENT), FULL, IN,
     SOFT, Verdict.ALLOW, Reason.RESIDENT),
    ("resident refused when full and configured so", sighting(), Permits(vehicle=RESIDENT), FULL,
     IN, FULL_DENIES_RESIDENTS, Verdict.DENY, Reason.ZONE_FULL),
    ("unknown plate goes to the guard", sighting("京B00001"), Permits(), FREE, IN, SOFT,
     Verdict.REVIEW, Reason.UNKNOWN_PLATE),
    ("no plate read goes to the guard", sighting(None, 0.0), Permits(), FREE, IN, SOFT,
     Verdict.REVIEW, Reason.NO_PLATE),
    ("low confidence goes to the guard", sighting(confidence=0.5), Permits(vehicle=RESIDENT),
     FREE, IN, SOFT, Verdict.REVIEW, Reason.LOW_CONFIDENCE),
    ("blocked plate denied", sighting(), Permits(list_entry=BLOCK), FREE, IN, SOFT,
     Verdict.DENY, Reason.BLOCKED),
    ("blocked beats resident", sighting(), Permits(vehicle=RESIDENT, list_entry=BLOCK), FREE, IN,
     SOFT, Verdict.DENY, Reason.BLOCKED),
    ("blocked plate denied even on a low-confidence read", sighting(confidence=0.5),
     Permits(list_entry=BLOCK), FREE, IN, SOFT, Verdict.DENY, Reason.BLOCKED),
    ("allow-listed vehicle enters", sighting(), Permits(list_entry=ALLOW), FULL, IN, SOFT,
     Verdict.ALLOW, Reason.ALLOWED_LIST),
    ("allow-listed plate on a low-confidence read goes to the guard", sighting(confidence=0.5),
     Permits(list_entry=ALLOW), FREE, IN, SOFT, Verdict.REVIEW, Reason.LOW_CONFIDENCE),
    ("valid visitor pass", sighting("粤B88888"), Permits(passes=(PASS_TODAY,)), FREE, IN, SOFT,
     Verdict.ALLOW, Reason.VISITOR_PASS),
    ("visitor refused when full", sighting("粤B88888"), Permits(passes=(PASS_TODAY,)), FULL, IN,
     SOFT, Verdict.DENY, Reason.ZONE_FULL),
    ("pass not yet valid", sighting("粤B88888"), Permits(passes=(PASS_TOMORROW,)), FREE, IN, SOFT,
     Verdict.REVIEW, Reason.PASS_NOT_YET_VALID),
    ("pass expired", sighting("粤B88888"), Permits(passes=(PASS_EXPIRED,)), FREE, IN, SOFT,
     Verdict.REVIEW, Reason.PASS_EXPIRED),
    ("pass used up", sighting("粤B88888"), Permits(passes=(PASS_USED,)), FREE, IN, SOFT,
     Verdict.REVIEW, Reason.PASS_USED_UP),
    ("one valid pass among stale ones admits", sighting("粤B88888"),
     Permits(passes=(PASS_EXPIRED, PASS_TODAY)), FREE, IN, SOFT, Verdict.ALLOW,
     Reason.VISITOR_PASS),
    ("second car over the household's spaces goes to the guard", sighting("闽AD12345"),
     Permits(vehicle=RESIDENT_SECOND_CAR), FREE, IN, SOFT, Verdict.REVIEW,
     Reason.RESIDENT_OVER_QUOTA),
    ("second car with a visitor pass enters as a visitor", sighting("闽AD12345"),
     Permits(vehicle=RESIDENT_SECOND_CAR, passes=(PASS_TODAY,)), FREE, IN, SOFT, Verdict.ALLOW,
     Reason.VISITOR_PASS),
    ("hard anti-passback denies a second entry", sighting(), Permits(vehicle=RESIDENT,
     inside=True), FREE, IN, HARD, Verdict.DENY, Reason.ANTI_PASSBACK),
    ("soft anti-passback allows a second entry", sighting(), Permits(vehicle=RESIDENT,
     inside=True), FREE, IN, SOFT, Verdict.ALLOW, Reason.RESIDENT),
    ("exit of a car known inside", sighting("京B00001"), Permits(inside=True), FREE, OUT, HARD,
     Verdict.ALLOW, Reason.EXIT_KNOWN_INSIDE),
    ("exit of a resident not recorded inside", sighting(), Permits(vehicle=RESIDENT), FREE, OUT,
     SOFT, Verdict.ALLOW, Reason.EXIT_NOT_INSIDE),
    ("exit of an unknown car not inside goes to the guard", sighting("京B00001"), Permits(), FREE,
     OUT, OFF, Verdict.REVIEW, Reason.EXIT_NOT_INSIDE),
    ("hard anti-passback sends a not-inside exit to the guard", sighting(), Permits(
     vehicle=RESIDENT), FREE, OUT, HARD, Verdict.REVIEW, Reason.ANTI_PASSBACK),
    ("no plate at the exit goes to the guard", sighting(None, 0.0), Permits(), FREE, OUT, SOFT,
     Verdict.REVIEW, Reason.NO_PLATE),
]


@pytest.mark.parametrize(
    ("sight", "permits", "occupancy", "gate", "policy", "verdict", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decision_table(
    sight: Sighting,
    permits: Permits,
    occupancy: ZoneOccupancy,
    gate: GateContext,
    policy: AccessPolicy,
    verdict: Verdict,
    reason: Reason,
) -> None:
    decision = decide(sight, permits, occupancy, NOW, gate=gate, policy=policy)
    assert (decision.verdict, decision.reason) == (verdict, reason)


def test_visitor_pass_use_is_counted_and_names_the_host() -> None:
    decision = decide(
        sighting("粤B88888"), Permits(passes=(PASS_TODAY,)), FREE, NOW, gate=IN, policy=SOFT
    )
    assert decision.count_pass_use and decision.pass_id == PASS_TODAY.pass_id
    assert decision.household_id == PASS_TODAY.household_id


def test_blocked_plate_raises_an_alarm() -> None:
    decision = decide(sighting(), Permits(list_entry=BLOCK), FREE, NOW, gate=IN, policy=SOFT)
    assert decision.alarm == "blocked_plate"


def test_soft_anti_passback_flags_the_passage() -> None:
    decision = decide(
        sighting(), Permits(vehicle=RESIDENT, inside=True), FREE, NOW, gate=IN, policy=SOFT
    )
    assert decision.opens and "anti_passback" in decision.flags


def test_resident_decision_carries_the_match_for_the_guard() -> None:
    permits = Permits(vehicle=RESIDENT, matched_plate="闽A12345", match_distance=1)
    decision = decide(sighting("闽A1234S"), permits, FREE, NOW, gate=IN, policy=SOFT)
    assert decision.vehicle_id == 1 and decision.household_id == 7
    assert (decision.matched_plate, decision.match_distance) == ("闽A12345", 1)


@pytest.mark.parametrize(
    ("occupied", "direction", "expected", "alarm"),
    [
        (10, Direction.IN, 11, None),
        (10, Direction.OUT, 9, None),
        (0, Direction.OUT, 0, "occupancy_below_zero"),
        (40, Direction.IN, 40, "occupancy_over_capacity"),
    ],
)
def test_occupancy_stays_within_bounds(
    occupied: int, direction: Direction, expected: int, alarm: str | None
) -> None:
    change = apply_passage(ZoneOccupancy("A", 40, occupied), direction)
    assert change.occupancy.occupied == expected and change.alarm == alarm
    assert change.occupancy.free == 40 - expected


@pytest.mark.parametrize(
    ("occupied", "moved", "expected"),
    [
        (11, -1, 10),  # an entry whose barrier did not open is taken back
        (9, 1, 10),  # an exit taken back, or an entry given back
        (0, -1, 0),  # never below zero (the count drifted meanwhile)...
        (40, 1, 40),  # ...nor over capacity, and without an alarm of its own
    ],
)
def test_a_counted_move_is_taken_back_within_bounds(
    occupied: int, moved: int, expected: int
) -> None:
    assert move_by(ZoneOccupancy("A", 40, occupied), moved) == ZoneOccupancy("A", 40, expected)


def test_admin_correction_refuses_impossible_counts() -> None:
    assert correct(FREE, 3).occupied == 3
    with pytest.raises(ValueError, match="between 0 and 40"):
        correct(FREE, 41)


def test_a_province_matched_by_tolerance_is_flagged_for_the_guard() -> None:
    policy = AccessPolicy()
    unsure = Sighting("main-in", NOW, "皖A12345", 0.95, province_confidence=0.1)
    assert policy.province_unsure(unsure)
    assert not policy.province_unsure(sighting("皖A12345"))
    assert not AccessPolicy(province_unsure_below=0.0).province_unsure(unsure)
    permits = Permits(vehicle=RESIDENT, matched_plate="闽A12345")
    decision = decide(unsure, permits, None, NOW, gate=IN, policy=policy)
    assert decision.verdict is Verdict.ALLOW and "province_tolerated" in decision.flags
