"""`max_streams` holds for streams opened together, and a slot comes back when a stream ends.

docs/parking.md: "At most `max_streams` at once (then 503)". Apps reconnect together after a
restart (`retry: 3000`); the slot used to be taken only once a stream's body began, so every
request arriving before that passed the check (six at once against a limit of 2 on a demo).
The route is called directly, as the server would before it starts any of the bodies.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from api.routes.parking import stream


def _request(app: Any) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/v1/availability/stream",
                    "headers": [], "query_string": b"", "app": app})


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}


async def _ignore(message: Message) -> None:
    return None


def test_streams_opened_together_stop_at_max_streams_and_free_their_slots(
    app_factory: Any,
) -> None:
    client = app_factory(parking={"max_streams": 2, "sensors": {"simulate": False}})
    app = client.app

    async def scenario() -> None:
        opened: list[Response] = [await stream(_request(app)) for _ in range(2)]
        with pytest.raises(HTTPException) as refused:
            await stream(_request(app))
        assert refused.value.status_code == 503
        for response in opened:  # each client hangs up: its stream ends
            await response({"type": "http", "asgi": {"spec_version": "2.0"}},
                           _disconnected, _ignore)
        assert app.state.services.parking.streams == 0
        again = await stream(_request(app))
        assert again.status_code == 200
        await again({"type": "http", "asgi": {"spec_version": "2.0"}}, _disconnected, _ignore)

    asyncio.run(scenario())
