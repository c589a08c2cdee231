"""A size limit on every request body but the image uploads, checked before anything reads it.

FastAPI reads a JSON or form body whole before the route's dependencies run, so without a
limit an anonymous client could send hundreds of megabytes to ``/api/v1/auth/token``,
``/console/login`` or any JSON route, and the controller held all of it in memory before
answering 401 (measured: one 400 MB request took the process from 0.4 to 1.7 GB). A few at
once and the operating system kills the controller, and with it every gate.

Every JSON and form body parkgate takes is a few kilobytes. The image uploads (a camera's
frame, a burst, face enrolment photos) are not limited here: their routes authenticate
first and then read the body in chunks up to ``api.max_upload_bytes`` themselves
(``api/routes/frames.py``).
"""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Far above any form or JSON body the console and the API take (their text fields are at
# most a few hundred characters), and a booth computer can hold many such bodies at once.
MAX_BODY_BYTES = 1_048_576

# The routes that take images, read in chunks against api.max_upload_bytes after their auth.
UPLOAD_PATHS = (
    re.compile(r"/api/v1/gates/[^/]+/frames"),
    re.compile(r"/api/v1/residents/[^/]+/faces"),
    # A spreadsheet of households (up to 2 MB), read in chunks after the admin check
    # (api/routes/resident_import.py, api/console/resident_import.py).
    re.compile(r"/api/v1/households/import"),
    re.compile(r"/console/admin/households/import"),
)


class BodyTooLargeError(HTTPException):
    """Raised into the reader of a body that passes the limit; an HTTPException, so FastAPI
    answers it as such (it turns any other error while reading a body into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_text(limit))


def too_large_text(limit: int) -> str:
    return (
        f"request body exceeds the limit of {limit} bytes for forms and JSON "
        "(images go to the upload routes)"
    )


def is_upload(scope: Scope) -> bool:
    path = scope.get("path", "")
    return scope.get("method") == "POST" and any(p.fullmatch(path) for p in UPLOAD_PATHS)


def declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_upload(scope):
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            # Refused before routing or auth: nothing of the body is read.
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # sent in chunks, no Content-Length
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLargeError:
            # Read outside FastAPI's body handling (which answers it itself).
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": too_large_text(self.max_bytes)}).encode()
        await send({
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The client may still be sending: it should not reuse this connection.
                (b"connection", b"close"),
            ],
        })
        await send({"type": "http.response.body", "body": body})
