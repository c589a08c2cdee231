"""A time of day without a date on 通行记录 and 操作日志 is on the controller's day: the day its
records are written on (wall_clock), not the system clock's. A board whose clock came back
from a power cut in 2000 (tests/api/test_clock_behind.py) records cars near the true time,
but a guard's "03:00 to 03:59" with no date searched the system's day and found nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import wall_clock
from models.db import transaction
from models.events import AuditEntry, Passage
from services.clock_watch import CLOCK_FILE
from tests.api.test_console import add_staff, cookie_login

# 03:33 on 1 December in Beijing: the last time the controller saw before the power went.
LAST_SEEN = datetime(2026, 11, 30, 19, 33, tzinfo=UTC)
RESET = datetime(2000, 1, 1, 8, 0, tzinfo=UTC)


class SystemClock:
    """The board's clock after the power cut; the controller keeps its floor."""

    def __call__(self) -> datetime:
        return RESET


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(wall_clock, "CLOCK", wall_clock.WallClock(system=SystemClock()))
    yield


def test_a_time_of_day_without_a_date_is_on_the_controller_s_day(
    app_factory: Any, tmp_path: Path, board: None,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / CLOCK_FILE).write_text(LAST_SEEN.isoformat(), encoding="ascii")
    client = app_factory()
    at = LAST_SEEN - timedelta(minutes=10)  # 03:23 Beijing, on the controller's day
    with transaction(client.app.state.services.sessions) as session:
        session.add(Passage(at=at, gate_id="main-in", direction="in", zone_id="A",
                            plate="闽A12345", decision="deny", reason="blocked"))
        session.add(AuditEntry(at=at, username="guard2", action="gate.open", gate_id="main-in",
                               reason="夜班放行"))
    add_staff(client.app.state.services, "boss", "admin")
    cookie_login(client, "boss", "admin")
    window = {"since_time": "03:00", "until_time": "03:59"}
    history = client.get("/console/history", params=window)
    assert history.status_code == 200, history.text
    assert re.search(r'<td class="plate nowrap">闽A12345', history.text)
    audit = client.get("/console/admin/audit", params=window)
    assert audit.status_code == 200, audit.text
    assert "夜班放行" in audit.text
