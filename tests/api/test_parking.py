"""Parking spaces through the API (issue 7): ETags, the live stream, rate limit and guidance.

Space states are fed as sensor payloads through the service (the MQTT path itself is tested
against the real broker in tests/test_parking_service.py).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from tests.api.conftest import running_app
from tests.api.test_vehicle_entry import push
from tests.conftest import LabelledPhoto, database_params

DEMO_SPACES = {"A-001", "A-002", "A-003", "A-004", "A-005", "B-001", "B-002", "B-003"}


@pytest.fixture
def client(app_factory: Any) -> Any:
    """The demo community with its simulated car park switched off: tests set the states."""
    return app_factory(parking={"sensors": {"simulate": False}})


@pytest.fixture(scope="module", params=database_params())
def all_free_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    plate_recognizer: Any,
) -> Iterator[Any]:
    """One app per database as ``client`` builds it, every space free, for the guidance
    queries that only read (no hold: each checks) or are refused: they share it
    (tests/api/conftest.py ``running_app``) instead of building one each (0.1 s of CPU for
    one request). Fewer requests than the public rate limit's burst (40)."""
    with running_app(request.param, tmp_path_factory, plate_recognizer,
                     parking={"sensors": {"simulate": False}}) as client:
        all_free(client)
        yield client


def sensor(client: Any, space: str, occupied: bool) -> str:
    payload = {"space": space, "occupied": occupied, "ts": datetime.now(UTC).isoformat()}
    return str(client.app.state.services.parking.ingest_sensor(json.dumps(payload).encode()))


def all_free(client: Any) -> None:
    for space in DEMO_SPACES:
        assert sensor(client, space, False) == "accepted"


# ---- ETag / 304 -------------------------------------------------------------------------


def test_availability_has_an_etag_and_answers_304_until_a_correction(
    client: Any, admin_headers: dict[str, str]
) -> None:
    first = client.get("/api/v1/availability")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    assert first.json()["zones"][0]["id"] == "A"

    unchanged = client.get("/api/v1/availability", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert client.get(
        "/api/v1/availability", headers={"If-None-Match": f'W/{etag}, "other"'}
    ).status_code == 304

    fixed = client.put(
        "/api/v1/zones/A/occupancy", json={"occupied": 7, "reason": "walked the lot"},
        headers=admin_headers,
    )
    assert fixed.status_code == 200, fixed.text
    changed = client.get("/api/v1/availability", headers={"If-None-Match": etag})
    assert changed.status_code == 200  # the correction is seen at once, not after a cache age
    assert changed.headers["etag"] != etag
    zone_a = next(z for z in changed.json()["zones"] if z["id"] == "A")
    assert (zone_a["occupied"], zone_a["free"]) == (7, 33)


def test_spaces_list_states_with_etag_and_unknown_space_is_404(client: Any) -> None:
    first = client.get("/api/v1/availability/spaces")
    assert first.status_code == 200
    body = first.json()
    assert {s["id"] for s in body["spaces"]} == DEMO_SPACES
    assert {s["state"] for s in body["spaces"]} == {"unknown"}  # no sensor has spoken yet
    assert body["zones"]["A"] == {"spaces": 5, "free": 0, "occupied": 0, "unknown": 5}
    etag = first.headers["etag"]
    assert client.get(
        "/api/v1/availability/spaces", headers={"If-None-Match": etag}
    ).status_code == 304

    assert sensor(client, "A-004", True) == "accepted"
    after = client.get("/api/v1/availability/spaces", headers={"If-None-Match": etag})
    assert after.status_code == 200
    a4 = next(s for s in after.json()["spaces"] if s["id"] == "A-004")
    assert (a4["state"], a4["source"], a4["kind"], a4["zone"]) == ("occupied", "sensor", "ev", "A")

    one = client.get("/api/v1/availability/spaces/A-004")
    assert one.status_code == 200 and one.json()["state"] == "occupied"
    missing = client.get("/api/v1/availability/spaces/Z-999")
    assert missing.status_code == 404 and "Z-999" in missing.json()["detail"]


# ---- rate limit ---------------------------------------------------------------------------


def test_public_endpoints_are_rate_limited_per_client(app_factory: Any) -> None:
    # Slow refill: a loaded machine taking seconds over these calls must not earn a token.
    client = app_factory(parking={"rate_limit": {"rate_per_s": 0.01, "burst": 3},
                                  "sensors": {"simulate": False}})
    codes = [client.get("/api/v1/availability").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    limited = client.get("/api/v1/availability/spaces")  # one bucket across the endpoints
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many requests" in limited.json()["detail"]
    assert client.get("/api/v1/guidance", params={"building": "1"}).status_code == 429
    assert client.get("/healthz").status_code == 200  # only the public parking reads


# ---- guidance -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "space", "reasons"),
    [
        ({"building": "1"}, "A-001", ["nearest_free"]),
        ({"building": "5"}, "B-001", ["nearest_free"]),
        ({"building": "3"}, "A-005", ["nearest_free"]),
        ({"building": "1", "kind": "ev"}, "A-004", ["needed_kind", "nearest_free"]),
        ({"building": "5", "kind": "accessible"}, "A-003", ["needed_kind", "nearest_free"]),
    ],
)
def test_guidance_ranks_by_the_buildings_distance(
    all_free_app: Any, params: dict[str, str], space: str, reasons: list[str]
) -> None:
    client = all_free_app
    response = client.get("/api/v1/guidance", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["space"]["id"] == space
    assert body["reasons"] == reasons
    assert body["space"]["distance_m"] == client.app.state.services.parking.board.spaces[
        space
    ].distances_m[params["building"]]
    assert len(body["alternatives"]) == 3
    assert body["hold"] is None and body["fallback_zone"] is None


def test_two_drivers_are_not_sent_to_the_same_space(
    client: Any, guard_headers: dict[str, str]
) -> None:
    all_free(client)
    first = client.post(
        "/api/v1/guidance/hold", json={"holder": "粤B12345", "building": "1"},
        headers=guard_headers,
    )
    assert first.status_code == 201, first.text
    assert first.json()["space"]["id"] == "A-001"
    assert first.json()["hold"]["holder"] == "粤B12345"
    second = client.post(
        "/api/v1/guidance/hold", json={"holder": "粤B99999", "building": "1"},
        headers=guard_headers,
    )
    assert second.json()["space"]["id"] == "A-002"
    # A third driver asking publicly is not sent to either held space.
    third = client.get("/api/v1/guidance", params={"building": "1"}).json()
    assert third["space"]["id"] == "A-005"  # are accessible/EV: not offered
    spaces = client.get("/api/v1/availability/spaces").json()["spaces"]
    assert {s["id"] for s in spaces if s["held"]} == {"A-001", "A-002"}

    # Holding a named space another driver holds is a conflict; unknown spaces are 404.
    taken = client.post(
        "/api/v1/guidance/hold", json={"holder": "粤C00001", "space_id": "A-001"},
        headers=guard_headers,
    )
    assert taken.status_code == 409
    assert client.post(
        "/api/v1/guidance/hold", json={"holder": "粤C00001", "space_id": "Q-1"},
        headers=guard_headers,
    ).status_code == 404
    # The car parks in its space: the sensor releases the hold.
    sensor(client, "A-001", True)
    assert client.delete("/api/v1/guidance/hold/粤B12345", headers=guard_headers).status_code == 404
    assert client.delete("/api/v1/guidance/hold/粤B99999", headers=guard_headers).status_code == 204


def test_holds_need_staff(client: Any) -> None:
    response = client.post("/api/v1/guidance/hold", json={"holder": "粤B12345", "building": "1"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({}, 422, "building or resident_id"),
        ({"building": "99"}, 422, "unknown building"),
        ({"building": "1", "kind": "sports-car"}, 422, "kind"),
        ({"resident_id": "0"}, 422, "resident_id"),
        ({"resident_id": "4242"}, 401, "staff login"),  # would reveal where residents live
        ({"building": "x" * 65}, 422, "building"),
    ],
)
def test_bad_guidance_queries_are_refused(
    all_free_app: Any, params: dict[str, str], status: int, fragment: str
) -> None:
    response = all_free_app.get("/api/v1/guidance", params=params)
    assert response.status_code == status
    assert fragment in json.dumps(response.json(), ensure_ascii=False)


def test_no_free_space_falls_back_to_the_zone_with_most_free(client: Any) -> None:
    for space in DEMO_SPACES:
        sensor(client, space, True)
    body = client.get("/api/v1/guidance", params={"building": "1"}).json()
    assert body["space"] is None and body["reasons"] == []
    assert body["fallback_zone"] == {"zone": "A", "name": "A区地面", "free": 40}


def test_a_space_without_a_label_answers_label_null(app_factory: Any, tmp_path: Any) -> None:
    """A label is optional (CSV column, ``label:`` in the configuration); one left out was
    answered as "", a label of no characters, in the list, the single space, the stream's
    snapshot and guidance."""
    csv_path = tmp_path / "spaces.csv"
    csv_path.write_text(
        "id,label,zone,kind,dist_3\nA-101,,A,standard,20\nA-102,102,A,standard,30\n",
        encoding="utf-8",
    )
    client = app_factory(parking={"spaces": [{"id": "A-103", "zone": "A"}],
                                  "spaces_csv": str(csv_path)})
    for space in ("A-101", "A-102", "A-103"):
        sensor(client, space, False)
    listed = client.get("/api/v1/availability/spaces").json()["spaces"]
    assert {s["id"]: s["label"] for s in listed} == {"A-101": None, "A-102": "102", "A-103": None}
    assert client.get("/api/v1/availability/spaces/A-101").json()["label"] is None
    guided = client.get("/api/v1/guidance", params={"building": "3"}).json()
    assert guided["space"] == {"id": "A-101", "label": None, "zone": "A", "kind": "standard",
                               "distance_m": 20.0}
    assert guided["alternatives"][0]["label"] == "102"


def test_a_resident_is_sent_to_their_own_space(
    app_factory: Any, tmp_path: Any
) -> None:
    csv_path = tmp_path / "spaces.csv"
    csv_path.write_text(
        "id,label,zone,kind,assigned_to,dist_3\n"
        "A-101,101,A,standard,,20\n"
        "A-102,102,A,assigned,resident:1,90\n",
        encoding="utf-8",
    )
    client = app_factory(parking={"spaces": [], "spaces_csv": str(csv_path)})
    from tests.conftest import add_user

    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    hid = client.post(
        "/api/v1/households", json={"building": "3", "unit": "801"}, headers=headers
    ).json()["id"]
    rid = client.post(
        "/api/v1/residents", json={"household_id": hid, "name": "陈先生"}, headers=headers
    ).json()["id"]
    assert rid == 1
    # Someone's own space is not public: its state would tell who is home.
    public = client.get("/api/v1/availability/spaces").json()["spaces"]
    assert [s["id"] for s in public] == ["A-101"]
    assert client.get("/api/v1/availability/spaces/A-102").status_code == 404
    sensor(client, "A-101", False)
    assert client.get("/api/v1/guidance", params={"resident_id": rid}).status_code == 401
    missing = client.get("/api/v1/guidance", params={"resident_id": 4242}, headers=headers)
    assert missing.status_code == 404 and "resident 4242" in missing.json()["detail"]
    body = client.get("/api/v1/guidance", params={"resident_id": rid}, headers=headers).json()
    assert body["building"] == "3"
    assert body["space"]["id"] == "A-102"  # further away, but theirs
    assert body["reasons"] == ["assigned_space", "assigned_state_unknown"]
    sensor(client, "A-102", True)  # someone parked in it
    body = client.get("/api/v1/guidance", params={"resident_id": rid}, headers=headers).json()
    assert body["space"]["id"] == "A-101"
    assert body["reasons"] == ["assigned_unavailable", "nearest_free"]


def test_an_allowed_resident_entry_holds_the_best_space_near_home(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    hid = client.post(
        "/api/v1/households", json={"building": "5", "unit": "302"}, headers=admin_headers
    ).json()["id"]
    client.post(
        "/api/v1/vehicles", json={"plate": photo.plate, "household_id": hid},
        headers=admin_headers,
    )
    all_free(client)
    response = push(client, "main-in", photo)
    assert response.json()["decision"] == "allow", response.text
    parking = client.app.state.services.parking
    deadline = time.monotonic() + 5
    while parking.holds.holder_of("B-001", datetime.now(UTC)) is None:
        assert time.monotonic() < deadline, "no hold was placed for the entry"
        time.sleep(0.05)
    assert parking.holds.holder_of("B-001", datetime.now(UTC)) == photo.plate
    # The next driver to building 5 is sent elsewhere.
    next_driver = client.get("/api/v1/guidance", params={"building": "5"}).json()
    assert next_driver["space"]["id"] == "B-003"  # B-002 is an EV space


def test_an_entry_whose_barrier_did_not_open_is_not_counted_and_its_space_not_held(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    """Audit M1: the car was counted in, and a space held for it, though it never got in."""
    from hardware.simulated import SimFault

    photo = readable_photos[0]
    hid = client.post(
        "/api/v1/households", json={"building": "5", "unit": "302"}, headers=admin_headers
    ).json()["id"]
    client.post(
        "/api/v1/vehicles", json={"plate": photo.plate, "household_id": hid},
        headers=admin_headers,
    )
    all_free(client)
    free_before = client.get("/api/v1/availability").json()["total_free"]
    barrier = client.app.state.services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    body = push(client, "main-in", photo).json()
    assert (body["decision"], body["barrier"]) == ("allow", "fault")
    row = client.get(f"/api/v1/passages/{body['passage_id']}", headers=admin_headers).json()
    assert row["barrier_outcome"] == "fault" and "admission_undone" in row["flags"]
    assert client.get("/api/v1/availability").json()["total_free"] == free_before
    parking = client.app.state.services.parking
    deadline = time.monotonic() + 5
    while parking.auto_holds == 0:  # the hold for the entry, placed when it was recorded...
        assert time.monotonic() < deadline, "no hold was placed for the entry"
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while parking.holds.holder_of("B-001", datetime.now(UTC)) is not None:
        assert time.monotonic() < deadline, "the hold outlived the failed open"
        time.sleep(0.05)  # ...is released once the barrier did not open

    barrier.clear_faults()
    again = push(client, "main-in", photo).json()
    assert (again["decision"], again["barrier"]) == ("allow", "opening")
    row = client.get(f"/api/v1/passages/{again['passage_id']}", headers=admin_headers).json()
    assert "anti_passback" not in row["flags"]
    assert client.get("/api/v1/availability").json()["total_free"] == free_before - 1


# ---- live stream ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(make_settings: Any, plate_recognizer: Any) -> Iterator[tuple[str, Any]]:
    """The real app under uvicorn in a thread: SSE needs a server that streams."""
    from api.app import create_app
    from services.container import build_services

    services = build_services(
        make_settings(parking={"stream_heartbeat_s": 0.5}), recognizer=plate_recognizer
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_config=None,
                       lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", services
    server.should_exit = True
    thread.join(10)
    services.engine.dispose()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    kind, data = "", ""
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line.startswith(":"):
            yield "comment", line
        elif line == "" and kind:
            yield kind, data
            kind, data = "", ""


def test_stream_pushes_a_snapshot_then_corrections_and_space_changes(
    live_server: tuple[str, Any],
) -> None:
    from models.db import transaction
    from services.users import create_user

    base, services = live_server
    with transaction(services.sessions) as session:
        create_user(session, "admin", "correct-horse", "admin")
    with httpx.Client(base_url=base, timeout=10) as http:
        token = http.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "correct-horse"}
        ).json()["access_token"]
        with http.stream("GET", "/api/v1/availability/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = _events(stream.iter_lines())
            kind, data = next(events)
            assert kind == "availability" and json.loads(data)["zones"][0]["occupied"] == 0
            assert next(events)[0] == "spaces"
            assert next(events)[0] == "comment"  # heartbeat while nothing changes

            fixed = http.put(
                "/api/v1/zones/B/occupancy", json={"occupied": 5, "reason": "night count"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert fixed.status_code == 200, fixed.text
            kind, data = next(e for e in events if e[0] != "comment")
            assert kind == "availability"
            zone_b = next(z for z in json.loads(data)["zones"] if z["id"] == "B")
            assert zone_b["occupied"] == 5

            payload = {"space": "B-002", "occupied": True, "ts": datetime.now(UTC).isoformat()}
            services.parking.ingest_sensor(json.dumps(payload).encode())
            kind, data = next(e for e in events if e[0] != "comment")
            assert kind == "spaces"
            b2 = next(s for s in json.loads(data)["spaces"] if s["id"] == "B-002")
            assert b2["state"] == "occupied"


def test_readings_from_the_future_do_not_change_a_space(client: Any) -> None:
    parking = client.app.state.services.parking
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    payload = json.dumps({"space": "A-001", "occupied": True, "ts": ahead}).encode()
    assert str(parking.ingest_sensor(payload)) == "from_future"
    assert client.get("/api/v1/availability/spaces/A-001").json()["state"] == "unknown"


def test_the_demo_community_guides_out_of_the_box(app_factory: Any) -> None:
    client = app_factory()  # no parking section: demo spaces fed by the simulated car park
    parking = client.app.state.services.parking
    deadline = time.monotonic() + 5
    while parking.board.accepted < len(DEMO_SPACES):
        assert time.monotonic() < deadline, "the simulated sensors did not report"
        time.sleep(0.05)
    spaces = client.get("/api/v1/availability/spaces").json()["spaces"]
    assert {s["source"] for s in spaces} == {"sensor"}
    assert {s["state"] for s in spaces} <= {"free", "occupied"}
    body = client.get("/api/v1/guidance", params={"building": "3"}).json()
    assert body["space"] is not None and body["reasons"][-1] == "nearest_free"
