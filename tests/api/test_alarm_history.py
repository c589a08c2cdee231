"""Alarm history (报警记录): acknowledged alarms leave the booth screen, so the next shift and
the property office read them back here, by local day, gate, kind and state, with who
acknowledged them, when and what they wrote; and the alarms API filters the same way."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.console.i18n import alarm_kinds
from controllers.ports import PendingAlarm
from models.db import transaction
from models.events import Alarm, Passage
from services.alarm_search import AlarmQuery
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_console_code_labels import DECISION_ALARMS, SAFETY_ALARMS

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROW_ID = re.compile(r'<tr class="alarm-row [a-z]+" data-alarm-id="(\d+)"')


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def alarm(at: datetime, kind: str, gate_id: str | None = "main-in", **extra: Any) -> Alarm:
    return Alarm(at=at, kind=kind, gate_id=gate_id, message=extra.pop("message", kind), **extra)


@pytest.fixture
def alarms(client: Any) -> dict[str, int]:
    return add_alarms(client)


def add_alarms(client: Any) -> dict[str, int]:
    """A week-end's alarms at the demo community's gates, by name."""
    services = client.app.state.services
    # The car's photo is on disk (its 抓拍 link is shown), dated now: one dated with the
    # passage would be deleted by retention a month later, and the link with it.
    photo = services.snapshots.save("main-in", datetime.now(UTC), b"\xff\xd8 car \xff\xd9")
    with transaction(services.sessions) as session:
        car = Passage(
            at=local(24, 2, 0),
            gate_id="main-in",
            direction="in",
            zone_id="A",
            plate="沪K60613",
            decision="deny",
            reason="blocked",
            snapshot_path=photo,
        )
        session.add(car)
        session.flush()
        rows = {
            # 23:50 on the 23rd and 00:10 on the 25th (Beijing) are other days than the 24th.
            "late": alarm(local(23, 23, 50), "hardware_fault", "main-out"),
            "blocked": alarm(
                local(24, 2, 0),
                "blocked_plate",
                passage_id=car.id,
                message="blocked_plate at main-in: 沪K60613",
                acknowledged_by="guard1",
                acknowledged_at=local(24, 2, 3),
                acknowledged_note="车主忘带卡，已核实",
            ),
            "tailgating": alarm(
                local(24, 2, 1),
                "tailgating",
                acknowledged_by="guard2",
                acknowledged_at=local(24, 2, 9),
            ),
            "walked": alarm(local(24, 9, 0), "tailgating", "ped-1"),
            "disk": alarm(local(24, 23, 0), "disk_low", None),
            "early": alarm(local(25, 0, 10), "tailgating"),
        }
        session.add_all(rows.values())
        session.flush()
        return {name: row.id for name, row in rows.items()}


@pytest.fixture
def guard(client: Any, alarms: dict[str, int]) -> Any:
    add_staff(client.app.state.services, "guard1", "guard")
    cookie_login(client, "guard1", "guard")
    return client


@pytest.fixture(scope="module")
def refusing_app(shared_client: Any) -> tuple[Any, dict[str, str]]:
    """One app per database with the week-end's alarms and guard1, for the filters refused
    with a 422: they only read, and each checks that no alarm row is shown, so they share it
    (tests/api/conftest.py ``shared_client``) instead of building one each (0.1 s of CPU for
    one request)."""
    add_alarms(shared_client)
    return shared_client, add_staff(shared_client.app.state.services, "guard1", "guard")


@pytest.fixture
def refused_guard(
    fresh_shared_client: Any, refusing_app: tuple[Any, dict[str, str]]
) -> Any:
    """``guard`` on the shared app: guard1 logged in to the console."""
    cookie_login(fresh_shared_client, "guard1", "guard")
    return fresh_shared_client


def listed(html: str) -> list[int]:
    return [int(i) for i in ROW_ID.findall(html)]


# --- the API ---------------------------------------------------------------------------


def test_the_api_filters_by_gate_kind_state_and_time(
    client: Any, alarms: dict[str, int], guard_headers: dict[str, str]
) -> None:
    def ids(**params: str) -> list[int]:
        response = client.get("/api/v1/alarms", params=params, headers=guard_headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"])
        return [item["id"] for item in body["items"]]

    a = alarms
    every = [a["early"], a["disk"], a["walked"], a["tailgating"], a["blocked"], a["late"]]
    assert ids(state="all") == every
    assert ids() == [a["early"], a["disk"], a["walked"], a["late"]]  # open, as before
    assert ids(state="acknowledged") == [a["tailgating"], a["blocked"]]
    assert ids(state="all", kind="tailgating") == [a["early"], a["walked"], a["tailgating"]]
    assert ids(state="all", kind="tailgating", gate="main-in") == [a["early"], a["tailgating"]]
    assert ids(state="all", gate="main-out") == [a["late"]]
    day = {"since": "2026-11-24T00:00+08:00", "until": "2026-11-25T00:00+08:00"}
    assert ids(state="all", **day) == [a["disk"], a["walked"], a["tailgating"], a["blocked"]]
    # "Was there a 跟车 at the east entry on the 24th at 2 am?"
    assert ids(
        state="all",
        kind="tailgating",
        gate="main-in",
        since="2026-11-24T01:00+08:00",
        until="2026-11-24T03:00+08:00",
    ) == [a["tailgating"]]
    # A well-formed kind or gate no alarm has: nothing, as for passages.
    assert ids(state="all", kind="zone_full") == [] and ids(gate="nope") == []
    # Empty values mean no filter (a form left blank).
    assert ids(state="all", kind="", gate="") == every


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"kind": "跟车"}, "an alarm kind is a code such as tailgating"),
        ({"kind": "Tailgating"}, "an alarm kind is a code"),
        ({"kind": "x" * 33}, "at most 32 characters"),
        ({"gate": "g" * 33}, "at most 32 characters"),
        ({"since": "2026-11-24"}, "a time needs a zone"),
        ({"until": "1732406400"}, "ISO 8601"),
        (
            {"since": "2026-11-25T00:00+08:00", "until": "2026-11-24T00:00+08:00"},
            "must be before until",
        ),
        (
            {"since": "2026-11-24T00:00+08:00", "until": "2026-11-24T00:00+08:00"},
            "must be before until",
        ),
        ({"state": "closed"}, "'open', 'acknowledged' or 'all'"),
    ],
)
def test_bad_filter_values_are_a_422_that_says_why(
    refusing_app: tuple[Any, dict[str, str]], params: dict[str, str], said: str
) -> None:
    client, guard_headers = refusing_app
    refused = client.get("/api/v1/alarms", params=params, headers=guard_headers)
    assert refused.status_code == 422, refused.text
    assert said in str(refused.json()["detail"])


@pytest.mark.parametrize(
    ("query", "admitted"),
    [
        (AlarmQuery(), True),
        (AlarmQuery(state="open", kind="hardware_fault", gate_id="main-in"), True),
        (AlarmQuery(state="acknowledged"), False),  # not stored, so not acknowledged
        (AlarmQuery(kind="tailgating"), False),
        (AlarmQuery(gate_id="main-out"), False),
        (AlarmQuery(since=local(24, 2, 0), until=local(24, 2, 1)), True),  # since inclusive
        (AlarmQuery(since=local(24, 1, 0), until=local(24, 2, 0)), False),  # until exclusive
    ],
)
def test_alarms_not_stored_yet_are_filtered_like_stored_ones(
    query: AlarmQuery, admitted: bool
) -> None:
    """During a database outage the API lists the journal's alarms first: a filtered list
    must not show a fault at another gate or of another kind there."""
    pending = PendingAlarm(
        key="k",
        kind="hardware_fault",
        gate_id="main-in",
        message="barrier fault",
        at=local(24, 2, 0),
    )
    assert query.admits(pending) is admitted


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="must be before until"):
        AlarmQuery(since=local(24, 2), until=local(24, 1))


# --- the page ----------------------------------------------------------------------------


def test_the_page_lists_alarms_newest_first_with_how_they_were_handled(
    guard: Any, alarms: dict[str, int]
) -> None:
    page = guard.get("/console/alarms")
    assert page.status_code == 200, page.text
    a = alarms
    assert listed(page.text) == [
        a["early"],
        a["disk"],
        a["walked"],
        a["tailgating"],
        a["blocked"],
        a["late"],
    ]
    row = _row(page.text, a["blocked"])
    # Beijing time, the gate's name, the kind's Chinese label, the plate, who and what.
    assert "2026-11-24" in row and "02:00:00" in row and "东门入口" in row
    assert "黑名单车辆" in row and "车牌 沪K60613" in row and "已处理" in row
    assert "guard1" in row and "11-24 02:03" in row and "车主忘带卡，已核实" in row
    assert f'href="/console/history?passage={_passage_of(guard, a["blocked"])}"' in row
    passage_id = _passage_of(guard, a["blocked"])
    assert f'href="/api/v1/passages/{passage_id}/snapshot"' in row and "抓拍" in row
    assert "照片已删除" not in row
    open_row = _row(page.text, a["late"])
    assert "未处理" in open_row and "东门出口" in open_row and "设备故障" in open_row
    assert "/console/history?passage=" not in open_row  # no passage: no link
    assert "跟车" in _row(page.text, a["tailgating"])
    assert "尾随" in _row(page.text, a["walked"])  # a follower on foot, as on the booth screen
    assert "—" in _row(page.text, a["disk"])  # no gate
    assert "共 6 条" in page.text


def test_local_days_gate_kind_and_state_narrow_the_list(guard: Any, alarms: dict[str, int]) -> None:
    a = alarms

    def ids(**params: str) -> list[int]:
        page = guard.get("/console/alarms", params=params)
        assert page.status_code == 200, page.text
        return listed(page.text)

    assert ids(since="2026-11-24", until="2026-11-24") == [
        a["disk"],
        a["walked"],
        a["tailgating"],
        a["blocked"],
    ]
    assert ids(since="2026-11-25") == [a["early"]]
    assert ids(until="2026-11-23") == [a["late"]]
    assert ids(gate="main-in", kind="tailgating") == [a["early"], a["tailgating"]]
    assert ids(state="acknowledged") == [a["tailgating"], a["blocked"]]
    assert ids(state="open", kind="tailgating") == [a["early"], a["walked"]]
    # Blank fields (a form submitted as it stands) mean every alarm.
    assert len(ids(since="", until="", gate="", kind="", state="")) == 6
    chosen = guard.get("/console/alarms", params={"kind": "tailgating", "state": "open"}).text
    assert '<option value="tailgating" selected>' in chosen
    assert '<option value="open" selected>' in chosen


def test_the_days_are_the_communitys_not_beijings(app_factory: Any) -> None:
    """Asia/Urumqi (UTC+6): an alarm at 23:30 there on the 23rd is 01:30 on the 24th in
    Beijing; the page's days and times are the community's."""
    from tests.api.test_community_timezone import urumqi_community

    client = app_factory(community=urumqi_community())
    at = datetime(2026, 11, 23, 23, 30, tzinfo=ZoneInfo("Asia/Urumqi")).astimezone(UTC)
    with transaction(client.app.state.services.sessions) as session:
        session.add(alarm(at, "hardware_fault"))
    add_staff(client.app.state.services, "guard1", "guard")
    cookie_login(client, "guard1", "guard")
    on_23 = client.get("/console/alarms", params={"since": "2026-11-23", "until": "2026-11-23"})
    assert len(listed(on_23.text)) == 1 and "23:30:00" in on_23.text
    on_24 = client.get("/console/alarms", params={"since": "2026-11-24", "until": "2026-11-24"})
    assert listed(on_24.text) == []


def test_a_long_history_comes_fifty_at_a_time(guard: Any, alarms: dict[str, int]) -> None:
    start = local(20, 8)
    with transaction(guard.app.state.services.sessions) as session:
        session.add_all(
            alarm(start + timedelta(minutes=n), "camera_offline", message=f"camera n{n}")
            for n in range(60)
        )
    first = guard.get("/console/alarms", params={"kind": "camera_offline"})
    assert len(listed(first.text)) == 50 and "共 60 条" in first.text
    assert "camera n59" in first.text and "camera n9<" not in first.text
    assert 'id="page-previous"' not in first.text
    assert "/console/alarms?kind=camera_offline&amp;page=2" in first.text
    second = guard.get("/console/alarms", params={"kind": "camera_offline", "page": "2"})
    assert len(listed(second.text)) == 10 and "camera n0<" in second.text
    assert 'id="page-next"' not in second.text and 'id="page-previous"' in second.text
    assert "第 2 / 2 页" in second.text
    beyond = guard.get("/console/alarms", params={"kind": "camera_offline", "page": "4"})
    assert listed(beyond.text) == [] and "第 4 页没有记录：只有 2 页。" in beyond.text
    assert 'href="/console/alarms?kind=camera_offline&amp;page=2" id="page-last"' in beyond.text
    assert "没有符合条件的报警" not in beyond.text  # rows exist, only not on this page
    assert guard.get("/console/alarms", params={"page": "0"}).status_code == 422


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"gate": "nope"}, "没有编号为“nope”的出入口（链接可能已过时），请重新选择出入口"),
        ({"kind": "跟车"}, "没有“跟车”这种报警（链接可能已过时），请重新选择种类"),
        ({"since": "2026-11-25", "until": "2026-11-24"}, "开始日期晚于结束日期，请重新选择日期"),
    ],
)
def test_a_bad_filter_is_a_422_page_that_says_why(
    refused_guard: Any, params: dict[str, str], said: str
) -> None:
    """An empty list under a stale link reads as "there was no such alarm"."""
    guard = refused_guard
    page = guard.get("/console/alarms", params=params)
    assert page.status_code == 422
    assert said in page.text and listed(page.text) == []
    assert "没有符合条件的报警" not in page.text


@pytest.mark.parametrize(
    "params", [{"state": "closed"}, {"since": "2026-13-01"}, {"since": "20261124"}]
)
def test_a_malformed_value_is_the_consoles_422_page(
    refused_guard: Any, params: dict[str, str]
) -> None:
    guard = refused_guard
    page = guard.get("/console/alarms", params=params)
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
    assert next(iter(params)) in page.text


def test_admins_have_the_page_and_both_roles_the_menu_entry(
    client: Any, alarms: dict[str, int]
) -> None:
    add_staff(client.app.state.services, "admin1", "admin")
    cookie_login(client, "admin1", "admin")
    page = client.get("/console/alarms", params={"state": "acknowledged"})
    assert page.status_code == 200
    assert listed(page.text) == [alarms["tailgating"], alarms["blocked"]]
    assert '<a href="/console/alarms" class="active">报警记录</a>' in page.text
    add_staff(client.app.state.services, "guard1", "guard")
    cookie_login(client, "guard1", "guard")
    booth = client.get("/console")
    assert '<a href="/console/alarms" class="">报警记录</a>' in booth.text  # the menu
    assert 'id="alarm-history-link" href="/console/alarms"' in booth.text  # the alarm area


def test_the_page_needs_a_staff_login(client: Any) -> None:
    page = client.get("/console/alarms", follow_redirects=False)
    assert page.status_code in (302, 303)
    assert "/console/login" in page.headers["location"]


def test_in_english_too(guard: Any, alarms: dict[str, int]) -> None:
    guard.cookies.set("parkgate_lang", "en")
    page = guard.get("/console/alarms", params={"state": "acknowledged"})
    assert "Alarm history" in page.text and "Acknowledged" in page.text
    row = _row(page.text, alarms["blocked"])
    # Its line's label on a phone (a card an alarm) is in English too.
    assert ('<td class="nowrap alarm-kind" data-label="Kind: ">Blocked plate</td>' in row
            and "Plate 沪K60613" in row)
    assert "黑名单" not in page.text and "已处理" not in page.text


def test_the_count_says_1_entry_in_english(guard: Any, alarms: dict[str, int]) -> None:
    """报警记录 in English said "1 entries" above a single alarm."""
    guard.cookies.set("parkgate_lang", "en")
    one = guard.get("/console/alarms", params={"since": "2026-11-25"}).text
    two = guard.get("/console/alarms", params={"state": "acknowledged"}).text
    assert 'id="alarm-history-total">1 entry<' in one
    assert 'id="alarm-history-total">2 entries<' in two


def test_an_alarms_passage_link_shows_that_passage_alone(
    guard: Any, alarms: dict[str, int]
) -> None:
    passage_id = _passage_of(guard, alarms["blocked"])
    with transaction(guard.app.state.services.sessions) as session:
        session.add(
            Passage(
                at=local(24, 2, 5),
                gate_id="main-in",
                direction="in",
                zone_id="A",
                plate="闽A12345",
                decision="allow",
                reason="resident",
            )
        )
    history = guard.get("/console/history", params={"passage": str(passage_id)})
    assert history.status_code == 200
    assert "沪K60613" in history.text and "闽A12345" not in history.text
    assert f"只显示通行记录 #{passage_id}" in history.text
    assert "闽A12345" in guard.get("/console/history").text


def test_every_alarm_kind_the_code_raises_can_be_chosen() -> None:
    """The kind filter offers the kinds the console explains; one the controllers raise
    without a hint would be an alarm no one could look up by kind."""
    assert {*DECISION_ALARMS, *SAFETY_ALARMS} <= set(alarm_kinds())
    assert {"tailgating", "hardware_fault", "camera_offline", "disk_full"} <= set(alarm_kinds())


def _row(html: str, alarm_id: int) -> str:
    start = html.index(f'data-alarm-id="{alarm_id}"')
    return html[start : html.index("</tr>", start)]


def _passage_of(client: Any, alarm_id: int) -> int:
    with client.app.state.services.sessions() as session:
        passage_id = session.get(Alarm, alarm_id).passage_id
    assert passage_id is not None
    return int(passage_id)
