"""The visitor-pass page: guards use it too, every pass says whether it admits now, the form
sends Beijing times and no household is picked for the user (review items 3 and 4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from api.console.admin import pass_status
from models.vehicles import VisitorPass
from tests.api.test_console import add_staff, add_user, cookie_login

NOW = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _pass(valid_from: datetime, valid_to: datetime, uses: int = 0,
          max_uses: int | None = 1) -> VisitorPass:
    return VisitorPass(id=1, plate="粤B88888", host_household_id=1, valid_from=valid_from,
                       valid_to=valid_to, uses=uses, max_uses=max_uses)


@pytest.mark.parametrize(("valid_from", "valid_to", "uses", "max_uses", "status"), [
    (NOW - HOUR, NOW + HOUR, 0, 1, "valid"),
    (NOW, NOW + HOUR, 0, 1, "valid"),  # from the first second
    (NOW - HOUR, NOW, 0, 1, "valid"),  # to the last second, as the gate decides
    (NOW - HOUR, NOW + HOUR, 5, None, "valid"),  # unlimited
    (NOW + HOUR, NOW + 2 * HOUR, 0, 1, "not_yet"),
    (NOW - 2 * HOUR, NOW - HOUR, 0, 1, "expired"),
    (NOW - 2 * HOUR, NOW - HOUR, 1, 1, "expired"),  # both: the gate says expired first
    (NOW - HOUR, NOW + HOUR, 1, 1, "used_up"),
    (NOW - HOUR, NOW + HOUR, 3, 2, "used_up"),
])
def test_pass_status_is_the_gate_s_rule(
    valid_from: datetime, valid_to: datetime, uses: int, max_uses: int | None, status: str
) -> None:
    assert pass_status(_pass(valid_from, valid_to, uses, max_uses), NOW) == status


def _add_passes(client: Any) -> None:
    from models.db import transaction
    from models.people import Household

    now = datetime.now(UTC)
    with transaction(client.app.state.services.sessions) as session:
        session.add(Household(building="3栋", unit="1201"))
        session.add(Household(building="5栋", unit="302"))
        session.flush()
        for plate, start, end, uses in (
            ("粤B00001", now - HOUR, now + HOUR, 0),
            ("粤B00002", now + HOUR, now + 2 * HOUR, 0),
            ("粤B00003", now - 3 * HOUR, now - 2 * HOUR, 0),
            ("粤B00004", now - HOUR, now + HOUR, 1),
        ):
            session.add(VisitorPass(plate=plate, host_household_id=1, valid_from=start,
                                    valid_to=end, uses=uses, max_uses=1, created_by="admin"))


def test_a_guard_sees_and_creates_passes_but_cannot_delete_them(client: Any) -> None:
    _add_passes(client)
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    page = client.get("/console/admin/passes")
    assert page.status_code == 200
    assert 'id="pass-form"' in page.text and "粤B00001" in page.text
    assert 'data-method="DELETE"' not in page.text  # the API refuses guards that too
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert csrf is not None
    start = datetime.now(UTC).astimezone().replace(microsecond=0)
    created = client.post("/api/v1/passes", headers={"X-CSRF-Token": csrf.group(1)}, json={
        "plate": "粤B88888", "host_household_id": 2, "valid_from": start.isoformat(),
        "valid_to": (start + 4 * HOUR).isoformat()})
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == "guard"
    refused = client.delete(f"/api/v1/passes/{created.json()['id']}",
                            headers={"X-CSRF-Token": csrf.group(1)})
    assert refused.status_code == 403
    for path in ("/console/admin/users", "/console/admin/households", "/console/admin/lists",
                 "/console/admin/audit"):
        assert client.get(path).status_code == 403, path


def test_every_pass_shows_whether_it_admits_now(client: Any) -> None:
    _add_passes(client)
    add_user(client, "admin", "admin")
    cookie_login(client, "admin", "admin")
    html = client.get("/console/admin/passes").text
    rows = dict(re.findall(r'<tr data-pass="\d+" data-status="(\w+)"><td[^>]*>\d+</td>'
                           r'<td class="plate"[^>]*>(\S+)</td>', html))
    assert rows == {"valid": "粤B00001", "not_yet": "粤B00002", "expired": "粤B00003",
                    "used_up": "粤B00004"}
    for text in ("有效", "未生效", "已过期", "次数已用完"):
        assert f"{text}</span>" in html
    assert 'data-confirm="删除通行证 #1 粤B00001？"' in html


def test_the_pass_form_sends_beijing_time_and_picks_no_household(client: Any) -> None:
    headers = add_staff(client.app.state.services, "admin", "admin")
    for unit in ("1201", "302"):
        client.post("/api/v1/households", json={"building": "3栋", "unit": unit},
                    headers=headers)
    cookie_login(client, "admin", "admin")
    html = client.get("/console/admin/passes").text
    assert 'data-tz="+08:00"' in html
    select = re.search(r'<select name="host_household_id"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None
    options = re.findall(r"<option[^>]*>[^<]*</option>", select.group(1))
    assert options[0] == '<option value="">请选择</option>'
    assert len(options) == 3 and "selected" not in select.group(1)
    assert 'class="household-search"' in html
    # Prefilled from now, in Beijing time: the default pass is not already over.
    start = re.search(r'name="valid_from"[^>]*value="([^"]+)"', html)
    end = re.search(r'name="valid_to"[^>]*value="([^"]+)"', html)
    assert start is not None and end is not None
    beijing = timedelta(hours=8)
    opened = datetime.fromisoformat(start.group(1)) - beijing
    assert abs(opened.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=2)
    span = datetime.fromisoformat(end.group(1)) - datetime.fromisoformat(start.group(1))
    assert span == timedelta(hours=24)
    assert "时间均为北京时间" in html


def test_a_guard_reaches_the_passes_page_from_the_console_nav(client: Any) -> None:
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    nav = re.search(r'<nav class="nav">(.*?)</nav>', client.get("/console").text, re.S)
    assert nav is not None and 'href="/console/admin/passes"' in nav.group(1)



def test_passes_that_still_admit_link_to_their_qr_code_page(client: Any) -> None:
    _add_passes(client)
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    html = client.get("/console/admin/passes").text
    linked = set(re.findall(r'href="/console/admin/passes/(\d+)/qr"', html))
    assert linked == {"1", "2"}  # valid and not yet valid; not expired or used up

    page = client.get("/console/admin/passes/1/qr")
    assert page.status_code == 200
    headers = {"Authorization": "Bearer " + add_user(client, "admin", "admin")}
    code = client.get("/api/v1/passes/1/qr", headers=headers).json()["code"]
    assert f"<code>{code}</code>" in page.text and "<svg" in page.text
    assert "粤B00001" in page.text and "3栋 1201" in page.text


def test_a_used_up_or_deleted_pass_says_so_on_its_qr_page(client: Any) -> None:
    _add_passes(client)
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    used_up = client.get("/console/admin/passes/4/qr")
    assert used_up.status_code == 200
    # Said as a refusal (red), not in the green of a success.
    assert ('<p class="error" role="alert">这张通行证次数已用完，二维码已不能开门。'
            in used_up.text)
    missing = client.get("/console/admin/passes/99/qr")
    assert missing.status_code == 404
    assert '<p class="error" role="alert">通行证 #99 不存在（可能已删除）。' in missing.text
    assert "<svg" not in missing.text
    # The guard is still on 访客通行证: its menu entry stays marked.
    assert re.search(r'<a href="/console/admin/passes" class="active">', missing.text)


def test_the_audit_log_says_what_a_pass_grants(client: Any) -> None:
    """Who was let in, for which flat, from when to when and how often: a pass is an access
    grant, and once it is deleted the audit log is all that says what it granted. Only the
    plate was recorded, at creation and at deletion alike."""
    _add_passes(client)
    guard = add_user(client, "guard", "guard")
    # 18:00 UTC, 02:00 the next day in Beijing; a month ahead of whenever the suite runs (a
    # pass already over is refused, and a fixed date would be one from its end on).
    start = datetime.combine(datetime.now(UTC).date() + 30 * DAY, time(18, 0), tzinfo=UTC)
    begins = (start + 8 * HOUR).strftime("%Y-%m-%d %H:%M")
    ends = (start + 30 * DAY + 8 * HOUR).strftime("%Y-%m-%d %H:%M")
    created = client.post("/api/v1/passes", headers={"Authorization": f"Bearer {guard}"}, json={
        "plate": "粤B88888", "host_household_id": 2, "valid_from": start.isoformat(),
        "valid_to": (start + 30 * 24 * HOUR).isoformat(), "max_uses": None})
    assert created.status_code == 201, created.text

    admin = add_user(client, "admin", "admin")
    entries = client.get("/api/v1/audit", params={"action": "pass.create"},
                         headers={"Authorization": f"Bearer {admin}"}).json()["items"]
    details = entries[0]["details"]
    assert (entries[0]["username"], details["plate"], details["host_household_id"]) == (
        "guard", "粤B88888", 2)
    assert datetime.fromisoformat(details["valid_from"]) == start
    assert datetime.fromisoformat(details["valid_to"]) == start + 30 * 24 * HOUR
    assert details["max_uses"] is None

    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/audit", params={"action": "pass.create"})
    assert page.status_code == 200
    for shown in ("被访住户：5栋 302", f"开始时间：{begins}", f"结束时间：{ends}",
                  "可用次数：不限"):
        assert shown in page.text, shown

    # Deleted: its entry says what was withdrawn, and how much of it had been used.
    gone = client.delete(f"/api/v1/passes/{created.json()['id']}",
                         headers={"Authorization": f"Bearer {admin}"})
    assert gone.status_code == 204, gone.text
    deleted = client.get("/api/v1/audit", params={"action": "pass.delete"},
                         headers={"Authorization": f"Bearer {admin}"}).json()["items"]
    details = deleted[0]["details"]
    assert (deleted[0]["username"], deleted[0]["target"]) == (
        "admin", f"pass:{created.json()['id']}")
    assert (details["plate"], details["host_household_id"], details["max_uses"],
            details["uses"]) == ("粤B88888", 2, None, 0)
    assert datetime.fromisoformat(details["valid_from"]) == start
    assert datetime.fromisoformat(details["valid_to"]) == start + 30 * 24 * HOUR
    page = client.get("/console/admin/audit", params={"action": "pass.delete"})
    for shown in ("车牌：粤B88888", "被访住户：5栋 302", f"开始时间：{begins}",
                  f"结束时间：{ends}", "可用次数：不限", "已用次数：0"):
        assert shown in page.text, shown
