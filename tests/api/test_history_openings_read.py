"""通行记录's 随后 … 手动开闸 line under a car refused (cd1034d) reads the openings in each car's
own 10 minutes only: a page of refused cars a week apart (one plate's history, 拒绝 over a
month) read every opening of the gate between the first and the last car, thousands on a
busy gate (1.3 s for 50 cars a week apart over 26,000 openings on SQLite; 0.12 s now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert
from sqlalchemy.orm import Session, sessionmaker

from api.console.history import add_gate_openings
from models.db import transaction
from models.events import AuditEntry

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2026, 11, 20, 8, 5, tzinfo=UTC)
LAST = FIRST + timedelta(days=7)


def refused(passage_id: int, at: datetime) -> dict[str, object]:
    return {"id": passage_id, "at": at.isoformat(), "gate_id": "main-in", "decision": "deny",
            "flags": [], "resolution": None}


def test_each_refused_car_reads_the_openings_of_its_own_ten_minutes_only(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        session.execute(insert(AuditEntry), [
            {"at": at, "username": user, "action": "gate.open", "gate_id": "main-in",
             "reason": "物业电话确认后放行", "target": "", "details": {}}
            for at, user in [
                (FIRST + timedelta(minutes=2), "guard2"),
                *((FIRST + timedelta(hours=hour), "guard1") for hour in range(1, 160)),
                (LAST + timedelta(minutes=3), "guard3"),
            ]
        ])
    rows = [refused(2, LAST), refused(1, FIRST)]
    read: list[str] = []
    with sessions() as session:
        event.listen(session, "loaded_as_persistent",
                     lambda _session, entry: read.append(entry.username))
        add_gate_openings(session, rows, "zh", SHANGHAI)
    assert [row["opened_after"] for row in rows] == [
        "随后 16:08:00 guard3 手动开闸：物业电话确认后放行",
        "随后 16:07:00 guard2 手动开闸：物业电话确认后放行",
    ]
    assert sorted(read) == ["guard2", "guard3"]


def test_an_opening_naming_the_car_is_shown_before_the_gates_earlier_one(
    sessions: sessionmaker[Session],
) -> None:
    """The gate's 开闸 two minutes after the car may have been for another car; 人工开闸放行
    of its own row half an hour later was for it. The next day's says its date."""
    openings = [
        (FIRST + timedelta(minutes=2), "guard2", None, "开给前面的车"),
        (FIRST + timedelta(minutes=30), "guard3", 1, "业主来电确认"),
        (FIRST + timedelta(hours=20), "guard1", 2, "次日核实后放行"),
    ]
    with transaction(sessions) as session:
        session.execute(insert(AuditEntry), [
            {"at": at, "username": user, "action": "gate.open", "gate_id": "main-in",
             "passage_id": passage_id, "reason": reason, "target": "", "details": {}}
            for at, user, passage_id, reason in openings
        ])
    rows = [refused(1, FIRST), refused(2, FIRST + timedelta(minutes=1))]
    with sessions() as session:
        add_gate_openings(session, rows, "zh", SHANGHAI)
    assert [row["opened_after"] for row in rows] == [
        "随后 16:35:00 guard3 手动开闸：业主来电确认",
        "随后 2026-11-21 12:05:00 guard1 手动开闸：次日核实后放行",
    ]
