"""The review queue resolved through the JSON API, on real photos (issue 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_console import add_staff
from tests.api.test_vehicle_entry import free_in_zone, push
from tests.conftest import LabelledPhoto


@pytest.fixture
def review_passage(client: Any, readable_photos: list[LabelledPhoto]) -> dict[str, Any]:
    body = push(client, "main-in", readable_photos[1]).json()
    assert body["decision"] == "review", body
    return dict(body)



@pytest.fixture
def admin_headers(client: Any) -> dict[str, str]:
    """Overrides conftest's: same user, without two argon2 rounds per test."""
    return add_staff(client.app.state.services, "admin", "admin")


@pytest.fixture
def guard_headers(client: Any) -> dict[str, str]:
    return add_staff(client.app.state.services, "guard", "guard")

def household(client: Any, headers: dict[str, str]) -> int:
    response = client.post(
        "/api/v1/households", json={"building": "7栋", "unit": "801"}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_review_becomes_a_visitor_pass_and_the_car_is_admitted(
    client: Any,
    admin_headers: dict[str, str],
    guard_headers: dict[str, str],
    review_passage: dict[str, Any],
    readable_photos: list[LabelledPhoto],
) -> None:
    hid = household(client, admin_headers)
    queue = client.get("/api/v1/review", headers=guard_headers).json()
    assert [p["id"] for p in queue] == [review_passage["passage_id"]]
    free_before = free_in_zone(client, "A")

    response = client.post(
        f"/api/v1/passages/{review_passage['passage_id']}/resolve",
        json={
            "resolution": "visitor_pass",
            "reason": "7栋801业主电话确认",
            "visitor_pass": {
                "host_household_id": hid,
                "valid_to": (datetime.now(UTC) + timedelta(hours=4)).isoformat(),
            },
        },
        headers=guard_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resolution"] == "visitor_pass"
    assert body["barrier"] in ("opening", "open")
    passage = body["passage"]
    assert passage["resolved_by"] == "guard"
    assert passage["resolved_plate"] == readable_photos[1].plate
    assert passage["decision"] == "review"  # the controller's decision is kept as it was
    assert free_in_zone(client, "A") == free_before - 1

    visitor_pass = client.get(f"/api/v1/passes/{body['pass_id']}", headers=guard_headers).json()
    assert (visitor_pass["plate"], visitor_pass["uses"]) == (readable_photos[1].plate, 1)
    assert visitor_pass["created_by"] == "guard"
    assert client.get("/api/v1/review", headers=guard_headers).json() == []

    granted = client.get("/api/v1/audit", params={"action": "pass.create"},
                         headers=admin_headers).json()["items"][0]["details"]
    assert (granted["host_household_id"], granted["max_uses"]) == (hid, visitor_pass["max_uses"])
    assert [datetime.fromisoformat(granted[k]) for k in ("valid_from", "valid_to")] == [
        datetime.fromisoformat(visitor_pass[k]) for k in ("valid_from", "valid_to")]
    audit = client.get("/api/v1/audit", params={"action": "passage"}, headers=admin_headers)
    row = audit.json()["items"][0]
    assert (row["username"], row["passage_id"], row["reason"]) == (
        "guard", review_passage["passage_id"], "7栋801业主电话确认"
    )
    again = client.post(
        f"/api/v1/passages/{review_passage['passage_id']}/resolve",
        json={"resolution": "deny", "reason": "重复操作"},
        headers=guard_headers,
    )
    assert again.status_code == 409

    # The car leaves through the exit as a known visitor.
    out = push(client, "main-out", readable_photos[1]).json()
    assert (out["decision"], out["reason"]) == ("allow", "exit_known_inside")


def test_allow_once_with_a_corrected_plate_and_deny(
    client: Any, guard_headers: dict[str, str], review_passage: dict[str, Any],
    readable_photos: list[LabelledPhoto],
) -> None:
    pid = review_passage["passage_id"]
    response = client.post(
        f"/api/v1/passages/{pid}/resolve",
        json={"resolution": "allow_once", "reason": "快递车登记", "plate": "粤b 12345"},
        headers=guard_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["passage"]["resolved_plate"] == "粤B12345"
    assert body["passage"]["resolution"] == "allowed_once"
    assert body["pass_id"] is None

    second = push(client, "main-in", readable_photos[2]).json()
    assert second["decision"] == "review"
    denied = client.post(
        f"/api/v1/passages/{second['passage_id']}/resolve",
        json={"resolution": "deny", "reason": "无人认领"},
        headers=guard_headers,
    )
    assert denied.status_code == 200, denied.text
    assert denied.json()["barrier"] is None
    assert denied.json()["passage"]["resolution"] == "denied"


BAD_RESOLUTIONS: list[tuple[dict[str, Any], int]] = [
    ({"resolution": "visitor_pass", "reason": "测试原因"}, 422),
    ({"resolution": "allow_once", "reason": "x"}, 422),
    ({"resolution": "allow_once", "reason": "测试原因", "plate": "HELLO"}, 422),
    ({"resolution": "maybe", "reason": "测试原因"}, 422),
    ({"resolution": "visitor_pass", "reason": "测试原因",
      "visitor_pass": {"host_household_id": 999, "valid_to": "2999-01-01T00:00:00+08:00"}},
     422),
    ({"resolution": "visitor_pass", "reason": "测试原因",
      "visitor_pass": {"host_household_id": 1, "valid_to": "2999-01-01T00:00:00"}}, 422),
    ({"resolution": "deny", "reason": "测试原因", "plate": "闽A12345", "extra": True}, 422),
    ({"resolution": "allow_once", "reason": "测试原因", "plate": "闽A12345", "no_plate": True},
     422),
    ({"resolution": "visitor_pass", "reason": "测试原因", "no_plate": True,
      "visitor_pass": {"host_household_id": 1, "valid_to": "2999-01-01T00:00:00+08:00"}}, 422),
]


def test_bad_resolutions_are_refused(
    client: Any, guard_headers: dict[str, str], review_passage: dict[str, Any]
) -> None:
    # One app for the whole table: building an app (migrations, argon2) dominates the time.
    for body, status in BAD_RESOLUTIONS:
        response = client.post(
            f"/api/v1/passages/{review_passage['passage_id']}/resolve", json=body,
            headers=guard_headers,
        )
        assert response.status_code == status, (body, response.text)
    assert client.get("/api/v1/review", headers=guard_headers).json() != []


def test_only_review_passages_can_be_resolved(
    client: Any, guard_headers: dict[str, str]
) -> None:
    assert client.post(
        "/api/v1/passages/12345/resolve", json={"resolution": "deny", "reason": "测试原因"},
        headers=guard_headers,
    ).status_code == 404


def test_two_guards_resolving_at_once_admit_the_car_once(
    client: Any, guard_headers: dict[str, str], review_passage: dict[str, Any]
) -> None:
    import asyncio

    from errors import ConflictError
    from services.review import ReviewDecision, ReviewOutcome, resolve_review

    services = client.app.state.services
    free_before = free_in_zone(client, "A")
    decision = ReviewDecision(
        passage_id=review_passage["passage_id"], resolution="allow_once", reason="两人同时操作"
    )

    async def both() -> tuple[ReviewOutcome | BaseException, ReviewOutcome | BaseException]:
        return await asyncio.gather(
            resolve_review(services, "guard-a", decision),
            resolve_review(services, "guard-b", decision),
            return_exceptions=True,
        )

    results = client.portal.call(both)
    assert sum(isinstance(r, ConflictError) for r in results) == 1, results
    assert free_in_zone(client, "A") == free_before - 1


def test_a_car_confirmed_without_plate_is_not_counted_under_the_cameras_read(
    client: Any, guard_headers: dict[str, str], admin_headers: dict[str, str],
    review_passage: dict[str, Any], readable_photos: list[LabelledPhoto],
) -> None:
    """The camera read a plate (another car in view, a sticker); the guard checked the car in
    front of the barrier has none and lets it in: nothing may be recorded under that read."""
    read = readable_photos[1].plate
    free = free_in_zone(client, "A")
    response = client.post(
        f"/api/v1/passages/{review_passage['passage_id']}/resolve",
        json={"resolution": "allow_once", "reason": "快递三轮车（无牌车，已确认）",
              "no_plate": True},
        headers=guard_headers,
    )
    assert response.status_code == 200, response.text
    passage = response.json()["passage"]
    assert passage["resolution"] == "allowed_once" and passage["resolved_plate"] is None
    assert free_in_zone(client, "A") == free - 1  # the car is inside, counted once
    audit = client.get("/api/v1/audit", params={"action": "passage"}, headers=admin_headers)
    details = audit.json()["items"][0]["details"]
    assert details["plate"] is None and details["read_plate"] == read
    # The car whose plate was read arrives later: not taken for one already inside.
    again = push(client, "main-in", readable_photos[1]).json()
    stored = client.get(f"/api/v1/passages/{again['passage_id']}", headers=admin_headers)
    assert "anti_passback" not in stored.json()["flags"], stored.json()


@pytest.mark.parametrize("typed", [None, "闽A1234S"], ids=["plate left out", "read kept"])
def test_a_misread_let_in_by_the_guard_is_recorded_as_the_car_it_was_matched_to(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
    typed: str | None,
) -> None:
    """The camera read 闽A1234S, one look-alike from the resident's 闽A12345, a match it
    would open for, but the household's one space is taken by its other car; the guard
    confirms the car. It is inside as 闽A12345 (its household's car), so it leaves as a car
    known inside, and the misread does not become a plate of its own that the same misread
    later matches exactly, as an unknown car. The booth's form sends the camera's read back
    unless the guard changes it."""
    from controllers.values import Sighting
    from models.vehicles import Presence

    services = client.app.state.services
    hid = household(client, admin_headers)
    for plate in ("闽A12345", "闽A99999"):
        added = client.post("/api/v1/vehicles", json={"plate": plate, "household_id": hid},
                            headers=admin_headers)
        assert added.status_code == 201, added.text

    def arrive(gate: str, confidence: float, plate: str = "闽A1234S") -> Any:
        sighting = Sighting(gate, datetime.now(UTC), plate, confidence)
        return client.portal.call(services.runtime.handle_sighting, sighting)

    assert arrive("main-in", 0.95, "闽A99999").decision.reason == "resident"
    over = arrive("main-in", 0.95)
    assert (over.decision.reason, over.decision.matched_plate) == ("resident_over_quota",
                                                                  "闽A12345")
    free = free_in_zone(client, "A")
    response = client.post(
        f"/api/v1/passages/{over.passage_id}/resolve",
        json={"resolution": "allow_once", "reason": "业主本人，车牌污损", "plate": typed},
        headers=guard_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["passage"]["resolved_plate"] == "闽A12345"
    assert free_in_zone(client, "A") == free - 1
    with services.sessions() as session:
        inside = session.get(Presence, "闽A12345")
        assert inside is not None and inside.household_id == hid  # one of its spaces in use

    leaving = arrive("main-out", 0.95)
    assert (leaving.decision.verdict, leaving.decision.reason) == ("allow", "exit_known_inside")
    assert free_in_zone(client, "A") == free
    back = arrive("main-in", 0.95)
    assert back.decision.reason == "resident_over_quota"
    assert "anti_passback" not in back.decision.flags


@pytest.mark.parametrize("typed", [None, "闽A1234S"], ids=["plate left out", "read kept"])
def test_a_car_on_a_doubtful_read_is_not_taken_for_the_resident_it_looked_like(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
    typed: str | None,
) -> None:
    """The camera read 闽A1234S, too unsure to open, one look-alike from the resident's
    闽A12345. The booth's card shows the read, not the look-alike: a guard who lets the car
    in as read has confirmed 闽A1234S (a stranger's car, say), not the resident's. It must
    not be inside as 闽A12345 on the household's space, or the resident coming home is an
    anti-passback case (denied under hard anti-passback)."""
    from controllers.values import Sighting
    from models.vehicles import Presence

    services = client.app.state.services
    hid = household(client, admin_headers)
    added = client.post("/api/v1/vehicles", json={"plate": "闽A12345", "household_id": hid},
                        headers=admin_headers)
    assert added.status_code == 201, added.text

    def arrive(plate: str, confidence: float) -> Any:
        sighting = Sighting("main-in", datetime.now(UTC), plate, confidence)
        return client.portal.call(services.runtime.handle_sighting, sighting)

    unsure = arrive("闽A1234S", 0.5)
    assert (unsure.decision.reason, unsure.decision.matched_plate) == ("low_confidence",
                                                                      "闽A12345")
    response = client.post(
        f"/api/v1/passages/{unsure.passage_id}/resolve",
        json={"resolution": "allow_once", "reason": "访客，车牌无误", "plate": typed},
        headers=guard_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["passage"]["resolved_plate"] == "闽A1234S"
    with services.sessions() as session:
        assert session.get(Presence, "闽A12345") is None
        stranger = session.get(Presence, "闽A1234S")
        assert stranger is not None and stranger.household_id is None

    home = arrive("闽A12345", 0.95)
    assert (home.decision.verdict, home.decision.reason) == ("allow", "resident")
    assert "anti_passback" not in home.decision.flags
