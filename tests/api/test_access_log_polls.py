"""The access log leaves out what machines poll all day, when it was answered: in the
log-volume walk the availability poll, the frame pushes and the console's keep-alive were a
third of the log, and a board polling every 5 s alone is 17,280 lines a day. Refusals and
failures of the same requests, and everyone else's requests, are logged as before. The real
server (uvicorn, api/server.py's settings, its own access records) on a real socket."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import main
from api.access_log import ACCESS_LOGGER, QuietPolls, quiet_polls
from api.app import create_app
from api.server import server_config
from services.container import build_services
from tests.live_server import free_port, running


@pytest.fixture
def access_filter() -> Iterator[None]:
    """The filter taken off again after the test, for the tests after it."""
    access = logging.getLogger(ACCESS_LOGGER)
    yield
    for f in [f for f in access.filters if isinstance(f, QuietPolls)]:
        access.removeFilter(f)


def test_serve_installs_the_filter_once(access_filter: None) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    main.setup_logging("INFO", "json")
    main.setup_logging("INFO", "json")
    quiet_polls()
    assert len([f for f in access.filters if isinstance(f, QuietPolls)]) == 1


def test_polls_answered_are_not_logged_refusals_and_people_are(
    make_settings: Any, plate_recognizer: Any, caplog: pytest.LogCaptureFixture,
    access_filter: None,
) -> None:
    settings = make_settings(camera_api_keys={"cam": "k" * 24})
    services = build_services(settings, recognizer=plate_recognizer)
    port = free_port()
    main.setup_logging("INFO", "text")  # as serve starts: the filter on uvicorn's access log
    logging.getLogger().addHandler(caplog.handler)  # basicConfig(force=True) took it off
    config = server_config(create_app(services), settings, "127.0.0.1", port, log_config=None)
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    try:
        with running(config), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            head = client.head("/healthz")  # a monitor's HEAD: as GET, without the body
            answers = {
                "healthz": client.get("/healthz").status_code,
                "availability": client.get("/api/v1/availability?zone=A").status_code,
                "heartbeat": client.post("/api/v1/gates/main-in/heartbeat",
                                         headers={"X-API-Key": "k" * 24}).status_code,
                "heartbeat, wrong key": client.post("/api/v1/gates/main-in/heartbeat",
                                                    headers={"X-API-Key": "x" * 24}).status_code,
                "metrics, no token": client.get("/metrics").status_code,
                "login page": client.get("/console/login").status_code,
            }
    finally:
        services.engine.dispose()
    assert answers["healthz"] in (200, 503) and answers["availability"] == 200, answers
    assert head.status_code == answers["healthz"] and head.content == b"", answers
    assert int(head.headers["content-length"]) > 0
    assert answers["heartbeat"] == 200 and answers["heartbeat, wrong key"] in (401, 403), answers
    logged = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert not [m for m in logged if "/healthz" in m or "/api/v1/availability" in m], logged
    heartbeats = [m for m in logged if "/heartbeat" in m]
    assert len(heartbeats) == 1 and f" {answers['heartbeat, wrong key']}" in heartbeats[0], logged
    assert [m for m in logged if '"GET /metrics' in m], logged
    assert [m for m in logged if '"GET /console/login' in m], logged


@pytest.mark.parametrize(("method", "path", "status", "logged"), [
    ("GET", "/healthz", 200, False),
    ("GET", "/healthz", 503, True),  # degraded is 503: a supervisor's no is worth a line
    ("GET", "/metrics", 200, False),
    ("GET", "/api/v1/availability?zone=A", 304, False),
    ("GET", "/api/v1/availability/spaces/A-001", 200, False),
    ("GET", "/api/v1/availability/stream", 200, True),  # a client connecting, not a poll
    ("POST", "/api/v1/gates/main-in/frames", 200, False),
    ("POST", "/api/v1/gates/main-in/frames", 413, True),
    ("POST", "/api/v1/gates/main-in/heartbeat", 200, False),
    ("POST", "/console/keepalive", 200, False),
    ("POST", "/console/keepalive", 401, True),
    ("GET", "/console/fragments/review", 200, True),
    ("POST", "/api/v1/auth/token", 200, True),
    ("POST", "/api/v1/auth/token", 401, True),  # each failure, as the login's own line
    ("POST", "/api/v1/auth/token", 429, False),  # paused: the login logs the pause once
    ("POST", "/console/login", 429, False),
    ("POST", "/console/password", 429, False),
    ("GET", "/api/v1/availability", 429, True),  # an app over its rate limit: not a login
    ("GET", "/api/v1/passages", 200, True),
    ("HEAD", "/healthz", 200, False),  # a load balancer's check is HEAD (api/head_requests.py)
    ("HEAD", "/api/v1/availability", 200, False),
    ("HEAD", "/healthz", 503, True),
    ("HEAD", "/api/v1/passages", 401, True),
])
def test_which_requests_are_quiet(method: str, path: str, status: int, logged: bool) -> None:
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", method, path, "1.1", status), None)
    assert QuietPolls().filter(record) is logged
