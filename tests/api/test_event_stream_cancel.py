"""The staff event stream cancelled as an event comes ends.

It waited for the next event with ``asyncio.wait_for``, which on Python 3.11 returns an event
that comes as its task is cancelled and drops the cancellation: the stream went on to wait for
the next event or its session check, and a shutdown that cancels it waited with it (the same
flaw as the availability stream's, tests/api/test_availability_stream_cancel.py, which says
why a running uvicorn hides it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from api.routes.events import event_stream
from controllers.events import Event
from services.container import build_services
from tests.api.test_availability_stream_cancel import _connected, _read
from tests.cancel_window import cancel_after_turns

pytestmark = pytest.mark.timeout(120)


def test_an_event_stream_cancelled_as_an_event_comes_ends(
    make_settings: Any, plate_recognizer: Any
) -> None:
    """The cancel comes 0 to 5 loop turns after an event was published to the stream."""
    services = build_services(make_settings(), recognizer=plate_recognizer)

    async def main() -> None:
        await services.start()
        try:
            for turns in range(6):
                request = Request({"type": "http", "method": "GET", "path": "/",
                                   "headers": []}, _connected)
                chunks: list[str] = []
                # The session check far off: the stream waits for an event only.
                reading = asyncio.create_task(_read(event_stream(request, services, 60.0), chunks))
                async with asyncio.timeout(10):
                    while not any(c.startswith("retry:") for c in chunks):
                        await asyncio.sleep(0.01)
                services.bus.publish(Event("alarm", {"id": turns}))
                # It never ends by itself: the cancel always finds it pending.
                assert await cancel_after_turns(reading, turns, "stream")
        finally:
            await services.stop()

    try:
        asyncio.run(main())
    finally:
        services.engine.dispose()
