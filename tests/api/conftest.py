"""Fixtures shared by the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from sqlalchemy import make_url

from bench.liveness import read_video
from tests.conftest import (
    POSTGRES_URL,
    SHARED_DATA,
    database_params,
    empty_database,
    first_start_migrated,
    postgres_database_beside,
    reset_postgres,
    worker_postgres_url,
)

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    """The real face clip (shared/data/face_video): Lin-Manuel Miranda moving his head."""
    video = SHARED_DATA / "face_video" / "short_hamilton_clip.mp4"
    if not video.is_file():
        pytest.skip(f"face video not found at {video} (see shared/data/README.md)")
    return read_video(video)


def shared_database(kind: str, tmp_path: Any) -> str:
    """An empty database for an app that outlives one test. On PostgreSQL it is a database of
    its own beside the worker's (``<worker's>_shared``): every function-scoped test wipes the
    worker's database and ends the controller's lock on it (tests/conftest.py
    ``reset_postgres``), which would pull the shared app's schema from under it."""
    if kind == "sqlite":
        return empty_database("sqlite", tmp_path)
    assert POSTGRES_URL
    worker_url = worker_postgres_url(POSTGRES_URL)
    url = postgres_database_beside(worker_url, f"{make_url(worker_url).database}_shared")
    reset_postgres(url)
    return url


@contextmanager
def running_app(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    recognizer: Any,
    **overrides: Any,
) -> Iterator[TestClient]:
    """A running app (lifespan entered) on a fresh database of ``kind`` and a temp directory
    of its own, as tests/conftest.py ``app_factory`` builds one per test, for a group of
    tests that do not read what the others write (see ``shared_client``); stopped and its
    engine closed on leaving."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from services.container import build_services
    from settings import load_settings

    tmp_path = tmp_path_factory.mktemp(f"shared-app-{kind}")
    database_url = shared_database(kind, tmp_path)
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "camera_api_keys": {"cam-main": "test-camera-key"},
        "storage": {"reserve_mb": 0, "min_free_mb": 0},  # as make_settings: no 8 MB reserve
    }
    values.update(overrides)
    settings = load_settings(None, **values)
    first_start_migrated(settings, database_url, tmp_path_factory)
    services = build_services(settings, recognizer=recognizer)
    client = TestClient(create_app(services))
    with client:
        yield client
    services.engine.dispose()


@pytest.fixture(scope="module", params=database_params())
def shared_client(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    plate_recognizer: Any,
) -> Iterator[TestClient]:
    """One app with the default settings for a group of tests of a module, on SQLite and
    (when configured) PostgreSQL; each test gets it with no cookies (``fresh_shared_client``).
    Only for tests whose requests are refused or read, or whose writes no other test of the
    module reads (each its own plate or username): any other test builds its own app
    (``client``), or it would see what an earlier one left."""
    with running_app(request.param, tmp_path_factory, plate_recognizer) as client:
        yield client


@pytest.fixture
def fresh_shared_client(shared_client: TestClient) -> Iterator[TestClient]:
    """``shared_client`` as a fresh browser: no cookie a previous test logged in with."""
    shared_client.cookies.clear()
    yield shared_client
    shared_client.cookies.clear()
