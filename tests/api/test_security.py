"""Session cookies need the CSRF token on every unsafe JSON call, also beside an
Authorization header that is no bearer token; deactivated accounts lose access at once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from api.console.security import SESSION_COOKIE
from models.db import transaction
from models.people import User
from tests.conftest import add_user


def test_cookie_authenticated_post_without_csrf_is_refused(client: Any) -> None:
    token = add_user(client, "admin", "admin")
    client.cookies.set(SESSION_COOKIE, token)
    refused = client.post("/api/v1/households", json={"building": "1栋", "unit": "101"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    # Reading with the cookie is fine; a bearer token needs no CSRF token.
    assert client.get("/api/v1/households").status_code == 200
    client.cookies.clear()
    ok = client.post(
        "/api/v1/households", json={"building": "1栋", "unit": "101"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert ok.status_code == 201


@pytest.mark.parametrize(
    "authorization", ["Basic abc", "x", "Bearer"], ids=["basic", "no-scheme", "empty-bearer"]
)
def test_an_authorization_header_that_is_no_bearer_token_does_not_skip_csrf(
    client: Any, authorization: str
) -> None:
    """A browser adds ``Basic`` to a cross-site request by itself once its user logged in to
    a proxy in front of parkgate: the cookie still authenticates it, so it needs the token."""
    token = add_user(client, "admin", "admin")
    client.cookies.set(SESSION_COOKIE, token)
    refused = client.post("/api/v1/households", json={"building": "1栋", "unit": "101"},
                          headers={"Authorization": authorization})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.get("/api/v1/households").json() == []
    # A real bearer token is what authenticates, with the cookie there or not.
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/households", json={"building": "1栋", "unit": "101"},
                       headers=bearer).status_code == 201
    client.cookies.clear()
    assert client.post("/api/v1/households", json={"building": "1栋", "unit": "102"},
                       headers=bearer).status_code == 201


def test_deactivated_account_is_refused_before_its_token_expires(client: Any) -> None:
    token = add_user(client, "guard7", "guard")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/passages", headers=headers).status_code == 200
    with transaction(client.app.state.services.sessions) as session:
        session.execute(update(User).where(User.username == "guard7").values(active=False))
    refused = client.get("/api/v1/passages", headers=headers)
    assert refused.status_code == 401 and "deactivated" in refused.json()["detail"]


def test_api_docs_are_served_without_a_cdn(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-static/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/v1/gates/{gate_id}/frames" in schema["paths"]
