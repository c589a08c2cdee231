"""Findings of walking the admin guide (docs/admin-guide.zh.md) through the console as a
property manager: what the pages say, keep and name, rendered with TestClient."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.api.test_console import add_staff, cookie_login
from tests.api.test_console_admin_texts import _visible_text


def _admin(client: Any) -> tuple[dict[str, str], str]:
    headers = add_staff(client.app.state.services, "admin", "admin")
    return headers, cookie_login(client, "admin", "admin")


def _user_form(page: str) -> str:
    start = page.index('id="user-form"')
    return page[start:page.index("</form>", start)]


def test_a_refused_new_user_keeps_the_typed_name_and_role(client: Any) -> None:
    """The form came back empty and set to 保安: the manager typed the name again and could
    create an admin as a guard without noticing."""
    _headers, csrf = _admin(client)
    form = {"username": "GUARD", "password": "booth-password-1", "role": "admin",
            "csrf_token": csrf}
    add_staff(client.app.state.services, "guard", "guard")
    page = client.post("/console/admin/users", data=form)
    assert "用户 guard 已存在" in _visible_text(page.text)
    typed = _user_form(page.text)
    assert 'name="username" required maxlength="64" autocomplete="off" value="GUARD"' in typed
    assert '<option value="admin" selected>' in typed
    assert "booth-password-1" not in page.text  # never sent back, not even in the URL
    created = client.post("/console/admin/users", data={**form, "username": "zhang2"})
    assert 'value=""' in _user_form(created.text) and "用户已创建" in created.text


def test_a_username_with_a_space_is_refused_in_chinese(client: Any) -> None:
    _headers, csrf = _admin(client)
    page = client.post("/console/admin/users", data={
        "username": "li si", "password": "booth-password-1", "role": "guard",
        "csrf_token": csrf})
    shown = _visible_text(page.text)
    assert "用户名不能含空格或看不见的字符" in shown
    assert "must not contain" not in shown
    assert 'value="li si"' in _user_form(page.text)


def test_a_month_typed_wrong_is_explained_in_chinese(client: Any) -> None:
    """Firefox and Safari have no month picker: a typed 2026-13 or 2026/11 showed English,
    and so did a month not begun yet ('2099-01 has not begun yet', the reports walk)."""
    _admin(client)
    for typed, said in (("2026-13", "2026-13 不是有效的月份（月份为 1–12）"),
                        ("2026/11", "月份格式为 年-月，例如 2026-11"),
                        ("2099-01", "2099-01 尚未开始，没有数据")):
        page = client.get("/console/admin/reports/month", params={"month": typed})
        assert page.status_code == 422
        shown = _visible_text(page.text)
        assert said in shown, typed
        assert not any(english in shown
                       for english in ("has no month", "give a month", "has not begun")), typed


def test_deleting_a_resident_warns_that_their_face_data_goes_too(client: Any) -> None:
    """The confirmation read 删除住户成员 #1 王芳？ — nothing said the face templates (PIPL
    data, enrolled with written consent) and the PIN are deleted with the resident."""
    from models.db import transaction
    from models.faces import FaceTemplate

    headers, _csrf = _admin(client)
    assert client.post("/api/v1/households", json={"building": "3栋", "unit": "1201"},
                       headers=headers).status_code == 201
    for name in ("王芳", "李强"):
        assert client.post("/api/v1/residents", json={"household_id": 1, "name": name},
                           headers=headers).status_code == 201
    with transaction(client.app.state.services.sessions) as session:
        session.add_all(FaceTemplate(resident_id=1, embedding=bytes(512)) for _ in range(2))
    page = client.get("/console/admin/households").text
    confirms = [html.unescape(c) for c in re.findall(r'data-confirm="([^"]*)"', page)]
    assert "删除住户成员 #1 王芳？其人脸数据（2 条）和通行密码将一并删除，无法恢复。" in confirms
    assert "删除住户成员 #2 李强？其人脸数据（0 条）和通行密码将一并删除，无法恢复。" in confirms


def _vehicle_form(page: str) -> str:
    start = page.index('data-api="/api/v1/vehicles" data-method="POST"')
    return page[start:page.index("</form>", start)]


def test_a_new_car_s_driver_is_chosen_as_it_is_added(client: Any) -> None:
    """添加车辆 had no 驾驶人: the driver could only be set afterwards with 编辑. The add form
    offers each household's residents under its name; the API refuses a driver from another
    household, as it does on an edit."""
    headers, csrf = _admin(client)
    for path, body in (
        ("/api/v1/households", {"building": "3栋", "unit": "1201"}),
        ("/api/v1/households", {"building": "5栋", "unit": "302"}),
        ("/api/v1/residents", {"household_id": 1, "name": "王芳"}),
        ("/api/v1/residents", {"household_id": 2, "name": "李强"}),
    ):
        assert client.post(path, json=body, headers=headers).status_code == 201, body
    form = _vehicle_form(client.get("/console/admin/households").text)
    assert '<select name="resident_id" data-type="int" class="driver-select">' in form
    assert '<option value="">不指定</option>' in form  # a driver is optional
    groups = dict(re.findall(
        r'<optgroup label="([^"]+)" data-household="\d+">(.*?)</optgroup>', form, re.S))
    assert groups == {"3栋 1201": '<option value="1">王芳</option>',
                      "5栋 302": '<option value="2">李强</option>'}

    # As the form sends it (admin.js, with the page's CSRF token).
    sent = {"X-CSRF-Token": csrf}
    added = client.post("/api/v1/vehicles", headers=sent, json={
        "plate": "沪AD12345", "household_id": 1, "resident_id": 1, "plate_color": "green"})
    assert added.status_code == 201, added.text
    assert added.json()["resident_id"] == 1
    row = re.search(r'<tr><td[^>]*>1</td><td class="plate"[^>]*>沪AD12345</td>.*?</tr>',
                    client.get("/console/admin/households").text, re.S)
    assert row is not None and re.search(r'<td class="driver"[^>]*>王芳</td>', row.group(0))
    other = client.post("/api/v1/vehicles", headers=sent, json={
        "plate": "沪AD12346", "household_id": 1, "resident_id": 2})
    assert other.status_code == 422
    assert other.json()["detail"] == "resident 2 belongs to household 2, not 1"


def test_the_audit_log_names_what_each_entry_acted_on(client: Any) -> None:
    """加入白名单, 删除人脸 and 设置通行密码 showed no plate or person: the target was not on the
    page, and the reasons the system writes were English (consent withdrawn)."""
    from models.db import transaction
    from models.events import AuditEntry

    headers, _csrf = _admin(client)
    assert client.post("/api/v1/households", json={"building": "5栋", "unit": "302"},
                       headers=headers).status_code == 201
    assert client.post("/api/v1/residents", json={"household_id": 1, "name": "王先生"},
                       headers=headers).status_code == 201
    assert client.post("/api/v1/lists", headers=headers, json={
        "plate": "沪AD12345", "kind": "allow", "reason": "物业班车"}).status_code == 201
    with transaction(client.app.state.services.sessions) as session:
        session.add_all([
            AuditEntry(username="admin", action="face.delete", target="resident:1",
                       reason="deletion request", details={"templates_removed": 3}),
            AuditEntry(username="admin", action="face.consent_withdrawn", target="resident:9",
                       reason="consent withdrawn", details={"templates_removed": 0}),
            AuditEntry(username="guard", action="gate.open", target="gate:main-in",
                       gate_id="main-in", reason="业主来电"),
        ])
    page = client.get("/console/admin/audit").text
    rows = {
        action: _visible_text(row)
        for action, row in re.findall(r'<tr data-action="([^"]+)">(.*?)</tr>', page, re.S)
    }
    assert "车牌 沪AD12345" in rows["list.allow"]
    assert "住户成员 #1 王先生" in rows["face.delete"] and "居民要求删除" in rows["face.delete"]
    # A resident since deleted is still named by id; the system's reason in Chinese.
    assert "住户成员 #9" in rows["face.consent_withdrawn"]
    assert "居民撤回同意" in rows["face.consent_withdrawn"]
    assert "住户 #1 5栋 302" in rows["household.create"]
    assert "gate:" not in rows["gate.open"]  # the gate has its own column
    assert "deletion request" not in _visible_text(page)
    assert "consent withdrawn" not in _visible_text(page)
    assert "<th>对象</th>" in page


def test_a_deleted_household_resident_and_car_are_still_explained_by_the_audit_log(
    client: Any,
) -> None:
    """添加住户 and 添加住户成员 recorded only an id, 添加车辆 only the plate: once the records were
    deleted, the property office could not say which flat, person or owner they had been."""
    headers, _csrf = _admin(client)
    for path, body in (
        ("/api/v1/households", {"building": "5栋", "unit": "302", "spaces": 2,
                                "note": "业主电话 13800000000"}),
        ("/api/v1/residents", {"household_id": 1, "name": "王先生", "phone": "13800000000"}),
        ("/api/v1/vehicles", {"plate": "沪AD12345", "household_id": 1, "resident_id": 1,
                              "plate_color": "green"}),
    ):
        assert client.post(path, json=body, headers=headers).status_code == 201, path

    def logged(action: str) -> dict[str, Any]:
        items = client.get("/api/v1/audit", params={"action": action},
                           headers=headers).json()["items"]
        return dict(items[0]["details"])

    assert logged("household.create") == {"building": "5栋", "unit": "302", "spaces": 2}
    assert logged("resident.create") == {"household_id": 1}
    assert logged("vehicle.create") == {"plate": "沪AD12345", "household_id": 1,
                                        "resident_id": 1, "plate_color": "green"}

    def shown() -> dict[str, str]:
        page = client.get("/console/admin/audit").text
        return {
            action: _visible_text(row)
            for action, row in re.findall(r'<tr data-action="([^"]+)">(.*?)</tr>', page, re.S)
        }

    rows = shown()
    for action, said in (
        ("household.create", ("楼栋：5栋", "房号：302", "车位数：2")),
        ("resident.create", ("住户：5栋 302", "王先生")),  # the name from the record
        ("vehicle.create", ("车牌：沪AD12345", "住户：5栋 302", "驾驶人：#1 王先生",
                            "车牌颜色：绿")),
    ):
        for text in said:
            assert text in rows[action], (action, text)
    # The phone number and the household's free-text note are not the log's business.
    assert "13800000000" not in client.get("/console/admin/audit").text

    for path in ("/api/v1/vehicles/1", "/api/v1/residents/1", "/api/v1/households/1"):
        assert client.delete(path, headers=headers).status_code == 204, path
    rows = shown()
    # All gone, and still said: the flat by its building and unit, the person by their
    # household, but no longer by name (erased on request, PIPL: the log is kept whole).
    assert "楼栋：5栋" in rows["household.create"] and "房号：302" in rows["household.create"]
    assert "住户：#1" in rows["resident.create"]
    assert "王先生" not in client.get("/console/admin/audit").text
    assert "车牌：沪AD12345" in rows["vehicle.create"] and "驾驶人：#1" in rows["vehicle.create"]


def test_a_page_address_with_an_unreadable_condition_gets_a_page_not_json(client: Any) -> None:
    """A date typed into the address by hand (the pickers cannot make 2026-13-01) answered a
    raw JSON 422 in the manager's browser."""
    _admin(client)
    page = client.get("/console/admin/audit", params={"since": "2026-13-01"})
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    shown = _visible_text(page.text)
    assert "地址中的条件有误" in shown
    assert "“since” 的值 “2026-13-01” 无效" in shown
    assert 'href="/console/admin/audit"' in page.text  # back to the page without conditions
    # The API keeps answering machines in JSON.
    api = client.get("/api/v1/passages", params={"limit": "many"},
                     headers=add_staff(client.app.state.services, "admin2", "admin"))
    assert api.status_code == 422 and api.headers["content-type"] == "application/json"
