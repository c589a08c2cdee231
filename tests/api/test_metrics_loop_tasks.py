"""/metrics counts the asyncio tasks alive on the event loop: a controller that leaves a task
behind per stream client or broker reconnect shows it as a gauge that climbs (bench.soak
samples it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.test_metrics import TOKEN, _sample, _scrape


@pytest.fixture
def scraped(app_factory: Any) -> Any:
    return app_factory(api={"metrics_token": TOKEN})


def test_the_scrape_counts_the_tasks_on_the_loop(scraped: Any) -> None:
    before = _sample(_scrape(scraped), "parkgate_event_loop_tasks")
    assert before >= 1  # the scrape's own request at least, and the background loops
    stop = asyncio.Event()

    async def start_waiters() -> list[asyncio.Task[bool]]:
        return [asyncio.create_task(stop.wait()) for _ in range(5)]

    waiters = scraped.portal.call(start_waiters)
    assert _sample(_scrape(scraped), "parkgate_event_loop_tasks") == before + 5

    async def finish() -> None:
        stop.set()
        await asyncio.gather(*waiters)

    scraped.portal.call(finish)
    assert _sample(_scrape(scraped), "parkgate_event_loop_tasks") == before
