"""The public availability endpoint during a database outage: the last counts marked stale,
or 503 with Retry-After, and one warning per outage instead of three tracebacks per request.

The outage is real (tests/db_outage.py); requests go through the whole app, so the raw-ASGI
fast path that answers ``GET /api/v1/availability`` is what is tested.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.test_database_outage import FAST, wait_for
from tests.db_outage import DatabaseOutage

URL = "/api/v1/availability"
# What answers this endpoint: the cache, the fast path, the routes and error handlers.
SERVING = ("services.availability", "api.", "starlette", "fastapi", "uvicorn")


def serving_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(SERVING)]


def test_stale_counts_are_served_during_an_outage_and_logged_once(
    app_factory: Any, outage: DatabaseOutage, caplog: pytest.LogCaptureFixture
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    fresh = client.get(URL)
    assert fresh.status_code == 200 and fresh.json()["stale"] is False
    assert fresh.json()["as_of"] is None and "age" not in fresh.headers

    outage.cut(client.app.state.services.engine)
    # After the cut, not before: the cache's own refresh can read the counts in between.
    cut = datetime.now(UTC)
    time.sleep(2.1)  # past the cached body's max age: the next request reads again
    with caplog.at_level(logging.INFO):
        # Until the background read has failed, the body of a moment ago is still served
        # (a few answers on a loaded machine); from then on every answer is marked stale.
        answers = [client.get(URL)]
        deadline = time.monotonic() + 5
        while not answers[-1].json()["stale"] and time.monotonic() < deadline:
            answers.append(client.get(URL))
        first_stale = len(answers) - 1
        answers += [client.get(URL) for _ in range(10)]

    assert {a.status_code for a in answers} == {200}
    assert all(a.json()["stale"] for a in answers[first_stale:])
    body = answers[-1].json()
    assert body["zones"] == fresh.json()["zones"]
    assert datetime.fromisoformat(body["as_of"]) <= cut
    assert int(answers[-1].headers["age"]) >= 0
    assert len({a.headers["etag"] for a in answers[first_stale:]}) == 1  # one stale body
    cached = client.get(URL, headers={"If-None-Match": answers[-1].headers["etag"]})
    assert cached.status_code == 304
    logged = serving_logs(caplog)
    assert [r.levelno for r in logged] == [logging.WARNING], [r.getMessage() for r in logged]

    outage.restore()
    wait_for(lambda: client.get(URL).json()["stale"] is False)


def test_without_any_counts_the_answer_is_503_with_retry_after(
    app_factory: Any, outage: DatabaseOutage, caplog: pytest.LogCaptureFixture
) -> None:
    from models.db import create_db_engine

    engine = create_db_engine(outage.url)
    with engine.connect():
        pass
    outage.cut(engine)  # down from the start: nothing was ever read
    engine.dispose()
    client = app_factory(database_url=outage.url, **FAST)

    with caplog.at_level(logging.INFO):
        answers = [client.get(URL) for _ in range(10)]

    assert {a.status_code for a in answers} == {503}
    assert answers[0].headers["retry-after"] == "5"
    assert "unavailable" in answers[0].json()["detail"]
    logged = serving_logs(caplog)
    assert [r.levelno for r in logged] == [logging.WARNING], [r.getMessage() for r in logged]

    outage.restore()
    wait_for(lambda: client.get(URL).status_code == 200)
    assert client.get(URL).json()["stale"] is False


def test_counts_read_at_start_are_served_stale_though_nobody_asked_before(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    client.portal.call(services.refresh_offline)  # what the offline loop does every 30 s
    time.sleep(2.1)  # nothing asked for availability, and the counts read are old now
    outage.cut(services.engine)

    # (the first answer may be those counts as they were, while the read that fails runs)
    wait_for(lambda: client.get(URL).json().get("stale") is True)
    assert client.get(URL).json()["zones"][0]["id"] == "A"
