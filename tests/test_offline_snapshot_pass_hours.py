"""A recurring pass's weekdays and hours survive the offline snapshot's file: a controller
that starts during an outage does not open for the cleaner at 3 am on a Sunday."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from controllers.offline import OfflineAccess
from controllers.pass_hours import pass_hours
from controllers.policy import AccessPolicy, GateContext, PassPermit, Permits, decide
from controllers.ports import AccessSnapshot
from controllers.values import AccessDecision, Direction, Reason, Sighting, Verdict
from services.offline_snapshot import FileAccessSnapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")
IN = GateContext("main-in", Direction.IN, "A", zone=SHANGHAI)
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2027, 2, 1, tzinfo=UTC)


def plate_of(permit: PassPermit) -> str:
    assert permit.plate is not None  # a vehicle pass
    return permit.plate


def test_hours_are_written_read_back_and_decided_on(tmp_path: Path) -> None:
    cleaner = PassPermit(
        5,
        "粤B88888",
        7,
        START,
        END,
        None,
        0,
        hours=pass_hours("mon,tue,wed,thu,fri", "08:00", "12:00"),
    )
    night = PassPermit(
        6, "粤B77777", 7, START, END, None, 0, hours=pass_hours("fri", "22:00", "24:00")
    )
    plain = PassPermit(7, "粤B66666", 7, START, END, None, 0)
    file = FileAccessSnapshot(tmp_path / "offline_snapshot.json")
    file.save(
        AccessSnapshot(
            taken_at=START,
            permits={plate_of(p): Permits(passes=(p,)) for p in (cleaner, night, plain)},
        )
    )

    loaded = file.load()
    assert loaded is not None
    assert [loaded.permits[plate_of(p)].passes for p in (cleaner, night, plain)] == [
        (cleaner,),
        (night,),
        (plain,),
    ]

    access = OfflineAccess()
    access.load(loaded)
    sunday_3am = datetime(2026, 11, 29, 3, 0, tzinfo=SHANGHAI)
    monday_9am = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)

    def at_gate(plate: str, at: datetime) -> AccessDecision:
        permits = access.permits(plate)
        assert permits is not None
        return decide(
            Sighting("main-in", at, plate, 0.97), permits, None, at, gate=IN, policy=AccessPolicy()
        )

    held = at_gate("粤B88888", sunday_3am)
    assert (held.verdict, held.reason) == (Verdict.REVIEW, Reason.OUTSIDE_SCHEDULE)
    assert at_gate("粤B88888", monday_9am).reason is Reason.VISITOR_PASS
    assert at_gate("粤B66666", sunday_3am).reason is Reason.VISITOR_PASS
