"""操作日志 as the office reads it after the admin guide's tasks (docs/admin-guide.zh.md 8.2):
批量导入's summary entry, the fire-alarm drill and a count correction, in the page's words.

Found walking the guide in chromium: the import's row showed 对象 ``import:e7b22371ce8a729c``
and 住户：{"create": 2, "existing": 1, "update": 1, "unchanged": 0}; the drill, done on
车位与火警 with 触发火警联动（演练） and 解除火警, was logged as 触发消防联动 / 解除消防联动 under
a 消防联动（全部） filter (no 火警 to look for); 修正车位计数 named 区域 A where the page says
A区地面.
"""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_console import cookie_login
from tests.api.test_resident_import import csv_bytes, upload


def _seen(html: str) -> str:
    """The page's text as a reader sees it (no tags, no scripts, no attribute values)."""
    return re.sub(r"<[^>]*>", " ", re.sub(r"<script\b.*?</script>", " ", html, flags=re.S))


def test_the_office_reads_an_import_a_drill_and_a_count_correction_in_its_own_words(
    client: Any, admin_headers: dict[str, str]
) -> None:
    first = upload(client, admin_headers, csv_bytes(["3栋,1201,张伟,13800138000,闽A12345,蓝,"]),
                   dry_run=False, name="业主名单.csv")
    assert first.status_code == 200, first.text
    # The sheet again with a new phone and a second flat: one update, one unchanged.
    again = upload(client, admin_headers, csv_bytes([
        "3栋,1201,张伟,13800138001,闽A12345,蓝,", "5栋,302,王芳,,,,",
    ]), dry_run=False, name="业主名单.csv")
    assert again.status_code == 200, again.text
    assert again.json()["applied"] is True
    for call in (("POST", "/api/v1/safety/fire-alarm", {"reason": "消防演练"}),
                 ("POST", "/api/v1/safety/fire-alarm/clear", {"reason": "演练结束"}),
                 ("PUT", "/api/v1/zones/A/occupancy", {"occupied": 3, "reason": "人工盘点"})):
        response = client.request(call[0], call[1], json=call[2], headers=admin_headers)
        assert response.status_code < 300, (call, response.text)
    cookie_login(client, "admin", "admin")
    html = client.get("/console/admin/audit").text
    seen = _seen(html)
    assert "import:" not in seen and '"create"' not in seen, seen
    assert "导入的文件（校验值 " in seen
    assert "住户：新建 1、更新 0、不变 1" in seen, seen
    assert "住户成员：新建 1、更新 1、不变 0" in seen, seen
    assert "车辆：新建 0、已有 1" in seen, seen
    assert "触发火警联动" in seen and "解除火警" in seen and "消防联动" not in seen, seen
    assert '<option value="safety" >火警联动（全部）</option>' in html
    assert "区域 A区地面" in seen, seen
    # The CSV and the API keep the stored codes for other programs.
    exported = client.get("/api/v1/audit", headers=admin_headers).json()["items"]
    assert any(str(e["target"]).startswith("import:") for e in exported)


def test_a_corrected_plate_is_logged_old_to_new(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """Admin guide 2.3 sends a mistyped plate to 编辑; its 修改车辆 entry said only the new
    plate (车牌：沪C88889), so from the log the office could not tell what it was before."""
    home = client.post("/api/v1/households", json={"building": "3栋", "unit": "1201"},
                       headers=admin_headers).json()["id"]
    car = client.post("/api/v1/vehicles", json={"plate": "沪C88888", "household_id": home},
                      headers=admin_headers).json()["id"]
    fixed = client.patch(f"/api/v1/vehicles/{car}", json={"plate": "沪C88889"},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    recoloured = client.patch(f"/api/v1/vehicles/{car}", json={"plate_color": "blue"},
                              headers=admin_headers)
    assert recoloured.status_code == 200, recoloured.text

    cookie_login(client, "admin", "admin")
    seen = _seen(client.get("/console/admin/audit", params={"action": "vehicle.update"}).text)
    assert "修改内容：车牌：沪C88888 → 沪C88889" in seen, seen
    assert seen.count("修改内容") == 1  # the colour alone changed nothing that identifies it
