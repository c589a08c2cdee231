"""Deciding from the offline snapshot: the same policy, on what the database last said."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from controllers.offline import OfflineAccess
from controllers.policy import (
    AccessPolicy,
    GateContext,
    ListEntry,
    PassPermit,
    Permits,
    VehiclePermit,
    decide,
)
from controllers.ports import AccessSnapshot, GuardOpen, JournalBacklog, JournalEntry, PassageRecord
from controllers.values import AccessDecision, Direction, Reason, Sighting, Verdict

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
IN = GateContext("main-in", Direction.IN, "A")
OUT = GateContext("main-out", Direction.OUT, "A")
POLICY = AccessPolicy()


def snapshot() -> AccessSnapshot:
    resident = VehiclePermit(vehicle_id=1, household_id=7, plate="闽A12345",
                             household_spaces=1, household_cars_inside=0, resident_id=3)
    visitor = PassPermit(pass_id=4, plate="闽D77777", household_id=7,
                         valid_from=NOW - timedelta(hours=1), valid_to=NOW + timedelta(hours=1),
                         max_uses=None, uses=0)
    return AccessSnapshot(taken_at=NOW, permits={
        "闽A12345": Permits(vehicle=resident),
        "闽D77777": Permits(passes=(visitor,)),
        "闽B66666": Permits(list_entry=ListEntry("block", "stolen")),
    })


def offline_decision(access: OfflineAccess, plate: str, gate: GateContext = IN,
                     at: datetime = NOW) -> tuple[AccessDecision, Sighting]:
    sighting = Sighting(gate.gate_id, at, plate, 0.97)
    permits = access.permits(plate)
    assert permits is not None
    return decide(sighting, permits, None, at, gate=gate, policy=POLICY), sighting


def loaded() -> OfflineAccess:
    access = OfflineAccess(max_distance=1)
    access.load(snapshot())
    return access


def test_nothing_is_known_before_the_first_snapshot() -> None:
    assert OfflineAccess().permits("闽A12345") is None


def test_resident_visitor_and_blocked_plates_decide_as_online() -> None:
    access = loaded()
    resident, _ = offline_decision(access, "闽A12345")
    assert resident.verdict is Verdict.ALLOW and resident.reason is Reason.RESIDENT
    assert resident.resident_id == 3
    visitor, _ = offline_decision(access, "闽D77777")
    assert visitor.verdict is Verdict.ALLOW and visitor.pass_id == 4
    late, _ = offline_decision(access, "闽D77777", at=NOW + timedelta(hours=2))
    assert late.verdict is not Verdict.ALLOW and late.reason is Reason.PASS_EXPIRED
    blocked, _ = offline_decision(access, "闽B66666")
    assert blocked.verdict is Verdict.DENY and blocked.reason is Reason.BLOCKED
    stranger, _ = offline_decision(access, "粤B00001")
    assert stranger.verdict is not Verdict.ALLOW


def test_a_misread_character_still_matches_and_says_so() -> None:
    decision, _ = offline_decision(loaded(), "闽A1234S")  # 5 read as S
    assert decision.verdict is Verdict.ALLOW
    assert decision.matched_plate == "闽A12345" and decision.match_distance == 1


def test_entries_made_offline_count_for_anti_passback_until_the_next_snapshot() -> None:
    access = loaded()
    decision, sighting = offline_decision(access, "闽A12345")
    access.note(PassageRecord("main-in", Direction.IN, "A", sighting, decision, None,
                              journal_id="j1"))
    again, _ = offline_decision(access, "闽A12345")
    assert "anti_passback" in again.flags
    out, sighting_out = offline_decision(access, "闽A12345", gate=OUT)
    assert out.verdict is Verdict.ALLOW
    access.note(PassageRecord("main-out", Direction.OUT, "A", sighting_out, out, None,
                              journal_id="j2"))
    assert access.permits("闽A12345").inside is False  # type: ignore[union-attr]
    access.load(snapshot())  # the database now holds what was journalled
    assert access.permits("闽A12345").inside is False  # type: ignore[union-attr]


def test_an_offline_passage_whose_barrier_did_not_open_is_taken_back() -> None:
    """The car did not get in: trying again is no anti-passback case."""
    access = loaded()
    decision, sighting = offline_decision(access, "闽A12345")
    entry = PassageRecord("main-in", Direction.IN, "A", sighting, decision, None,
                          journal_id="j1")
    access.note(entry)
    access.undo(entry)
    again, _ = offline_decision(access, "闽A12345")
    assert again.verdict is Verdict.ALLOW and "anti_passback" not in again.flags
    access.undo(entry)  # twice changes nothing
    assert access.permits("闽A12345").inside is False  # type: ignore[union-attr]


def test_a_guards_open_of_a_passage_whose_barrier_did_not_open_counts_its_car_once() -> None:
    """As online (redo_admission): the single-use pass is spent by it, and a second open, or
    one of a car that got in on a retry, counts nothing."""
    access = OfflineAccess()
    access.load(single_use_pass_snapshot())
    failed = pass_through(access, IN, "j1")
    access.undo(failed)
    assert access.redo(failed) is True
    assert access.permits("闽D88888").inside is True  # type: ignore[union-attr]
    assert access.redo(failed) is False
    out = pass_through(access, OUT, "j2")
    assert out.decision.verdict is Verdict.ALLOW
    again = pass_through(access, IN, "j3").decision
    assert (again.verdict, again.reason) == (Verdict.REVIEW, Reason.PASS_USED_UP)

    retried = OfflineAccess()
    retried.load(snapshot())
    failed = drive(retried, "闽A12345", IN, "j1")
    retried.undo(failed)
    drive(retried, "闽A12345", IN, "j2")  # in on its next try
    assert retried.redo(failed) is False


def test_a_guards_open_of_a_refused_passage_admits_nobody() -> None:
    """Online a gate action does not admit a refused car either (the review queue does)."""
    access = loaded()
    refused = drive(access, "粤B00001", IN, "j1")
    assert refused.decision.verdict is not Verdict.ALLOW
    assert access.redo(refused) is False
    assert access.permits("粤B00001").inside is False  # type: ignore[union-attr]


def test_a_start_during_the_outage_replays_the_guards_opens_among_the_passages() -> None:
    """The journal after a restart: a failed entry, the guard's open of it, then the car's
    exit; and a failed entry of another car that the guard's open also failed for."""
    access = loaded()

    def later(record: PassageRecord, seconds: int) -> PassageRecord:
        return replace(record, sighting=replace(record.sighting,
                                                at=NOW + timedelta(seconds=seconds)))

    entry = drive(access, "闽A12345", IN, "j1")
    out = later(drive(access, "闽A12345", OUT, "j2"), 60)
    visitor = later(drive(access, "闽D77777", IN, "j3"), 90)
    opened = GuardOpen(key="g1", at=NOW + timedelta(seconds=5), gate_id="main-in",
                       outcome="opening", journal_id="j1")
    faulted = GuardOpen(key="g2", at=NOW + timedelta(seconds=95), gate_id="main-in",
                        outcome="fault", journal_id="j3")
    backlog = JournalBacklog(
        entries=[JournalEntry(entry, "fault"), JournalEntry(out, "opening"),
                 JournalEntry(visitor, "fault")],
        reopens=[opened, faulted],
    )
    restarted = loaded()
    restarted.replay(backlog)
    assert restarted.permits("闽A12345").inside is False  # type: ignore[union-attr]
    assert restarted.permits("闽D77777").inside is False  # type: ignore[union-attr]
    # Without the exit the guard's open leaves the car inside.
    restarted = loaded()
    restarted.replay(replace(backlog, entries=[JournalEntry(entry, "fault")]))
    assert restarted.permits("闽A12345").inside is True  # type: ignore[union-attr]


def test_a_journalled_row_is_admission_undone_while_its_failed_car_is_not_counted() -> None:
    """What the booth screen flags 「道闸未开，未计通行」 (and offers the guard's open on), as
    online: an allowed passage whose barrier failed, until an open counts its car; one that
    found the car counted by a retry leaves it so. A refused passage and one whose barrier
    opened are not."""
    access = loaded()
    failed = drive(access, "闽A12345", IN, "j1")
    assert not access.admission_undone(JournalEntry(failed, "pending"))  # still answering
    access.undo(failed)
    assert access.admission_undone(JournalEntry(failed, "fault"))
    access.redo(failed)  # the guard's open
    assert not access.admission_undone(JournalEntry(failed, "fault"))

    refused = drive(access, "粤B00001", IN, "j2")
    assert not access.admission_undone(JournalEntry(refused, "fault"))
    opened = drive(access, "闽D77777", IN, "j3")
    assert not access.admission_undone(JournalEntry(opened, "opening"))

    retried = loaded()
    failed = drive(retried, "闽A12345", IN, "j1")
    retried.undo(failed)
    drive(retried, "闽A12345", IN, "j2")  # in on its next try
    assert retried.redo(failed) is False
    assert retried.admission_undone(JournalEntry(failed, "fault"))


def single_use_pass_snapshot() -> AccessSnapshot:
    once = PassPermit(pass_id=9, plate="闽D88888", household_id=7,
                      valid_from=NOW - timedelta(hours=1), valid_to=NOW + timedelta(hours=8),
                      max_uses=1, uses=0)
    return AccessSnapshot(taken_at=NOW, permits={"闽D88888": Permits(passes=(once,))})


def pass_through(access: OfflineAccess, gate: GateContext, journal_id: str) -> PassageRecord:
    decision, sighting = offline_decision(access, "闽D88888", gate=gate)
    record = PassageRecord(gate.gate_id, gate.direction, gate.zone_id, sighting, decision, None,
                           journal_id=journal_id)
    access.note(record)
    return record


def test_a_pass_used_offline_counts_toward_its_limit_until_the_next_snapshot() -> None:
    """A single-use pass lets the visitor in once during an outage, not once per visit."""
    access = OfflineAccess()
    access.load(single_use_pass_snapshot())
    assert pass_through(access, IN, "j1").decision.verdict is Verdict.ALLOW
    assert pass_through(access, OUT, "j2").decision.verdict is Verdict.ALLOW
    again = pass_through(access, IN, "j3").decision
    assert (again.verdict, again.reason) == (Verdict.REVIEW, Reason.PASS_USED_UP)


def test_a_pass_use_whose_barrier_did_not_open_is_given_back_offline() -> None:
    access = OfflineAccess()
    access.load(single_use_pass_snapshot())
    access.undo(pass_through(access, IN, "j1"))  # the barrier faulted: the car is outside
    retry = pass_through(access, IN, "j2").decision
    assert (retry.verdict, retry.reason) == (Verdict.ALLOW, Reason.VISITOR_PASS)
    access.load(single_use_pass_snapshot())  # the database counts the uses written back
    assert offline_decision(access, "闽D88888")[0].verdict is Verdict.ALLOW


def two_car_household_snapshot() -> AccessSnapshot:
    """Household 7 has one space and two cars, both outside when the snapshot was taken."""
    def car(vehicle_id: int, plate: str) -> Permits:
        return Permits(vehicle=VehiclePermit(vehicle_id=vehicle_id, household_id=7, plate=plate,
                                             household_spaces=1, household_cars_inside=0))
    return AccessSnapshot(taken_at=NOW, permits={"闽A12345": car(1, "闽A12345"),
                                                 "闽A54321": car(2, "闽A54321")})


def drive(access: OfflineAccess, plate: str, gate: GateContext, journal_id: str) -> PassageRecord:
    decision, sighting = offline_decision(access, plate, gate=gate)
    record = PassageRecord(gate.gate_id, gate.direction, gate.zone_id, sighting, decision, None,
                           journal_id=journal_id)
    access.note(record)
    return record


def test_a_households_spaces_hold_offline_as_online() -> None:
    """一位多车: with one space taken by the first car during the outage, the second car is
    over its household's quota (a guard decides), as it would be online; it was let in."""
    access = OfflineAccess()
    access.load(two_car_household_snapshot())
    first = drive(access, "闽A12345", IN, "j1").decision
    assert (first.verdict, first.reason) == (Verdict.ALLOW, Reason.RESIDENT)
    second = drive(access, "闽A54321", IN, "j2").decision
    assert (second.verdict, second.reason) == (Verdict.REVIEW, Reason.RESIDENT_OVER_QUOTA)
    # The first leaves: its space is free for the second.
    drive(access, "闽A12345", OUT, "j3")
    retry = drive(access, "闽A54321", IN, "j4").decision
    assert (retry.verdict, retry.reason) == (Verdict.ALLOW, Reason.RESIDENT)


def test_a_household_car_whose_barrier_did_not_open_frees_its_space_again() -> None:
    access = OfflineAccess()
    access.load(two_car_household_snapshot())
    access.undo(drive(access, "闽A12345", IN, "j1"))  # the barrier faulted: still outside
    second = drive(access, "闽A54321", IN, "j2").decision
    assert (second.verdict, second.reason) == (Verdict.ALLOW, Reason.RESIDENT)
    access.load(two_car_household_snapshot())  # the database counts what was written back
    assert access.permits("闽A54321").vehicle.household_cars_inside == 0  # type: ignore[union-attr]


def test_a_cars_own_entry_offline_does_not_count_against_itself() -> None:
    """Its household's spaces are checked against its *other* cars inside, as online: a car
    let in during the outage that comes in again (its exit not seen) is not over quota."""
    access = OfflineAccess()
    access.load(two_car_household_snapshot())
    drive(access, "闽A12345", IN, "j1")
    again = drive(access, "闽A12345", IN, "j2").decision
    assert (again.verdict, again.reason) == (Verdict.ALLOW, Reason.RESIDENT)


def test_a_household_car_let_in_on_a_visitor_pass_uses_none_of_its_spaces_offline() -> None:
    """One space, three cars; the first inside at the snapshot. The second comes in on a
    visitor pass (over quota), the first leaves: the third finds the space free, as online
    (a car inside on a pass does not use its household's spaces)."""
    def car(vehicle_id: int, plate: str, others: int, **kw: object) -> Permits:
        return Permits(vehicle=VehiclePermit(vehicle_id=vehicle_id, household_id=7, plate=plate,
                                             household_spaces=1, household_cars_inside=others),
                       **kw)  # type: ignore[arg-type]
    visit = PassPermit(pass_id=9, plate="闽A54321", household_id=8,
                       valid_from=NOW - timedelta(hours=1), valid_to=NOW + timedelta(hours=1),
                       max_uses=None, uses=0)
    access = OfflineAccess()
    access.load(AccessSnapshot(taken_at=NOW, permits={
        "闽A12345": car(1, "闽A12345", 0, inside=True),
        "闽A54321": car(2, "闽A54321", 1, passes=(visit,)),
        "闽A67890": car(3, "闽A67890", 1),
    }))
    on_pass = drive(access, "闽A54321", IN, "j1").decision
    assert (on_pass.verdict, on_pass.reason) == (Verdict.ALLOW, Reason.VISITOR_PASS)
    drive(access, "闽A12345", OUT, "j2")
    third = drive(access, "闽A67890", IN, "j3").decision
    assert (third.verdict, third.reason) == (Verdict.ALLOW, Reason.RESIDENT)


def test_where_the_database_has_a_car_now_outlives_a_snapshot_read_before_it() -> None:
    """A resident's barrier failed: online the passage's admission is taken back and the gates'
    offline view told so (seen_online). A snapshot whose read had begun before, with the car
    still inside, installed after that, had the guard's open during the outage that followed
    count nothing (the refresh runs every offline_refresh_s, so under load it happened)."""
    access = loaded()
    inside = AccessSnapshot(taken_at=NOW, permits={
        "闽A12345": Permits(vehicle=snapshot().permits["闽A12345"].vehicle, inside=True)})
    read_from = access.mark()  # the snapshot's read begins: the car is inside
    access.seen_online("闽A12345", False)  # its barrier failed: not inside after all
    access.load(inside, read_from=read_from)
    assert access.permits("闽A12345").inside is False  # type: ignore[union-attr]
    decision, sighting = offline_decision(access, "闽A12345")
    assert "anti_passback" not in decision.flags
    failed = PassageRecord("main-in", Direction.IN, "A", sighting, decision, None)
    assert access.redo(failed) is True  # the guard's open counts it
    # A snapshot read after what the database said is newer, and stands.
    read_from = access.mark()
    access.load(inside, read_from=read_from)
    assert access.permits("闽A12345") == Permits(
        vehicle=snapshot().permits["闽A12345"].vehicle, inside=True)
