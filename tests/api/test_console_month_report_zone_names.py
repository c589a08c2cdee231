"""月报表's 最满区域 names the zone as the day report does (A · A区地面 6/40): walking the admin
guide, the month page said a bare ``A 5/40`` while the day report beside it and 车位与火警 say
A区地面. The CSV keeps the id (peak_zone), as the guide's table of its columns says."""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_console import add_user, cookie_login
from tests.api.test_day_report import DAY
from tests.api.test_day_report import history as history  # the fixture, reused


def test_the_month_names_each_days_fullest_zone(history: Any) -> None:
    add_user(history, "boss", "admin")
    cookie_login(history, "boss", "admin")
    page = history.get("/console/admin/reports/month?month=2026-11").text
    row = re.search(rf'<tr data-day="{DAY}">(.*?)</tr>', page, re.S)
    assert row is not None
    assert row.group(1).endswith("<td>A · A区地面 6/40</td>"), row.group(1)
    table = history.get("/console/admin/reports/month/2026-11.csv").content.decode("utf-8-sig")
    assert f"\n{DAY},3," in table and ",A,6,40" in table
