"""Guidance holds through the API: what a holder is, unknown buildings, one hold per car, ids.

A holder is the car's plate, kept in its canonical GA 36-2018 spelling: the gates hold and
release under that spelling, so every other spelling of the same car must land on it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.params import MAX_DB_INT
from tests.api.conftest import running_app
from tests.api.test_console import add_staff
from tests.api.test_parking import all_free
from tests.conftest import database_params, services_of

HOLD = "/api/v1/guidance/hold"
TOO_BIG_ID = MAX_DB_INT + 1  # one past the largest id either database stores


@pytest.fixture
def client(app_factory: Any) -> Any:
    """The demo community with its simulated car park switched off: tests set the states."""
    return app_factory(parking={"sensors": {"simulate": False}})


@pytest.fixture(scope="module", params=database_params())
def refusing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    plate_recognizer: Any,
) -> Iterator[tuple[Any, dict[str, str]]]:
    """One app per database as ``client`` builds it, every space free, and a guard's headers,
    for the holds and releases refused before anything is held: each case checks that no
    hold is active after it (none of them may make one), so they share the app
    (tests/api/conftest.py ``running_app``) instead of building one each (0.1 s of CPU for
    a request or two)."""
    with running_app(request.param, tmp_path_factory, plate_recognizer,
                     parking={"sensors": {"simulate": False}}) as client:
        all_free(client)
        yield client, add_staff(services_of(client), "guard", "guard")


def active_holds(client: Any) -> list[tuple[str, str]]:
    holds = client.app.state.services.parking.holds.active(datetime.now(UTC))
    return sorted((h.holder, h.space_id) for h in holds)


def detail(response: Any) -> str:
    return json.dumps(response.json(), ensure_ascii=False)


# ---- 1. a holder is a plate ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("holder", "fragment"),
    [
        ("../../x\u0000😀", "control characters (found U+0000)"),
        ("闽A\u202e12345", "control characters (found U+202E)"),  # shows the serial backwards
        ("   ", "must not be blank"),
        ("", "at least 1 character"),
        ("闽A12345" + " " * 30, "at most 32 characters"),
        ("h", "not a valid Chinese plate"),
        ("../../x", "not a valid Chinese plate"),
        ("车牌号码：闽A12345", "not a valid Chinese plate"),  # a caption containing a plate
    ],
)
def test_a_holder_that_is_not_a_plate_is_refused(
    refusing: tuple[Any, dict[str, str]], holder: str, fragment: str
) -> None:
    client, guard_headers = refusing
    for body in ({"holder": holder, "building": "1"}, {"holder": holder, "space_id": "A-001"}):
        response = client.post(HOLD, json=body, headers=guard_headers)
        assert response.status_code == 422, response.text
        assert fragment in detail(response)
    assert active_holds(client) == []


@pytest.mark.parametrize(
    ("holder", "status", "fragment"),
    [
        ("%20%20%20", 422, "must not be blank"),
        ("h", 422, "not a valid Chinese plate"),
        ("%E9%97%BDA%0012345", 422, "control characters (found U+0000)"),
        ("x" * 33, 422, "at most 32 characters"),
        ("闽B54321", 404, "no hold for '闽B54321'"),
    ],
)
def test_releasing_refuses_what_is_not_a_plate(
    refusing: tuple[Any, dict[str, str]], holder: str, status: int, fragment: str
) -> None:
    client, guard_headers = refusing
    response = client.delete(f"{HOLD}/{holder}", headers=guard_headers)
    assert response.status_code == status, response.text
    assert fragment in detail(response)


def test_a_plate_is_held_and_released_in_its_canonical_spelling(
    client: Any, guard_headers: dict[str, str]
) -> None:
    all_free(client)
    response = client.post(
        HOLD, json={"holder": " 闽a·12345 ", "building": "1"}, headers=guard_headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["hold"]["holder"] == "闽A12345"
    assert active_holds(client) == [("闽A12345", "A-001")]
    assert client.delete(f"{HOLD}/闽a 12345", headers=guard_headers).status_code == 204
    assert active_holds(client) == []


# ---- 2. unknown buildings, spaces and fields ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"space_id": "A-001", "building": "nonexistent"}, 422, "unknown building 'nonexistent'"),
        ({"building": "nonexistent"}, 422, "unknown building 'nonexistent'"),
        ({"resident_id": 4242, "building": "nonexistent"}, 422, "unknown building"),
        ({"space_id": "A-001", "resident_id": 4242}, 404, "resident 4242"),
        ({"space_id": "Q-1"}, 404, "space 'Q-1'"),
        ({"space_id": "Q-1", "building": "1"}, 404, "space 'Q-1'"),
        ({"space_id": "A-001", "kind": "ev"}, 422, "cannot be combined with space_id"),
        ({"zone": "Z", "building": "1"}, 422, "zone"),  # no such field: refused, not ignored
        ({}, 422, "building or resident_id"),
    ],
)
def test_an_unknown_building_or_space_is_refused_and_nothing_is_held(
    refusing: tuple[Any, dict[str, str]], body: dict[str, Any], status: int, fragment: str
) -> None:
    client, guard_headers = refusing
    response = client.post(HOLD, json={"holder": "闽A12345", **body}, headers=guard_headers)
    assert response.status_code == status, response.text
    assert fragment in detail(response)
    assert active_holds(client) == []


def test_a_named_space_with_a_known_building_answers_its_distance(
    client: Any, guard_headers: dict[str, str]
) -> None:
    all_free(client)
    response = client.post(
        HOLD, json={"holder": "闽A12345", "space_id": "A-001", "building": "3"},
        headers=guard_headers,
    )
    assert response.status_code == 201, response.text
    distance = client.app.state.services.parking.board.spaces["A-001"].distances_m["3"]
    assert response.json()["building"] == "3"
    assert response.json()["space"]["distance_m"] == distance


def test_a_named_space_held_without_a_building_answers_building_null(
    client: Any, guard_headers: dict[str, str]
) -> None:
    """No building was asked for or known: null, as ``space`` and ``fallback_zone`` say none,
    not "" (a building named "" to a JSON reader)."""
    all_free(client)
    response = client.post(HOLD, json={"holder": "闽A12345", "space_id": "A-001"},
                           headers=guard_headers)
    assert response.status_code == 201, response.text
    assert response.json()["building"] is None
    assert response.json()["space"]["distance_m"] is None


# ---- 3. one hold per car --------------------------------------------------------------------


def test_a_new_hold_for_the_same_car_replaces_the_old_one(
    client: Any, guard_headers: dict[str, str]
) -> None:
    all_free(client)
    first = client.post(HOLD, json={"holder": "闽A12345", "building": "1"}, headers=guard_headers)
    assert first.json()["space"]["id"] == "A-001"
    # The same car, typed as a guard might: the hold moves, A-001 is free for others again.
    moved = client.post(
        HOLD, json={"holder": "闽a·12345", "space_id": "A-002"}, headers=guard_headers
    )
    assert moved.status_code == 201, moved.text
    assert active_holds(client) == [("闽A12345", "A-002")]
    other = client.post(HOLD, json={"holder": "闽B54321", "building": "1"}, headers=guard_headers)
    assert other.json()["space"]["id"] == "A-001"
    # One release frees everything the car held.
    assert client.delete(f"{HOLD}/闽A12345", headers=guard_headers).status_code == 204
    assert active_holds(client) == [("闽B54321", "A-001")]
    assert client.delete(f"{HOLD}/闽A12345", headers=guard_headers).status_code == 404


# ---- 4. ids within the database's range ---------------------------------------------------


def test_a_resident_id_beyond_64_bits_is_a_422_not_a_500(
    client: Any, guard_headers: dict[str, str]
) -> None:
    for headers in ({}, guard_headers):
        response = client.get(
            "/api/v1/guidance", params={"resident_id": TOO_BIG_ID}, headers=headers
        )
        assert response.status_code == 422, response.text
        assert "resident_id" in detail(response)
    response = client.post(
        HOLD, json={"holder": "闽A12345", "resident_id": TOO_BIG_ID}, headers=guard_headers
    )
    assert response.status_code == 422, response.text
    assert "resident_id" in detail(response)
    # The largest id the database can hold is still looked up: unknown, so 404.
    largest = client.get(
        "/api/v1/guidance", params={"resident_id": TOO_BIG_ID - 1}, headers=guard_headers
    )
    assert largest.status_code == 404, largest.text
    held = client.post(
        HOLD, json={"holder": "闽A12345", "resident_id": TOO_BIG_ID - 1}, headers=guard_headers
    )
    assert held.status_code == 404, held.text


# ---- 5. a named space must be free ----------------------------------------------------------


def test_an_occupied_space_is_not_held(client: Any, guard_headers: dict[str, str]) -> None:
    from tests.api.test_parking import sensor

    all_free(client)
    assert client.post(
        HOLD, json={"holder": "闽A12345", "space_id": "A-002"}, headers=guard_headers
    ).status_code == 201
    assert sensor(client, "A-001", True) == "accepted"
    response = client.post(
        HOLD, json={"holder": "闽A12345", "space_id": "A-001"}, headers=guard_headers
    )
    assert response.status_code == 409, response.text
    assert "space A-001 is occupied" in detail(response)
    # Refused: the car keeps the hold it had, and the occupied space is not marked held.
    assert active_holds(client) == [("闽A12345", "A-002")]


def test_a_space_held_for_another_car_is_refused_saying_until_when(
    client: Any, guard_headers: dict[str, str]
) -> None:
    all_free(client)
    first = client.post(
        HOLD, json={"holder": "闽A12345", "space_id": "A-001"}, headers=guard_headers
    )
    until = datetime.fromisoformat(first.json()["hold"]["until"])
    response = client.post(
        HOLD, json={"holder": "闽B54321", "space_id": "A-001"}, headers=guard_headers
    )
    assert response.status_code == 409, response.text
    assert "already held for another car until" in detail(response)
    assert until.strftime("%H:%M") in detail(response)
    assert active_holds(client) == [("闽A12345", "A-001")]


# ---- 6. holds outlive a restart ---------------------------------------------------------------


def _parking_app(app_factory: Any) -> Any:
    return app_factory(parking={"sensors": {"simulate": False}})


def _restart(client: Any, app_factory: Any) -> Any:
    """Stop this app (its lifespan ends) and start a new one on the same database."""
    client.__exit__(None, None, None)
    return _parking_app(app_factory)


def test_a_restart_keeps_the_holds(app_factory: Any) -> None:
    from tests.conftest import add_user

    client = _parking_app(app_factory)
    all_free(client)
    headers = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    first = client.post(HOLD, json={"holder": "闽A12345", "building": "1"}, headers=headers)
    assert first.json()["space"]["id"] == "A-001"
    second = client.post(HOLD, json={"holder": "闽B54321", "space_id": "A-002"}, headers=headers)
    client.post(HOLD, json={"holder": "闽C11111", "space_id": "A-005"}, headers=headers)
    assert client.delete(f"{HOLD}/闽C11111", headers=headers).status_code == 204

    client = _restart(client, app_factory)

    assert active_holds(client) == [("闽A12345", "A-001"), ("闽B54321", "A-002")]
    held = client.app.state.services.parking.holds.active(datetime.now(UTC))
    # Each keeps its own end, not a fresh ttl from the restart.
    assert {h.holder: h.until for h in held} == {
        hold["holder"]: datetime.fromisoformat(hold["until"])
        for hold in (first.json()["hold"], second.json()["hold"])
    }
    spaces = client.get("/api/v1/availability/spaces").json()["spaces"]
    assert {s["id"] for s in spaces if s["held"]} == {"A-001", "A-002"}
    # Guidance after the restart does not send another car to a held space ...
    all_free(client)
    other = client.get("/api/v1/guidance", params={"building": "1"}).json()
    assert other["space"]["id"] not in {"A-001", "A-002"}
    # ... and the restored holds are released like any other: by the car, or by a sensor.
    headers = {"Authorization": f"Bearer {add_user(client, 'guard2', 'guard')}"}
    assert client.delete(f"{HOLD}/闽A12345", headers=headers).status_code == 204
    from tests.api.test_parking import sensor

    assert sensor(client, "A-002", True) == "accepted"
    assert active_holds(client) == []

    client = _restart(client, app_factory)
    assert active_holds(client) == []


def test_expired_holds_and_gone_spaces_are_not_restored(app_factory: Any) -> None:
    from models.db import transaction
    from models.holds import GuidanceHold

    client = _parking_app(app_factory)
    ended = datetime.now(UTC) - timedelta(seconds=1)
    later = datetime.now(UTC) + timedelta(minutes=2)
    with transaction(client.app.state.services.sessions) as session:
        session.add_all([
            GuidanceHold(space_id="A-001", holder="闽A12345", held_until=ended),
            GuidanceHold(space_id="Z-999", holder="闽B54321", held_until=later),  # not configured
            GuidanceHold(space_id="A-002", holder="闽C11111", held_until=later),
        ])

    client = _restart(client, app_factory)

    assert active_holds(client) == [("闽C11111", "A-002")]
