"""The public availability API as a driver app uses it, over real HTTP: the live stream, the
building a driver names, and a browser app on another origin."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import event

from tests.api.test_parking import _events, all_free
from tests.conftest import add_user
from tests.live_server import free_port, running


@pytest.fixture
def live(make_settings: Any, plate_recognizer: Any) -> Iterator[tuple[str, Any]]:
    """The demo community under uvicorn, its simulated car park off, and a heartbeat long
    enough that only a change can wake a stream within a test's wait."""
    from api.app import create_app
    from services.container import build_services

    services = build_services(
        make_settings(parking={"stream_heartbeat_s": 60, "sensors": {"simulate": False}}),
        recognizer=plate_recognizer,
    )
    port = free_port()
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                            log_config=None, lifespan="on")
    with running(config):
        yield f"http://127.0.0.1:{port}", services
    services.engine.dispose()


@pytest.fixture
def demo(app_factory: Any) -> Any:
    """The demo community (spaces with distances to buildings "1", "3", "5", "8") in-process, its
    simulated car park off so the tests set the states."""
    return app_factory(parking={"sensors": {"simulate": False}})


@pytest.fixture
def guard_headers_demo(demo: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_user(demo, 'guard', 'guard')}"}


def _admin_token(http: httpx.Client, services: Any) -> str:
    from models.db import transaction
    from services.users import create_user

    with transaction(services.sessions) as session:
        create_user(session, "admin", "correct-horse", "admin")
    response = http.post("/api/v1/auth/token",
                         data={"username": "admin", "password": "correct-horse"})
    return str(response.json()["access_token"])


def _zone_b_occupied(data: str) -> int:
    return int(next(z for z in json.loads(data)["zones"] if z["id"] == "B")["occupied"])


def test_a_zone_correction_reaches_the_stream_although_it_commits_after_announcing_it(
    live: tuple[str, Any],
) -> None:
    # The correction announced the new count before its transaction committed: a stream
    # that looked at once read the old count and then waited for the next change or
    # heartbeat (15 s by default), half the time in a live demo. A slow commit makes the
    # race certain here.
    base, services = live

    def slow_commit(_session: Any) -> None:
        time.sleep(0.5)

    with httpx.Client(base_url=base, timeout=10) as http:
        headers = {"Authorization": f"Bearer {_admin_token(http, services)}"}
        with http.stream("GET", "/api/v1/availability/stream",
                         timeout=httpx.Timeout(10, read=5)) as stream:
            events = _events(stream.iter_lines())
            kind, data = next(events)
            assert kind == "availability" and _zone_b_occupied(data) == 0
            assert next(events)[0] == "spaces"
            event.listen(services.sessions, "before_commit", slow_commit)
            try:
                fixed = http.put("/api/v1/zones/B/occupancy",
                                 json={"occupied": 7, "reason": "night count"}, headers=headers)
            finally:
                event.remove(services.sessions, "before_commit", slow_commit)
            assert fixed.status_code == 200, fixed.text
            seen = []
            for kind, data in events:  # a read time-out (5 s) fails the test
                if kind == "availability":
                    seen.append(_zone_b_occupied(data))
                    if seen[-1] == 7:
                        break
            assert seen[-1] == 7, seen


# ---- the building a driver names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "folded"),
    [("5栋", "5栋"), ("5幢", "5幢"), ("5号楼", "5号楼"), ("５", "5"), (" 5 ", "5"),
     ("5 栋", "5 栋"), ("5\n", "5"), ("\t５栋\r\n", "5栋"), ("5  栋", "5 栋")],
)
def test_a_building_written_with_its_word_or_full_width_is_the_same_building(
    demo: Any, written: str, folded: str
) -> None:
    # The demo's households are "3栋", "5栋", "8栋" and its spaces know "1", "3", "5", "8": a
    # driver typing 5栋 got 422 "unknown building".
    all_free(demo)
    plain = demo.get("/api/v1/guidance", params={"building": "5"}).json()
    response = demo.get("/api/v1/guidance", params={"building": written})
    assert response.status_code == 200, response.text
    body = response.json()
    # As asked, folded as a household's building is stored (its word kept): "５" and "5\n"
    # came back as typed, and an app showed the driver "Building ５" or a broken line.
    assert body["building"] == folded
    assert body["space"] == plain["space"] == {
        "id": "B-001", "label": "B-001", "zone": "B", "kind": "standard", "distance_m": 30.0,
    }
    assert body["reasons"] == ["nearest_free"]
    assert body["alternatives"] == plain["alternatives"]


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("5\u0000", "must not contain control characters"),
        ("5\u200b", "must not contain control characters"),  # a pasted zero-width space
        (" \n ", "must not be blank"),
        ("９９", "unknown building '99'"),  # folded, and still no such building
    ],
)
def test_a_building_that_folds_to_nothing_known_is_refused_saying_why(
    demo: Any, guard_headers_demo: dict[str, str], written: str, fragment: str
) -> None:
    all_free(demo)
    asked = demo.get("/api/v1/guidance", params={"building": written})
    held = demo.post("/api/v1/guidance/hold", json={"holder": "沪B7M261", "building": written},
                     headers=guard_headers_demo)
    for response in (asked, held):
        assert response.status_code == 422, response.text
        assert fragment in json.dumps(response.json(), ensure_ascii=False)
    assert demo.app.state.services.parking.holds.active(datetime.now(UTC)) == ()


def test_a_staff_hold_echoes_the_building_folded(
    demo: Any, guard_headers_demo: dict[str, str]
) -> None:
    all_free(demo)
    for body in ({"holder": "沪B7M261", "building": " ５\n"},
                 {"holder": "沪B7M261", "building": "５栋 ", "space_id": "B-002"}):
        response = demo.post("/api/v1/guidance/hold", json=body, headers=guard_headers_demo)
        assert response.status_code == 201, response.text
        assert response.json()["building"] == body["building"].strip().replace("５", "5")
        assert response.json()["space"]["distance_m"] is not None


def test_every_demo_household_s_building_gets_a_space_near_it(demo: Any) -> None:
    # 8栋's residents (陈女士's two cars) got 422 "unknown building": the demo's spaces knew
    # only buildings 1, 3 and 5, so the demo looked broken for a third of its households.
    all_free(demo)
    nearest = {}
    for building in ("3栋", "5栋", "8栋"):
        response = demo.get("/api/v1/guidance", params={"building": building})
        assert response.status_code == 200, response.text
        nearest[building] = response.json()["space"]["id"]
    assert nearest == {"3栋": "A-005", "5栋": "B-001", "8栋": "B-003"}


def test_a_resident_of_5栋_is_sent_near_building_5_and_their_entry_holds_a_space_there(
    demo: Any,
) -> None:
    # Households named as the demo names them: every resident's guidance (and every entry's
    # automatic hold) ranked all spaces as "distance_unknown" and picked the lowest id.
    headers = {"Authorization": f"Bearer {add_user(demo, 'admin', 'admin')}"}
    hid = demo.post("/api/v1/households", json={"building": "5栋", "unit": "302"},
                    headers=headers).json()["id"]
    rid = demo.post("/api/v1/residents", json={"household_id": hid, "name": "王先生"},
                    headers=headers).json()["id"]
    all_free(demo)
    body = demo.get("/api/v1/guidance", params={"resident_id": rid}, headers=headers).json()
    assert body["building"] == "5栋"
    assert body["space"]["id"] == "B-001" and body["space"]["distance_m"] == 30.0
    assert body["reasons"] == ["nearest_free"]

    parking = demo.app.state.services.parking
    parking._entry_hold({"plate": "沪B7M261", "household_id": hid, "resident_id": rid})
    assert parking.holds.holder_of("B-001", datetime.now(UTC)) == "沪B7M261"


def test_spaces_naming_one_building_twice_are_refused_at_start() -> None:
    from controllers.spaces import SpaceRecord

    with pytest.raises(ValueError, match="names one building twice: '3' and '3栋'"):
        SpaceRecord(id="A-1", zone="A", distances_m={"3": 40, "3栋": 60})
    assert SpaceRecord(id="A-1", zone="A", distances_m={"3号楼": 40}).distances_m == {"3": 40}


# ---- a browser app on another origin ---------------------------------------------------------

APP_ORIGIN = "https://parking-app.example"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/availability", 200),  # the fast path
        ("/api/v1/availability/spaces", 200),  # the fast path
        ("/api/v1/availability/spaces/A-001", 200),
        ("/api/v1/availability/spaces/Q-9", 404),  # an app must be able to read its errors
        ("/api/v1/guidance?building=3", 200),
        ("/api/v1/guidance?building=99", 422),
    ],
)
def test_a_browser_app_on_another_origin_may_read_the_public_answers(
    live: tuple[str, Any], path: str, status: int
) -> None:
    # Without Access-Control-Allow-Origin a browser hides every answer from the app.
    base, _services = live
    with httpx.Client(base_url=base, timeout=10) as http:
        response = http.get(path, headers={"Origin": APP_ORIGIN})
        assert response.status_code == status, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        exposed = {h.strip().lower() for h in
                   response.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "retry-after", "age"} <= exposed


def test_a_preflight_for_revalidation_and_the_stream_is_answered(
    live: tuple[str, Any],
) -> None:
    base, _services = live
    with httpx.Client(base_url=base, timeout=10) as http:
        for path in ("/api/v1/availability", "/api/v1/availability/stream"):
            response = http.options(path, headers={
                "Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "if-none-match, last-event-id",
            })
            assert response.status_code == 204, (path, response.text)
            assert response.headers["access-control-allow-origin"] == "*"
            assert response.headers["access-control-allow-methods"] == "GET"
            allowed = response.headers["access-control-allow-headers"].lower()
            assert "if-none-match" in allowed and "last-event-id" in allowed
            assert "authorization" not in allowed  # staff lookups stay on the console's origin
        with http.stream("GET", "/api/v1/availability/stream",
                         headers={"Origin": APP_ORIGIN}) as stream:
            assert stream.headers["access-control-allow-origin"] == "*"


def test_staff_routes_and_same_origin_requests_get_no_cors_headers(
    live: tuple[str, Any],
) -> None:
    base, _services = live
    with httpx.Client(base_url=base, timeout=10) as http:
        hold = http.options("/api/v1/guidance/hold", headers={
            "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in hold.headers
        passages = http.get("/api/v1/passages", headers={"Origin": APP_ORIGIN})
        assert passages.status_code == 401
        assert "access-control-allow-origin" not in passages.headers
        plain = http.get("/api/v1/availability")
        assert "access-control-allow-origin" not in plain.headers


# ---- one space reads as in the list -----------------------------------------------------------


def test_one_space_reads_exactly_as_its_row_in_the_list_and_the_stream(
    live: tuple[str, Any],
) -> None:
    # `since` was "…+00:00" in the list and the stream but "…Z" for one space.
    base, services = live
    services.parking.ingest_sensor(json.dumps({
        "space": "A-001", "occupied": False, "ts": datetime.now(UTC).isoformat(),
    }).encode())
    with httpx.Client(base_url=base, timeout=10) as http:
        listed = http.get("/api/v1/availability/spaces").json()["spaces"]
        row = next(s for s in listed if s["id"] == "A-001")
        one = http.get("/api/v1/availability/spaces/A-001")
        assert one.status_code == 200
        assert one.json() == row
        assert row["since"] is not None and row["state"] == "free"
        tag = one.headers["etag"]
        assert http.get("/api/v1/availability/spaces/A-001",
                        headers={"If-None-Match": tag}).status_code == 304


def test_a_space_whose_id_has_a_slash_is_read_by_its_id(app_factory: Any) -> None:
    """A garage's spaces named by level ("B1/017", fed by a bay camera) are listed with that
    id; an app that encodes it into the one-space URL must get the space, not a bare 404."""
    spaces = [{"id": "B1/017", "zone": "B", "distances_m": {"3": 40}}]
    client = app_factory(parking={"spaces": spaces, "sensors": {"simulate": False}})
    listed = client.get("/api/v1/availability/spaces").json()["spaces"]
    assert [s["id"] for s in listed] == ["B1/017"]

    one = client.get("/api/v1/availability/spaces/B1%2F017")
    assert one.status_code == 200, one.text
    assert one.json() == listed[0]
    gone = client.get("/api/v1/availability/spaces/B1%2F018")
    assert gone.status_code == 404 and "B1/018" in gone.json()["detail"]
