"""Logging out ends the session on the server, not only in this browser, and for good.

The session token is renewed on every page, each copy valid until its own expiry; log-out
only cleared the browser's cookie, so a copy taken before it (read off a booth LAN without
TLS) kept working after the guard logged out, and renewed itself on every page it opened.
Then the log-out was remembered in memory only: a restart let such a copy in again. API
bearer tokens (12 hours) could not be logged out at all. Now both are ended by their
log-out's audit entry, read back at start, also when the log-out happened during a database
outage (the entry waits in the audit journal). Through the real login form, the real token
endpoint, the real app restarted on the same database and data directory, and a real outage
(tests/db_outage.py)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.console.security import SESSION_COOKIE
from models.db import transaction
from models.events import AuditEntry
from services.tokens import TokenSigner, session_fingerprint
from tests.api.test_console import PASSWORD, add_staff, add_user, console_login, csrf_of
from tests.api.test_database_outage import FAST, wait_for
from tests.api.test_login_during_outage import api_token
from tests.api.test_start_during_outage import stop
from tests.db_outage import DatabaseOutage


def _holding(client: Any, session_cookie: str) -> Any:
    """Another browser holding a copy of ``session_cookie``."""
    from fastapi.testclient import TestClient

    other = TestClient(client.app)
    other.cookies.set(SESSION_COOKIE, session_cookie)
    return other


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _session_id(token: str) -> str:
    """The sid inside a token's (signed, not secret) payload."""
    body = token.partition(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["sid"])


def _refused(client: Any, token: str) -> None:
    """``token`` (a cookie's or an API token) is refused as a cookie and as a bearer token,
    by the console and the API, saying it was logged out."""
    thief = _holding(client, token)
    page = thief.get("/console", follow_redirects=False)
    assert page.status_code == 303 and "/console/login" in page.headers["location"]
    assert thief.post("/console/keepalive").status_code == 401
    api = client.get("/api/v1/gates", headers=_bearer(token))  # works during an outage too
    assert api.status_code == 401 and "logged out" in api.json()["detail"]


def _works(client: Any, token: str) -> None:
    assert client.get("/api/v1/gates", headers=_bearer(token)).status_code == 200


def _logout_rows(services: Any) -> list[AuditEntry]:
    with transaction(services.sessions) as session:
        rows = list(session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(("auth.login", "auth.logout")))
            .order_by(AuditEntry.id)
        ))
        session.expunge_all()
    return rows


def test_a_copy_of_a_logged_out_session_stays_refused_after_a_restart(app_factory: Any) -> None:
    first = app_factory()
    add_staff(first.app.state.services, "guard", "guard")
    csrf = console_login(first, "guard")
    stolen = first.cookies[SESSION_COOKIE]
    other_booth = TestClient(first.app)  # the same account, not logged out
    console_login(other_booth, "guard")
    kept = other_booth.cookies[SESSION_COOKIE]
    assert first.post("/console/logout", data={"csrf_token": csrf},
                      follow_redirects=False).status_code == 303

    stop(first)
    restarted = app_factory()  # a new process on the same database and data directory
    _refused(restarted, stolen)
    assert _holding(restarted, kept).get("/console", follow_redirects=False).status_code == 200

    login, logout = [r for r in _logout_rows(restarted.app.state.services)
                     if r.details.get("session") == session_fingerprint(_session_id(stolen))]
    assert (login.action, logout.action) == ("auth.login", "auth.logout")
    assert _session_id(stolen) not in repr([login.details, logout.details])


def test_an_api_token_is_logged_out_at_once_and_for_good_and_only_that_one(
    app_factory: Any,
) -> None:
    first = app_factory()
    add_staff(first.app.state.services, "guard", "guard")
    ended, other = (api_token(first, "guard", PASSWORD).json()["access_token"]
                    for _ in range(2))
    console = TestClient(first.app)
    console_login(console, "guard")

    out = first.post("/api/v1/auth/logout", headers=_bearer(ended))
    assert out.status_code == 204 and out.content == b""
    _refused(first, ended)
    _works(first, other)
    assert console.get("/console", follow_redirects=False).status_code == 200

    rows = _logout_rows(first.app.state.services)
    logout = rows[-1]
    assert (logout.username, logout.action, logout.details["via"]) == (
        "guard", "auth.logout", "api")
    fingerprint = session_fingerprint(_session_id(ended))
    assert logout.details["session"] == fingerprint
    assert [r.details["via"] for r in rows if r.details.get("session") == fingerprint] == [
        "api", "api"]  # its login and its log-out
    written = repr([r.details for r in rows])
    assert _session_id(ended) not in written and ended not in written

    stop(first)
    restarted = app_factory()
    _refused(restarted, ended)
    _works(restarted, other)


@pytest.mark.parametrize("restart", ["during_the_outage", "after_it"])
def test_log_outs_during_an_outage_stay_refused_across_restarts(
    app_factory: Any, outage: DatabaseOutage, restart: str
) -> None:
    first = app_factory(database_url=outage.url, **FAST)
    services = first.app.state.services
    add_staff(services, "guard", "guard")
    first.portal.call(services.refresh_staff)  # known active, for a restart during the outage
    ended, other = (api_token(first, "guard", PASSWORD).json()["access_token"]
                    for _ in range(2))
    csrf = console_login(first, "guard")
    cookie = first.cookies[SESSION_COOKIE]

    outage.cut(services.engine)
    assert first.post("/console/logout", data={"csrf_token": csrf},
                      follow_redirects=False).status_code == 303
    assert first.post("/api/v1/auth/logout", headers=_bearer(ended)).status_code == 204
    assert services.audit_waiting()  # both log-outs wait in the audit journal
    stop(first)
    if restart == "after_it":
        outage.restore()

    second = app_factory(database_url=outage.url, **FAST)
    assert second.app.state.services.database_ready is (restart == "after_it")
    for token in (cookie, ended):
        _refused(second, token)
    _works(second, other)

    if restart == "during_the_outage":
        outage.restore()
    back = second.app.state.services
    wait_for(lambda: back.database_ready and not back.audit_waiting())
    for token in (cookie, ended):
        _refused(second, token)
    logouts = [r for r in _logout_rows(back) if r.action == "auth.logout"]
    assert len(logouts) == 2 and all(r.journal_id for r in logouts)  # written back, once

    stop(second)
    third = app_factory(database_url=outage.url, **FAST)  # now from the audit table alone
    assert not third.app.state.services.audit_waiting()
    for token in (cookie, ended):
        _refused(third, token)
    _works(third, other)


def test_a_restart_during_an_outage_refuses_earlier_log_outs_once_the_database_answers(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    first = app_factory(database_url=outage.url, **FAST)
    services = first.app.state.services
    add_staff(services, "guard", "guard")
    first.portal.call(services.refresh_staff)
    ended = api_token(first, "guard", PASSWORD).json()["access_token"]
    assert first.post("/api/v1/auth/logout", headers=_bearer(ended)).status_code == 204
    outage.cut(services.engine)  # the log-out is in the audit table, which cannot be read
    stop(first)

    second = app_factory(database_url=outage.url, **FAST)
    outage.restore()
    wait_for(lambda: second.get("/api/v1/gates", headers=_bearer(ended)).status_code == 401)
    _refused(second, ended)


class TestOnOneApp:
    """Log-outs without a restart or an outage share one app per database (tests/api/
    conftest.py ``shared_client``) instead of building one for each (0.5 s of CPU): a
    log-out ends only its own session or token, and each test signs in an account of its own
    (its username), so none sees another's sessions; the rest only read or are refused."""

    @pytest.fixture
    def client(self, fresh_shared_client: Any) -> Any:
        return fresh_shared_client

    def test_a_copy_of_the_session_taken_before_logout_is_refused_after_it(
        self, client: Any
    ) -> None:
        add_user(client, "guard-copied", "guard")
        csrf = console_login(client, "guard-copied")
        first_copy = client.cookies[SESSION_COOKIE]
        time.sleep(1.1)  # a later expiry, so the renewed token differs from the first
        # Pages renew the cookie; a copy of any of them belongs to the same session.
        csrf = csrf_of(client.get("/console").text)
        latest_copy = client.cookies[SESSION_COOKIE]
        assert latest_copy != first_copy
        assert _holding(client, first_copy).get("/api/v1/passages").status_code == 200

        bye = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert bye.status_code == 303

        for copy in (first_copy, latest_copy):
            thief = _holding(client, copy)
            page = thief.get("/console", follow_redirects=False)
            assert page.status_code == 303 and "/console/login" in page.headers["location"]
            api = thief.get("/api/v1/passages")
            assert api.status_code == 401 and "logged out" in api.json()["detail"]
            assert thief.post("/console/keepalive").status_code == 401
            bearer = client.get("/api/v1/passages", headers={"Authorization": f"Bearer {copy}"})
            assert bearer.status_code == 401

    def test_logging_in_again_is_a_new_session_that_works(self, client: Any) -> None:
        add_user(client, "guard-again", "guard")
        csrf = console_login(client, "guard-again")
        client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        console_login(client, "guard-again")
        assert client.get("/api/v1/passages").status_code == 200

    def test_one_sessions_logout_leaves_the_others_and_api_tokens(self, client: Any) -> None:
        from fastapi.testclient import TestClient

        # An API token (no console session).
        token = add_user(client, "guard-two-booths", "guard")
        other_booth = TestClient(client.app)  # the same account in a second browser
        console_login(other_booth, "guard-two-booths")
        csrf = console_login(client, "guard-two-booths")
        client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert other_booth.get("/console", follow_redirects=False).status_code == 200
        api = client.get("/api/v1/passages", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200

    def test_a_token_from_before_log_outs_keeps_working_and_says_why_it_cannot_end(
        self, client: Any,
    ) -> None:
        # Issued by the signer without a session id.
        old = add_user(client, "guard-old-token", "guard")
        refused = client.post("/api/v1/auth/logout", headers=_bearer(old))
        assert refused.status_code == 409
        assert "expires at" in refused.json()["detail"]
        assert "deactivating the account" in refused.json()["detail"]
        _works(client, old)

    @pytest.mark.parametrize(
        ("headers", "says"),
        [
            ({}, "Authorization: Bearer"),
            ({"Authorization": "Bearer not-a-token"}, "invalid token"),
            ({"Authorization": "Basic Z3VhcmQ6Y29ycmVjdC1ob3JzZQ=="}, "Authorization: Bearer"),
            ({"Authorization": "Bearer " + TokenSigner("k" * 32, 60).issue(
                "guard", "admin", session_id="forged")}, "invalid token"),
        ],
        ids=["no-token", "garbage", "basic-auth", "another-key"],
    )
    def test_a_malformed_log_out_is_a_clear_401(
        self, client: Any, headers: dict[str, str], says: str
    ) -> None:
        answer = client.post("/api/v1/auth/logout", headers=headers)
        assert answer.status_code == 401 and says in answer.json()["detail"]
        assert answer.headers["www-authenticate"] == "Bearer"

    def test_an_expired_or_already_logged_out_token_is_a_401(self, client: Any) -> None:
        services = client.app.state.services
        add_staff(services, "guard-expired", "guard")
        expired = services.signer.issue("guard-expired", "guard", now=time.time() - 86400,
                                        session_id="old-session")
        answer = client.post("/api/v1/auth/logout", headers=_bearer(expired))
        assert answer.status_code == 401 and "expired" in answer.json()["detail"]

        token = api_token(client, "guard-expired", PASSWORD).json()["access_token"]
        assert client.post("/api/v1/auth/logout", headers=_bearer(token)).status_code == 204
        again = client.post("/api/v1/auth/logout", headers=_bearer(token))
        assert again.status_code == 401 and "logged out already" in again.json()["detail"]

    def test_the_api_docs_tell_integrators_how_to_end_a_token(self, client: Any) -> None:
        route = client.get("/openapi.json").json()["paths"]["/api/v1/auth/logout"]["post"]
        assert "only that one" in route["description"]
        assert "after the controller restarts" in route["description"]
        assert {"204", "401", "409"} <= set(route["responses"])
