"""HEAD is answered as GET without the body (api/head_requests.py): a load balancer's or a
monitor's HEAD /healthz, and HEAD of the availability API, answered 405 (FastAPI's routes,
unlike Starlette's, add no HEAD to a GET route). Every GET route against HEAD without a login
is in tests/api/test_route_inventory.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from api.head_requests import HeadAsGet

APP_ORIGIN = "https://parking.example.org"
# Headers a HEAD must give as its GET does (RFC 9110 9.3.2).
SAME = ("content-type", "content-length", "etag", "cache-control",
        "access-control-allow-origin")


@pytest.mark.parametrize("path", [
    "/healthz",
    "/api/v1/availability",  # answered by the fast path (api/availability_fastpath.py)
    "/api/v1/availability/spaces",
    "/api/v1/availability/spaces/A-001",  # by its FastAPI route
    "/api/v1/guidance?building=1",
    "/console/login",
    "/favicon.svg",
])
def test_a_public_get_answers_head_with_its_status_and_headers(client: Any, path: str) -> None:
    got = client.get(path, headers={"Origin": APP_ORIGIN}, follow_redirects=False)
    head = client.head(path, headers={"Origin": APP_ORIGIN}, follow_redirects=False)
    assert got.status_code == 200, got.text
    assert head.status_code == 200, head.text
    assert head.content == b""
    assert {h: head.headers.get(h) for h in SAME} == {h: got.headers.get(h) for h in SAME}


def test_head_with_an_etag_is_304_as_get(client: Any) -> None:
    etag = client.get("/api/v1/availability").headers["etag"]
    assert client.head("/api/v1/availability", headers={"If-None-Match": etag}).status_code == 304


def test_head_of_a_stream_ends_after_its_headers(client: Any) -> None:
    """The stream runs until its client leaves: a HEAD ends it with the headers, and gives its
    place among ``max_streams`` back."""
    head = client.head("/api/v1/availability/stream")
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert head.content == b""
    assert client.app.state.services.parking.streams == 0


def test_only_the_body_is_dropped_and_the_server_still_sees_head() -> None:
    """The TestClient drops a HEAD answer's body itself; this is what a server gets."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["method"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"01234", "more_body": True})
        await send({"type": "http.response.body", "body": b"56789", "more_body": False})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    scope: Scope = {"type": "http", "method": "HEAD", "path": "/", "headers": []}
    asyncio.run(HeadAsGet(app)(scope, receive, send))
    assert seen == ["GET"] and scope["method"] == "HEAD"
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]},
        {"type": "http.response.body", "body": b"", "more_body": False},
    ]
