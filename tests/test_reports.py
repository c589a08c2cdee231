"""The occupancy report: the right hourly rows from a known history, and a readable PNG."""

from __future__ import annotations

import codecs
import csv
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import main
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.events import Passage
from models.site import OccupancySample
from services.reports import CSV_COLUMNS, occupancy_day
from services.site import sync_site

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 28)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def passage(at: datetime, direction: str, decision: str = "allow", **extra: Any) -> Passage:
    gate = "main-in" if direction == "in" else "main-out"
    return Passage(at=at, gate_id=gate, direction=direction, zone_id="A", plate="粤B12345",
                   decision=decision, reason="resident", **extra)


@pytest.fixture
def history(make_settings: Any) -> Any:
    settings = make_settings()
    engine = create_db_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        sync_site(session, settings.community)
        session.add_all([
            OccupancySample(at=local(27, 23), zone_id="A", occupied=10, capacity=40),
            OccupancySample(at=local(28, 7, 10), zone_id="A", occupied=9, capacity=40),
            OccupancySample(at=local(28, 7, 40), zone_id="A", occupied=8, capacity=40),
            OccupancySample(at=local(28, 18, 30), zone_id="A", occupied=12, capacity=40),
            OccupancySample(at=local(28, 18, 45), zone_id="A", occupied=13, capacity=40),
            OccupancySample(at=local(29, 0, 30), zone_id="A", occupied=14, capacity=40),
            passage(local(27, 22, 0), "in"),  # the day before
            passage(local(28, 7, 10), "out"),
            passage(local(28, 7, 40), "out"),
            passage(local(28, 12, 0), "in", decision="deny"),  # never came in
            passage(local(28, 12, 5), "in", decision="review", resolution="allowed_once"),
            passage(local(28, 18, 30), "in"),
            passage(local(28, 18, 45), "in"),
            passage(local(29, 0, 30), "in"),  # the day after
        ])
    yield settings, sessions
    engine.dispose()


def rows_by_key(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return {(r["zone"], r["hour"]): r for r in reader}


def test_report_command_writes_png_and_csv_with_the_right_rows(
    history: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = history
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.setenv("PARKGATE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PARKGATE_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "reports"

    assert main.main(["report", "occupancy", "--date", "2026-11-28", "--out", str(out)]) == 0

    written = out / "occupancy-2026-11-28.csv"
    # Excel on a Chinese Windows reads a CSV without a BOM as GBK (zone ids can be Chinese).
    assert written.read_bytes().startswith(codecs.BOM_UTF8)
    rows = rows_by_key(written)
    assert len(rows) == 48  # 24 hours x zones A and B
    as_ints = {k: {c: int(v[c]) for c in CSV_COLUMNS[3:]} for k, v in rows.items()}
    common = {"capacity": 40}
    assert as_ints["A", "00:00"] == {**common, "occupied_start": 10, "occupied_end": 10,
                                     "occupied_max": 10, "entries": 0, "exits": 0}
    assert as_ints["A", "07:00"] == {**common, "occupied_start": 10, "occupied_end": 8,
                                     "occupied_max": 10, "entries": 0, "exits": 2}
    assert as_ints["A", "12:00"]["entries"] == 1  # a reviewed car let in counts, a denied not
    assert as_ints["A", "18:00"] == {**common, "occupied_start": 8, "occupied_end": 13,
                                     "occupied_max": 13, "entries": 2, "exits": 0}
    assert as_ints["A", "23:00"]["occupied_end"] == 13  # the 00:30 sample is the next day
    assert sum(r["entries"] for r in as_ints.values()) == 3
    assert all(v["occupied_max"] == 0 and v["capacity"] == 20
               for (zone, _), v in as_ints.items() if zone == "B")
    assert rows["A", "07:00"]["date"] == "2026-11-28"

    import matplotlib.image

    image = matplotlib.image.imread(out / "occupancy-2026-11-28.png")
    assert image.shape[0] > 600 and image.shape[1] > 900
    assert image[..., :3].std() > 0.05  # something was drawn


def test_a_day_not_started_yet_and_bad_dates_are_refused(
    history: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings, sessions = history
    with sessions() as session, pytest.raises(Exception, match="has not started"):
        occupancy_day(session, date(2099, 1, 1), SHANGHAI)
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.setenv("PARKGATE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PARKGATE_DATA_DIR", str(settings.data_dir))
    assert main.main(["report", "occupancy", "--date", "2099-01-01", "--out", str(tmp_path)]) == 2
    assert main.main(["report", "occupancy", "--date", "2026-11-28", "--tz", "Mars/Base",
                      "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main.main(["report", "occupancy", "--date", "28/11/2026"])


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
def test_a_day_outside_2000_to_2100_is_a_usage_error_not_a_traceback(
    history: Any, day: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The API refuses these days (api/params.py); the command computed the next midnight of
    9999-12-31 or the UTC bounds of 0001-01-01 and died with an OverflowError."""
    settings, _ = history
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.setenv("PARKGATE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PARKGATE_DATA_DIR", str(settings.data_dir))
    with pytest.raises(SystemExit) as exit_:
        main.main(["report", "occupancy", "--date", day, "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"{day} is outside 2000-2100" in capsys.readouterr().err


def test_today_stops_at_now(history: Any) -> None:
    _, sessions = history
    with sessions() as session:
        day = occupancy_day(session, DAY, SHANGHAI, now=local(28, 12))
    assert day.end == local(28, 12).astimezone(SHANGHAI)
    zone_a = next(z for z in day.zones if z.zone == "A")
    assert [c for _, c in zone_a.steps] == [10, 9, 8, 12, 13]  # samples are kept whole


def test_todays_csv_ends_with_the_hour_under_way(history: Any) -> None:
    """Exported at 12:30, today's table has 00:00 to 12:00: the afternoon has not happened,
    and rows repeating the noon count there would read as cars parked all afternoon."""
    from services.reports import csv_rows

    _, sessions = history
    with sessions() as session:
        day = occupancy_day(session, DAY, SHANGHAI, now=local(28, 12, 30))
    rows = list(csv_rows(day))
    zone_a = [row for row in rows if row[2] == "A"]
    assert [row[1] for row in zone_a] == [f"{h:02d}:00" for h in range(13)]
    assert len(rows) == 26  # zones A and B
    with sessions() as session:
        past = occupancy_day(session, DAY, SHANGHAI, now=local(29, 9))
    assert len(list(csv_rows(past))) == 48  # a day that is over keeps all 24 hours


def test_the_hourly_bars_count_whole_vehicles(history: Any) -> None:
    """Two cars in the busiest hour: the axis says 0, 1, 2, not 0.5 or 1.5 vehicles."""
    import matplotlib.pyplot as plt

    from services.reports import occupancy_figure

    _, sessions = history
    with sessions() as session:
        day = occupancy_day(session, DAY, SHANGHAI, now=local(29, 9))
    fig = occupancy_figure(day, title="t")
    try:
        per_hour = fig.axes[1]
        low, high = per_hour.get_ylim()
        shown = [t for t in per_hour.get_yticks() if low <= t <= high]
        assert shown == [0, 1, 2]
    finally:
        plt.close(fig)


def test_a_damaged_database_file_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report migrated on its own and let the migration's DatabaseError out: a
    traceback with exit 1, where create-user and import-residents say it in a line."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "parkgate.db").write_bytes(b"SQLite format 3\x00 and then not a database")
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.delenv("PARKGATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("PARKGATE_DATA_DIR", str(data))
    code = main.main(["report", "occupancy", "--date", "2026-11-28", "--out", str(tmp_path)])
    assert code == 2
    assert "cannot be brought up to date: file is not a database" in capsys.readouterr().err
