"""操作日志's 开始时间 / 结束时间（含）: the office asks "who opened the east gate last night
between 22:00 and 02:00?" in the community's time, across midnight. A window that ends
before it starts says so, as 通行记录 does: it listed nothing, read as "nobody opened it"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from models.db import transaction
from models.events import AuditEntry
from tests.api.test_console import add_staff, cookie_login

SHANGHAI = ZoneInfo("Asia/Shanghai")
REASON = re.compile(r"<td data-label=\"[^\"]*\">(夜班[^<]*)</td>")


def local(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_the_audit_log_by_time_of_day_across_midnight_and_a_window_reversed(
    app_factory: Any,
) -> None:
    client = app_factory()
    with transaction(client.app.state.services.sessions) as session:
        session.add_all([
            AuditEntry(at=at, username="guard2", action="gate.open", gate_id="main-in",
                       reason=reason)
            for at, reason in ((local(27, 21, 59), "夜班 21:59"), (local(27, 23, 50), "夜班 23:50"),
                               (local(28, 1, 59), "夜班 01:59"), (local(28, 2, 1), "夜班 02:01"))
        ])
    add_staff(client.app.state.services, "boss", "admin")
    cookie_login(client, "boss", "admin")
    night = client.get("/console/admin/audit", params={
        "since": "2026-11-27", "since_time": "22:00", "until": "2026-11-28", "until_time": "02:00"})
    assert night.status_code == 200, night.text
    assert REASON.findall(night.text) == ["夜班 01:59", "夜班 23:50"]  # newest first

    # One date and the times the other way round (or 22:00 to 02:00 without the next date).
    for params in ({"since": "2026-11-27", "since_time": "22:00", "until_time": "02:00"},
                   {"since": "2026-11-28", "until": "2026-11-27"}):
        refused = client.get("/console/admin/audit", params=params)
        assert refused.status_code == 422, params
        assert re.search(r'role="alert">开始(时间|日期)晚于结束', refused.text), params
        assert 'id="audit-none"' not in refused.text  # not "没有符合条件的操作记录"
