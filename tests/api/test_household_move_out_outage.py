"""搬离 when the database goes at the worst moment: every row deleted and every audit entry
written in the transaction, the commit not yet made.

PostgreSQL: the proxy in front of the server is cut just before the commit goes out
(tests/db_outage.py), so the commit meets a dead connection and the server drops the
transaction. SQLite: its file stays open under a cut (the connection keeps the moved file), so
the commit itself is refused as SQLite refuses one whose disk went away, and the file goes
right after. Either way nothing
is half-done: the family is whole, no audit entry says it moved out, the gates' offline view
is the one from before, the office is told 503 (not 500), and the same confirmation (its
fingerprint still valid) removes it all once the database is back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.console.household_move_out as console_route
import api.routes.household_move_out as api_route
from controllers.values import Reason
from tests.api.test_console import cookie_login
from tests.api.test_console_household_move_out import EXPECTED, page
from tests.api.test_database_outage import wait_for
from tests.api.test_face_reload import embedding
from tests.api.test_household_move_out_one_step import (
    FACE,
    OFFLINE,
    PIN,
    confirm,
    dry_run,
    move_in,
    ok,
    pin_opens,
    snapshot_permits,
    staff,
)
from tests.conftest import services_of
from tests.db_outage import DatabaseOutage
from wall_clock import utcnow


class CommitIntoOutage:
    """Arms itself when ``move_out`` returns (everything deleted and audited, in the
    request's thread); that thread's next commit then meets the outage, once. With
    ``answer_lost`` the commit is made and the connection dies before its answer comes back
    (PostgreSQL only: the server has committed, the client cannot know)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, engine: Any,
                 outage: DatabaseOutage, *, answer_lost: bool = False) -> None:
        self.armed: int | None = None
        self.fired = False
        dialect = engine.dialect
        real_commit = dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:
            if self.armed == threading.get_ident() and not self.fired:
                self.fired = True
                if answer_lost:
                    import psycopg

                    real_commit(dbapi_connection)
                    outage.cut(engine)
                    raise psycopg.OperationalError("server closed the connection unexpectedly")
                if dialect.name == "postgresql":
                    outage.cut(engine)  # a real dead socket under the commit
                else:
                    raise sqlite3.OperationalError("disk I/O error")
            real_commit(dbapi_connection)

        monkeypatch.setattr(dialect, "do_commit", do_commit)
        for module in (api_route, console_route):
            real_move_out = module.move_out

            def move_out(*args: Any, _real: Any = real_move_out, **kwargs: Any) -> Any:
                removed = _real(*args, **kwargs)
                self.armed = threading.get_ident()
                return removed

            monkeypatch.setattr(module, "move_out", move_out)


def confirm_via(via: str, client: Any, admin: dict[str, str], household: int,
                expected: str) -> Any:
    """确认搬离 through the API, or as the console page's form posts it."""
    if via == "api":
        return confirm(client, admin, household, expected)
    browser = TestClient(client.app)  # its cookie would make the gate's calls a browser's
    csrf = cookie_login(browser, "admin", "admin")
    shown = EXPECTED.search(page(browser, household).text)
    assert shown is not None and shown[1] == expected
    return browser.post(f"/console/admin/households/{household}/move-out",
                        data={"csrf_token": csrf, "expected": expected})


@pytest.mark.parametrize("via", ["api", "console"])
def test_the_database_gone_before_the_commit_leaves_the_family_whole(
    app_factory: Any, outage: DatabaseOutage, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    client = app_factory(database_url=outage.url, access=OFFLINE)
    services = services_of(client)
    offline, faces = services.offline_credentials, services.faces
    assert offline is not None and faces is not None
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    client.portal.call(services.refresh_offline)
    gates_saw = snapshot_permits(client)["permits"]
    shown = ok(dry_run(client, admin, family.household), 200).json()
    cut = CommitIntoOutage(monkeypatch, services.engine, outage)

    answer = confirm_via(via, client, admin, family.household, shown["expected"])
    assert answer.status_code == 503, answer.text
    if via == "api":
        assert answer.json()["detail"] == "the database is unavailable; try again shortly"
    else:
        assert "数据库" in answer.text  # the outage page, not a traceback
    assert answer.headers["retry-after"] == "5"
    assert cut.fired
    if services.engine.dialect.name == "sqlite":
        outage.cut(services.engine)  # and the file goes, as the disk did
    # Confirmed again while it is down: 503 again, nothing done.
    assert confirm(client, admin, family.household, shown["expected"]).status_code == 503
    # Not told: the live matcher and the gates' snapshot still know the family.
    assert faces.matcher.match(embedding(FACE)).identity_id == family.zhang
    assert snapshot_permits(client)["permits"] == gates_saw
    assert offline.check_pin(family.li, PIN, utcnow()).reason is Reason.PIN

    outage.restore()

    # All of it still there, as listed: the same fingerprint.
    assert ok(dry_run(client, admin, family.household), 200).json() == shown
    assert pin_opens(client, family.li)
    audit = client.get("/api/v1/audit", params={"limit": 1000}, headers=admin).json()["items"]
    assert [e for e in audit if e["reason"] == "move out"
            or e["action"] == "household.move_out"] == []
    assert snapshot_permits(client)["permits"] == gates_saw

    done = ok(confirm(client, admin, family.household, shown["expected"]), 200).json()
    assert done["counts"]["residents"] == 2 and done["counts"]["vehicles"] == 2
    ok(client.get(f"/api/v1/households/{family.household}", headers=admin), 404)


@pytest.mark.parametrize("via", ["api", "console"])
def test_a_commit_whose_answer_is_lost_still_tells_the_gates(
    app_factory: Any, outage: DatabaseOutage, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """PostgreSQL commits, and the connection dies before its answer comes back: the office
    is told 503, yet the family did move out. The gates' snapshot must then be retaken once
    the database answers, not at the next scheduled refresh (an hour here), or the offline
    gates would let the family in meanwhile."""
    client = app_factory(database_url=outage.url, access=OFFLINE)
    services = services_of(client)
    if services.engine.dialect.name != "postgresql":
        pytest.skip("a commit that reaches the disk and then fails is PostgreSQL's case")
    offline = services.offline_credentials
    assert offline is not None
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    client.portal.call(services.refresh_offline)
    shown = ok(dry_run(client, admin, family.household), 200).json()
    # The moving in told the gates too: once the loop has taken that in, only the move-out
    # can ask for a retake.
    wait_for(lambda: not services._access_changed.is_set(), 5.0)
    cut = CommitIntoOutage(monkeypatch, services.engine, outage, answer_lost=True)

    answer = confirm_via(via, client, admin, family.household, shown["expected"])
    assert answer.status_code == 503 and cut.fired, answer.text
    # Down for longer than the offline loop's retry: the gates are told while it is down.
    time.sleep(0.6)

    outage.restore()

    # It happened: the flat is gone, and the gates learn it without waiting for the hour.
    ok(client.get(f"/api/v1/households/{family.household}", headers=admin), 404)
    wait_for(lambda: "vehicle" not in snapshot_permits(client).get("permits", {}).get(
        "闽AD54321", {"vehicle": 1}), 10.0)
    # The same refresh loads the PINs just after it saves that file (services/container.py
    # refresh_offline): a moment later, so waited for, not read at once.
    wait_for(lambda: offline.check_pin(family.li, PIN, utcnow()).reason is not Reason.PIN, 10.0)
