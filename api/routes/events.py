"""Live events for the console as Server-Sent Events, straight from the event bus.

The stream needs no database, so it (re)connects during an outage too, for staff the
controller last knew active: that is when the booth screen depends on it (passages decided
offline, gate states, alarms not stored yet).

Besides the bus's events: ``hello`` when it opens (with ``heartbeat_s``), ``ping`` when it has
been quiet for a heartbeat, and ``resync`` when the reader fell further behind than its queue
holds (256 events): events were dropped, and the reader is to read the present state again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep, StaffUserDuringOutage, get_staff_during_outage
from controllers.events import Event
from errors import AuthenticationError, PermissionDeniedError
from models.db import DATABASE_DOWN
from services.container import Services

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/events", tags=["events"])

HEARTBEAT_S = 15.0  # settings.api.event_heartbeat_s's default


def _still_logged_in(request: Request, services: Services) -> bool:
    """A stream outlives its request's check: the session or token it was opened with is
    checked again every heartbeat, as a request would be. Expired, logged out (from another
    tab or computer), its account deactivated, its password reset or its role changed: the
    stream ends, and the page's next connection gets the 401 that shows the login prompt.
    The database down: an account the controller last knew active keeps its stream, as it
    could open one (get_staff_during_outage)."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    token = bearer if scheme.lower() == "bearer" and bearer else None
    try:
        get_staff_during_outage(request, services, token)
    except (AuthenticationError, PermissionDeniedError):
        return False
    except DATABASE_DOWN:
        return True  # not remembered and not readable: left to the next connection's check
    return True


def _drain(queue: asyncio.Queue[Event]) -> int:
    skipped = 0
    while True:
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            return skipped
        skipped += 1


async def event_stream(
    request: Request, services: Services, heartbeat_s: float = HEARTBEAT_S
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    async with services.bus.subscribe() as queue:
        # Tells the browser how long to wait before reconnecting, that the stream is live and
        # how often it hears from it at least (the page's watch for a silently dead stream).
        hello = json.dumps({"heartbeat_s": heartbeat_s})
        yield f"retry: 3000\nevent: hello\ndata: {hello}\n\n"
        check_at = loop.time() + heartbeat_s
        while True:
            wait_s = check_at - loop.time()
            try:
                if wait_s > 0:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns an event
                    # that comes as the stream is cancelled and drops the cancellation, and
                    # the stream then waited on (a shutdown with it).
                    async with asyncio.timeout(wait_s):
                        event = await queue.get()
                else:  # a check is due: one more event first, if one is waiting
                    event = queue.get_nowait()
            except (TimeoutError, asyncio.QueueEmpty):
                event = None
            if queue.ended:
                return  # the controller is stopping; the page reconnects to the next one
            if loop.time() >= check_at:
                # On the clock, not only when the stream is quiet: on a busy shift there is an
                # event every few seconds, and a session logged out would be streamed to for
                # as long as the cars came.
                if await request.is_disconnected():
                    return
                # In a worker thread: the account is read from the database, which may hang.
                if not await run_in_threadpool(_still_logged_in, request, services):
                    return
                check_at = loop.time() + heartbeat_s
            if queue.overflowed:
                # The page read slower than events came (a slow or congested link) and the
                # bus dropped the oldest to make room: it would show a list with holes and
                # never know. What is still queued is dropped too and the page told to read
                # the present state again (live.js and site.js catch up as after a
                # reconnect); events from here on follow that read, so an older gate state
                # or count cannot land on top of it. Checked once per event: a flag.
                skipped = _drain(queue)
                queue.overflowed = False
                logger.info(
                    "event stream fell behind: %d queued events replaced by a resync", skipped
                )
                yield "event: resync\ndata: {}\n\n"
                continue
            if event is None:
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
