"""Answers the two hottest public reads before FastAPI's router sees them.

``GET /api/v1/availability`` and ``GET /api/v1/availability/spaces`` are polled by every
phone, board and city hub; their bodies are precomputed once per change
(``services/availability_cache.py``). Measured on this project's FastAPI, routing and
dependency solving cost about 13x the bare Starlette endpoint (755 vs 58 µs per call), so the
cached body is sent from this pure-ASGI middleware instead: same bytes, same ETag/304 and
same per-IP limit as the FastAPI routes in ``api/routes/parking.py`` and
``api/routes/availability.py``, which remain for OpenAPI and for apps built without it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from api.routes.parking import CACHE_CONTROL, render_availability
from services.availability_cache import CachedBody, etag_matches, retry_after_header
from services.parking import ParkingService

ZONES_PATH = "/api/v1/availability"
SPACES_PATH = "/api/v1/availability/spaces"


class AvailabilityFastPath:
    def __init__(self, app: ASGIApp, parking: ParkingService | None) -> None:
        self.app = app
        self.parking = parking

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if (
            self.parking is None
            or scope.get("method") != "GET"
            or path not in (ZONES_PATH, SPACES_PATH)
        ):
            await self.app(scope, receive, send)
            return
        parking = self.parking
        if parking.limiter is not None:
            client = scope.get("client")
            key = client[0] if client else "unknown"
            wait = parking.limiter.take(key)
            if wait > 0:
                await _too_many(send, key, wait, parking)
                return
        if path == ZONES_PATH:
            cache = parking.zones_cache
            entry = cache.body(render_availability, await cache.current())
        else:
            entry = parking.spaces_snapshot()
        await _send_cached(scope, send, entry)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_cached(scope: Scope, send: Send, entry: CachedBody) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"etag", entry.etag.encode()),
        (b"cache-control", CACHE_CONTROL.encode()),
    ]
    if etag_matches(_header(scope, b"if-none-match"), entry.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(entry.body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": entry.body})


async def _too_many(send: Send, key: str, wait: float, parking: ParkingService) -> None:
    limiter = parking.limiter
    assert limiter is not None
    body = json.dumps({
        "detail": f"too many requests from {key}: slow down to "
        f"{limiter.rate:g}/s (burst {limiter.burst:g})"
    }).encode()
    await send({
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", retry_after_header(wait).encode()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
