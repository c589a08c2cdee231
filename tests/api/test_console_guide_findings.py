"""What the operator-guide writer found clicking through the console, as the server renders
it: the host household starts unchosen, a throttled login tells the real wait, the audit log
pages and exports Beijing time, 抓拍 only where there is a photo (照片已删除 where it was
deleted), and gate faults in words a guard reads (the driver's text kept for the
technician)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest

from api.console.fault_texts import fault_summary
from hardware.simulated import SimFault
from tests.api.test_console import CSRF_FIELD, PASSWORD, add_staff, cookie_login
from tests.api.test_console_live import card_of, unread_passage


def _household(client: Any, building: str, unit: str) -> int:
    from models.db import transaction
    from models.people import Household

    with transaction(client.app.state.services.sessions) as session:
        row = Household(building=building, unit=unit)
        session.add(row)
        session.flush()
        return row.id


def test_the_host_household_of_a_visitor_pass_starts_unchosen(client: Any) -> None:
    """The card preselected the first household: one tap more filed the visitor under the
    wrong flat. Like the admin pages, nothing is chosen until the guard picks."""
    first = _household(client, "1栋", "101")
    _household(client, "2栋", "202")
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    passage_id = unread_passage(client)
    for url in ("/console", "/console/fragments/review"):
        card = card_of(client.get(url).text, passage_id)
        host = re.search(r'<select name="host_household_id"[^>]*>(.*?)</select>', card, re.S)
        assert host is not None and "required" in host.group(0)
        options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', host.group(1))
        assert options[0] == ("", " selected", "请选择")
        assert [value for value, chosen, _ in options if chosen] == [""]
        assert str(first) in [value for value, _, _ in options]


def test_a_pedestrian_gate_card_speaks_of_a_person(client: Any) -> None:
    """The card at 东门人行 offered 车已离开 (and live.js asked to confirm 无牌车): the page
    marks it as a person's, from the gate's kind, for the script's dialog and toasts."""
    from models.db import transaction
    from models.events import Passage

    with transaction(client.app.state.services.sessions) as session:
        walker = Passage(
            gate_id="ped-1",
            direction="in",
            decision="review",
            reason="face_unknown",
            credential="face",
        )
        session.add(walker)
        session.flush()
        walker_id = walker.id
    car = unread_passage(client)
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    for url in ("/console", "/console/fragments/review"):
        html = client.get(url).text
        person, vehicle = card_of(html, walker_id), card_of(html, car)
        assert 'data-person="yes"' in person and "data-person" not in vehicle
        assert re.search(r'data-resolution="left">人已离开<', person)
        assert re.search(r'data-resolution="left">车已离开<', vehicle)


def _login_attempt(client: Any, username: str) -> Any:
    token = CSRF_FIELD.search(client.get("/console/login").text)
    assert token is not None
    return client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )


def test_a_paused_login_says_how_long_the_pause_really_is(client: Any) -> None:
    """It said 「请5分钟后再试」 while the first pause is 30 s, doubling up to 5 min."""
    from api.console.throttle import LoginThrottle

    add_staff(client.app.state.services, "guard", "guard")
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    client.app.state.login_throttle = throttle
    for _ in range(5):  # five wrong passwords from this booth PC (TestClient's address)
        throttle.failed("testclient", "guard")

    paused = _login_attempt(client, "guard")  # even the right password waits
    assert paused.status_code == 429
    assert paused.headers["Retry-After"] == "30"
    assert "登录失败次数过多，请30秒后再试" in paused.text

    now[0] += 31
    throttle.failed("testclient", "guard")  # one more wrong: the pause doubles
    assert "请60秒后再试" in _login_attempt(client, "guard").text
    now[0] += 61
    throttle.failed("testclient", "guard")
    paused = _login_attempt(client, "guard")
    assert paused.headers["Retry-After"] == "120"
    assert "请2分钟后再试" in paused.text

    client.cookies.set("parkgate_lang", "en")
    assert "Too many failed logins: try again in 2 minutes" in _login_attempt(client, "guard").text
    now[0] += 121
    assert _login_attempt(client, "guard").status_code == 303  # the pause is over


def _audit_entries(client: Any, entries: list[dict[str, Any]]) -> None:
    from models.db import transaction
    from models.events import AuditEntry

    with transaction(client.app.state.services.sessions) as session:
        session.add_all(AuditEntry(**entry) for entry in entries)


def test_the_audit_export_writes_beijing_time_with_its_offset(client: Any) -> None:
    """The page shows Beijing time; the CSV wrote UTC without saying so (02:00 for 10:00)."""
    _audit_entries(
        client,
        [
            {
                "at": datetime(2026, 3, 1, 2, 0, 5, 250_000, tzinfo=UTC),
                "username": "guard",
                "action": "gate.open",
                "gate_id": "main-in",
                "reason": "业主来电",
            }
        ],
    )
    admin = add_staff(client.app.state.services, "admin", "admin")
    export = client.get("/api/v1/audit.csv", headers=admin)
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8").removeprefix("\ufeff"))))
    assert [(r["at"], r["reason"]) for r in rows] == [("2026-03-01T10:00:05+08:00", "业主来电")]
    assert datetime.fromisoformat(rows[0]["at"]) == datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC)


def _audit_rows(html: str) -> list[str]:
    """The reasons of the rows on an audit page, top to bottom."""
    return [
        unescape(reason)
        for reason in re.findall(
            r'<tr data-action="[^"]+">.*?<td class="audit-target"[^>]*>[^<]*</td>'
            r"\s*<td[^>]*>([^<]*)</td>",
            html,
            re.S,
        )
    ]


def test_the_audit_page_pages_through_older_entries_keeping_the_filters(client: Any) -> None:
    """Only the newest 200 were listed, with no way to reach the rest."""
    start = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    _audit_entries(
        client,
        [
            {
                "at": start + timedelta(minutes=i),
                "username": "guard",
                "action": "gate.open",
                "gate_id": "main-in",
                "reason": f"开闸{i:03d}",
            }
            for i in range(450)
        ]
        + [
            {
                "at": start + timedelta(minutes=i),
                "username": "office",
                "action": "gate.close",
                "gate_id": "main-in",
                "reason": f"关闸{i}",
            }
            for i in range(5)
        ],
    )
    add_staff(client.app.state.services, "admin", "admin")
    cookie_login(client, "admin", "admin")

    first = client.get("/console/admin/audit", params={"user": "guard", "action": "gate"})
    assert first.status_code == 200
    assert "共 450 条" in first.text and "第 1 / 3 页" in first.text
    assert _audit_rows(first.text) == [f"开闸{i:03d}" for i in range(449, 249, -1)]
    assert 'id="page-newer"' not in first.text
    older = re.search(r'href="([^"]+)" id="page-older"', first.text)
    assert older is not None
    assert unescape(older.group(1)) == "/console/admin/audit?user=guard&action=gate&page=2"

    second = client.get(unescape(older.group(1)))
    assert _audit_rows(second.text) == [f"开闸{i:03d}" for i in range(249, 49, -1)]
    assert 'value="guard"' in second.text  # the filter form still shows what was asked
    last = client.get(
        "/console/admin/audit", params={"user": "guard", "action": "gate", "page": 3}
    ).text
    assert _audit_rows(last) == [f"开闸{i:03d}" for i in range(49, -1, -1)]
    assert 'id="page-older"' not in last
    newer = re.search(r'href="([^"]+)" id="page-newer"', last)
    assert newer is not None
    assert unescape(newer.group(1)) == "/console/admin/audit?user=guard&action=gate&page=2"

    assert client.get("/console/admin/audit", params={"page": 0}).status_code == 422
    assert client.get("/console/admin/audit", params={"page": "x"}).status_code == 422


def test_the_snapshot_link_is_offered_only_for_a_passage_with_a_photo(client: Any) -> None:
    """A PIN lock-out's passage has no photo: its 抓拍 opened a 404 JSON page."""
    from models.db import transaction
    from models.events import Alarm, Passage

    photographed = unread_passage(client)  # a camera frame: kept as the snapshot
    with transaction(client.app.state.services.sessions) as session:
        keypad = Passage(
            gate_id="ped-1", direction="in", decision="deny", reason="pin_locked", credential="pin"
        )
        session.add(keypad)
        session.flush()
        session.add_all(
            [
                Alarm(
                    kind="pin_locked",
                    gate_id="ped-1",
                    passage_id=keypad.id,
                    message="pin_locked at ped-1: resident 3",
                ),
                Alarm(
                    kind="blocked_plate",
                    gate_id="main-in",
                    passage_id=photographed,
                    message="blocked_plate at main-in: 沪K60613",
                ),
                Alarm(kind="hardware_fault", gate_id="main-out", message="gate main-out: fault"),
            ]
        )
        keypad_id = keypad.id
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    for url in ("/console", "/console/fragments/alarms"):
        html = client.get(url).text
        links = re.findall(r'class="alarm-snapshot" href="/api/v1/passages/(\d+)/snapshot"', html)
        assert links == [str(photographed)], url
        assert html.count('class="alarm"') == 3
    assert client.get(f"/api/v1/passages/{photographed}/snapshot").status_code == 200
    assert client.get(f"/api/v1/passages/{keypad_id}/snapshot").status_code == 404


def _alarm_of(html: str, alarm_id: int, end: str) -> str:
    start = html.index(f'data-alarm-id="{alarm_id}"')
    return html[start : html.index(end, start)]


def test_an_alarm_whose_snapshot_was_deleted_says_so_instead_of_linking_a_404(
    client: Any,
) -> None:
    """Retention or the low-space cleanup deleted the file, the passage kept its path: the
    alarm's 抓拍 opened the API's 404 JSON in a new tab. It says 照片已删除 in its place, as a
    passage row's photo does (common.js photoGone), on the booth page and in 报警记录; an
    alarm whose photo is still there keeps its link."""
    from models.db import transaction
    from models.events import Alarm, Passage

    services = client.app.state.services
    ids: dict[str, tuple[int, int]] = {}  # name -> (alarm, passage)
    with transaction(services.sessions) as session:
        for name, plate in (("kept", "沪K60613"), ("gone", "粤B88888")):
            photo = services.snapshots.save("main-in", datetime.now(UTC), b"\xff\xd8 \xff\xd9")
            car = Passage(gate_id="main-in", direction="in", plate=plate, decision="deny",
                          reason="blocked", snapshot_path=photo)
            session.add(car)
            session.flush()
            alarm = Alarm(kind="blocked_plate", gate_id="main-in", passage_id=car.id,
                          message=f"blocked_plate at main-in: {plate}")
            session.add(alarm)
            session.flush()
            ids[name] = (alarm.id, car.id)
            if name == "gone":
                services.snapshots.path(photo).unlink()
    add_staff(services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    pages = {
        "/console": '<div class="alarm" data-alarm-id=',
        "/console/fragments/alarms": '<div class="alarm" data-alarm-id=',
        "/console/alarms": '<tr class="alarm-row open" data-alarm-id=',
    }
    for lang, words in (("zh", "照片已删除"), ("en", "Photo deleted")):
        client.cookies.set("parkgate_lang", lang)
        for url, row_start in pages.items():
            html = client.get(url).text
            assert html.count(row_start) == 2, (lang, url)
            end = "</tr>" if "alarm-row" in row_start else "</div>"
            kept_alarm, kept_car = ids["kept"]
            kept = _alarm_of(html, kept_alarm, end)
            assert f'class="alarm-snapshot" href="/api/v1/passages/{kept_car}/snapshot"' in kept
            assert words not in kept, (lang, url)
            gone = _alarm_of(html, ids["gone"][0], end)
            assert f'<span class="alarm-snapshot-gone">{words}</span>' in gone, (lang, url)
            assert "/snapshot" not in gone and "alarm-snapshot\"" not in gone, (lang, url)
    assert client.get(f"/api/v1/passages/{ids['kept'][1]}/snapshot").status_code == 200
    assert client.get(f"/api/v1/passages/{ids['gone'][1]}/snapshot").status_code == 404


# Fault texts as each driver in hardware/ words them (the f-strings there, filled in).
DRIVER_FAULTS = [
    # hardware/mqtt.py RelayLink via relay_barrier.py "link lost: …"
    (
        "link lost: relay gate1 is offline (tele/gate1/LWT = Offline): it lost power or its "
        "network",
        "故障：道闸控制器离线（断电或断网）",
    ),
    (
        "link lost: connection lost (broker stopped or restarted, or the network is down)",
        "故障：通信中断",
    ),
    (
        "link lost: the broker stopped answering (keep-alive time-out: network or broker hung)",
        "故障：通信中断",
    ),
    (
        "cannot connect: MQTT broker 127.0.0.1:1883 not reachable within 5 s (refused: Not "
        "authorized)",
        "故障：通信中断",
    ),
    ("MQTT broker 127.0.0.1:1883 not connected", "故障：通信中断"),
    (
        "MQTT publish to gate1/cmnd/POWER1 failed: The client is not currently connected.",
        "故障：通信中断",
    ),
    ("cannot connect: simulated barrier is offline", "故障：通信中断"),
    ("simulated barrier is offline", "故障：通信中断"),
    # hardware/modbus.py
    ("modbus://10.0.0.5:502/1: cannot connect", "故障：通信中断"),
    ("modbus://10.0.0.5:502/1: [Errno 111] Connection refused", "故障：通信中断"),
    (
        "modbus://10.0.0.5:502/1: no answer to write_coil: Modbus Error: No response",
        "故障：设备无响应",
    ),
    (
        "modbus://10.0.0.5:502/1: device refused write_coil(1, True): ExceptionResponse(…)",
        "故障：设备拒绝指令",
    ),
    ("modbus://10.0.0.5:502/1: coil 1 echoed False, wanted True", "故障：继电器未按指令动作"),
    (
        "modbus://10.0.0.5:502/1: board refuses input address 100 (presence loop, presence_input): "
        "check the address in the config against the board's manual (counted from 0)",
        "故障：控制板无此输入地址（地感或限位），请检查配置",
    ),
    (
        "modbus://10.0.0.5:502/1: board refuses to read inputs 20 to 100 in one request (…)",
        "故障：控制板无此输入地址（地感或限位），请检查配置",
    ),
    # hardware/relay_barrier.py and controllers/barrier.py
    ("gate main-in: open not confirmed within 2 s", "故障：设备无响应"),
    ("gate main-in: close given up before the device confirmed it", "故障：设备无响应"),
    ("barrier did not report open within 10 s", "故障：道闸未到位（可能卡住或被挡住）"),
    ("barrier did not report closed within 10 s", "故障：道闸未到位（可能卡住或被挡住）"),
    # hardware/http.py, hardware/gpio.py, the Shelly RPC
    (
        "HTTP http://10.0.0.7/relay/0?turn=on: ConnectError('All connection attempts failed')",
        "故障：通信中断",
    ),
    ("HTTP http://10.0.0.7/relay/0?turn=on: no answer: ReadTimeout('')", "故障：设备无响应"),
    ("HTTP http://10.0.0.7/relay/0?turn=on: status 401", "故障：设备拒绝指令"),
    (
        "Shelly shellyplus1-a8032ab1: {'code': -103, 'message': 'Invalid argument'}",
        "故障：设备拒绝指令",
    ),
    ("GPIO pin 17 reads False after driving True", "故障：继电器未按指令动作"),
    ("GPIO relay pins [17, 27]: Failed to add edge detection", "故障：通信中断"),
    # a message no family knows stays as the driver wrote it
    ("fault", "fault"),
]


@pytest.mark.parametrize(("message", "summary"), DRIVER_FAULTS)
def test_driver_fault_texts_have_a_chinese_summary(message: str, summary: str) -> None:
    assert fault_summary("zh", message) == summary
    english = fault_summary("en", message)
    assert english is not None and (
        english == message if summary == message else english.startswith("Fault: ")
    )


def test_the_gate_strip_summarises_a_fault_and_keeps_the_driver_text(client: Any) -> None:
    guard = add_staff(client.app.state.services, "guard", "guard")
    client.app.state.services.barriers["main-out"].inject_fault(SimFault.OFFLINE)
    failed = client.post(
        "/api/v1/gates/main-out/actions",
        json={"action": "open", "reason": "访客无证放行"},
        headers=guard,
    )
    assert failed.status_code == 503, failed.text
    cookie_login(client, "guard", "guard")
    page = client.get("/console").text
    gate = re.search(
        r'<div class="gate" data-gate="main-out".*?<div class="gate-buttons">', page, re.S
    )
    assert gate is not None and 'data-state="fault"' in gate.group(0)
    fault = gate.group(0)
    assert re.search(r'data-role="fault-summary">故障：通信中断<', fault)
    raw = re.search(r'<small class="fault-raw" data-role="fault-raw"[^>]*>([^<]*)</small>', fault)
    assert raw is not None and "hidden" not in raw.group(0)
    assert raw.group(1) == "simulated barrier is offline"
    # A gate without a fault shows neither.
    healthy = re.search(
        r'<div class="gate" data-gate="main-in".*?<div class="gate-buttons">', page, re.S
    )
    assert healthy is not None
    assert re.search(r'class="gate-fault" data-role="fault" hidden', healthy.group(0))


def test_a_card_with_nothing_read_shows_no_confidence(client: Any) -> None:
    """Found by the guard's walk: a car whose plate was not read (无法识别车牌), or a person
    at the pedestrian gate, showed 识别结果: —0%, which reads as a minus zero; a card with a
    read keeps its confidence."""
    from models.db import transaction
    from models.events import Passage

    with transaction(client.app.state.services.sessions) as session:
        read = Passage(gate_id="main-in", direction="in", decision="review",
                       reason="low_confidence", plate="闽A12345", confidence=0.62)
        session.add(read)
        session.flush()
        read_id = read.id
    unread = unread_passage(client)
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    for url in ("/console", "/console/fragments/review"):
        html = client.get(url).text
        nothing = card_of(html, unread)
        assert re.search(r'<strong class="plate">—</strong>\s*</span>', nothing), nothing
        assert "%" not in re.sub(r"<[^>]+>", "", nothing.split('class="review-fields"')[0])
        assert re.search(r'>闽A12345</strong>.*?<span class="quiet">62%</span>',
                         card_of(html, read_id), re.S)


def test_the_queue_counts_the_cars_past_its_cards(client: Any) -> None:
    """Found by the guard's walk: 30 cars waiting showed 20 cards under a badge of 20, and
    none of the cars past them (the one at the barrier now) counted anywhere."""
    from models.db import transaction
    from models.events import Passage

    with transaction(client.app.state.services.sessions) as session:
        session.add_all(
            Passage(gate_id="main-in", direction="in", plate=f"粤B{20000 + i}",
                    decision="review", reason="unknown_plate", confidence=0.95)
            for i in range(21)
        )
        session.add(Passage(gate_id="main-in", direction="in", plate="粤B30000",
                            decision="review", reason="unknown_plate", resolution="denied"))
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    page = client.get("/console").text
    assert '<span class="count" id="review-count">21</span>' in page
    for html in (page, client.get("/console/fragments/review").text):
        assert html.count('<form class="review-card"') == 20
        more = re.search(r'<p class="quiet review-more" id="review-more"[^>]*>([^<]*)</p>', html)
        assert more is not None and 'data-more="1"' in more.group(0)
        assert more.group(1) == "另有 1 辆后到的没有列出：上面的处理完后会依次显示。"


def test_a_snapshot_that_cannot_be_read_keeps_its_link_rather_than_failing_the_page() -> None:
    """The 照片已删除 check stats each alarm's photo: a folder the controller cannot read
    (its permissions after a restore by hand) raised through it, and the booth page's alarm
    list answered 500 instead of showing the alarms."""
    from api.routes.alarms import _on_disk
    from errors import NotFoundError

    class Unreadable:
        def path(self, relative: str) -> Any:
            raise PermissionError(13, "Permission denied", relative)

    class Deleted:
        def path(self, relative: str) -> Any:
            raise NotFoundError("snapshot not found")

    assert _on_disk(Unreadable(), "2026/12/02/080000-main-in-ab12cd34.jpg") is True  # type: ignore[arg-type]
    assert _on_disk(Deleted(), "2026/12/02/080000-main-in-ab12cd34.jpg") is False  # type: ignore[arg-type]
