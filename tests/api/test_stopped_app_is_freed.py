"""An app that has stopped, once nothing refers to it, leaves memory with everything it built.

Each app kept alive by a process-wide registry holds its services: the database engine and
its connections, two face engines, the gates' runtime, the event loop it ran on. In the test
suite every test builds apps, and one worker grew to 4-5 GB."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest


def run_and_drop_an_app(
    make_settings: Any,
    plate_recognizer: Any,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, weakref.ref[Any]]:
    """Start an app, use it (/docs and a login form included), stop it and let it go;
    returns weak references to what it was built from."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from services.container import build_services
    from tests.conftest import first_start_migrated

    settings = make_settings()
    first_start_migrated(settings, database_url, tmp_path_factory)
    services = build_services(settings, recognizer=plate_recognizer)
    app = create_app(services)
    with TestClient(app) as client:
        assert client.get("/docs").status_code == 200
        assert client.get("/healthz").status_code == 200
    services.engine.dispose()
    refs: dict[str, weakref.ref[Any]] = {
        "app": weakref.ref(app), "services": weakref.ref(services),
        "engine": weakref.ref(services.engine), "sessions": weakref.ref(services.sessions),
        "parking": weakref.ref(services.parking),
    }
    del app, services, client
    return refs


def test_a_stopped_app_and_its_services_are_freed(
    make_settings: Any,
    plate_recognizer: Any,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    refs = run_and_drop_an_app(make_settings, plate_recognizer, database_url, tmp_path_factory)
    gc.collect()
    assert {name for name, ref in refs.items() if ref() is not None} == set()



def test_the_zone_cache_lets_its_sessions_go_and_its_hooks_outlive_it_harmlessly(
    sessions: Any,
) -> None:
    """The cache's commit hooks sit in SQLAlchemy's class-level registry; they must neither
    keep the cache (nor the sessionmaker it hooks) alive nor fail a commit after it went."""
    from models.db import transaction
    from models.site import Zone
    from services.availability_cache import AvailabilityCache

    with transaction(sessions) as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
    cache = AvailabilityCache(sessions)
    seen = cache.generation
    with transaction(sessions) as session:
        session.get(Zone, "A").occupied = 3  # type: ignore[union-attr]
    assert cache.generation == seen + 1  # the hook still tells it of a zone's commit
    gone = weakref.ref(cache)
    del cache
    gc.collect()
    assert gone() is None
    with transaction(sessions) as session:  # its hooks are still registered, and do nothing
        session.get(Zone, "A").occupied = 4  # type: ignore[union-attr]

