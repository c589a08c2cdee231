"""The public availability API as a driver app uses it, over real HTTP: the live stream, the
building a driver names, and a browser app on another origin."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import event

from tests.api.test_parking import _events
from tests.live_server import free_port, running


@pytest.fixture
def live(make_settings: Any, plate_recognizer: Any) -> Iterator[tuple[str, Any]]:
    """The demo community under uvicorn, its simulated car park off, and a heartbeat long
    enough that only a change can wake a stream within a test's wait."""
    from api.app import create_app
    from services.container import build_services

    services = build_services(
        make_settings(parking={"stream_heartbeat_s": 60, "sensors": {"simulate": False}}),
        recognizer=plate_recognizer,
    )
    port = free_port()
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                            log_config=None, lifespan="on")
    with running(config):
        yield f"http://127.0.0.1:{port}", services
    services.engine.dispose()


def _admin_token(http: httpx.Client, services: Any) -> str:
    from models.db import transaction
    from services.users import create_user

    with transaction(services.sessions) as session:
        create_user(session, "admin", "correct-horse", "admin")
    response = http.post("/api/v1/auth/token",
                         data={"username": "admin", "password": "correct-horse"})
    return str(response.json()["access_token"])


def _zone_b_occupied(data: str) -> int:
    return int(next(z for z in json.loads(data)["zones"] if z["id"] == "B")["occupied"])


def test_a_zone_correction_reaches_the_stream_although_it_commits_after_announcing_it(
    live: tuple[str, Any],
) -> None:
    # The correction announced the new count before its transaction committed: a stream
    # that looked at once read the old count and then waited for the next change or
    # heartbeat (15 s by default), half the time in a live demo. A slow commit makes the
    # race certain here.
    base, services = live

    def slow_commit(_session: Any) -> None:
        time.sleep(0.5)

    with httpx.Client(base_url=base, timeout=10) as http:
        headers = {"Authorization": f"Bearer {_admin_token(http, services)}"}
        with http.stream("GET", "/api/v1/availability/stream",
                         timeout=httpx.Timeout(10, read=5)) as stream:
            events = _events(stream.iter_lines())
            kind, data = next(events)
            assert kind == "availability" and _zone_b_occupied(data) == 0
            assert next(events)[0] == "spaces"
            event.listen(services.sessions, "before_commit", slow_commit)
            try:
                fixed = http.put("/api/v1/zones/B/occupancy",
                                 json={"occupied": 7, "reason": "night count"}, headers=headers)
            finally:
                event.remove(services.sessions, "before_commit", slow_commit)
            assert fixed.status_code == 200, fixed.text
            seen = []
            for kind, data in events:  # a read time-out (5 s) fails the test
                if kind == "availability":
                    seen.append(_zone_b_occupied(data))
                    if seen[-1] == 7:
                        break
            assert seen[-1] == 7, seen
