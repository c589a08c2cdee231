"""搬离's confirmation page shows a pass's 已用 as 访客通行证 does: ``0 / ∞`` for a pass with no
limit, ``0 / 3`` for one with three uses. Walking the admin guide it said a bare ``0`` beside
``0 / 3``, which reads as a limit of nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_console import cookie_login
from tests.api.test_console_household_move_out import cells, page
from tests.api.test_household_move_out_one_step import move_in, staff


def test_the_move_out_page_counts_pass_uses_as_the_pass_list_does(client: Any) -> None:
    admin, guard = staff(client)
    family = move_in(client, admin, guard)  # its two passes have one use each
    now = datetime.now(UTC)
    unlimited = client.post("/api/v1/passes", headers=admin, json={
        "plate": "粤B77777", "host_household_id": family.household, "max_uses": None,
        "valid_from": now.isoformat(), "valid_to": (now + timedelta(days=1)).isoformat()})
    assert unlimited.status_code == 201, unlimited.text
    cookie_login(client, "admin", "admin")
    passes = cells(page(client, family.household).text, "move-out-passes")
    listed = client.get("/console/admin/passes").text

    assert passes[4::5] == ["0 / 1", "0 / 1", "0 / ∞"], passes
    assert "0 / ∞" in listed  # the words of the list the office knows these passes from
