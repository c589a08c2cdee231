"""车位计数 (车位与火警 page): a refused count names its zone as the rest of the console does,
「A · A区地面」 as the day and month reports, not 「区域 A」 alone. Found by the property
office, who know the zones by the names on the boards."""

from __future__ import annotations

import json
import re
from typing import Any

from api.console.error_texts import browser_table, explain_message
from api.console.rendering import zone_label
from tests.api.test_console import add_user, cookie_login


def _error_table(html: str) -> dict[str, Any]:
    block = re.search(r'<script type="application/json" id="error-table">(.*?)</script>',
                      html, re.S)
    assert block is not None
    table: dict[str, Any] = json.loads(block.group(1))
    return table


def test_a_refused_count_names_the_zone_as_the_reports_do(
    client: Any, admin_headers: dict[str, str]
) -> None:
    add_user(client, "manager", "admin")
    cookie_login(client, "manager", "admin")
    table = _error_table(client.get("/console/admin/site").text)
    assert table["zones"]["A"] == "A · A区地面"
    refused = client.put("/api/v1/zones/A/occupancy", headers=admin_headers,
                         json={"occupied": 41, "reason": "晚上十点人工盘点"})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    # As admin.js shows it, from the page's table (errors.js reads "zone" and "zones").
    assert explain_message("zh", detail, zones=table["zones"]) == (
        "停放数要在 0 到 40 之间（区域 A · A区地面），填的是 41")
    assert explain_message("en", detail, zones=table["zones"]) == (
        "Between 0 and 40 for zone A · A区地面; got 41")
    assert table["zone"] == "zone" and any("zone" in names for _, _, names in table["patterns"])


def test_a_zone_without_a_name_of_its_own_or_not_configured_keeps_its_id() -> None:
    assert zone_label("B1", "") == "B1" and zone_label("B1", "B1") == "B1"
    zones = {"A": zone_label("A", "A区地面")}
    assert explain_message("zh", "zone 'C' not found", zones=zones) == (
        "区域 C 不存在（配置已改？请刷新页面）")
    # A zone id that is also a field's or a gate's word stays the zone's.
    shown = explain_message("zh", "occupied must be between 0 and 5 for zone note, got 6",
                            names={"note": "东门"})
    assert shown == "停放数要在 0 到 5 之间（区域 note），填的是 6"
    assert browser_table("zh")["zones"] == {}
