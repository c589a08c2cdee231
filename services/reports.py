"""History reports from the database: ``python main.py report occupancy --date 2026-11-28``.

The occupancy report draws each zone's count over one local day (from ``OccupancySample``,
one row per change) above the entries and exits per hour (from ``Passage``), and writes the
same numbers per hour and zone as CSV for a spreadsheet. An entry or exit is listed under the
zone it moved (:func:`listed_zone`), so that a zone's entries less its exits are what its line
rose or fell by. Days are local days (by default in
the community's time zone, community.timezone): residents and property managers think in local
hours, the database in UTC.

matplotlib is imported only when a report is drawn, so registering the command costs nothing.
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from controllers.ports import ADMISSION_UNDONE
from errors import ConfigError, InvalidInputError
from models.events import Passage
from models.site import OccupancySample, Zone
from service_span import day_in_service_span
from services.spreadsheet_cells import inert_cell
from services.zone_spans import zone_spans
from wall_clock import utcnow

logger = logging.getLogger(__name__)

DEFAULT_TZ = "Asia/Shanghai"
# Review resolutions (services/review.py STORED) that let the car in like an "allow".
ADMITTED_RESOLUTIONS = ("allowed_once", "visitor_pass")
CSV_COLUMNS = (
    "date", "hour", "zone", "capacity", "occupied_start", "occupied_end", "occupied_max",
    "entries", "exits",
)
# Latin glyphs from DejaVu, Chinese zone names from the first CJK font installed.
CJK_FONTS = ("WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei")


def listed_zone() -> ColumnElement[str | None]:
    """The zone a passage's entry or exit is listed under: the zone its admission moved
    (models/access_store.py apply_admission), which for an exit is the zone that counted the
    car in, whichever gate it left by (the other lot's exit, a main exit with no zone).
    A passage that moved no zone (not counted again, a count clamped at 0 or full, a car
    never recorded inside that was not taken off) is listed under its gate's zone, as it
    always was, or under none at a gate with none. A passage stored before cbc1b84 recorded
    its gate's zone as the one it moved, which it was then: listed there, as before."""
    moved = Passage.admission["zone_moved"].as_integer()
    return func.coalesce(
        case((moved != 0, Passage.admission["zone_id"].as_string())), Passage.zone_id
    )


def admission_undone(flags: list[str] | None) -> bool:
    """A passage let through whose barrier then failed: the car did not come in or go out
    (controllers/runtime.py took its admission back), so no report counts it."""
    return ADMISSION_UNDONE in (flags or ())


@dataclass(frozen=True, slots=True)
class ZoneDay:
    """One zone's count over the day as a step function: (time, count) from ``start``."""

    zone: str
    name: str
    capacity: int
    steps: tuple[tuple[datetime, int], ...]  # first step is at the start of the day
    entries: tuple[int, ...]  # per local hour, 24 values
    exits: tuple[int, ...]

    def hourly(self, start: datetime) -> list[tuple[int, int, int]]:
        """(count at the start, at the end, max) of each hour."""
        out = []
        for hour in range(24):
            lo, hi = start + timedelta(hours=hour), start + timedelta(hours=hour + 1)
            at_start = self._at(lo)
            inside = [c for t, c in self.steps if lo <= t < hi]
            out.append((at_start, self._at(hi - timedelta(microseconds=1)),
                        max([at_start, *inside])))
        return out

    def _at(self, when: datetime) -> int:
        value = self.steps[0][1]
        for t, c in self.steps:
            if t > when:
                break
            value = c
        return value


@dataclass(frozen=True, slots=True)
class OccupancyDay:
    day: date
    tz: tzinfo
    start: datetime  # local midnight, aware
    end: datetime  # the next local midnight, or now for today
    zones: tuple[ZoneDay, ...]


def local_day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    return start, datetime(following.year, following.month, following.day, tzinfo=tz)


def occupancy_day(
    session: Session, day: date, tz: tzinfo, *, now: datetime | None = None
) -> OccupancyDay:
    """The day's history for every zone (queries only; nothing is written)."""
    start, end = local_day_bounds(day, tz)
    now = now or utcnow()
    if start > now:
        raise InvalidInputError(f"{day} has not started yet in {tz}")
    cut = min(end, now)
    # Only the zones configured during the day: not one added later, nor one retired before.
    spans = zone_spans(session)
    zones = [
        zone for zone in session.scalars(select(Zone).order_by(Zone.id))
        if spans.listed(zone.id, start, end)
    ]
    admitted = or_(Passage.decision == "allow", Passage.resolution.in_(ADMITTED_RESOLUTIONS))
    zone_of = listed_zone()
    passages = [
        (at, zone_id, direction)
        for at, zone_id, direction, flags in session.execute(
            select(Passage.at, zone_of, Passage.direction, Passage.flags)
            .where(Passage.at >= start, Passage.at < end, zone_of.is_not(None), admitted)
        )
        if not admission_undone(flags)
    ]
    out = []
    for zone in zones:
        before = session.scalars(
            select(OccupancySample)
            .where(OccupancySample.zone_id == zone.id, OccupancySample.at < start)
            .order_by(OccupancySample.at.desc(), OccupancySample.id.desc())
            .limit(1)
        ).first()
        # The three values only, not whole rows: a busy zone changes thousands of times a
        # day, and building an ORM object per sample was most of the month report's time
        # (29 days of them, bench/scale.py).
        samples = session.execute(
            select(OccupancySample.at, OccupancySample.occupied, OccupancySample.capacity)
            .where(
                OccupancySample.zone_id == zone.id,
                OccupancySample.at >= start,
                OccupancySample.at < end,
            )
            .order_by(OccupancySample.at, OccupancySample.id)
        ).all()
        capacity = max([zone.capacity, *(s.capacity for s in samples)])
        steps = [(start, before.occupied if before is not None else 0)]
        steps.extend((s.at.astimezone(tz), s.occupied) for s in samples)
        entries, exits = [0] * 24, [0] * 24
        for at, zone_id, direction in passages:
            if zone_id != zone.id:
                continue
            hour = int((at.astimezone(tz) - start).total_seconds() // 3600)
            (entries if direction == "in" else exits)[min(max(hour, 0), 23)] += 1
        out.append(
            ZoneDay(zone.id, zone.name, capacity, tuple(steps), tuple(entries), tuple(exits))
        )
    return OccupancyDay(day, tz, start, cut.astimezone(tz), tuple(out))


def csv_rows(report: OccupancyDay) -> Iterator[list[object]]:
    """One row per zone and local hour, in ``CSV_COLUMNS`` order; today's stop at the hour
    under way (the chart's line stops at now too): an hour that has not begun has no counts,
    and repeating the current ones there read as cars that were parked."""
    for zone in report.zones:
        for hour, (first, last, peak) in enumerate(zone.hourly(report.start)):
            if report.start + timedelta(hours=hour) >= report.end:
                break
            yield [
                report.day.isoformat(), f"{hour:02d}:00", zone.zone, zone.capacity,
                first, last, peak, zone.entries[hour], zone.exits[hour],
            ]


def write_table(out: TextIO, columns: Iterable[str], rows: Iterable[list[object]]) -> int:
    """A header and rows as CSV into a text stream; returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for row in rows:
        # Zone ids come from the config and reach the office's spreadsheet as they are.
        writer.writerow([inert_cell(cell) for cell in row])
        count += 1
    return count


def write_csv(report: OccupancyDay, out: Path | TextIO) -> int:
    """The report as CSV into a file or a text stream; returns the number of rows."""
    if isinstance(out, Path):
        # With a BOM, as the console's download (api/console/reports.py): Excel on a Chinese
        # Windows reads a file without one as GBK, and a zone id such as 东区 turns to 涓滃尯.
        with out.open("w", encoding="utf-8-sig", newline="") as f:
            return write_csv(report, f)
    return write_table(out, CSV_COLUMNS, csv_rows(report))


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    for family in CJK_FONTS:
        try:
            font_manager.findfont(family, fallback_to_default=False)
        except ValueError:
            continue
        return family
    return None


@dataclass(frozen=True, slots=True)
class ChartLabels:
    """The chart's words: English for the command line, the console's language on its page."""

    capacity: str = "capacity {n}"
    parked: str = "cars parked"
    entries: str = "entries ({n})"
    exits: str = "exits ({n})"
    per_hour: str = "vehicles per hour"
    local_time: str = "local time ({tz})"


ENGLISH_LABELS = ChartLabels()
CHINESE_LABELS = ChartLabels(
    capacity="车位 {n}", parked="在场车辆", entries="入场（{n}）", exits="出场（{n}）",
    per_hour="每小时车次", local_time="当地时间（{tz}）",
)


def occupancy_figure(
    report: OccupancyDay,
    *,
    title: str,
    labels: ChartLabels = ENGLISH_LABELS,
    cjk: str | None = None,
) -> Any:
    """The chart as a pyplot figure, for :func:`plot_png` (which saves and closes it)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    colours = matplotlib.color_sequences["tab10"]  # the tab10 colour map's ten colours
    end_h = (report.end - report.start).total_seconds() / 3600
    for i, zone in enumerate(report.zones):
        colour = colours[i % len(colours)]
        xs = [(t - report.start).total_seconds() / 3600 for t, _ in zone.steps]
        ys = [c for _, c in zone.steps]
        xs.append(end_h)
        ys.append(ys[-1])
        label = f"{zone.zone} · {zone.name}" if (cjk and zone.name) else zone.zone
        top.step(xs, ys, where="post", color=colour, linewidth=2,
                 label=f"{label} ({labels.capacity.format(n=zone.capacity)})")
        top.axhline(zone.capacity, color=colour, linestyle="--", linewidth=1, alpha=0.6)
    top.set_ylabel(labels.parked)
    # Headroom above the largest capacity keeps the legend off the lines.
    top.set_ylim(bottom=0, top=max([1, *(z.capacity for z in report.zones)]) * 1.25)
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", fontsize=9)
    top.set_title(title)

    entries = [sum(z.entries[h] for z in report.zones) for h in range(24)]
    exits = [sum(z.exits[h] for z in report.zones) for h in range(24)]
    centres = [h + 0.5 for h in range(24)]
    bottom.bar([c - 0.2 for c in centres], entries, width=0.4, color="#2a7ab9",
               label=labels.entries.format(n=sum(entries)))
    bottom.bar([c + 0.2 for c in centres], exits, width=0.4, color="#e08a2c",
               label=labels.exits.format(n=sum(exits)))
    bottom.set_ylabel(labels.per_hour)
    bottom.set_ylim(0, max([1, *entries, *exits]) * 1.2)
    # Cars come whole: without this a busy hour's axis reads 2.5, 7.5, 12.5 vehicles.
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.grid(True, axis="y", alpha=0.3)
    bottom.legend(loc="upper left", fontsize=9)
    bottom.set_xlim(0, 24)
    bottom.set_xticks(range(0, 25, 2))
    bottom.set_xticklabels([f"{h:02d}:00" for h in range(0, 25, 2)])
    bottom.set_xlabel(labels.local_time.format(tz=report.tz))
    return fig


def plot_png(
    report: OccupancyDay,
    path: Path | BinaryIO,
    *,
    title: str,
    labels: ChartLabels = ENGLISH_LABELS,
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    # CJK fonts ship one weight; matplotlib warns about it on every text, which is just noise.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    cjk = _cjk_font()
    families = ["DejaVu Sans", *([cjk] if cjk else [])]
    # font.family as a list of named families gives per-glyph fallback; "sans-serif" does not.
    with plt.rc_context({"font.family": families}):
        fig = occupancy_figure(report, title=title, labels=labels, cjk=cjk)
        try:
            fig.tight_layout()
            fig.savefig(path, dpi=110, format="png")
        finally:
            plt.close(fig)


def occupancy_report(
    session: Session,
    day: date,
    out_dir: Path,
    *,
    tz_name: str = DEFAULT_TZ,
    community: str = "",
    now: datetime | None = None,
) -> tuple[Path, Path]:
    """Write ``occupancy-<day>.png`` and ``.csv`` into ``out_dir``; returns both paths."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidInputError(f"unknown time zone {tz_name!r}") from err
    report = occupancy_day(session, day, tz, now=now)
    out_dir.mkdir(parents=True, exist_ok=True)
    png, csv_path = out_dir / f"occupancy-{day}.png", out_dir / f"occupancy-{day}.csv"
    rows = write_csv(report, csv_path)
    title = f"{community} · occupancy on {day}" if community else f"Occupancy on {day}"
    plot_png(report, png, title=title)
    logger.info("occupancy report for %s: %s (%d rows), %s", day, csv_path, rows, png)
    return png, csv_path


def _parse_date(value: str) -> date:
    # The API's bounds (service_span.py): a day at the calendar's edge (9999-12-31,
    # 0001-01-01) overflowed when its next midnight or its UTC bounds were computed.
    try:
        day = date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}") from err
    try:
        return day_in_service_span(day)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def cmd_report_occupancy(args: argparse.Namespace) -> int:
    from models.db import make_session_factory
    from services.clock_watch import load_clock_floor
    from services.database_start import data_dir_history, migrate_or_refuse, open_database
    from settings import load_settings

    settings = load_settings(args.config)
    load_clock_floor(settings.data_dir)  # "today" by the controller's clock (wall_clock.py)
    # Never an empty database created in place of a missing one (database_start.py).
    engine = open_database(settings, data_dir_history(settings.data_dir))
    try:
        migrate_or_refuse(engine)  # a damaged database: one line, not a traceback
        with make_session_factory(engine)() as session:
            occupancy_report(
                session, args.date, Path(args.out),
                tz_name=args.tz or settings.community.timezone,
                community=settings.community.name,
            )
    except OSError as err:
        raise ConfigError(f"cannot write the report to {args.out}: {err}") from err
    finally:
        engine.dispose()
    return 0


def register(sub: Any) -> None:
    """Adds ``report occupancy`` to main.py's parser (see main.EXTRA_COMMANDS)."""
    report = sub.add_parser("report", help="Reports from the history (PNG + CSV).")
    kinds = report.add_subparsers(dest="report", required=True)
    occupancy = kinds.add_parser(
        "occupancy", help="Each zone's count over one day and entries/exits per hour."
    )
    occupancy.add_argument("--date", required=True, type=_parse_date, help="Local day, YYYY-MM-DD.")
    occupancy.add_argument("--out", default=".", help="Directory for the PNG and CSV.")
    occupancy.add_argument(
        "--tz", default=None,
        help="Time zone of the day (default: community.timezone, itself Asia/Shanghai).",
    )
    occupancy.set_defaults(func=cmd_report_occupancy)

