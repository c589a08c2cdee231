"""The admin pages and alarms in the console's language (review in a real browser, item 1).

Stored codes, the API's English error messages and alarm messages reach people through
api/console/i18n.py; these tests render the pages with TestClient and check the pure
translators with tables of the messages the API really sends.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.console.audit_texts import AUDIT_ACTIONS, action_label, audit_details
from api.console.error_texts import (
    LABELS,
    PATTERNS,
    ErrorPattern,
    browser_table,
    explain_detail,
    explain_message,
)
from api.console.i18n import LANGS, translate
from api.console.rendering import alarm_plate, alarm_view
from tests.api.test_console import add_staff, add_user, cookie_login

BEIJING = ZoneInfo("Asia/Shanghai")

ROOT = Path(__file__).resolve().parents[2]


def _set_lang(client: Any, csrf: str, lang: str) -> None:
    response = client.post("/console/lang", data={"lang": lang, "csrf_token": csrf,
                                                  "next": "/console"}, follow_redirects=False)
    assert response.status_code == 303


def _visible_text(html: str) -> str:
    """The page without tags and attribute values: what a reader sees, not tooltips (nor a
    script's data, such as the error table admin.js translates with)."""
    return re.sub(r"<[^>]*>", " ", re.sub(r"<script\b.*?</script>", " ", html, flags=re.S))


# --- API error messages --------------------------------------------------------------------

# Every message the admin forms meet, as the API sends it (collected from the running API
# below, so a reworded message breaks this table instead of reaching the page in English).
ERROR_CASES: list[tuple[str, str, Any, str, str]] = [
    # (what, method + path, body, zh, en)
    ("duplicate user", "", "user 'guard' already exists",
     "用户 guard 已存在", "User guard already exists"),
    ("vehicle twice", "POST /api/v1/vehicles", {"plate": "沪AD12345", "household_id": 1},
     "车牌 沪AD12345 已登记", "Plate 沪AD12345 is already registered"),
    ("household with a car", "DELETE /api/v1/households/1", None,
     "住户 #1 还有 1 辆车，请先删除车辆",
     "Household #1 still has 1 vehicle(s): delete them first"),
    ("not a plate", "POST /api/v1/vehicles", {"plate": "ABC", "household_id": 1},
     "车牌：“ABC”不是有效的车牌号，例如 闽A12345",
     "Plate: “ABC” is not a valid Chinese plate, e.g. 闽A12345"),
    ("window backwards", "POST /api/v1/passes",
     {"plate": "粤B88888", "host_household_id": 1, "valid_from": "2030-01-02T09:00+08:00",
      "valid_to": "2030-01-01T09:00+08:00"},
     "结束时间必须晚于开始时间", "Valid to must be after Valid from"),
    ("pass already over", "POST /api/v1/passes",
     {"plate": "粤B88888", "host_household_id": 1, "valid_from": "2020-01-01T09:00+08:00",
      "valid_to": "2020-01-01T18:00+08:00"},
     "结束时间已过，通行证一开始就会失效",
     "The end time is already past: the pass would already be over"),
    ("pass too long", "POST /api/v1/passes",
     {"plate": "粤B88888", "host_household_id": 1, "valid_from": "2030-01-01T09:00+08:00",
      "valid_to": "2032-01-01T09:00+08:00"},
     "访客通行证最长 366 天；长期来访的车辆请登记为住户车辆",
     "A visitor pass lasts at most 366 days; register a car that comes for longer as a "
     "household's vehicle"),
    ("no zone, year 2132", "POST /api/v1/passes",
     {"plate": "粤B88888", "host_household_id": 1, "valid_from": "2030-01-01T09:00",
      "valid_to": "2132-01-01T09:00+08:00"},
     "开始时间：时间需要带时区，例如 2026-05-01T09:00+08:00；"
     "结束时间：2132-01-01T09:00:00+08:00 不在 2000–2100 年之间",
     "Valid from: needs a time zone, e.g. 2026-05-01T09:00+08:00; "
     "Valid to: 2132-01-01T09:00:00+08:00 is outside 2000–2100"),
    ("blank name", "POST /api/v1/residents", {"household_id": 1, "name": "  "},
     "姓名：不能为空", "Name: must not be blank"),
    ("null name", "PATCH /api/v1/residents/1", {"name": None},
     "姓名不能为空", "Name cannot be emptied"),
    ("bounds", "POST /api/v1/passes",
     {"plate": "粤B88888", "host_household_id": 1, "valid_from": "",
      "valid_to": "2030-01-01T09:00+08:00", "max_uses": 0},
     "开始时间：请填写完整的日期和时间；可用次数：不能小于 1",
     "Valid from: enter a full date and time; Uses allowed: must be at least 1"),
    ("missing host", "POST /api/v1/passes",
     {"plate": "粤B88888", "valid_from": "2030-01-01T09:00+08:00",
      "valid_to": "2030-01-01T18:00+08:00"},
     "被访住户：必填", "Host household: required"),
    # 原因 is required (the guide asks it 写清楚): blank, spaces only or one character
    ("list without a reason", "POST /api/v1/lists",
     {"plate": "沪K60614", "kind": "block", "reason": "   "},
     "原因：请写明原因（至少 2 个字）",
     "Reason: say why the plate is listed (at least 2 characters)"),
    ("list with a one-character reason", "POST /api/v1/lists",
     {"plate": "沪K60614", "kind": "block", "reason": " 欠 "},
     "原因：请写明原因（至少 2 个字）",
     "Reason: say why the plate is listed (at least 2 characters)"),
    ("list with no reason at all", "POST /api/v1/lists", {"plate": "沪K60614", "kind": "block"},
     "原因：必填", "Reason: required"),
    ("listed twice", "POST /api/v1/lists",
     {"plate": "沪K60613", "kind": "block", "reason": "欠费未缴"},
     "车牌 沪K60613 已在黑白名单中", "Plate 沪K60613 is already on a list"),
    ("household twice", "POST /api/v1/households", {"building": "5栋", "unit": "302"},
     "住户 5栋 302 已存在", "Household 5栋 302 already exists"),
    ("gone", "DELETE /api/v1/passes/77", None,
     "通行证 #77 不存在（可能已被删除，请刷新页面）",
     "Visitor pass #77 does not exist (deleted? reload the page)"),
]


def _api_details(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    """The detail the API answers each case with, after the records they collide with."""
    for method, path, body in (
        ("POST", "/api/v1/households", {"building": "5栋", "unit": "302"}),
        ("POST", "/api/v1/vehicles", {"plate": "沪AD12345", "household_id": 1}),
        ("POST", "/api/v1/residents", {"household_id": 1, "name": "张三"}),
        ("POST", "/api/v1/lists", {"plate": "沪K60613", "kind": "block", "reason": "欠费未缴"}),
    ):
        assert client.request(method, path, json=body, headers=headers).status_code == 201
    details: dict[str, Any] = {}
    for what, call, body, _zh, _en in ERROR_CASES:
        if not call:
            details[what] = body  # users are created by a form, not the JSON API
            continue
        method, path = call.split(" ")
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code in (404, 409, 422), (what, response.text)
        details[what] = response.json()["detail"]
    return details


def test_every_api_error_the_admin_forms_meet_is_said_in_both_languages(client: Any) -> None:
    details = _api_details(client, add_staff(client.app.state.services, "admin", "admin"))
    for what, _call, _body, zh, en in ERROR_CASES:
        assert explain_detail("zh", details[what]) == zh, what
        assert explain_detail("en", details[what]) == en, what
        assert "Value error" not in zh and "Value error" not in en


@pytest.mark.parametrize(("message", "zh"), [
    ("household 1 still has 2 residents; remove them first",
     "住户 #1 还有 2 名住户成员，请先删除成员"),
    ("household 1 still has 1 visitor passes; remove them first",
     "住户 #1 还有 1 张访客通行证，请先删除通行证"),
    ("Value error, plate 闽A12345 already exists", "车牌 闽A12345 已存在"),
    ("resident 3 belongs to household 1, not 2", "住户成员 #3 属于住户 #1，不属于住户 #2"),
    ("this needs the admin role; guard is a guard", "此操作仅限管理员"),
    ("the database is unavailable; try again shortly", "数据库暂时不可用，请稍后再试"),
    ("password must have at least 8 characters", "密码至少 8 个字符"),
    ("user \"o'hara\" already exists", "用户 o'hara 已存在"),
    ("a message nobody has translated yet", "a message nobody has translated yet"),
    ("gate ped-1: close refused: held_open", "ped-1：未执行“关闸”，道闸处于常开"),
    ("gate main-in: open failed: simulated barrier is offline",
     "main-in：“开闸”失败，道闸没有按指令动作，请用道闸本身的手动方式放行并报修"
     "（设备原文：simulated barrier is offline）"),
    ("gate main-out: close not confirmed in time",
     "main-out：“关闸”没有得到道闸确认，请看道闸实际状态"),
    ("passage 11 was at gate ped-1, not main-in", "通行记录 11 属于ped-1，不是main-in"),
    ("no fire alarm is active", "当前没有消防报警，无需解除"),
])
def test_messages_map_with_their_values_kept(message: str, zh: str) -> None:
    assert explain_message("zh", message) == zh


def test_detail_shapes_the_api_does_not_send_still_say_something() -> None:
    assert explain_detail("zh", None) == "操作失败"
    assert explain_detail("en", []) == "Failed"
    assert explain_detail("zh", [{"loc": ["body", "spaces"], "msg": "Input should be less "
                                  "than or equal to 20"}, "junk"]) == "车位数：不能大于 20"
    assert explain_detail("zh", [{"loc": ["body", "mystery"], "msg": "Field required"}]) == \
        "mystery：必填"


def test_every_error_text_and_label_exists_in_both_languages() -> None:
    for lang in LANGS:
        for pattern in PATTERNS:
            assert translate(lang, pattern.key) != pattern.key, pattern.key
            # The browser fills the same texts: only {name} placeholders it knows.
            placeholders = set(re.findall(r"\{(\w*)\}", translate(lang, pattern.key)))
            assert placeholders <= {n.removeprefix("@") for n in pattern.names}, pattern.key
        for key in LABELS.values():
            assert translate(lang, key) != key, key
    table = browser_table("zh")
    assert len(table["patterns"]) == len(PATTERNS) and table["sep"] == "："
    json.dumps(table)  # goes into the page as JSON


def test_a_pattern_whose_groups_and_names_differ_is_refused() -> None:
    with pytest.raises(ValueError, match="has 1 groups"):
        ErrorPattern("user (.+) exists", "err.user_exists")


def test_the_users_form_shows_its_errors_translated(client: Any) -> None:
    add_user(client, "admin", "admin")
    csrf = cookie_login(client, "admin", "admin")
    form = {"username": "admin", "password": "booth-password-1", "role": "guard",
            "csrf_token": csrf}
    page = client.post("/console/admin/users", data=form)
    assert "用户 admin 已存在" in _visible_text(page.text)
    assert "already exists" not in _visible_text(page.text)
    assert 'title="user &#39;admin&#39; already exists"' in page.text  # kept for reports
    short = client.post("/console/admin/users", data={**form, "username": "x", "password": "1"})
    assert "密码至少 8 个字符" in short.text
    _set_lang(client, csrf, "en")
    assert "User admin already exists" in client.post("/console/admin/users", data=form).text


# --- alarms --------------------------------------------------------------------------------

@pytest.mark.parametrize(("message", "plate"), [
    ("blocked_plate at main-in: 沪K60613", "沪K60613"),
    ("anti_passback at main-in: plate 闽A12345 (guard guard)", "闽A12345"),
    ("blocked_plate at main-in: 粤B88888D (decided offline)", "粤B88888D"),
    ("visitor 粤B88888 on pass #3 is still inside 42 min after the pass ended "
     "(2026-05-01T10:00:00+00:00)", "粤B88888"),
    ("pin_locked at ped-1: resident 3", None),
    ("barrier at main-in did not open: offline", None),
    ("database was unreachable: 2 passage(s) between … were decided offline", None),
])
def test_the_plate_is_read_back_from_the_stored_message(message: str, plate: str | None) -> None:
    assert alarm_plate(message) == plate


def test_alarm_views_translate_kind_hints_and_the_offline_note() -> None:
    view = alarm_view("zh", "blocked_plate", "blocked_plate at main-in: 沪K60613 (decided offline)")
    assert (view.plate, view.hint, view.offline) == ("沪K60613", "请核实并拦截", True)
    assert alarm_view("en", "hardware_fault", "barrier at main-in did not open: x").hint == \
        "The barrier did not obey: check the device"
    assert alarm_view("zh", "a_new_kind", "whatever").hint == ""


def test_the_alarm_list_shows_kind_gate_and_plate_in_the_page_language(client: Any) -> None:
    from models.db import transaction
    from models.events import Alarm, Passage

    services = client.app.state.services
    with transaction(services.sessions) as session:
        # The car's passage, photographed: the alarm links its snapshot (a file on disk; one
        # retention deleted says 照片已删除 instead, test_console_guide_findings.py).
        photo = services.snapshots.save("main-in", datetime.now(UTC), b"\xff\xd8 car \xff\xd9")
        car = Passage(gate_id="main-in", direction="in", plate="沪K60613", decision="deny",
                      reason="blocked", snapshot_path=photo)
        session.add(car)
        session.flush()
        car_id = car.id
        session.add(Alarm(kind="blocked_plate", gate_id="main-in", passage_id=car_id,
                          message="blocked_plate at main-in: 沪K60613"))
        session.add(Alarm(kind="hardware_fault", gate_id="main-out",
                          message="barrier at main-out did not open: offline"))
    add_user(client, "guard", "guard")
    csrf = cookie_login(client, "guard", "guard")
    html = client.get("/console/fragments/alarms").text
    seen = _visible_text(html)
    assert "黑名单车辆" in seen and "东门入口" in seen and "车牌 沪K60613" in seen
    assert "设备故障" in seen and "东门出口" in seen and "道闸未按指令动作" in seen
    assert "blocked_plate at" not in seen and "did not open" not in seen
    assert 'title="原始信息：blocked_plate at main-in: 沪K60613"' in html  # still there
    assert "黑名单车辆" in client.get("/console").text  # the page includes the same list
    # The car behind an alarm is one click away; an alarm without a passage has no link.
    assert html.count('href="/api/v1/passages/') == 1
    assert f'href="/api/v1/passages/{car_id}/snapshot"' in html
    _set_lang(client, csrf, "en")
    seen = _visible_text(client.get("/console/fragments/alarms").text)
    assert "Blocked plate" in seen and "Plate 沪K60613" in seen


def test_a_tailgater_is_a_car_at_a_vehicle_gate_and_a_person_at_a_pedestrian_gate(
    client: Any,
) -> None:
    """跟车 tells the guard a car went uncounted; at the face gate (the demo's ped-1) the one
    who followed is a person nobody checked (尾随), and no parking count is involved."""
    from models.db import transaction
    from models.events import Alarm

    with transaction(client.app.state.services.sessions) as session:
        for gate_id in ("main-in", "ped-1"):
            session.add(Alarm(kind="tailgating", gate_id=gate_id,
                              message=f"tailgating at {gate_id}: a second vehicle"))
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    html = client.get("/console/fragments/alarms").text
    rows = {gate: _visible_text(row) for gate, row in re.findall(
        r'<span class="alarm-gate">([^<]*)</span>(.*?)</div>', html, re.S)}
    assert len(rows) == 2, rows
    car, person = (next(text for gate, text in rows.items() if name in gate)
                   for name in ("东门入口", "人行"))
    assert "跟车" in html and "车位" in car and "人脸" not in car
    assert "人脸" in person and "车位" not in person
    assert html.count("尾随") == 1


# --- audit log -----------------------------------------------------------------------------

def _source_actions() -> set[str]:
    """Action codes written as literals anywhere in the application code."""
    found: set[str] = set()
    patterns = (re.compile(r'action="([a-z_]+\.[a-z_]+)"'),
                re.compile(r'audit\(\s*session,\s*\w+,\s*"([a-z_]+\.[a-z_]+)"'))
    for folder in ("api", "services", "controllers", "models"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in patterns:
                found.update(pattern.findall(text))
    return found


def test_every_audit_action_in_the_code_has_a_name_and_a_filter_entry() -> None:
    from services.gate_actions import GATE_ACTIONS

    offered = {a for actions in AUDIT_ACTIONS.values() for a in actions}
    written = _source_actions()
    assert {"passage.resolve", "alarm.ack", "user.create", "pass.create"} <= written  # sanity
    # Written from a variable: f"gate.{action}" and f"list.{body.kind}".
    written |= {f"gate.{action}" for action in GATE_ACTIONS} | {"list.allow", "list.block"}
    assert written <= offered, written - offered
    for lang in LANGS:
        for action in offered:
            assert action_label(lang, action) != action, action
        for group in AUDIT_ACTIONS:
            assert translate(lang, f"audit.group.{group}") != f"audit.group.{group}"
    assert action_label("zh", "made.up") == "made.up"


def test_audit_details_are_labelled_and_their_codes_translated() -> None:
    details = {"outcome": "opening", "kind": "blocked_plate", "resolution": "allowed_once",
               "plate": "沪K60613", "pass_id": 12, "host_household_id": 1, "read_plate": None,
               "plate_color": "green", "error": "gate main-out: open failed: offline",
               "something_new": [1, 2]}
    assert audit_details("zh", details, {1: "3栋 1201"}, BEIJING) == [
        ("结果", "正在开启"), ("类型", "黑名单车辆"), ("处理", "人工放行"), ("车牌", "沪K60613"),
        ("通行证", "#12"), ("被访住户", "3栋 1201"), ("车牌颜色", "绿"),
        ("错误信息", "main-out：“开闸”失败，道闸没有按指令动作，请用道闸本身的手动方式放行并报修"
                     "（设备原文：offline）"),
        ("something_new", "[1, 2]"),
    ]
    assert audit_details("en", {"outcome": "open"}, {}, BEIJING) == [("Outcome", "Open")]
    # With the site's gates, a gate in an error message is named as the 道闸 column names it.
    refused = {"error": "passage 11 was at gate ped-1, not main-in"}
    gates = {"main-in": "东门入口", "ped-1": "东门人行"}
    assert audit_details("zh", refused, {}, BEIJING, gates=gates) == [
        ("错误信息", "通行记录 11 属于东门人行，不是东门入口")]
    # vehicle.update when the car was parked inside (services/presence_corrections.py).
    assert audit_details("zh", {"plate": "沪K60613", "inside": "followed"}, {}, BEIJING) == [
        ("车牌", "沪K60613"), ("场内的车", "随登记一起改"),
    ]


def test_the_audit_page_names_actions_gates_and_details(client: Any) -> None:
    from models.db import transaction
    from models.events import AuditEntry

    with transaction(client.app.state.services.sessions) as session:
        session.add(AuditEntry(username="guard", action="gate.open", target="gate:main-in",
                               gate_id="main-in", reason="救护车", details={"outcome": "opening"}))
        session.add(AuditEntry(username="guard", action="alarm.ack", target="alarm:1",
                               gate_id="main-in", details={"kind": "blocked_plate"}))
        session.add(AuditEntry(username="guard", action="gate.close", target="gate:main-out",
                               gate_id="main-out", details={
                                   "outcome": "fault",
                                   "error": "gate main-out: close not confirmed in time"}))
    add_user(client, "admin", "admin")
    csrf = cookie_login(client, "admin", "admin")
    html = client.get("/console/admin/audit").text
    seen = _visible_text(html)
    assert "开闸" in seen and "确认报警" in seen
    # The gate by its name in 错误信息 too, as in the row's 道闸 column: it said main-out.
    assert "错误信息：东门出口：“关闸”没有得到道闸确认，请看道闸实际状态" in seen, seen
    assert "结果：正在开启" in seen and "类型：黑名单车辆" in seen
    assert "outcome=" not in seen and "kind=" not in seen
    assert '<option value="main-in" >东门入口</option>' in html
    assert '<option value="gate" >道闸（全部）</option>' in html
    assert 'data-action="gate.open"' in html  # the code stays in the row for scripts/tests
    chosen = client.get("/console/admin/audit", params={"action": "gate", "gate": "main-in"})
    assert '<option value="gate" selected>' in chosen.text
    assert '<option value="main-in" selected>' in chosen.text
    assert "确认报警" not in _visible_text(chosen.text).split("共")[1]  # filtered out
    typed = client.get("/console/admin/audit", params={"action": "gate.op"})
    assert '<option value="gate.op" selected>gate.op</option>' in typed.text
    _set_lang(client, csrf, "en")
    seen = _visible_text(client.get("/console/admin/audit").text)
    assert "Open gate" in seen and "Outcome: Opening" in seen


# --- vehicles ------------------------------------------------------------------------------

def test_plate_colours_are_named_in_the_page_language(client: Any) -> None:
    headers = add_staff(client.app.state.services, "admin", "admin")
    client.post("/api/v1/households", json={"building": "3栋", "unit": "1201"}, headers=headers)
    created = client.post("/api/v1/vehicles", headers=headers, json={
        "plate": "闽AD12345", "household_id": 1, "plate_color": "green"})
    assert created.status_code == 201, created.text
    csrf = cookie_login(client, "admin", "admin")
    html = client.get("/console/admin/households").text
    seen = _visible_text(html)
    assert re.search(r'<td data-color="green"[^>]*>绿</td>', html)
    for value, name in (("unknown", "未知"), ("blue", "蓝"), ("yellow", "黄"), ("white", "白"),
                        ("black", "黑")):
        assert f'<option value="{value}">{name}</option>' in html
    assert not re.search(r"\b(unknown|green|blue|yellow)\b", seen)
    _set_lang(client, csrf, "en")
    assert re.search(r'<td data-color="green"[^>]*>Green</td>',
                     client.get("/console/admin/households").text)


def test_delete_buttons_name_the_record(client: Any) -> None:
    headers = add_staff(client.app.state.services, "admin", "admin")
    for path, body in (
        ("/api/v1/households", {"building": "3栋", "unit": "1201"}),
        ("/api/v1/residents", {"household_id": 1, "name": "王芳"}),
        ("/api/v1/vehicles", {"plate": "闽AD12345", "household_id": 1}),
        ("/api/v1/lists", {"plate": "沪K60613", "kind": "block", "reason": "欠费未缴"}),
    ):
        assert client.post(path, json=body, headers=headers).status_code == 201
    cookie_login(client, "admin", "admin")
    households = client.get("/console/admin/households").text
    assert 'data-confirm="删除住户 #1 3栋 1201？"' in households
    assert ('data-confirm="删除住户成员 #1 王芳？'
            '其人脸数据（0 条）和通行密码将一并删除，无法恢复。"' in households)
    assert 'data-confirm="删除车辆 #1 闽AD12345？"' in households
    assert 'data-confirm="从黑名单删除 #1 沪K60613？"' in client.get("/console/admin/lists").text


def test_admin_pages_carry_the_error_table_for_their_script(client: Any) -> None:
    add_user(client, "admin", "admin")
    cookie_login(client, "admin", "admin")
    for path in ("/console/admin/households", "/console/admin/passes", "/console/admin/lists"):
        html = client.get(path).text
        block = re.search(r'<script type="application/json" id="error-table">(.*?)</script>',
                          html, re.S)
        assert block is not None, path
        table = json.loads(block.group(1))
        assert table["labels"]["plate"] == "车牌" and table["join"] == "；"
        assert html.index('id="error-table"') < html.index("/console/static/admin.js")


def test_a_plate_taken_off_a_list_says_which_list_and_why_it_was_on_it(client: Any) -> None:
    # 移出黑白名单 named only the plate: once the entry was gone, the log did not say whether
    # a blocked car was let in again or an allow-listed one lost its pass, nor why it was on.
    bearer = add_staff(client.app.state.services, "admin", "admin")
    made = client.post("/api/v1/lists", headers=bearer, json={
        "plate": "沪K60613", "kind": "block", "reason": "物业费欠费 3 个月"})
    assert made.status_code == 201, made.text
    assert client.delete(f"/api/v1/lists/{made.json()['id']}", headers=bearer).status_code == 204
    entry = client.get("/api/v1/audit", headers=bearer,
                       params={"action": "list.delete"}).json()["items"][0]
    assert {k: entry["details"][k] for k in ("list", "listed_reason", "listed_by")} == {
        "list": "block", "listed_reason": "物业费欠费 3 个月", "listed_by": "admin"}
    cookie_login(client, "admin", "admin")
    seen = _visible_text(client.get("/console/admin/audit",
                                    params={"action": "list.delete"}).text)
    assert re.search(r"名单：黑名单；加入原因：物业费欠费 3 个月；加入人：admin；"
                     r"加入时间：\d{4}-\d\d-\d\d \d\d:\d\d(?!:)", seen), seen
