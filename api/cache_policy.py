"""``Cache-Control: no-store`` on every answer that does not say otherwise.

The console's pages already carry it (api/console/rendering.py), but what their scripts read
and the office downloads came from the API without any caching header: residents with their
phone numbers, passages, the audit log and its CSV, staff accounts. A browser keeps such an
answer in its disk cache (heuristically reusable or not), where the next person at a shared
booth or office computer finds it after the staff member has logged out. An answer meant to
be cached says so itself and is left alone: the public availability (``public, max-age``),
the console's own scripts and icon, the day and month report figures (``private``).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_STORE = "no-store"


class NoStoreByDefault:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = NO_STORE
            await send(message)

        await self.app(scope, receive, send_no_store)
