"""Editing households, residents and vehicles in place on the admin households page (Debian
chromium via Playwright): only the changed fields are sent, once, and a refusal is worded."""

from __future__ import annotations

from typing import Any

import pytest

from api.console.error_texts import explain_detail
from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import admin_api

pytestmark = pytest.mark.browser

PAGE = "/console/admin/households"


def seed(server: LiveServer) -> dict[str, int]:
    """One household with a resident and a car (no driver, colour unknown)."""
    with admin_api(server) as api:
        household = api.post("/api/v1/households", json={"building": "3栋", "unit": "1201",
                                                          "note": "东侧"})
        assert household.status_code == 201, household.text
        hid = household.json()["id"]
        resident = api.post("/api/v1/residents", json={"household_id": hid, "name": "王芳"})
        assert resident.status_code == 201, resident.text
        vehicle = api.post("/api/v1/vehicles", json={"household_id": hid, "plate": "闽AD12345"})
        assert vehicle.status_code == 201, vehicle.text
    return {"household": hid, "resident": resident.json()["id"],
            "vehicle": vehicle.json()["id"]}


def fetch(server: LiveServer, path: str) -> dict[str, Any]:
    with admin_api(server) as api:
        response = api.get(path)
        assert response.status_code == 200, response.text
        return dict(response.json())


def edit_form(page: Any, key: str) -> Any:
    details = page.locator(f'details[data-edit="{key}"]')
    details.locator("summary").click()
    form = details.locator("form")
    form.wait_for()
    return form


def test_edit_household_spaces_sends_only_that_field_once(
    live_server: LiveServer, new_page: Any
) -> None:
    ids = seed(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto(PAGE)
    form = edit_form(page, f"household-{ids['household']}")
    assert form.locator('input[name="spaces"]').input_value() == "1"  # prefilled
    assert form.locator('input[name="note"]').input_value() == "东侧"
    form.locator('input[name="spaces"]').fill("3")

    bodies: list[Any] = []
    page.on("request", lambda r: bodies.append(r.post_data_json) if r.method == "PATCH" else None)
    with page.expect_navigation():
        form.locator('button[type="submit"]').dblclick()
    page.wait_for_timeout(300)
    assert bodies == [{"spaces": 3}]  # one request, the changed field only
    stored = fetch(live_server, f"/api/v1/households/{ids['household']}")
    assert (stored["spaces"], stored["note"], stored["unit"]) == (3, "东侧", "1201")
    assert page.locator("table.grid tbody tr", has_text="1201").first.locator(
        "td").nth(3).inner_text() == "3"


def test_edit_vehicle_colour_and_driver(live_server: LiveServer, new_page: Any) -> None:
    ids = seed(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto(PAGE)
    form = edit_form(page, f"vehicle-{ids['vehicle']}")
    assert form.locator('select[name="plate_color"]').input_value() == "unknown"
    form.locator('select[name="plate_color"]').select_option("green")
    form.locator('select[name="resident_id"]').select_option(label="王芳")
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        form.locator('button[type="submit"]').click()
    assert sent.value.post_data_json == {"plate_color": "green", "resident_id": ids["resident"]}
    page.wait_for_selector('td[data-color="green"]')
    stored = fetch(live_server, f"/api/v1/vehicles/{ids['vehicle']}")
    assert (stored["plate_color"], stored["resident_id"]) == ("green", ids["resident"])
    row = page.locator("tr", has_text="闽AD12345").first
    assert "绿" in row.inner_text() and row.locator("td.driver").inner_text() == "王芳"
    screenshot(page, "13-admin-edit-vehicle")

    # Clearing the driver sends null.
    form = edit_form(page, f"vehicle-{ids['vehicle']}")
    form.locator('select[name="resident_id"]').select_option("")
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        form.locator('button[type="submit"]').click()
    assert sent.value.post_data_json == {"resident_id": None}
    page.wait_for_load_state()
    page.wait_for_function("() => !document.querySelector('td.driver').textContent.trim()")
    assert fetch(live_server, f"/api/v1/vehicles/{ids['vehicle']}")["resident_id"] is None


def test_a_refused_edit_shows_the_worded_error(live_server: LiveServer, new_page: Any) -> None:
    ids = seed(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto(PAGE)
    form = edit_form(page, f"resident-{ids['resident']}")
    form.locator('input[name="name"]').fill("   ")
    with page.expect_response(lambda r: r.request.method == "PATCH") as answered:
        form.locator('button[type="submit"]').click()
    response = answered.value
    assert response.status == 422
    error = form.locator(".error")
    error.wait_for()
    expected = explain_detail("zh", response.json()["detail"])
    assert error.inner_text() == expected
    assert expected.startswith("姓名") and "must not be blank" not in expected
    assert form.locator('button[type="submit"]').is_enabled()  # re-enabled after the refusal
    assert fetch(live_server, f"/api/v1/residents/{ids['resident']}")["name"] == "王芳"

    # Nothing changed: no request at all.
    form.locator('input[name="name"]').fill("王芳")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.method == "PATCH" else None)
    form.locator('button[type="submit"]').click()
    page.wait_for_function(
        "() => document.getElementById('toast').textContent === '没有修改任何内容'")
    assert requests == []

    # A fixed name goes through, with the phone left alone.
    form.locator('input[name="name"]').fill("王芳芳")
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    stored = fetch(live_server, f"/api/v1/residents/{ids['resident']}")
    assert (stored["name"], stored["phone"]) == ("王芳芳", None)


def test_a_mistyped_plate_is_corrected_in_the_vehicle_s_edit_panel(
    live_server: LiveServer, new_page: Any,
) -> None:
    """The panel corrects the plate (PATCH /vehicles, whose car inside follows it), where the
    guide said to delete the car and register it again: that left a car parked inside
    recorded under the old plate, which it never left by."""
    ids = seed(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto(PAGE)
    form = edit_form(page, f"vehicle-{ids['vehicle']}")
    assert form.locator('input[name="plate"]').input_value() == "闽AD12345"
    form.locator('input[name="plate"]').fill("闽AD12346")
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        form.locator('button[type="submit"]').click()
    assert sent.value.post_data_json == {"plate": "闽AD12346"}  # only what changed
    page.wait_for_selector('td.plate:text-is("闽AD12346")')
    assert fetch(live_server, f"/api/v1/vehicles/{ids['vehicle']}")["plate"] == "闽AD12346"
