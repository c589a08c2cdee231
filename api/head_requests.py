"""``HEAD`` answered as ``GET`` without the body, wherever ``GET`` is answered.

Load balancers and monitors check ``/healthz`` (and signs and apps the availability API) with
HEAD, and RFC 9110 (9.3.2) has a server answer HEAD as it answers GET: the same status and
headers, no content. Starlette's own ``Route`` adds HEAD to a GET route, but FastAPI's
``APIRoute`` does not, so every route here answered HEAD with 405. Done once, outermost: the
request goes on as GET through everything a GET meets (the login or role a route needs, the
per-IP limit, ETag and 304, the availability fast path, CORS) and only the body is dropped.
A stream (the availability and event streams) ends after its headers: its first chunk ends
the response, after which the server tells the stream that its client is gone (ASGI's
``http.disconnect``), which stops it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Set in the GET's scope when it answers a HEAD.
HEAD_KEY = "parkgate.head"


def headers_only(request: Request) -> bool:
    """Whether this GET answers a HEAD, whose body nobody receives: a route that records
    what it gave out (the personal-data export's audit entry) records nothing then."""
    return bool(request.scope.get(HEAD_KEY))


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def no_body(message: Message) -> None:
            nonlocal ended
            if message["type"] != "http.response.body":
                await send(message)
            elif not ended:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        # A copy: the server's own scope still says HEAD (its access log, and its rule that
        # a HEAD answer carries no body).
        await self.app({**scope, "method": "GET", HEAD_KEY: True}, receive, no_body)
