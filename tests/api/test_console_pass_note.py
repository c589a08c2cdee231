"""访客通行证 备注 (found walking the console as a property manager): the API kept a pass's
note, but the console's form had no field for it and the list did not show it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from api.console.error_texts import explain_detail
from tests.api.test_console import add_staff, cookie_login


def _pass(note: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "plate": "粤B88888",
        "host_household_id": 1,
        "valid_from": now.isoformat(),
        "valid_to": (now + timedelta(hours=4)).isoformat(),
    }
    if note is not None:
        body["note"] = note
    return body


def test_the_pass_form_takes_a_note_and_the_list_shows_it(client: Any) -> None:
    services = client.app.state.services
    headers = add_staff(services, "admin", "admin")
    assert (
        client.post(
            "/api/v1/households", headers=headers, json={"building": "3栋", "unit": "1201"}
        ).status_code
        == 201
    )
    add_staff(services, "guard", "guard")
    cookie_login(client, "guard", "guard")  # guards register visitors at the booth
    form = client.get("/console/admin/passes").text
    field = re.search(r'<input name="note"[^>]*>', form)
    assert field is not None and 'maxlength="500"' in field.group(0)
    assert "备注" in form and "快递员 王师傅" in field.group(0)  # the hint says what to write
    created = client.post(
        "/api/v1/passes",
        json=_pass("  快递员 王师傅 "),
        headers={"X-CSRF-Token": cookie_login(client, "guard", "guard")},
    )
    assert created.status_code == 201, created.text
    page = client.get("/console/admin/passes").text
    row = re.search(r'<tr data-pass="\d+".*?</tr>', page, re.S)
    assert row is not None
    assert '<td class="pass-note" data-label="备注：">快递员 王师傅</td>' in row.group(0)


def test_a_note_longer_than_the_api_takes_is_refused_in_chinese(client: Any) -> None:
    headers = add_staff(client.app.state.services, "admin", "admin")
    assert (
        client.post(
            "/api/v1/households", headers=headers, json={"building": "3栋", "unit": "1201"}
        ).status_code
        == 201
    )
    refused = client.post("/api/v1/passes", headers=headers, json=_pass("装" * 501))
    assert refused.status_code == 422
    assert explain_detail("zh", refused.json()["detail"]) == "备注：最多 500 个字符"
    kept = client.post("/api/v1/passes", headers=headers, json=_pass("装" * 500))
    assert kept.status_code == 201 and kept.json()["note"] == "装" * 500
