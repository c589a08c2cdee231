"""Ids and counts in JSON bodies are JSON integers: ``true`` is not id 1, nor "12" an id.

pydantic's lax mode read ``true`` as 1, so ``{"household_id": true}`` filed a resident under
household 1 and ``{"resident_id": true, "pin": …}`` tried resident 1's PIN. Query and path
parameters arrive as text and are still parsed from "12".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_console import add_staff
from tests.api.test_credentials import present
from tests.api.test_input_bounds import _household, _resident
from tests.api.test_parking import all_free


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"valid_from": now.isoformat(), "valid_to": (now + timedelta(days=1)).isoformat()}


def _refused(response: Any, field: str, fragment: str) -> None:
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(p["loc"][-1] == field and fragment in p["msg"] for p in problems), problems


# (method, path, body, the field holding the boolean); {hid}/{rid} are filled in per test.
BOOLEAN_BODIES = [
    ("POST", "/api/v1/households", {"building": "8栋", "unit": "801", "spaces": True}, "spaces"),
    ("PATCH", "/api/v1/households/{hid}", {"spaces": False}, "spaces"),
    ("POST", "/api/v1/residents", {"household_id": True, "name": "林芳"}, "household_id"),
    ("PATCH", "/api/v1/residents/{rid}", {"household_id": True}, "household_id"),
    ("POST", "/api/v1/vehicles", {"plate": "闽A12345", "household_id": True}, "household_id"),
    ("POST", "/api/v1/vehicles", {"plate": "闽A12345", "household_id": "{hid}",
                                  "resident_id": True}, "resident_id"),
    ("POST", "/api/v1/passes", {"plate": "粤B88888", "host_household_id": True, **_window()},
     "host_household_id"),
    ("POST", "/api/v1/passes", {"plate": "粤B88888", "host_household_id": "{hid}",
                                "max_uses": True, **_window()}, "max_uses"),
    ("PUT", "/api/v1/zones/A/occupancy", {"occupied": True, "reason": "walked the lot"},
     "occupied"),
    ("POST", "/api/v1/gates/main-in/actions",
     {"action": "open", "reason": "访客确认", "passage_id": True}, "passage_id"),
]


def test_a_boolean_resident_id_does_not_try_resident_1s_pin(
    client: Any, admin_headers: dict[str, str]
) -> None:
    from tests.api.test_credentials import resident_with_pin

    rid = resident_with_pin(client, admin_headers)
    assert rid == 1
    _refused(present(client, {"kind": "pin", "resident_id": True, "pin": "482913"}),
             "resident_id", "not true")


def test_a_boolean_resident_id_holds_nothing(app_factory: Any) -> None:
    from tests.conftest import add_user

    client = app_factory(parking={"sensors": {"simulate": False}})
    all_free(client)
    headers = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    response = client.post(
        "/api/v1/guidance/hold", json={"holder": "闽A12345", "resident_id": True},
        headers=headers,
    )
    _refused(response, "resident_id", "not true")
    assert client.app.state.services.parking.holds.active(datetime.now(UTC)) == ()


def test_numbers_still_work_in_bodies_queries_and_paths(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = _household(client, admin_headers)
    rid = _resident(client, admin_headers, hid)
    made = client.post(
        "/api/v1/vehicles",
        json={"plate": "闽A12345", "household_id": hid, "resident_id": rid},
        headers=admin_headers,
    )
    assert made.status_code == 201, made.text
    patched = client.patch(f"/api/v1/households/{hid}", json={"spaces": 2},
                           headers=admin_headers)
    assert patched.status_code == 200 and patched.json()["spaces"] == 2, patched.text
    # Query and path parameters are text on the wire: "12" is still the number 12.
    found = client.get("/api/v1/residents", params={"household_id": str(hid)},
                       headers=admin_headers)
    assert [r["id"] for r in found.json()] == [rid], found.text
    assert client.get(f"/api/v1/households/{hid}", headers=admin_headers).status_code == 200


@dataclass(frozen=True)
class Staff:
    admin: dict[str, str]
    guard: dict[str, str]
    household_id: int
    resident_id: int


@pytest.fixture(scope="module")
def staff(shared_client: Any) -> Staff:
    """An admin, a guard, household 1 and its resident on the shared app, made once."""
    services = shared_client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    hid = _household(shared_client, admin)  # id 1: what lax mode turned ``true`` into
    assert hid == 1
    return Staff(admin, guard, hid, _resident(shared_client, admin, hid))


class TestRefused:
    """Bodies refused with a 422 before anything is stored: they share one app per database
    and its staff, household and resident (tests/api/conftest.py ``shared_client``) instead of
    building them for each case (0.5 s of CPU for one request). Were one let through (lax
    mode back), its own case fails on the status."""

    @pytest.fixture
    def client(self, fresh_shared_client: Any) -> Any:
        return fresh_shared_client

    @pytest.fixture
    def admin_headers(self, staff: Staff) -> dict[str, str]:
        return staff.admin

    @pytest.fixture
    def guard_headers(self, staff: Staff) -> dict[str, str]:
        return staff.guard

    @pytest.mark.parametrize(
        ("method", "path", "body", "field"), BOOLEAN_BODIES,
        ids=[f"{m} {p} {f}" for m, p, _, f in BOOLEAN_BODIES],
    )
    def test_a_boolean_for_an_id_or_count_is_refused_by_name(
        self, client: Any, admin_headers: dict[str, str], staff: Staff, method: str, path: str,
        body: dict[str, Any], field: str,
    ) -> None:
        hid, rid = staff.household_id, staff.resident_id
        filled = json.loads(json.dumps(body).replace('"{hid}"', str(hid)))
        response = client.request(
            method, path.format(hid=hid, rid=rid), json=filled, headers=admin_headers
        )
        _refused(response, field, "not true" if body[field] is True else "not false")

    def test_a_review_visitor_pass_needs_a_numeric_household(
        self, client: Any, guard_headers: dict[str, str]
    ) -> None:
        body = {"resolution": "visitor_pass", "reason": "业主电话确认",
                "visitor_pass": {"host_household_id": True, "valid_to": _window()["valid_to"]}}
        response = client.post("/api/v1/passages/1/resolve", json=body, headers=guard_headers)
        _refused(response, "host_household_id", "not true")

    @pytest.mark.parametrize("value", ["1", 1.0])
    def test_ids_in_bodies_are_json_integers_not_text_or_floats(
        self, client: Any, admin_headers: dict[str, str], value: Any, staff: Staff
    ) -> None:
        assert staff.household_id == 1
        response = client.post(
            "/api/v1/residents", json={"household_id": value, "name": "林芳"}, headers=admin_headers
        )
        _refused(response, "household_id", "valid integer")

    def test_the_console_words_the_refusal_like_any_bad_number(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        from api.console.error_texts import explain_detail

        response = client.post("/api/v1/households", json={"building": "8栋", "unit": "801",
                                                           "spaces": True}, headers=admin_headers)
        assert explain_detail("en", response.json()["detail"]) == "Spaces: enter a number"
