"""An availability stream cancelled as a change comes ends.

It waited for the next change with ``asyncio.wait_for``, which on Python 3.11 returns a
change that comes as its task is cancelled and drops the cancellation: the stream went on
and waited for the next change or heartbeat, and a server's shutdown that cancels it waited
with it. Read from the code, not seen through the server: under uvicorn 0.54 (ASGI spec 2.3)
Starlette reads the stream in an anyio task group whose cancel scope cancels again on every
loop turn, which hides the lost cancel there; where the stream runs in the request's own task
(Starlette's path for ASGI 2.4) a plain task.cancel() is all there is.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from api.routes.parking import availability_events
from controllers.events import Event
from services.container import build_services
from tests.cancel_window import cancel_after_turns

pytestmark = pytest.mark.timeout(120)


async def _connected() -> Message:
    await asyncio.Event().wait()  # the client stays: no disconnect ever comes
    raise AssertionError("unreachable")


async def _read(stream: Any, chunks: list[str]) -> None:
    async for chunk in stream:  # as Starlette's StreamingResponse reads the body
        chunks.append(chunk)


def test_a_stream_cancelled_as_a_change_comes_ends(
    make_settings: Any, plate_recognizer: Any
) -> None:
    """The cancel comes 0 to 5 loop turns after a change was published to the stream."""
    services = build_services(make_settings(), recognizer=plate_recognizer)

    async def main() -> None:
        await services.start()
        try:
            parking = services.parking
            assert parking is not None
            for turns in range(6):
                request = Request({"type": "http", "method": "GET", "path": "/",
                                   "headers": []}, _connected)
                chunks: list[str] = []
                # A heartbeat far off: the stream waits for a change only.
                reading = asyncio.create_task(
                    _read(availability_events(request, services, 60.0), chunks)
                )
                async with asyncio.timeout(10):
                    while not any(c.startswith("event: spaces") for c in chunks):
                        await asyncio.sleep(0.01)
                # Read up to the present: the stream waits for the next change now.
                parking.changes.publish(Event("availability", {"what": "zones"}))
                # It never ends by itself: the cancel always finds it pending.
                assert await cancel_after_turns(reading, turns, "stream")
        finally:
            await services.stop()

    try:
        asyncio.run(main())
    finally:
        services.engine.dispose()
