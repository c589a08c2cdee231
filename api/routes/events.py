"""Live events for the console as Server-Sent Events, straight from the event bus.

The stream needs no database, so it (re)connects during an outage too, for staff the
controller last knew active: that is when the booth screen depends on it (passages decided
offline, gate states, alarms not stored yet)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import ServicesDep, StaffUserDuringOutage
from errors import AuthenticationError
from services.container import Services

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/events", tags=["events"])

HEARTBEAT_S = 15.0  # settings.api.event_heartbeat_s's default


def _still_logged_in(request: Request, services: Services) -> bool:
    """A stream outlives its request's check: its session is re-checked at every heartbeat."""
    if request.headers.get("authorization"):
        return True
    token = request.cookies.get("parkgate_session")
    if not token:
        return False
    try:
        services.signer.verify(token)
    except AuthenticationError:
        return False
    return True


async def event_stream(
    request: Request, services: Services, heartbeat_s: float = HEARTBEAT_S
) -> AsyncIterator[str]:
    async with services.bus.subscribe() as queue:
        # Tells the browser how long to wait before reconnecting, that the stream is live and
        # how often it hears from it at least (the page's watch for a silently dead stream).
        hello = json.dumps({"heartbeat_s": heartbeat_s})
        yield f"retry: 3000\nevent: hello\ndata: {hello}\n\n"
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), heartbeat_s)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                if not _still_logged_in(request, services):
                    # The cookie this stream connected with has expired. End the stream: the
                    # browser reconnects with its current cookie (renewed while the guard is
                    # active) or gets a 401 and shows the login page.
                    return
                # An event, not a comment: EventSource hands comments to no script, and the
                # page must hear the stream to know it is alive (live.js, heard).
                yield "event: ping\ndata: {}\n\n"
                continue
            payload = json.dumps(event.as_dict(), ensure_ascii=False, default=str)
            yield f"event: {event.type}\ndata: {payload}\n\n"


@router.get("/stream", summary="Passages, alarms, gate states and availability as SSE")
async def stream(
    request: Request, services: ServicesDep, _: StaffUserDuringOutage
) -> StreamingResponse:
    return StreamingResponse(
        event_stream(request, services, services.settings.api.event_heartbeat_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
