"""A real parkgate server (uvicorn in a thread) and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.api.test_console import PASSWORD
from tests.conftest import database_params, empty_database, first_start_migrated
from tests.live_server import free_port, running

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# The browser tests check what the pages' scripts and templates show and send; what they read
# and write goes through the API routes that tests/api runs on both databases. So they run on
# SQLite only, unless PARKGATE_TEST_BROWSER_POSTGRES=1 asks for PostgreSQL too: the PostgreSQL
# half took about 5 of the suite's 21 minutes (2026-11-30, fresh-clone .ci/run, 2 workers)
# for no page that behaves differently by database.
BROWSER_POSTGRES = os.environ.get("PARKGATE_TEST_BROWSER_POSTGRES") == "1"


@pytest.fixture(params=database_params(postgres=BROWSER_POSTGRES))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return empty_database(request.param, tmp_path)


# How long any wait for what a page or the server is to do may take: an expect(), an action
# waiting for its element, a page load. Each wait ends as soon as its condition holds, so a
# passing test is as fast as before; the limit is only how long a failing one waits. The
# limits were Playwright's (5 s for expect, 10 s for actions), sized for an idle machine: in
# the loaded minutes of a CI run (the other xdist worker, PostgreSQL, chromium on 2 cores)
# one page load, one stream hello, 240 rows fetched by the booth page took more than that
# (test_console_busy_shift_browser's 240 rows were not all there after 5 s under load).
# What a test asserts about speed it says with its own, explicit limit.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
# A freshly opened console page's first stream connection waits for the page's own first
# requests; the tests that wait for it import this name.
STREAM_TIMEOUT_MS = WAIT_MS


@dataclass
class LiveServer:
    base_url: str
    app: Any

    @property
    def services(self) -> Any:
        return self.app.state.services


@contextmanager
def serving(services: Any) -> Iterator[LiveServer]:
    """``services``' app on a free 127.0.0.1 port, for a test that builds its own services."""
    import uvicorn

    from api.app import create_app

    app = create_app(services)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
        timeout_graceful_shutdown=3,
    )
    try:
        with running(config):
            yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        services.engine.dispose()


@pytest.fixture
def live_server(
    make_settings: Any,
    plate_recognizer: Any,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """The app on a free 127.0.0.1 port with an ``admin`` and a ``guard`` account."""
    from services.container import build_services
    from tests.api.test_console import add_staff

    settings = make_settings()
    first_start_migrated(settings, database_url, tmp_path_factory)
    services = build_services(settings, recognizer=plate_recognizer)
    add_staff(services, "admin", "admin")  # argon2 hash computed once per run
    add_staff(services, "guard", "guard")
    with serving(services) as server:
        yield server


@pytest.fixture
def quick_heartbeat_server(make_settings: Any, plate_recognizer: Any) -> Iterator[LiveServer]:
    """The live server with a 0.5 s event-stream heartbeat (15 s in production), so a page
    notices a silent stream in about 3 s; with an ``admin`` and a ``guard`` account."""
    from services.container import build_services
    from tests.api.test_console import add_staff

    services = build_services(
        make_settings(api={"event_heartbeat_s": 0.5}), recognizer=plate_recognizer
    )
    add_staff(services, "admin", "admin")
    add_staff(services, "guard", "guard")
    with serving(services) as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-zenhei")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def browser_context(
    chromium: Any, base_url: str, timezone_id: str = "Asia/Shanghai", has_touch: bool = False
) -> Any:
    """A fresh browser (cookies, storage) as a booth computer in China has it; ``has_touch``
    makes it a touch screen ((pointer: coarse) holds), the viewport staying as set."""
    context = chromium.new_context(
        base_url=base_url, locale="zh-CN", timezone_id=timezone_id,
        viewport={"width": 1600, "height": 1000}, has_touch=has_touch,
    )
    context.set_default_timeout(WAIT_MS)  # navigation too
    return context


@pytest.fixture
def new_page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """Opens pages in fresh browser contexts (one per user); all closed at the end."""
    contexts: list[Any] = []

    def open_page() -> Any:
        context = browser_context(chromium, live_server.base_url)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def login(page: Any, username: str) -> None:
    page.goto("/console/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url("**/console")


def enter_as(page: Any, server: LiveServer, username: str, role: str) -> None:
    """Start logged in without the password form (argon2 takes ~1 s per login here)."""
    from api.console.config import ConsoleConfig
    from api.console.security import ConsoleSecurity

    services = server.services
    signer = ConsoleSecurity(services.settings.signing_key(), ConsoleConfig()).signer
    page.context.add_cookies([{
        "name": "parkgate_session", "value": signer.issue(username, role),
        "url": server.base_url, "httpOnly": True, "sameSite": "Strict",
    }])
    page.goto("/console")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
