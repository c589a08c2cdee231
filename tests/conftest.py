"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured), the real plate
recogniser loaded once, and a running app with its lifespan."""

from __future__ import annotations

import csv
import functools
import gc
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from services.container import Services

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# PARKGATE_TEST_SHIFT_DAYS=N runs the suite N days later (tests/later_date.py).
pytest_plugins = ["tests.later_date"]

# The cyclic garbage collector's first generation at 20,000 new objects, not 700. Every test
# builds an app, and with 700 the short-lived objects of its requests were caught alive and
# promoted until full collections of the whole heap (0.3-1.3 s each, more as a worker's heap
# grows) took a sixth of the tests' CPU. Measured on eight API modules, -p no:xdist, both
# databases: full collections 5.2 -> 0.4 s, the process 33.5 -> 27.8 s of CPU (five others:
# 19.8 -> 17.4 s). Garbage is still collected, only in fewer, larger young batches.
gc.set_threshold(20_000, 10, 10)

SHARED_DATA = Path(os.environ.get("PARKGATE_SHARED_DATA", ROOT.parent / "shared" / "data"))
PLATES_DIR = SHARED_DATA / "plates"
POSTGRES_URL = os.environ.get("PARKGATE_TEST_POSTGRES_URL")
# Under pytest-xdist each worker gets a database of its own: the PostgreSQL fixture wipes
# its schema before every test, which would pull it from under the other worker.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Undo what ``main.main()`` run in-process does to logging (``basicConfig(force=True)``:
    the root at INFO, a handler on this test's captured stderr). Left in place, every later
    test of the worker saw INFO records it never asked for (a password test failed on
    httpx's request log only after such a test), and threads of later apps wrote to the
    closed stream ("--- Logging error ---" in the CI log)."""
    root = logging.getLogger()
    level = root.level
    before = set(root.handlers)
    from main import QUIETED_LOGGERS

    quieted = {name: logging.getLogger(name).level for name in QUIETED_LOGGERS}
    yield
    for handler in root.handlers[:]:
        # pytest's own handlers are subclasses; setup_logging's is a plain StreamHandler.
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in quieted.items():
        logging.getLogger(name).setLevel(old)


# The hasher the controller uses, before _quick_password_hashes swaps it out in this process.
from services.passwords import _hasher as PRODUCT_HASHER  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes() -> Iterator[None]:
    """argon2 at its lowest cost in the test process: still argon2id, still salted, still
    refusing a wrong password, but about 1 ms a run instead of 0.2 s. Tests log in and create
    accounts hundreds of times (two runs an account: the hash, then the login's check), which
    cost minutes of the suite. Hashes name their own cost, so a controller run as its own
    process (main.py) checks them alike; it hashes with the product's cost itself."""
    from argon2 import PasswordHasher

    import services.passwords

    services.passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    services.passwords._hasher = PRODUCT_HASHER


def database_params(*, postgres: bool = True) -> list[Any]:
    """SQLite, and PostgreSQL when PARKGATE_TEST_POSTGRES_URL is set (unless ``postgres`` is
    False: a conftest that keeps its tests on SQLite)."""
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL and postgres:
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


@functools.cache
def worker_postgres_url(url: str) -> str:
    """``url`` itself, or under xdist a database named after the worker, created on first use
    next to the configured one (same server and credentials)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not XDIST_WORKER:
        return url
    return postgres_database_beside(url, f"{make_url(url).database}_{XDIST_WORKER}")


def postgres_database_beside(url: str, name: str) -> str:
    """The URL of database ``name`` on ``url``'s server (same credentials), created if it is
    not there yet."""
    base = make_url(url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if exists is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


# A test database's reset and fill do not wait for their commit to reach the disk (about a
# third of their time): a server crash losing them loses nothing a test needs, and each
# test's own transactions still commit as the product's do.
NO_COMMIT_WAIT = "SET LOCAL synchronous_commit = off"


def reset_postgres(url: str) -> None:
    """An empty schema, and no controller's hold on the database left by an earlier test
    (services/database_lock.py): services a test built without stopping them keep their lock
    session until they are collected, and the next test's app would be refused."""
    from services.database_lock import LOCK_KEY

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(NO_COMMIT_WAIT))
        conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = :hi AND objid = :lo AND objsubid = 1 AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ), {"hi": LOCK_KEY >> 32, "lo": LOCK_KEY & 0xFFFFFFFF})
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def empty_database(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'parkgate.db'}"
    assert POSTGRES_URL
    url = worker_postgres_url(POSTGRES_URL)
    reset_postgres(url)
    return url


@pytest.fixture(params=database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, never migrated (tests of migrations and of starting on an empty
    database use it as it is)."""
    return empty_database(request.param, tmp_path)


@functools.cache
def _migrated_sqlite_file(directory: Path) -> Path:
    """A SQLite file migrated to head once per worker, copied for each test that needs a
    migrated database: running every migration took about 0.8 s per test."""
    from models.db import create_db_engine, migrate

    path = directory / "migrated.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@functools.cache
def _migrated_postgres_script(url: str) -> str | None:
    """The SQL that rebuilds a database on ``url``'s server as migrations leave it (pg_dump of
    a database beside it, ``<name>_migrated``, migrated once per worker; about half the time
    of running the migrations), or None without a pg_dump of the server's version (the
    tests then migrate)."""
    from models.db import create_db_engine, migrate

    parsed = make_url(url)
    template_url = postgres_database_beside(url, f"{parsed.database}_migrated")
    reset_postgres(template_url)
    engine = create_db_engine(template_url)
    migrate(engine)
    server = engine.dialect.server_version_info
    engine.dispose()
    command = ["pg_dump", "--no-owner", "--no-privileges", "--inserts",
               "-h", parsed.host or "localhost", "-p", str(parsed.port or 5432),
               "-U", parsed.username or "postgres", make_url(template_url).database or ""]
    env = {**os.environ, "PGPASSWORD": parsed.password or ""}
    try:
        version = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True,
                                 check=True).stdout
        if server is None or f" {server[0]}." not in version:
            return None
        dump = subprocess.run(command, capture_output=True, text=True, check=True,
                              env=env).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # psql's own commands (\restrict of newer pg_dumps) are not SQL.
    return "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))


def fill_migrated(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> bool:
    """Put a freshly migrated schema into the test's still empty database, as ``migrate``
    would leave it, faster; False (nothing done) when the database is not empty."""
    path = make_url(database_url).database
    if database_url.startswith("sqlite"):
        assert path
        if Path(path).exists():
            return False
        template = _migrated_sqlite_file(tmp_path_factory.getbasetemp())
        shutil.copyfile(template, path)
        return True
    script = _migrated_postgres_script(database_url)
    if script is None:
        return False
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            if inspect(conn).get_table_names():
                return False
            conn.exec_driver_sql(NO_COMMIT_WAIT)
            # A connection of its own: the dump sets the session's search_path.
            conn.exec_driver_sql(script)
    finally:
        engine.dispose()
    return True


def first_start_migrated(
    settings: Any, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Before an app's first start on the test's own database, still empty, with no data
    directory yet (which would migrate from nothing): the same schema, copied in, is
    quicker. Any other start (a restart, another database, one through an outage proxy,
    over a data directory with history, on a database a test has begun itself) is left to
    the real migration path."""
    if settings.database_url == database_url and not settings.data_dir.exists():
        fill_migrated(database_url, tmp_path_factory)


@pytest.fixture
def sessions(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A migrated, empty database of either kind and its session factory (no app)."""
    from models.db import create_db_engine, make_session_factory, migrate

    fill_migrated(database_url, tmp_path_factory)
    engine = create_db_engine(database_url)
    migrate(engine)  # a no-op after fill_migrated, as on a restart
    yield make_session_factory(engine)
    engine.dispose()


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    plate: str
    kind: str
    n_plates: int


def labelled_plates(kind: str = "full") -> list[LabelledPhoto]:
    labels = PLATES_DIR / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"real plate photos not found at {PLATES_DIR} (see shared/data/README.md)")
    with labels.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        LabelledPhoto(PLATES_DIR / r["file"], r["plate"], r["kind"], int(r.get("n_plates") or 1))
        for r in rows
        if r["kind"] == kind
    ]


@pytest.fixture(scope="session")
def plate_recognizer() -> Any:
    from vision.plate_config import PlateRecognitionConfig
    from vision.plate_recognizer import create_plate_recognizer

    return create_plate_recognizer(PlateRecognitionConfig())


@pytest.fixture(scope="session")
def readable_photos(plate_recognizer: Any) -> list[LabelledPhoto]:
    """Real single-plate photos the recogniser reads correctly (chosen at run time)."""
    import cv2

    chosen: list[LabelledPhoto] = []
    for photo in labelled_plates("full")[:40]:
        if photo.n_plates != 1:
            continue
        image = cv2.imread(str(photo.path))
        reads = plate_recognizer.read(image)
        if reads and reads[0].text == photo.plate:
            chosen.append(photo)
        if len(chosen) == 3:
            break
    assert len(chosen) == 3, "the recogniser read fewer than 3 of the first 40 real photos"
    return chosen


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Any:
    from settings import load_settings

    def build(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "camera_api_keys": {"cam-main": "test-camera-key"},
            # Off unless a test is about them: a real 8 MB reserve per app would put gigabytes
            # into pytest's kept temp dirs per run, and a CI box short of 200 MB free would
            # see every test's snapshots skipped.
            "storage": {"reserve_mb": 0, "min_free_mb": 0},
        }
        values.update(overrides)
        return load_settings(None, **values)

    return build


@pytest.fixture
def app_factory(
    make_settings: Any,
    plate_recognizer: Any,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """Builds a running app (lifespan entered); closes every one at the end of the test."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from services.container import build_services

    opened: list[tuple[TestClient, Services]] = []

    def build(**overrides: Any) -> TestClient:
        settings = make_settings(**overrides)
        first_start_migrated(settings, database_url, tmp_path_factory)
        services = build_services(settings, recognizer=plate_recognizer)
        client = TestClient(create_app(services))
        client.__enter__()
        opened.append((client, services))
        return client

    yield build
    for client, services in opened:
        client.__exit__(None, None, None)
        services.engine.dispose()


def services_of(client: TestClient) -> Services:
    """The services of the app behind ``client`` (``TestClient.app`` is typed as any ASGI app)."""
    from fastapi import FastAPI

    app = client.app
    assert isinstance(app, FastAPI)
    services: Services = app.state.services
    return services


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def add_user(client: Any, username: str, role: str, password: str = "correct-horse") -> str:
    """Create a user straight in the database and log in through the API; returns a token."""
    from models.db import transaction
    from services.users import create_user

    with transaction(client.app.state.services.sessions) as session:
        create_user(session, username, password, role)
    response = client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def client(app_factory: Any) -> Any:
    return app_factory()


@pytest.fixture
def admin_headers(client: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}


@pytest.fixture
def guard_headers(client: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}


@pytest.fixture
def outage(database_url: str) -> Iterator[Any]:
    """A TCP proxy in front of the test database that a test can cut (tests/db_outage.py)."""
    from tests.db_outage import DatabaseOutage

    cut = DatabaseOutage(database_url)
    yield cut
    cut.close()
