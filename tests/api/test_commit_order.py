"""A write is committed before the client is told it succeeded."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session


def test_route_commits_before_the_response_is_sent(client: Any, admin_headers: Any) -> None:
    events: list[str] = []
    app = client.app

    async def recording_app(scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await app(scope, receive, recording_send)

    def on_commit(_session: Session) -> None:
        events.append("commit")

    event.listen(Session, "after_commit", on_commit)
    try:
        # The lifespan already runs on `client`; this client only forwards requests.
        response = TestClient(recording_app).post(
            "/api/v1/households", json={"building": "5栋", "unit": "302"}, headers=admin_headers
        )
    finally:
        event.remove(Session, "after_commit", on_commit)
    assert response.status_code == 201, response.text
    assert "commit" in events
    assert events.index("commit") < events.index("response")
    listed = client.get("/api/v1/households", headers=admin_headers).json()
    assert any(h["unit"] == "302" for h in listed)
