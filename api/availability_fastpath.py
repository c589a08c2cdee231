"""Answers the two hottest public reads before FastAPI's router sees them.

``GET /api/v1/availability`` and ``GET /api/v1/availability/spaces`` are polled by every
phone, board and city hub; their bodies are precomputed once per change
(``services/availability_cache.py``). Measured on this project's FastAPI, routing and
dependency solving cost about 13x the bare Starlette endpoint (755 vs 58 µs per call), so the
cached body is sent from this pure-ASGI middleware instead: same bytes, same ETag/304 and
same per-IP limit as the FastAPI routes in ``api/routes/parking.py`` and
``api/routes/availability.py``, which remain for OpenAPI and for apps built without it.

Being raw ASGI, nothing here reaches FastAPI's error handlers: a database outage is handled
in place (the last counts marked stale with an ``Age`` header, or 503 with ``Retry-After``
when there are none; the cache logs it once per outage), never a 500.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from api.routes.parking import (
    CACHE_CONTROL,
    UNAVAILABLE_RETRY_S,
    render_availability,
    stale_age_s,
)
from errors import StoreUnavailableError
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
        age: int | None = None
        if path == ZONES_PATH:
            cache = parking.zones_cache
            try:
                snap = await cache.current()
            except StoreUnavailableError as err:
                await _json(send, 503, {"detail": str(err)},
                            [(b"retry-after", str(UNAVAILABLE_RETRY_S).encode())])
                return
            entry = cache.body(render_availability, snap)
            age = stale_age_s(snap)
        else:
            entry = parking.spaces_snapshot()
        await _send_cached(scope, send, entry, age)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_cached(
    scope: Scope, send: Send, entry: CachedBody, age: int | None = None
) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"etag", entry.etag.encode()),
        (b"cache-control", CACHE_CONTROL.encode()),
    ]
    if age is not None:
        headers.append((b"age", str(age).encode()))
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
    detail = (f"too many requests from {key}: slow down to "
              f"{limiter.rate:g}/s (burst {limiter.burst:g})")
    await _json(send, 429, {"detail": detail},
                [(b"retry-after", retry_after_header(wait).encode())])


async def _json(
    send: Send, status: int, payload: dict[str, str], headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    })
    await send({"type": "http.response.body", "body": body})
