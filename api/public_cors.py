"""CORS for the public, read-only parking endpoints, so a driver app in a browser can use them.

A city or community web app runs on its own origin; without these headers a browser hides
every answer from it, although anyone may read the same data with curl. Only the public GETs
are opened, to any origin and without credentials (``*`` is never sent with
``Access-Control-Allow-Credentials``), so a console login cookie is never used by another
site's page and staff routes (holds, the rest of the API) stay same-origin. ``Authorization``
is not an allowed header: ``guidance?resident_id`` is for staff, on the console's origin.

Pure ASGI and outside the fast path (only api/head_requests.py is further out), so the
availability fast path's answers (200, 304, 429, 503) get the headers too: an app must be
able to read a 429's ``Retry-After``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The response headers an app needs beyond the CORS-safelisted ones.
EXPOSED = b"ETag, Retry-After, Age"
# What an app may send: revalidation, and EventSource's own header after a reconnect.
ALLOWED_REQUEST_HEADERS = b"If-None-Match, Last-Event-ID, Cache-Control"
PREFLIGHT_MAX_AGE_S = 600


def is_public_read(path: str) -> bool:
    """The paths of docs/parking.md's public availability API (not ``/guidance/hold``)."""
    return (
        path == "/api/v1/availability"
        or path.startswith("/api/v1/availability/")
        or path == "/api/v1/guidance"
    )


def _has_origin(scope: Scope) -> bool:
    return any(key == b"origin" for key, _ in scope.get("headers", ()))


class PublicCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not is_public_read(scope.get("path", ""))
            or not _has_origin(scope)
        ):
            await self.app(scope, receive, send)
            return
        method = scope.get("method")
        if method == "OPTIONS":
            await self._preflight(send)
            return
        if method != "GET":
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers += [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", EXPOSED),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_cors)

    async def _preflight(self, send: Send) -> None:
        # Answered for any requested method or header: the browser itself refuses what the
        # allow lists do not name, and the route would refuse it anyway.
        await send({
            "type": "http.response.start",
            "status": 204,
            "headers": [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", b"GET"),
                (b"access-control-allow-headers", ALLOWED_REQUEST_HEADERS),
                (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": b""})
