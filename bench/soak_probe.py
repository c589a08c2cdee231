"""What ``bench.soak`` samples of a running controller: the process, its event loop (from
/metrics) and what it keeps on disk.

Read from outside, as an operator's monitoring would: /proc/<pid> for memory, open files and
threads; /metrics for the asyncio tasks, loop stalls and the city link's queue; the data
directory for the database, its WAL, the journals, the snapshots and the log; the database's
own size on PostgreSQL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

# The /metrics gauges a soak watches (name in the exposition → field of Sample).
METRICS = {
    "parkgate_event_loop_tasks": "loop_tasks",
    "parkgate_event_loop_stalls_total": "loop_stalls",
    "parkgate_city_mqtt_connected": "city_connected",
    "parkgate_city_mqtt_queued": "city_queued",
    "parkgate_city_mqtt_dropped": "city_dropped",
    "parkgate_event_bus_dropped": "bus_dropped",
    "parkgate_journal_waiting": "journal_waiting",
}


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    rss_mb: float
    open_files: int
    sockets: int
    threads: int


@dataclass(frozen=True, slots=True)
class DiskFigures:
    database_mb: float  # the SQLite file, or pg_database_size on PostgreSQL
    wal_mb: float  # SQLite's -wal file (0 on PostgreSQL)
    journal_files: int  # <data_dir>/journal/*
    journal_kb: float
    snapshot_files: int
    snapshots_mb: float
    log_kb: float  # the controller's stderr, as journald would receive it


def process_figures(pid: int) -> ProcessFigures:
    """RSS, open file descriptors (and how many are sockets) and threads of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    fds = Path(f"/proc/{pid}/fd")
    sockets = 0
    names = os.listdir(fds)
    for name in names:
        try:
            sockets += os.readlink(fds / name).startswith("socket:")
        except OSError:
            continue  # closed between the listing and the look
    return ProcessFigures(
        rss_mb=int(fields["VmRSS"].split()[0]) / 1024,
        open_files=len(names),
        sockets=sockets,
        threads=int(fields["Threads"]),
    )


def scrape_metrics(client: httpx.Client, token: str) -> dict[str, float]:
    """The watched gauges of one /metrics scrape (those the controller reports)."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    found: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        if name in METRICS:
            found[METRICS[name]] = float(value)
    return found


def tree_size(root: Path) -> tuple[int, int]:
    """(files, bytes) under ``root`` (0, 0 when it is not there)."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                size += (Path(dirpath) / name).stat().st_size
            except OSError:
                continue  # deleted by retention while we walked
            files += 1
    return files, size


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def postgres_size_mb(database_url: str) -> float:
    """pg_database_size of the soak's database, through a connection of its own."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_database_size(current_database())"))
            return int(size.scalar_one()) / 2**20
    finally:
        engine.dispose()


def disk_figures(data_dir: Path, database_url: str, log_file: Path) -> DiskFigures:
    if database_url.startswith("sqlite"):
        database = data_dir / "parkgate.db"
        database_mb = file_size(database) / 2**20
        wal_mb = file_size(database.with_name(database.name + "-wal")) / 2**20
    else:
        database_mb, wal_mb = postgres_size_mb(database_url), 0.0
    journal_files, journal_bytes = tree_size(data_dir / "journal")
    snapshot_files, snapshot_bytes = tree_size(data_dir / "snapshots")
    return DiskFigures(
        database_mb=database_mb,
        wal_mb=wal_mb,
        journal_files=journal_files,
        journal_kb=journal_bytes / 1024,
        snapshot_files=snapshot_files,
        snapshots_mb=snapshot_bytes / 2**20,
        log_kb=file_size(log_file) / 1024,
    )
