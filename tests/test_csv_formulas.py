"""The occupancy and month CSVs open in the office's spreadsheet: a zone id from the config
that starts like a formula is shown as text there, never run (CSV injection)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.month_summary import MONTH_CSV_COLUMNS
from services.reports import OccupancyDay, ZoneDay, write_csv, write_table
from services.spreadsheet_cells import inert_cell

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x","点击")', '\'=HYPERLINK("http://x","点击")'),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+1", "'+1+1"),
        ("-东区", "'-东区"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("东区", "东区"),
        ("B1", "B1"),
        ("", ""),
        (-3, -3),  # a number stays a number
        (12, 12),
    ],
)
def test_a_cell_that_reads_as_a_formula_is_made_text(value: object, written: object) -> None:
    assert inert_cell(value) == written


def test_the_occupancy_csv_shows_a_formula_like_zone_as_text() -> None:
    start = datetime(2026, 11, 28, tzinfo=SHANGHAI)
    zone = ZoneDay("=cmd|' /C calc'!A0", "地库", 40, ((start, 3),), (0,) * 24, (0,) * 24)
    report = OccupancyDay(DAY, SHANGHAI, start, datetime(2026, 11, 29, tzinfo=SHANGHAI), (zone,))
    out = io.StringIO()
    assert write_csv(report, out) == 24
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["zone"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    assert rows[0]["capacity"] == "40" and rows[0]["occupied_start"] == "3"


def test_the_month_csv_shows_a_formula_like_fullest_zone_as_text() -> None:
    out = io.StringIO()
    row: list[object] = ["2026-11-28", 5, 4, "0.800", 1, 0, 0, 0, "-东区", 30, 40]
    assert len(row) == len(MONTH_CSV_COLUMNS)
    write_table(out, MONTH_CSV_COLUMNS, [row])
    written = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert written == ["2026-11-28", "5", "4", "0.800", "1", "0", "0", "0", "'-东区", "30", "40"]
