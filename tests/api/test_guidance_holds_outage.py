"""Guidance holds stored before a restart survive a start during a database outage.

Drivers guided to a space before the restart keep it: the holds stored by the last run are
read back once the database answers and merged with the holds made meanwhile, instead of
being overwritten by them. A car that left or parked during the outage does not get its hold
back. The outage is real (PostgreSQL behind a proxy that is cut; the SQLite file moved away).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from models.db import create_db_engine, make_session_factory
from models.holds import GuidanceHold
from tests.api.test_database_outage import FAST, wait_for
from tests.api.test_parking import all_free, sensor
from tests.api.test_start_during_outage import stop
from tests.db_outage import DatabaseOutage

PARKING = {"sensors": {"simulate": False}}  # the tests set the space states
LEAVES, STAYS, PARKS, ARRIVES = "闽A10001", "闽A10002", "闽A10003", "闽A10004"


def start(app_factory: Any, outage: DatabaseOutage) -> Any:
    return app_factory(database_url=outage.url, parking=PARKING, **FAST)


def held(client: Any) -> set[tuple[str, str]]:
    holds = client.app.state.services.parking.holds.active(datetime.now(UTC))
    return {(h.space_id, h.holder) for h in holds}


def stored(outage: DatabaseOutage) -> set[tuple[str, str]]:
    engine = create_db_engine(outage.url, create=False)
    try:
        with make_session_factory(engine)() as session:
            return {(r.space_id, r.holder) for r in session.scalars(select(GuidanceHold))}
    finally:
        engine.dispose()


def restart_during_an_outage(
    app_factory: Any, outage: DatabaseOutage, holds: dict[str, str]
) -> Any:
    """Hold ``holds`` (space → car), stop cleanly (they are stored), cut the database and
    start again: the new app cannot read the stored holds."""
    first = start(app_factory, outage)
    all_free(first)
    for space, car in holds.items():
        first.app.state.services.parking.hold_space(space, car)
    stop(first)
    assert stored(outage) == set(holds.items())
    outage.cut(first.app.state.services.engine)
    client = start(app_factory, outage)
    assert held(client) == set()
    all_free(client)
    return client


def test_stored_holds_come_back_when_the_database_answers_merged_with_new_ones(
    app_factory: Any, outage: DatabaseOutage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services.guidance_holds")
    client = restart_during_an_outage(
        app_factory, outage, {"A-001": LEAVES, "A-002": STAYS, "A-003": PARKS}
    )
    parking = client.app.state.services.parking
    # During the outage: one stored car leaves, another parks, a new car is sent to A-004.
    parking.release(LEAVES)  # what an exit passage does
    assert sensor(client, "A-003", True) == "accepted"
    parking.hold_space("A-004", ARRIVES)

    outage.restore()

    expected = {("A-002", STAYS), ("A-004", ARRIVES)}
    wait_for(lambda: held(client) == expected)
    wait_for(lambda: stored(outage) == expected)
    assert any(
        "restored once the database answered: 1 of 3 stored taken back, 2 active now"
        in r.getMessage() and r.levelno == logging.INFO
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    # Guidance after the restore does not send another car to a restored space.
    other = client.get("/api/v1/guidance", params={"building": "1"}).json()
    assert other["space"]["id"] not in {"A-002", "A-004"}


@pytest.mark.parametrize("answers_at_stop", [False, True], ids=["still_down", "back"])
def test_a_stop_before_the_stored_holds_came_back_does_not_overwrite_them(
    app_factory: Any, outage: DatabaseOutage, caplog: pytest.LogCaptureFixture,
    answers_at_stop: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="services.guidance_holds")
    client = restart_during_an_outage(app_factory, outage, {"A-001": LEAVES, "A-002": STAYS})
    parking = client.app.state.services.parking
    parking.release(LEAVES)
    parking.hold_space("A-004", ARRIVES)
    if answers_at_stop:
        outage.restore()  # the writer waits its retry (5 s): the stop gets there first

    stop(client)

    if answers_at_stop:
        assert stored(outage) == {("A-002", STAYS), ("A-004", ARRIVES)}
    else:
        outage.restore()
        assert stored(outage) == {("A-001", LEAVES), ("A-002", STAYS)}
        assert any(
            "holds stored by the last run are left as they were, the 1 made since are not"
            in r.getMessage() and r.levelno == logging.WARNING
            for r in caplog.records
        ), [r.getMessage() for r in caplog.records]
