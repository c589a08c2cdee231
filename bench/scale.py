"""How parkgate's everyday operations scale with the history a community builds up.

    python -m bench.scale [--days 60] [--database-url URL] [--repeat 15]

Seeds a database twice with a 2,000-household community's history (bench/scale_seed.py:
about 13,000 passages a day with their zone samples, alarms and audit entries): once one day
as the baseline, once ``--days`` days (365 for a year, 4.7 million passages). Then, on each,
times what guards, the property office and the gates do, through the real app (FastAPI's
TestClient, logged in as a guard and an admin as the console and API are used): the booth
page, the passage list and history page with their filters and paging, the look-alike plate
search, the review queue, alarms and their history page, the audit log, the day and month
reports, the availability API, a car's frame pushed to a vehicle gate (a scripted recogniser
gives the plate, so what is timed is decide → record → barrier) and the hourly retention job.

Each operation's median and p95 over ``--repeat`` runs (after one untimed run) are printed
for both databases, with the ratio of the medians: 1.0 is an operation that does not notice
the history, 30 one that grows with it. The last stdout line is one JSON object. Progress goes
to stderr.

SQLite by default, in a temporary directory. ``--database-url`` takes an *empty* PostgreSQL
database (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/scale_bench``): the bench
refuses one with tables, and leaves it empty again (its public schema dropped and created).
PostgreSQL is ANALYZEd after seeding, as autovacuum would have done on a live controller;
SQLite is not, as parkgate never runs ANALYZE on it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from sqlalchemy import create_engine, inspect, make_url, text

from bench.scale_seed import GUARDS, PEDESTRIAN_GATES, VEHICLE_GATES, ZONES, Seeded, seed

logger = logging.getLogger("bench.scale")

CAMERA_KEY = "bench-camera-key-0123456789"
PASSWORD = "bench-password-1"
TZ = ZoneInfo("Asia/Shanghai")
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass(frozen=True, slots=True)
class Timing:
    median_ms: float
    p95_ms: float
    runs: int


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    run: Callable[[int], None]  # the repetition's number, so pushes can vary the car
    repeat: int | None = None  # fewer runs for the slow ones


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def community() -> dict[str, Any]:
    """The bench's community: the seeded zones and gates, barriers fast so a pushed car's
    timing is the decision and the write, not a simulated arm's 1.5 s."""
    barrier = {"driver": "sim", "opening_s": 0.01, "closing_s": 0.01, "echo_delay_s": 0.0}
    gates = [
        {"id": g, "kind": "vehicle", "direction": d, "zone": z, "barrier": barrier}
        for g, d, z in VEHICLE_GATES
    ]
    gates += [
        {"id": g, "kind": "pedestrian", "direction": d, "barrier": barrier}
        for g, d in PEDESTRIAN_GATES
    ]
    return {
        "name": "规模测试花园",
        "timezone": "Asia/Shanghai",
        "zones": [{"id": z, "name": n, "capacity": c} for z, n, c in ZONES],
        "gates": gates,
    }


class PlateHolder:
    """What the scripted recogniser reads next: the bench sets it before each push."""

    def __init__(self) -> None:
        self.plate = "沪A00000"

    def script(self, image: np.ndarray, region: Any) -> list[str]:
        return [self.plate]


@contextmanager
def database(days: int, url: str | None, workdir: Path) -> Iterator[str]:
    """A database URL for one scale: a new SQLite file, or the PostgreSQL database emptied."""
    if url is None:
        yield f"sqlite:///{workdir / f'scale-{days}d.db'}"
        return
    _empty_schema(url)
    try:
        yield url
    finally:
        _empty_schema(url)


def _empty_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _refuse_used_database(url: str) -> None:
    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise SystemExit(
            f"{make_url(url).database} has tables ({', '.join(tables[:5])}…): "
            "give the bench an empty database, it drops everything in it"
        )


def _prepare(url: str, days: int) -> Seeded:
    from models.db import create_db_engine, make_session_factory, migrate, transaction
    from services.site import sync_site
    from settings import CommunityConfig

    engine = create_db_engine(url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        with transaction(sessions) as session:
            sync_site(session, CommunityConfig(**community()))
        seeded = seed(sessions, days)
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        return seeded
    finally:
        engine.dispose()


def _frame() -> bytes:
    image = np.full((120, 160, 3), 90, np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def _console_login(client: Any, username: str) -> None:
    page = client.get("/console/login")
    token = _CSRF_FIELD.search(page.text)
    assert token is not None, "the login page has no CSRF field"
    response = client.post(
        "/console/login",
        follow_redirects=False,
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 303, response.text


def _ok(response: Any) -> None:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text[:300]}"
        )


def measure(
    days: int, url: str | None, workdir: Path, repeat: int
) -> tuple[Seeded, dict[str, Timing]]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from models.db import transaction
    from services.container import build_services
    from services.passage_retention import forget_old_passages
    from services.users import create_user
    from settings import load_settings
    from vision.plate_simulated import ScriptedPlateRecognizer

    with database(days, url, workdir) as db_url:
        seeded = _prepare(db_url, days)
        holder = PlateHolder()
        settings = load_settings(
            None,
            data_dir=workdir / f"data-{days}d",
            database_url=db_url,
            camera_api_keys={"bench-cam": CAMERA_KEY},
            community=community(),
            # The bench times the retention job itself, at chosen moments.
            retention={"passage_days": 0},
        )
        services = build_services(
            settings, recognizer=ScriptedPlateRecognizer(script=holder.script)
        )
        with transaction(services.sessions) as session:
            create_user(session, "admin", PASSWORD, "admin")
            for guard_name in GUARDS:
                create_user(session, guard_name, PASSWORD, "guard")
        app = create_app(services)
        try:
            with TestClient(app) as guard:
                # Cookies for the console pages; the API's admin calls use a bearer token,
                # which a client also holding a console cookie must not mix (CSRF).
                admin, api_admin, camera = TestClient(app), TestClient(app), TestClient(app)
                _console_login(guard, GUARDS[0])
                _console_login(admin, "admin")
                token = api_admin.post(
                    "/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}
                ).json()["access_token"]
                api_admin.headers["Authorization"] = f"Bearer {token}"
                _quiet()  # the app's start set its own log levels
                ops = operations(
                    seeded,
                    Clients(guard, admin, api_admin, camera),
                    holder,
                    services,
                    forget_old_passages,
                )
                timings = {op.name: _time(op, repeat) for op in ops}
        finally:
            services.engine.dispose()
    return seeded, timings


def _time(op: Operation, repeat: int) -> Timing:
    runs = op.repeat or repeat
    op.run(0)  # untimed: caches, first plans
    spent = []
    for n in range(1, runs + 1):
        started = time.perf_counter()
        op.run(n)
        spent.append((time.perf_counter() - started) * 1000)
    timing = Timing(statistics.median(spent), _p95(spent), runs)
    logger.info("  %-34s median %8.1f ms  p95 %8.1f ms", op.name, timing.median_ms, timing.p95_ms)
    return timing


@dataclass(frozen=True, slots=True)
class Clients:
    guard: Any  # console session cookie of a guard
    admin: Any  # console session cookie of an admin
    api_admin: Any  # bearer token of an admin, no cookie
    camera: Any  # the camera's API key only


def _quiet() -> None:
    for noisy in (
        "httpx",
        "services",
        "controllers",
        "api",
        "models",
        "alembic",
        "hardware",
        "vision",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def operations(
    seeded: Seeded, clients: Clients, holder: PlateHolder, services: Any, forget: Callable[..., Any]
) -> list[Operation]:
    guard, admin, api_admin = clients.guard, clients.admin, clients.api_admin
    end = seeded.end
    local_end = end.astimezone(TZ)
    yesterday = (local_end - timedelta(days=1)).date()
    week_ago = (local_end - timedelta(days=7)).date()
    plate = seeded.resident_plates[17]
    part = plate[-4:]
    week = {"since": (end - timedelta(days=7)).isoformat(), "until": end.isoformat()}
    frame = _frame()
    cars = seeded.resident_plates[::7]

    def get(client: Any, path: str, **params: Any) -> Callable[[int], None]:
        return lambda _: _ok(client.get(path, params=params))

    def recorded(response: Any) -> None:
        # A passage the database refused is journalled and still answered 200: that would
        # time the outage path, not the decision against the history.
        _ok(response)
        if response.json()["passage_id"] is None:
            raise RuntimeError(f"the pushed passage was journalled, not recorded: {response.text}")

    def push(n: int) -> None:
        # Car n enters at east-in on even runs and leaves at east-out on the next: presence,
        # anti-passback and the zone count are read and written as for a real car.
        holder.plate = cars[n // 2 % len(cars)]
        gate = "east-in" if n % 2 == 0 else "east-out"
        recorded(
            clients.camera.post(
                f"/api/v1/gates/{gate}/frames",
                content=frame,
                headers={"X-API-Key": CAMERA_KEY, "Content-Type": "image/jpeg"},
            )
        )

    def push_unknown(n: int) -> None:
        holder.plate = f"浙K{n * 13 % 100_000:05d}"  # not registered: the fuzzy match runs
        recorded(
            clients.camera.post(
                "/api/v1/gates/west-in/frames",
                content=frame,
                headers={"X-API-Key": CAMERA_KEY, "Content-Type": "image/jpeg"},
            )
        )

    def retention(n: int) -> None:
        # The hourly run: the seeded history is anonymised up to days ago; each run is the
        # next hour's, so it has ~540 passages to do, as on a live controller.
        forget(services.sessions, seeded.retention_days, now=end + timedelta(hours=n + 1))

    return [
        Operation("console live page", get(guard, "/console")),
        Operation("passages newest 50", get(guard, "/api/v1/passages")),
        Operation("passages page 100", get(guard, "/api/v1/passages", offset=4950)),
        Operation("passages exact plate", get(guard, "/api/v1/passages", plate=plate)),
        Operation("passages plate part", get(guard, "/api/v1/passages", plate_contains=part)),
        Operation(
            "passages plate part, week", get(guard, "/api/v1/passages", plate_contains=part, **week)
        ),
        Operation(
            "passages gate+review, week",
            get(guard, "/api/v1/passages", gate="east-in", decision="review", **week),
        ),
        Operation("passages denied, all time", get(guard, "/api/v1/passages", decision="deny")),
        Operation(
            "history page plate, yesterday",
            get(
                guard,
                "/console/history",
                plate=part,
                since=yesterday.isoformat(),
                until=yesterday.isoformat(),
            ),
        ),
        Operation("similar plate, all time", get(guard, "/api/v1/passages", similar_to=plate)),
        Operation(
            "history similar plate, week",
            get(
                guard,
                "/console/history",
                plate=plate,
                similar="1",
                since=week_ago.isoformat(),
                until=local_end.date().isoformat(),
            ),
        ),
        Operation("review queue", get(guard, "/api/v1/review")),
        Operation("review fragment", get(guard, "/console/fragments/review")),
        Operation("alarms open", get(guard, "/api/v1/alarms")),
        Operation("alarms all", get(guard, "/api/v1/alarms", state="all")),
        Operation("alarms fragment", get(guard, "/console/fragments/alarms")),
        Operation("alarm history page, newest 50", get(guard, "/console/alarms")),
        Operation(
            "alarm history kind+gate, week",
            get(
                guard,
                "/console/alarms",
                kind="blocked_plate",
                gate="east-in",
                since=week_ago.isoformat(),
                until=local_end.date().isoformat(),
            ),
        ),
        Operation(
            "alarms API acked kind, all time",
            get(guard, "/api/v1/alarms", state="acknowledged", kind="hardware_fault"),
        ),
        Operation(
            "audit API gate actions, week", get(api_admin, "/api/v1/audit", action="gate", **week)
        ),
        Operation("audit page one guard", get(admin, "/console/admin/audit", user=GUARDS[1])),
        # Every flat, resident and car with its edit form: grows with the community, not the
        # history (2,000 flats here), but an office opens it daily.
        Operation("households page (住户)", get(admin, "/console/admin/households")),
        Operation("daily report API", get(api_admin, f"/api/v1/reports/{yesterday}")),
        Operation(
            "daily report page", get(admin, "/console/admin/reports", day=yesterday.isoformat())
        ),
        Operation(
            "monthly report API",
            get(api_admin, f"/api/v1/reports/month/{local_end:%Y-%m}"),
            repeat=5,
        ),
        Operation("availability API", get(guard, "/api/v1/availability")),
        Operation("frame push, resident in/out", push),
        Operation("frame push, unknown plate", push_unknown),
        Operation("retention hourly run", retention, repeat=8),
    ]


def _table(base: dict[str, Timing], scaled: dict[str, Timing], days: int) -> str:
    lines = [
        f"{'operation':<34}{'1 day p50':>11}{'p95':>9}{f'{days} days p50':>15}{'p95':>9}"
        f"{'ratio':>8}"
    ]
    for name, b in base.items():
        s = scaled[name]
        lines.append(
            f"{name:<34}{b.median_ms:>11.1f}{b.p95_ms:>9.1f}{s.median_ms:>15.1f}"
            f"{s.p95_ms:>9.1f}{s.median_ms / b.median_ms:>8.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--days", type=int, default=60, help="Days of history to seed (365: a year). Default 60."
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="An empty PostgreSQL database to use (default: SQLite files in a "
        "temporary directory).",
    )
    parser.add_argument("--repeat", type=int, default=15, help="Timed runs per operation.")
    args = parser.parse_args(argv)
    if args.days < 2:
        parser.error("--days must be at least 2 (the baseline is 1 day)")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    _quiet()
    url = args.database_url
    if url is not None:
        _refuse_used_database(url)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="parkgate-scale-") as tmp:
        workdir = Path(tmp)
        results = {}
        for days in (1, args.days):
            logger.info("%d day(s) of history on %s", days, "PostgreSQL" if url else "SQLite")
            results[days] = measure(days, url, workdir, args.repeat)
    (base_seed, base), (big_seed, big) = results[1], results[args.days]
    print(
        f"parkgate at scale: {big_seed.passages:,} passages ({args.days} days, "
        f"{big_seed.rows:,} rows seeded in {big_seed.seconds:.0f} s) vs "
        f"{base_seed.passages:,} (1 day); {'PostgreSQL' if url else 'SQLite'}; "
        f"load average {load:.2f} at the start, {os.cpu_count()} CPUs"
    )
    print(_table(base, big, args.days))
    report = {
        "bench": "scale",
        "database": "postgresql" if url else "sqlite",
        "days": args.days,
        "passages": big_seed.passages,
        "baseline_passages": base_seed.passages,
        "rows": big_seed.rows,
        "seed_s": round(big_seed.seconds, 1),
        "load_avg_1m": round(load, 2),
        "cpus": os.cpu_count(),
        "operations": {
            name: {
                "baseline_p50_ms": round(base[name].median_ms, 2),
                "baseline_p95_ms": round(base[name].p95_ms, 2),
                "p50_ms": round(big[name].median_ms, 2),
                "p95_ms": round(big[name].p95_ms, 2),
                "ratio": round(big[name].median_ms / base[name].median_ms, 2),
            }
            for name in base
        },
    }
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
