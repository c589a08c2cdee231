"""Input an audit found answered with a 500 or stored as garbage: each is now a clear 4xx."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest

from api.console.error_texts import explain_detail
from tests.api.test_console import add_staff, cookie_login
from tests.conftest import add_user

HUGE = 2**63  # past what either database stores in an integer key


def _household(
    client: Any, headers: dict[str, str], building: str = "1栋", unit: str = "101"
) -> int:
    response = client.post(
        "/api/v1/households", json={"building": building, "unit": unit}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _resident(client: Any, headers: dict[str, str], household_id: int) -> int:
    response = client.post(
        "/api/v1/residents", json={"household_id": household_id, "name": "林芳"}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _window(days_from: float = 0, days_to: float = 1) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "valid_from": (now + timedelta(days=days_from)).isoformat(),
        "valid_to": (now + timedelta(days=days_to)).isoformat(),
    }


def _unread_frame() -> bytes:
    """A grey frame, no plate in it: the car is sent to review. Small, as the size is not what
    is tested: the recogniser looks at 320x240 for 0.2 s of CPU, at 64x48 for 0.01 s."""
    ok, png = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    return png.tobytes()


def _messages(response: Any) -> str:
    return str(response.json()["detail"])


def test_a_car_cannot_be_moved_away_from_its_drivers_household(
    client: Any, admin_headers: dict[str, str]
) -> None:
    home, other = _household(client, admin_headers), _household(client, admin_headers, unit="102")
    driver = _resident(client, admin_headers, home)
    car = client.post(
        "/api/v1/vehicles", json={"plate": "闽A12345", "household_id": home, "resident_id": driver},
        headers=admin_headers,
    ).json()["id"]
    moved = client.patch(f"/api/v1/vehicles/{car}", json={"household_id": other},
                         headers=admin_headers)
    assert moved.status_code == 422 and f"belongs to household {home}" in moved.json()["detail"]
    # Moving the driver alone would leave the car with the old household.
    person = client.patch(f"/api/v1/residents/{driver}", json={"household_id": other},
                          headers=admin_headers)
    assert person.status_code == 409 and "vehicle" in person.json()["detail"]
    # Car and driver together: first unlink, then move both.
    both = client.patch(f"/api/v1/vehicles/{car}",
                        json={"household_id": other, "resident_id": None}, headers=admin_headers)
    assert both.status_code == 200 and both.json()["household_id"] == other


@pytest.mark.parametrize(
    ("path_kind", "body"),
    [("households", {"building": None}), ("households", {"spaces": None}),
     ("residents", {"name": None}), ("vehicles", {"plate": None})],
)
def test_null_for_a_required_field_says_so(
    client: Any, admin_headers: dict[str, str], path_kind: str, body: dict[str, Any]
) -> None:
    hid = _household(client, admin_headers)
    ids = {
        "households": hid,
        "residents": _resident(client, admin_headers, hid),
        "vehicles": client.post("/api/v1/vehicles", json={"plate": "闽A12345", "household_id": hid},
                                headers=admin_headers).json()["id"],
    }
    response = client.patch(f"/api/v1/{path_kind}/{ids[path_kind]}", json=body,
                            headers=admin_headers)
    assert response.status_code == 422 and "may not be null" in _messages(response)


# --- a second audit ------------------------------------------------------------------------


def _bmp_header_only(width: int, height: int) -> bytes:
    """A BMP whose header claims ``width`` x ``height`` over almost no data (RLE8)."""
    import struct

    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, 2, 2835, 2835, 256, 0)
    palette = bytes(1024)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + 2, 0, 0, offset) + info + palette + b"\x00\x01"


def test_list_filters_find_rows_however_the_plate_or_label_is_typed(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = _household(client, admin_headers, building="7栋", unit="701")
    client.post("/api/v1/vehicles", json={"plate": "闽A12345", "household_id": hid},
                headers=admin_headers)
    for typed in ("闽A·12345", "闽a12345", "闽Ａ１２３４５", " 闽A 12345 "):
        found = client.get("/api/v1/vehicles", params={"plate": typed}, headers=admin_headers)
        assert [v["plate"] for v in found.json()] == ["闽A12345"], typed
    found = client.get("/api/v1/households", params={"building": "７栋"}, headers=admin_headers)
    assert [h["id"] for h in found.json()] == [hid]


def test_a_pedestrian_burst_too_large_in_all_is_refused_before_it_takes_the_memory(
    app_factory: Any,
) -> None:
    """32 flat 40 MP PNGs compress to 1.7 MB yet decode to 5 GB held at once (a fuzzing run
    found it); the burst's total is bounded by api.max_burst_pixels."""
    frame = cv2.imencode(".png", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
    client = app_factory(api={"max_burst_pixels": 3 * 640 * 480})
    camera = {"X-API-Key": "test-camera-key"}
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}

    def burst(n: int) -> Any:
        return client.post("/api/v1/gates/ped-1/frames", headers=camera,
                           files=[("image", (f"{i}.png", frame, "image/png"))
                                  for i in range(n)])

    refused = burst(4)
    assert refused.status_code == 422
    assert "frame 4" in refused.json()["detail"]
    assert "api.max_burst_pixels" in refused.json()["detail"]
    assert client.get("/api/v1/passages", headers=admin).json()["total"] == 0
    within = burst(3)
    assert within.status_code == 200, within.text
    assert within.json()["decision"] == "review"  # no face in grey frames: the guard decides


@dataclass(frozen=True)
class Staff:
    admin: dict[str, str]
    guard: dict[str, str]
    household_id: int


@pytest.fixture(scope="module")
def staff(shared_client: Any) -> Staff:
    """An admin, a guard and household 1 on the shared app, made once."""
    services = shared_client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    household_id = _household(shared_client, admin)
    assert household_id == 1  # what a body's household_id 1 below names
    return Staff(admin, guard, household_id)


class TestOnOneApp:
    """Requests refused with a 4xx before anything is stored, pages that only read, and
    tests that write only rows of their own (a household of their own unit, a username,
    a passage) and read only those: they share one app per database and its staff and
    household (tests/api/conftest.py ``shared_client``) instead of building both for each
    case (0.5 s of CPU for a few requests). A test that stores what another reads (闽A12345
    in several, a household counted by building) builds its own app (above)."""

    @pytest.fixture
    def client(self, fresh_shared_client: Any, staff: Staff) -> Any:
        return fresh_shared_client

    @pytest.fixture
    def admin_headers(self, staff: Staff) -> dict[str, str]:
        return staff.admin

    @pytest.fixture
    def guard_headers(self, staff: Staff) -> dict[str, str]:
        return staff.guard

    @pytest.fixture
    def household_id(self, staff: Staff) -> int:
        return staff.household_id

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", f"/api/v1/households/{HUGE}"),
            ("DELETE", f"/api/v1/vehicles/{HUGE}"),
            ("GET", f"/api/v1/passages/{HUGE}"),
            ("POST", f"/api/v1/alarms/{HUGE}/ack"),
            ("GET", f"/api/v1/residents?household_id={HUGE}"),
            ("GET", f"/api/v1/passages?offset={HUGE}"),
            ("GET", "/api/v1/passages?since=0001-01-01T00:00%2B08:00"),
            ("GET", "/api/v1/audit?until=9999-12-31T23:59:59-14:00"),
        ],
    )
    def test_numbers_and_times_out_of_range_are_422(
        self, client: Any, admin_headers: dict[str, str], method: str, path: str
    ) -> None:
        response = client.request(method, path, headers=admin_headers)
        assert response.status_code == 422, response.text

    def test_out_of_range_ids_in_bodies_are_422(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        bodies = [
            ("/api/v1/residents", {"household_id": HUGE, "name": "林芳"}),
            ("/api/v1/vehicles", {"plate": "闽A12345", "household_id": HUGE}),
            ("/api/v1/passes", {"plate": "闽A12345", "host_household_id": HUGE, **_window()}),
        ]
        for path, body in bodies:
            response = client.post(path, json=body, headers=admin_headers)
            assert response.status_code == 422, (path, response.text)

    def test_console_audit_dates_at_the_calendar_edge_are_422(self, client: Any) -> None:
        cookie_login(client, "admin", "admin")
        assert client.get("/console/admin/audit?since=2026-01-01").status_code == 200
        for query in ("since=0001-01-01", "until=9999-12-31"):
            response = client.get(f"/console/admin/audit?{query}")
            assert response.status_code == 422, response.status_code

    def test_a_frame_too_thin_to_be_a_camera_view_is_422(
        self, client: Any, guard_headers: dict[str, str]
    ) -> None:
        ok, png = cv2.imencode(".png", np.full((10, 20000, 3), 128, np.uint8))
        assert ok
        response = client.post(
            "/api/v1/gates/main-in/frames", content=png.tobytes(),
            headers={**guard_headers, "Content-Type": "image/png"},
        )
        assert response.status_code == 422
        assert "not a camera frame" in response.json()["detail"]

    def test_a_nul_in_a_static_file_name_is_404(self, client: Any) -> None:
        assert client.get("/console/static/%00.css").status_code == 404

    @pytest.mark.parametrize(
        ("path", "body", "message"),
        [
            ("/api/v1/households", {"building": "   ", "unit": "101"}, "blank"),
            ("/api/v1/households", {"building": "1栋\u0000", "unit": "101"},
             "control characters"),
            ("/api/v1/lists", {"plate": "沪K60613", "kind": "block", "reason": "\u0000😀"},
             "control characters"),
            ("/api/v1/residents", {"household_id": 1, "name": "  "}, "blank"),
            # Alt+Enter in a spreadsheet cell, pasted
            ("/api/v1/residents", {"household_id": 1, "name": "林\n芳"}, "one line"),
            ("/api/v1/residents", {"household_id": 1, "name": "林芳\t业主"}, "one line"),
            ("/api/v1/residents",
             {"household_id": 1, "name": "林芳", "phone": "not a phone 😀"}, "pattern"),
        ],
    )
    def test_blank_text_control_characters_and_non_phones_are_refused(
        self, client: Any, admin_headers: dict[str, str], path: str, body: dict[str, Any],
        message: str,
    ) -> None:
        response = client.post(path, json=body, headers=admin_headers)
        assert response.status_code == 422 and message in _messages(response)

    @pytest.mark.parametrize(
        ("window", "message"),
        [
            (_window(-3, -1), "already be over"),
            (_window(0, 400), "at most 366 days"),
            ({"valid_from": 1700000000, "valid_to": _window()["valid_to"]}, "ISO 8601"),
            ({**_window(), "valid_to": "9999-12-31T23:59:59-14:00"}, "outside 2000-2100"),
            ({**_window(), "valid_from": "2026-05-01T09:00"}, "zone"),
        ],
    )
    def test_visitor_pass_windows_must_be_real_plans(
        self, client: Any, admin_headers: dict[str, str], household_id: int,
        window: dict[str, Any], message: str,
    ) -> None:
        response = client.post("/api/v1/passes",
                               json={"plate": "粤B88888", "host_household_id": household_id,
                                     **window},
                               headers=admin_headers)
        assert response.status_code == 422 and message in _messages(response), response.text

    @pytest.mark.parametrize("reason", ["   ", "开闸\u0000", "\u0007\u0007"])
    def test_audited_reasons_are_real_text(self, client: Any, guard_headers: dict[str, str],
                                           reason: str) -> None:
        # The audit log is evidence: a blank reason or one carrying control characters is
        # refused before anything moves.
        response = client.post("/api/v1/gates/main-in/actions",
                               json={"action": "open", "reason": reason}, headers=guard_headers)
        assert response.status_code == 422, response.text
        assert str(client.app.state.services.barriers["main-in"].state) == "closed"

    def test_a_bmp_claiming_a_huge_size_is_refused_before_decoding(
        self, client: Any, guard_headers: dict[str, str]
    ) -> None:
        response = client.post("/api/v1/gates/main-in/frames",
                               content=_bmp_header_only(40000, 40000),
                               headers={**guard_headers, "Content-Type": "image/jpeg"})
        assert response.status_code == 413 and "MP" in response.json()["detail"]

    @pytest.mark.parametrize(
        "body",
        [
            {"building": "7栋", "unit": "701\u200b"},  # zero-width space: a look-alike household
            {"building": "\u202e7栋", "unit": "701"},  # right-to-left override
            {"building": "\u0301", "unit": "701"},  # a combining mark alone
            {"building": "ﷺ" * 64, "unit": "701"},  # NFKC grows it past the column's 64
        ],
    )
    def test_hidden_characters_and_overlong_folded_labels_are_refused(
        self, client: Any, admin_headers: dict[str, str], body: dict[str, str]
    ) -> None:
        response = client.post("/api/v1/households", json=body, headers=admin_headers)
        assert response.status_code == 422, response.text

    @pytest.mark.parametrize("reason", ["\u200b\u200b", "  a  ", "\u0301\u0301"])
    def test_a_reason_must_be_visible_text_of_two_characters(
        self, client: Any, guard_headers: dict[str, str], reason: str
    ) -> None:
        response = client.post("/api/v1/gates/main-in/actions",
                               json={"action": "open", "reason": reason}, headers=guard_headers)
        assert response.status_code == 422, response.text

    @pytest.mark.parametrize("since", ["1796000000", "1796000000.5"])
    def test_epoch_numbers_are_not_times(
        self, client: Any, admin_headers: dict[str, str], household_id: int, since: str
    ) -> None:
        passes = client.post("/api/v1/passes", headers=admin_headers, json={
            "plate": "粤B88888", "host_household_id": household_id,
            "valid_from": since, "valid_to": "1796086400"})
        assert passes.status_code == 422 and "ISO 8601" in _messages(passes)
        listing = client.get("/api/v1/passages", params={"since": since}, headers=admin_headers)
        assert listing.status_code == 422

    def test_console_audit_search_with_empty_dates_is_no_filter(self, client: Any) -> None:
        cookie_login(client, "admin", "admin")
        page = client.get("/console/admin/audit?user=&action=gate&gate=&since=&until=")
        assert page.status_code == 200

    @pytest.mark.parametrize("path", ["/api/v1/residents/0/pin", "/api/v1/residents/-7/pin"])
    def test_ids_below_one_are_422(
        self, client: Any, admin_headers: dict[str, str], path: str
    ) -> None:
        assert client.put(path, json={"pin": "482913"}, headers=admin_headers).status_code == 422

    def test_a_pin_for_an_impossible_resident_is_422(self, client: Any) -> None:
        from tests.api.test_credentials import present

        for rid in (-7, 0, 2**31):
            answer = present(client, {"kind": "pin", "resident_id": rid, "pin": "1357"})
            assert answer.status_code == 422

    # Writes only rows of its own (its own household, unit, username or passage).

    def test_a_household_with_visitor_passes_is_not_deleted_with_them(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        hid = _household(client, admin_headers, unit="102")
        made = client.post(
            "/api/v1/passes", json={"plate": "粤B88888", "host_household_id": hid, **_window()},
            headers=admin_headers,
        )
        assert made.status_code == 201, made.text
        response = client.delete(f"/api/v1/households/{hid}", headers=admin_headers)
        assert response.status_code == 409 and "visitor passes" in response.json()["detail"]
        kept = client.get(f"/api/v1/passes/{made.json()['id']}", headers=admin_headers)
        assert kept.status_code == 200

    def test_a_phone_may_still_be_cleared(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        rid = _resident(client, admin_headers, _household(client, admin_headers, unit="103"))
        set_phone = client.patch(f"/api/v1/residents/{rid}",
                                 json={"phone": "+86 138-0000-0000"}, headers=admin_headers)
        assert set_phone.status_code == 200
        cleared = client.patch(f"/api/v1/residents/{rid}", json={"phone": None},
                               headers=admin_headers)
        assert cleared.status_code == 200 and cleared.json()["phone"] is None

    def test_an_overlong_edit_says_how_long_it_may_be_in_chinese(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        """A household's note or a resident's name edited past its length said "at most 500
        items after validation", which the console showed untranslated (the union's check)."""
        hid = _household(client, admin_headers, unit="104")
        rid = _resident(client, admin_headers, hid)
        for path, body, chinese in (
            (f"/api/v1/households/{hid}", {"note": "东" * 501}, "备注：最多 500 个字符"),
            (f"/api/v1/residents/{rid}", {"name": "王" * 129}, "姓名：最多 128 个字符"),
            (f"/api/v1/residents/{rid}", {"name": "王\n五"},
             "姓名：只能写一行，不能有换行或制表符"),
        ):
            refused = client.patch(path, json=body, headers=admin_headers)
            assert refused.status_code == 422, refused.text
            assert explain_detail("zh", refused.json()["detail"]) == chinese
        kept = client.patch(f"/api/v1/households/{hid}", json={"note": " 东侧 "},
                            headers=admin_headers)
        assert kept.status_code == 200 and kept.json()["note"] == "东侧"

    def test_full_width_and_padded_labels_are_the_same_household(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        _household(client, admin_headers, building="A1", unit="101")
        for building in ("A1 ", "Ａ1", " A1"):
            response = client.post("/api/v1/households",
                                   json={"building": building, "unit": "１０１"},
                                   headers=admin_headers)
            assert response.status_code == 409, (building, response.text)

    def test_a_gate_action_cannot_claim_another_gates_passage(
        self, client: Any, guard_headers: dict[str, str]
    ) -> None:
        frame = _unread_frame()
        passage = client.post(
            "/api/v1/gates/main-out/frames", content=frame,
            headers={**guard_headers, "Content-Type": "image/png"},
        ).json()["passage_id"]
        response = client.post(
            "/api/v1/gates/main-in/actions",
            json={"action": "open", "reason": "访客确认", "passage_id": passage},
            headers=guard_headers,
        )
        assert response.status_code == 422 and "main-out" in response.json()["detail"]

    def test_a_review_visitor_pass_follows_the_pass_rules(
        self, client: Any, guard_headers: dict[str, str], household_id: int
    ) -> None:
        frame = _unread_frame()
        passage = client.post(
            "/api/v1/gates/main-in/frames", content=frame,
            headers={**guard_headers, "Content-Type": "image/png"},
        ).json()["passage_id"]
        refused: list[tuple[Mapping[str, object], str]] = [
            ({"valid_to": "9999-12-31T23:59:59-12:00"}, "outside 2000-2100"),
            (_window(-3, -1), "already be over"),
            (_window(0, 1000), "at most 366 days"),
            ({"valid_to": 1796000000}, "ISO 8601"),
        ]
        for window, message in refused:
            response = client.post(f"/api/v1/passages/{passage}/resolve", headers=guard_headers,
                                   json={"resolution": "visitor_pass", "reason": "业主确认",
                                         "plate": "闽K12345",
                                         "visitor_pass": {"host_household_id": household_id,
                                                          **window}})
            assert response.status_code == 422 and message in _messages(response), \
                response.text

    def test_a_full_width_plate_is_the_same_plate(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        hid = _household(client, admin_headers, unit="105")
        made = client.post("/api/v1/vehicles",
                           json={"plate": "闽Ａ１２３４５", "household_id": hid},
                           headers=admin_headers)
        assert made.status_code == 201 and made.json()["plate"] == "闽A12345"

    def test_lookalike_usernames_fold_onto_the_existing_one(self, client: Any) -> None:
        from errors import ConflictError, InvalidInputError
        from models.db import transaction
        from services.users import create_user

        sessions = client.app.state.services.sessions
        with transaction(sessions) as session:
            create_user(session, "guard1", "booth-password-1", "guard")
        for lookalike in ("ｇｕａｒｄ１", "GUARD1", "𝐠𝐮𝐚𝐫𝐝𝟏"):
            with pytest.raises(ConflictError), transaction(sessions) as session:
                create_user(session, lookalike, "booth-password-1", "guard")
        for broken in ("guard\u0301x", "a\ufffdb", "\u0301"):
            with pytest.raises(InvalidInputError), transaction(sessions) as session:
                create_user(session, broken, "booth-password-1", "guard")
