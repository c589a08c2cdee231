"""Access schedules (通行时段): window tables in Shanghai wall-clock time, and what a schedule may
and may not change in a decision (controllers/schedule.py gives the precedence)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controllers.events import EventBus
from controllers.offline import OfflineAccess
from controllers.person_policy import FaceEvidence, decide_face, decide_pin, decide_qr
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
from controllers.ports import AccessSnapshot
from controllers.runtime import GateRuntime, PassageResult
from controllers.schedule import Entrant, GateSchedule, TimeWindow, apply_schedule
from controllers.values import AccessDecision, Direction, Reason, Sighting, Verdict
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from services.passage_journal import FilePassageJournal

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock time in November 2026 (the 27th is a Friday, the 28th a Saturday)."""
    return datetime(2026, 11, day, hour, minute, second)


def passage_time(day: int, hour: int, minute: int = 0) -> datetime:
    """When a passage happened, as the runtime has it: aware UTC."""
    return local(day, hour, minute).replace(tzinfo=SHANGHAI).astimezone(UTC)


WINDOW_CASES = [
    # hours, days, local time, covered
    ("06:00-23:00", None, local(27, 5, 59, 59), False),
    ("06:00-23:00", None, local(27, 6, 0), True),  # the start is inside
    ("06:00-23:00", None, local(27, 22, 59, 59), True),
    ("06:00-23:00", None, local(27, 23, 0), False),  # the end is outside
    ("05:00-24:00", None, local(27, 23, 59, 59), True),  # 24:00 closes at midnight
    ("05:00-24:00", None, local(28, 0, 0), False),
    ("05:00-24:00", None, local(28, 4, 59), False),
    ("00:00-24:00", None, local(28, 0, 0), True),
    ("00:00-24:00", None, local(28, 23, 59, 59), True),
    ("22:00-06:00", None, local(27, 21, 59), False),
    ("22:00-06:00", None, local(27, 22, 0), True),
    ("22:00-06:00", None, local(28, 2, 0), True),  # past midnight
    ("22:00-06:00", None, local(28, 5, 59, 59), True),
    ("22:00-06:00", None, local(28, 6, 0), False),
    ("22:00-06:00", None, local(28, 12, 0), False),
    # A night window belongs to the day it opens: Friday night runs into Saturday morning.
    ("22:00-06:00", ("fri",), local(27, 23, 0), True),
    ("22:00-06:00", ("fri",), local(28, 2, 0), True),
    ("22:00-06:00", ("fri",), local(27, 2, 0), False),  # Thursday's night, not Friday's
    ("22:00-06:00", ("fri",), local(28, 23, 0), False),
    ("22:00-06:00", ("sun",), local(30, 3, 0), True),  # Sunday night into Monday: the week wraps
    ("08:00-20:00", WEEKDAYS, local(27, 19, 59), True),
    ("08:00-20:00", WEEKDAYS, local(28, 10, 0), False),  # Saturday
    ("08:00-20:00", WEEKDAYS, local(30, 8, 0), True),
    ("08:00-20:00", WEEKDAYS, local(30, 20, 0), False),
    ("8:00 - 20:00", ("Mon",), local(30, 9, 0), True),  # loose spacing and case are fine
]


@pytest.mark.parametrize(
    ("hours", "days", "at", "covered"),
    WINDOW_CASES,
    ids=[f"{c[0]}-{','.join(c[1] or ('every day',))}-{c[2]:%a %H:%M:%S}" for c in WINDOW_CASES],
)
def test_window_table(
    hours: str, days: tuple[str, ...] | None, at: datetime, covered: bool
) -> None:
    window = TimeWindow.parse(hours, days) if days else TimeWindow.parse(hours)
    assert window.covers(at) is covered


@pytest.mark.parametrize(
    ("hours", "days", "message"),
    [
        ("06:00-06:00", None, "end equals start (06:00)"),
        ("6am-11pm", None, "hours must read 'HH:MM-HH:MM'"),
        ("06:00", None, "hours must read 'HH:MM-HH:MM'"),
        ("24:00-06:00", None, "start must be from 00:00 to 23:59"),
        ("06:60-07:00", None, "start must be from 00:00 to 23:59"),
        ("06:00-24:30", None, "end must be from 00:01 to 24:00"),
        ("06:00-25:00", None, "end must be from 00:01 to 24:00"),
        ("06:00-23:00", ("mon", "thurs"), "unknown weekday(s) 'thurs'"),
        ("06:00-23:00", (), "days must be a non-empty set"),
    ],
)
def test_a_bad_window_says_what_is_wrong(
    hours: str, days: tuple[str, ...] | None, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        TimeWindow.parse(hours, days) if days is not None else TimeWindow.parse(hours)
    assert message in str(info.value)


BACK_GATE = GateSchedule(SHANGHAI, {
    Entrant.RESIDENT: (TimeWindow.parse("06:00-23:00"),),
    Entrant.VISITOR: (),  # closed to visitors outright
    Entrant.ALLOW_LIST: (TimeWindow.parse("08:00-20:00", WEEKDAYS),),
})


def test_the_schedule_reads_the_passage_time_in_the_community_zone() -> None:
    # 15:30 UTC on Friday is 23:30 on Saturday in Shanghai: after the residents' 23:00, and a
    # Saturday for the weekday delivery window, although the UTC clock says Friday afternoon.
    at = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert not BACK_GATE.admits(Entrant.RESIDENT, at)
    assert BACK_GATE.admits(Entrant.RESIDENT, at - timedelta(hours=1))
    assert not BACK_GATE.admits(Entrant.ALLOW_LIST, datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    assert BACK_GATE.admits(Entrant.ALLOW_LIST, datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    # Shanghai keeps UTC+8 all year: the same hours hold in summer and in winter.
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 06:30 local
    assert BACK_GATE.admits(Entrant.RESIDENT, summer)
    assert not BACK_GATE.admits(Entrant.RESIDENT, summer - timedelta(hours=1))


def test_a_kind_the_schedule_does_not_name_is_always_admitted_and_an_empty_one_never() -> None:
    residents_only = GateSchedule(SHANGHAI, {Entrant.RESIDENT: (TimeWindow.parse("06:00-23:00"),)})
    night = passage_time(28, 2)
    assert residents_only.admits(Entrant.VISITOR, night)
    assert residents_only.admits(Entrant.ALLOW_LIST, night)
    assert not BACK_GATE.admits(Entrant.VISITOR, passage_time(28, 12))


def test_a_naive_time_is_refused_rather_than_read_in_the_controller_zone() -> None:
    with pytest.raises(ValueError, match="aware time"):
        BACK_GATE.admits(Entrant.RESIDENT, local(28, 2))


# ---- what a schedule changes in a vehicle decision -------------------------------------------

BACK_IN = GateContext("back-in", Direction.IN, "A", schedule=BACK_GATE)
BACK_OUT = GateContext("back-out", Direction.OUT, "A", schedule=BACK_GATE)
UNSCHEDULED_IN = GateContext("main-in", Direction.IN, "A")
FREE = ZoneOccupancy("A", capacity=40, occupied=10)
FULL = ZoneOccupancy("A", capacity=40, occupied=40)
SOFT = AccessPolicy(anti_passback="soft")
HARD = AccessPolicy(anti_passback="hard")
NIGHT = passage_time(28, 2)  # Saturday 02:00
SATURDAY_NOON = passage_time(28, 12)
FRIDAY_NOON = passage_time(27, 12)

RESIDENT = VehiclePermit(1, 7, "闽A12345", household_spaces=1, household_cars_inside=0,
                         resident_id=3)


def visitor_pass(at: datetime, hours: int = 2, uses: int = 0) -> PassPermit:
    return PassPermit(5, "粤B88888", 7, at - timedelta(hours=hours), at + timedelta(hours=hours),
                      2, uses)


def car(plate: str, at: datetime, gate: GateContext = BACK_IN) -> Sighting:
    return Sighting(gate_id=gate.gate_id, at=at, plate=plate, confidence=0.97)


PRECEDENCE = [
    # name, plate, permits, at, gate, policy, occupancy, verdict, reason
    ("resident inside the window enters", "闽A12345", Permits(vehicle=RESIDENT), SATURDAY_NOON,
     BACK_IN, SOFT, FREE, Verdict.ALLOW, Reason.RESIDENT),
    ("resident at 2 a.m. goes to the guard", "闽A12345", Permits(vehicle=RESIDENT), NIGHT,
     BACK_IN, SOFT, FREE, Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE),
    ("resident at 2 a.m. at a gate without a schedule enters", "闽A12345",
     Permits(vehicle=RESIDENT), NIGHT, UNSCHEDULED_IN, SOFT, FREE, Verdict.ALLOW,
     Reason.RESIDENT),
    ("blocked beats the schedule at night", "闽A12345",
     Permits(vehicle=RESIDENT, list_entry=ListEntry("block", "stolen")), NIGHT, BACK_IN, SOFT,
     FREE, Verdict.DENY, Reason.BLOCKED),
    ("blocked is denied inside the window too", "闽A12345",
     Permits(vehicle=RESIDENT, list_entry=ListEntry("block", "stolen")), SATURDAY_NOON, BACK_IN,
     SOFT, FREE, Verdict.DENY, Reason.BLOCKED),
    ("hard anti-passback still denies at night", "闽A12345",
     Permits(vehicle=RESIDENT, inside=True), NIGHT, BACK_IN, HARD, FREE, Verdict.DENY,
     Reason.ANTI_PASSBACK),
    ("visitor with a valid pass at a gate closed to visitors goes to the guard", "粤B88888",
     Permits(passes=(visitor_pass(SATURDAY_NOON),)), SATURDAY_NOON, BACK_IN, SOFT, FREE,
     Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE),
    ("visitor with a valid pass at the main gate enters", "粤B88888",
     Permits(passes=(visitor_pass(NIGHT),)), NIGHT, UNSCHEDULED_IN, SOFT, FREE, Verdict.ALLOW,
     Reason.VISITOR_PASS),
    ("an expired pass stays expired for the guard", "粤B88888",
     Permits(passes=(visitor_pass(SATURDAY_NOON - timedelta(days=1)),)), SATURDAY_NOON,
     BACK_IN, SOFT, FREE, Verdict.REVIEW, Reason.PASS_EXPIRED),
    ("a full zone still refuses a visitor", "粤B88888",
     Permits(passes=(visitor_pass(SATURDAY_NOON),)), SATURDAY_NOON, BACK_IN, SOFT, FULL,
     Verdict.DENY, Reason.ZONE_FULL),
    ("an unknown plate at night is still an unknown plate", "京B00001", Permits(), NIGHT,
     BACK_IN, SOFT, FREE, Verdict.REVIEW, Reason.UNKNOWN_PLATE),
    ("delivery van on a weekday inside its hours enters", "闽D55555",
     Permits(list_entry=ListEntry("allow", "快递")), FRIDAY_NOON, BACK_IN, SOFT, FREE,
     Verdict.ALLOW, Reason.ALLOWED_LIST),
    ("delivery van on Saturday goes to the guard", "闽D55555",
     Permits(list_entry=ListEntry("allow", "快递")), SATURDAY_NOON, BACK_IN, SOFT, FREE,
     Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE),
    ("a resident leaves at 2 a.m.: exits are never held", "闽A12345",
     Permits(vehicle=RESIDENT, inside=True), NIGHT, BACK_OUT, SOFT, FREE, Verdict.ALLOW,
     Reason.EXIT_KNOWN_INSIDE),
    ("a visitor leaves through a gate closed to visitors", "粤B88888",
     Permits(passes=(visitor_pass(NIGHT),), inside=True), NIGHT, BACK_OUT, SOFT, FREE,
     Verdict.ALLOW, Reason.EXIT_KNOWN_INSIDE),
]


@pytest.mark.parametrize(
    ("plate", "permits", "at", "gate", "policy", "occupancy", "verdict", "reason"),
    [c[1:] for c in PRECEDENCE],
    ids=[c[0] for c in PRECEDENCE],
)
def test_what_a_schedule_changes_in_a_vehicle_decision(
    plate: str, permits: Permits, at: datetime, gate: GateContext, policy: AccessPolicy,
    occupancy: ZoneOccupancy, verdict: Verdict, reason: Reason,
) -> None:
    decision = decide(car(plate, at, gate), permits, occupancy, at, gate=gate, policy=policy)
    assert (decision.verdict, decision.reason) == (verdict, reason)


def test_a_held_entry_tells_the_guard_who_it_is_and_uses_no_pass() -> None:
    resident = decide(car("闽A12345", NIGHT), Permits(vehicle=RESIDENT), FREE, NIGHT,
                      gate=BACK_IN, policy=SOFT)
    assert (resident.vehicle_id, resident.household_id, resident.resident_id) == (1, 7, 3)
    assert "resident" in resident.flags and resident.alarm is None  # a question, not an alarm

    permit = visitor_pass(SATURDAY_NOON)
    visitor = decide(car("粤B88888", SATURDAY_NOON), Permits(passes=(permit,)), FREE,
                     SATURDAY_NOON, gate=BACK_IN, policy=SOFT)
    assert visitor.pass_id == permit.pass_id and visitor.household_id == permit.household_id
    assert "visitor_pass" in visitor.flags
    assert not visitor.count_pass_use and not visitor.opens


# ---- pedestrians: face, PIN and QR ----------------------------------------------------------

PED_GATE = GateSchedule(SHANGHAI, {
    Entrant.RESIDENT: (TimeWindow.parse("05:00-24:00"),),
    Entrant.VISITOR: (TimeWindow.parse("07:00-22:00"),),
})
LIVE_RESIDENT = FaceEvidence(faces_seen=5, resident_id=3, live=True)


@pytest.mark.parametrize(
    ("name", "decision", "at", "direction", "verdict", "reason"),
    [
        ("face before 05:00", decide_face(LIVE_RESIDENT, 7), passage_time(28, 4, 30),
         Direction.IN, Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE),
        ("face at 05:00", decide_face(LIVE_RESIDENT, 7), passage_time(28, 5), Direction.IN,
         Verdict.ALLOW, Reason.FACE_RESIDENT),
        ("PIN before 05:00", decide_pin(resident_id=3, household_id=7, pin_ok=True,
                                        recent_failures=0), passage_time(28, 4, 30),
         Direction.IN, Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE),
        ("QR at 22:30", decide_qr(visitor_pass(passage_time(28, 22, 30)),
                                  passage_time(28, 22, 30)), passage_time(28, 22, 30),
         Direction.IN, Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE),
        ("QR at 21:30", decide_qr(visitor_pass(passage_time(28, 21, 30)),
                                  passage_time(28, 21, 30)), passage_time(28, 21, 30),
         Direction.IN, Verdict.ALLOW, Reason.QR_PASS),
        ("a replayed face is refused at any hour",
         decide_face(FaceEvidence(faces_seen=5, resident_id=3, live=False)),
         passage_time(28, 4, 30), Direction.IN, Verdict.DENY, Reason.LIVENESS_FAILED),
        ("a resident walks out at 04:30", decide_face(LIVE_RESIDENT, 7),
         passage_time(28, 4, 30), Direction.OUT, Verdict.ALLOW, Reason.FACE_RESIDENT),
    ],
)
def test_what_a_schedule_changes_at_a_pedestrian_gate(
    name: str, decision: AccessDecision, at: datetime, direction: Direction, verdict: Verdict,
    reason: Reason,
) -> None:
    held = apply_schedule(decision, PED_GATE, direction, at)
    assert (held.verdict, held.reason) == (verdict, reason), name
    if reason is Reason.OUTSIDE_SCHEDULE:
        assert held.resident_id == decision.resident_id and held.pass_id == decision.pass_id
        assert decision.reason.value in held.flags and not held.count_pass_use


# ---- the offline snapshot path --------------------------------------------------------------

SNAPSHOT = AccessSnapshot(taken_at=NIGHT - timedelta(minutes=1), permits={
    "闽A12345": Permits(vehicle=RESIDENT),
    "闽B66666": Permits(list_entry=ListEntry("block", "stolen")),
})


def test_offline_decisions_keep_the_schedule_and_the_blacklist() -> None:
    access = OfflineAccess()
    access.load(SNAPSHOT)
    for plate, verdict, reason in (
        ("闽A12345", Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE),
        ("闽B66666", Verdict.DENY, Reason.BLOCKED),
    ):
        permits = access.permits(plate)
        assert permits is not None
        decision = decide(car(plate, NIGHT), permits, None, NIGHT, gate=BACK_IN, policy=SOFT)
        assert (decision.verdict, decision.reason) == (verdict, reason)


class CountsOpens:
    command_budget_s = 1.0

    def __init__(self) -> None:
        self.opens = 0

    async def open(self) -> str:
        self.opens += 1
        return "opening"


def test_the_runtime_holds_cars_and_people_outside_the_window_while_offline(
    database_url: str, tmp_path: Path
) -> None:
    """During a database outage the runtime decides from the snapshot: a resident's car and a
    resident's face at 2 a.m. are journalled for a guard, and no barrier moves."""
    engine = create_db_engine(database_url)
    migrate(engine)
    barriers = {"back-in": CountsOpens(), "back-ped": CountsOpens()}
    offline = OfflineAccess()
    journal = FilePassageJournal(tmp_path / "journal" / "passages.jsonl")
    runtime = GateRuntime(
        store=SqlAccessStore(make_session_factory(engine)),
        gates={"back-in": BACK_IN,
               "back-ped": GateContext("back-ped", Direction.IN, None, schedule=PED_GATE)},
        barriers=barriers, policy=SOFT, bus=EventBus(), clock=lambda: NIGHT,
        journal=journal, offline=offline,
    )
    runtime.hold_offline()  # the database is not to be asked: decide from the snapshot
    offline.load(SNAPSHOT)

    async def arrive() -> list[PassageResult]:
        return [
            await runtime.handle_sighting(car("闽A12345", NIGHT)),
            await runtime.handle_decision("back-ped", decide_face(LIVE_RESIDENT, 7),
                                          at=passage_time(28, 4, 30)),
            await runtime.handle_decision("back-ped", decide_face(LIVE_RESIDENT, 7),
                                          at=passage_time(28, 5, 30)),
        ]

    car_result, early_face, face_in_window = asyncio.run(arrive())
    engine.dispose()
    for held in (car_result, early_face):
        assert held.decision.reason is Reason.OUTSIDE_SCHEDULE
        assert held.barrier == "closed" and held.journal_id
    assert face_in_window.decision.opens
    assert barriers["back-in"].opens == 0 and barriers["back-ped"].opens == 1
    journalled = {entry.record.journal_id: entry.record.decision for entry in journal.pending()}
    assert journalled[car_result.journal_id].reason is Reason.OUTSIDE_SCHEDULE
    assert "offline" in journalled[car_result.journal_id].flags
