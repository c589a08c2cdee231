"""Passage history (通行记录): a guard finds past passages by part of a plate, by a plate the
camera may have misread, by gate, result and Beijing days, a page at a time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models.db import transaction
from models.events import Passage
from tests.api.test_console import add_staff, cookie_login

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROW_PLATE = re.compile(r'<td class="plate nowrap">([^<]*)')


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def passage(at: datetime, plate: str | None, decision: str = "allow", **extra: Any) -> Passage:
    return Passage(at=at, gate_id=extra.pop("gate_id", "main-in"), direction="in",
                   zone_id="A", plate=plate, decision=decision,
                   reason=extra.pop("reason", "resident"), **extra)


@pytest.fixture
def guard(client: Any) -> Any:
    with transaction(client.app.state.services.sessions) as session:
        session.add_all([
            passage(local(27, 23, 50), "闽A12345"),
            passage(local(28, 8, 0), "闽A12346", matched_plate="闽A12345", match_distance=1),
            passage(local(28, 9, 0), "闽A1Z345", "review", reason="unknown_plate"),  # misread
            passage(local(28, 10, 0), "粤B88888", "review", reason="unknown_plate",
                    resolution="allowed_once", resolved_plate="粤B88889", resolved_by="guard1"),
            passage(local(28, 11, 0), "沪C55555", "deny", reason="blocked", gate_id="main-out"),
            passage(local(29, 0, 10), "闽A12345"),
        ])
    add_staff(client.app.state.services, "guard1", "guard")
    cookie_login(client, "guard1", "guard")
    return client


def plates_listed(html: str) -> list[str]:
    return [m.split(" ")[0] for m in ROW_PLATE.findall(html)]


def test_part_of_a_plate_finds_reads_matches_and_guard_corrections(guard: Any) -> None:
    page = guard.get("/console/history", params={"plate": "12345"})
    assert page.status_code == 200, page.text
    # Newest first; the 12346 read is found through the resident's plate it matched.
    assert plates_listed(page.text) == ["闽A12345", "闽A12346", "闽A12345"]
    corrected = guard.get("/console/history", params={"plate": "b88889"})  # lower case
    assert plates_listed(corrected.text) == ["粤B88888"]
    assert "粤B88889" in corrected.text
    full_width = guard.get("/console/history", params={"plate": "ｃ５５５"})
    assert plates_listed(full_width.text) == ["沪C55555"]


def test_a_look_alike_search_finds_the_misread_passage(guard: Any) -> None:
    exact_part = guard.get("/console/history", params={"plate": "闽A12345"})
    assert "闽A1Z345" not in plates_listed(exact_part.text)
    similar = guard.get("/console/history", params={"plate": "闽A12345", "similar": "1"})
    listed = plates_listed(similar.text)
    assert "闽A1Z345" in listed and "闽A12346" in listed
    assert "粤B88888" not in listed and "沪C55555" not in listed

    partial = guard.get("/console/history", params={"plate": "12345", "similar": "1"})
    assert partial.status_code == 422
    assert "完整车牌" in partial.text


def test_beijing_days_gate_and_result_narrow_the_list(guard: Any) -> None:
    day = guard.get("/console/history", params={"since": "2026-11-28", "until": "2026-11-28"})
    # 23:50 on the 27th and 00:10 on the 29th (Beijing) are other days.
    assert plates_listed(day.text) == ["沪C55555", "粤B88888", "闽A1Z345", "闽A12346"]
    out = guard.get("/console/history", params={"gate": "main-out"})
    assert plates_listed(out.text) == ["沪C55555"]
    reviews = guard.get("/console/history", params={"decision": "review"})
    assert plates_listed(reviews.text) == ["粤B88888", "闽A1Z345"]
    assert "共 2 条" in reviews.text


def test_the_count_says_1_entry_in_english(guard: Any) -> None:
    """通行记录 in English said "1 entries" above a single passage."""
    guard.cookies.set("parkgate_lang", "en")
    one = guard.get("/console/history", params={"gate": "main-out"}).text
    two = guard.get("/console/history", params={"decision": "review"}).text
    none = guard.get("/console/history", params={"plate": "京"}).text
    assert 'id="history-total">1 entry<' in one
    assert 'id="history-total">2 entries<' in two and 'id="history-total">0 entries<' in none
    guard.cookies.set("parkgate_lang", "zh")
    assert 'id="history-total">共 1 条<' in guard.get(
        "/console/history", params={"gate": "main-out"}).text


def test_a_link_naming_an_unknown_gate_says_so_instead_of_listing_nothing(guard: Any) -> None:
    """/console/history?gate=nope (a stale or hand-edited link) listed 0 passages under
    全部出入口: read as "no car came", which the guard then tells the owner."""
    page = guard.get("/console/history", params={"gate": "nope", "plate": "闽A"})
    assert page.status_code == 422  # as the page's other bad conditions (a look-alike search)
    assert "没有编号为“nope”的出入口（链接可能已过时），请重新选择出入口" in page.text
    assert plates_listed(page.text) == []
    assert 'value="闽A"' in page.text  # the rest of the search is kept to run again
    # A known gate still narrows the list, and a gate left empty means every gate.
    assert plates_listed(guard.get("/console/history", params={"gate": "main-out"}).text) == [
        "沪C55555"]
    assert guard.get("/console/history", params={"gate": ""}).status_code == 200


def test_a_start_day_after_the_end_day_says_so_instead_of_listing_nothing(guard: Any) -> None:
    """Found by the guard's walk: 开始日期 after 结束日期 (picked the wrong way round) listed
    共 0 条, read as "that car never came"; 报警记录 already said the days were swapped."""
    page = guard.get("/console/history", params={"since": "2026-11-29", "until": "2026-11-28"})
    assert page.status_code == 422
    assert "开始日期晚于结束日期，请重新选择日期" in page.text
    assert plates_listed(page.text) == []
    assert 'value="2026-11-29"' in page.text  # the chosen days stay to be swapped
    one_day = guard.get("/console/history", params={"since": "2026-11-28", "until": "2026-11-28"})
    assert one_day.status_code == 200 and len(plates_listed(one_day.text)) == 4


def test_long_histories_come_a_page_at_a_time(guard: Any) -> None:
    with transaction(guard.app.state.services.sessions) as session:
        session.add_all(
            passage(local(20, 8, minute), f"浙A{10000 + minute}") for minute in range(60)
        )
        session.add_all(
            passage(local(21, 8, minute), f"浙A{20000 + minute}") for minute in range(60)
        )
    first = guard.get("/console/history", params={"plate": "浙A"})
    assert len(plates_listed(first.text)) == 50 and "共 120 条" in first.text
    assert plates_listed(first.text)[0] == "浙A20059"
    last = guard.get("/console/history", params={"plate": "浙A", "page": "3"})
    assert plates_listed(last.text)[-1] == "浙A10000" and len(plates_listed(last.text)) == 20
    assert 'id="page-next"' not in last.text and 'id="page-previous"' in last.text
    assert 'id="history-none"' not in last.text
    # Past the end (found by the guard's walk: 共 120 条 over an empty table): it says so and
    # links the last page; its previous link is that page, not the empty one before it.
    beyond = guard.get("/console/history", params={"plate": "浙A", "page": "7"})
    assert beyond.status_code == 200 and plates_listed(beyond.text) == []
    assert "第 7 页没有记录：只有 3 页。" in beyond.text
    assert 'href="/console/history?plate=%E6%B5%99A&amp;page=3" id="page-last"' in beyond.text
    assert 'href="/console/history?plate=%E6%B5%99A&amp;page=3" id="page-previous"' in beyond.text
    nothing = guard.get("/console/history", params={"plate": "粤Z"})
    assert "没有符合条件的通行记录" in nothing.text and 'id="page-last"' not in nothing.text
    assert guard.get("/console/history", params={"page": "0"}).status_code == 422


def test_history_needs_a_staff_login(client: Any) -> None:
    page = client.get("/console/history", follow_redirects=False)
    assert page.status_code in (302, 303)
    assert "/console/login" in page.headers["location"]


def test_the_api_searches_the_same_way(guard: Any) -> None:
    headers = add_staff(guard.app.state.services, "app", "guard")
    guard.cookies.clear()

    def plates(**params: str) -> list[str]:
        response = guard.get("/api/v1/passages", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["plate"] for item in response.json()["items"]]

    assert plates(plate="闽A12345") == ["闽A12345", "闽A12345"]  # exact, as before
    assert plates(plate_contains="12345") == ["闽A12345", "闽A12346", "闽A12345"]
    assert set(plates(similar_to="闽A12345")) == {"闽A12345", "闽A12346", "闽A1Z345"}
    assert plates(similar_to="闽A12345", decision="review") == ["闽A1Z345"]
    for params in ({"plate_contains": "123", "similar_to": "闽A12345"}, {"similar_to": "A123"}):
        refused = guard.get("/api/v1/passages", params=params, headers=headers)
        assert refused.status_code == 422, params
        assert "detail" in refused.json()


def test_part_of_a_plate_typed_as_the_lane_screen_shows_it_still_finds_it(guard: Any) -> None:
    """The lane screen and printed plates write 粤B·88888; a guard searching for part of a
    plate the way it is shown (a dot, a space) means the same characters. Only whole plates
    were folded, so ``B·8888`` found nothing."""
    for typed in ("B·8888", "B 8888", "b．8888", "A·12345"):
        page = guard.get("/console/history", params={"plate": typed})
        assert page.status_code == 200, page.text
        assert plates_listed(page.text), typed
    assert plates_listed(guard.get("/console/history", params={"plate": "B·8888"}).text) == [
        "粤B88888"
    ]
    headers = add_staff(guard.app.state.services, "app", "guard")
    guard.cookies.clear()
    api = guard.get("/api/v1/passages", params={"plate_contains": "C·555"}, headers=headers)
    assert [item["plate"] for item in api.json()["items"]] == ["沪C55555"]


# (since, until, since_time, until_time) -> the window in Beijing wall-clock, today 11-29.
WINDOWS = [
    pytest.param(("11-28", None, "07:50", "08:20"), ("11-28 07:50", "11-28 08:21"),
                 id="one day, two times"),
    pytest.param(("11-27", "11-28", "22:00", "06:00"), ("11-27 22:00", "11-28 06:01"),
                 id="over midnight"),
    pytest.param((None, None, "07:50", None), ("11-29 07:50", None), id="a time alone is today"),
    pytest.param((None, "11-28", None, "08:20"), (None, "11-28 08:21"), id="until a time"),
    pytest.param(("11-28", "11-28", None, None), ("11-28 00:00", "11-29 00:00"), id="days only"),
]


@pytest.mark.parametrize(("asked", "window"), WINDOWS)
def test_days_and_times_of_day_make_one_window(
    asked: tuple[str | None, ...], window: tuple[str | None, str | None]
) -> None:
    from datetime import date, time

    from api.console.rendering import time_window

    def day(text: str | None) -> date | None:
        return None if text is None else date(2026, *map(int, text.split("-")))

    def clock(text: str | None) -> time | None:
        return None if text is None else time.fromisoformat(text)

    since, until, since_time, until_time = asked
    start, end = time_window(day(since), day(until), clock(since_time), clock(until_time),
                             SHANGHAI, date(2026, 11, 29))
    shown = tuple(None if t is None else t.strftime("%m-%d %H:%M") for t in (start, end))
    assert shown == window


def test_a_time_window_lists_the_passages_in_it_and_a_bad_time_is_refused(guard: Any) -> None:
    page = guard.get("/console/history", params={
        "since": "2026-11-28", "since_time": "07:50", "until_time": "09:00"})
    assert page.status_code == 200, page.text
    assert plates_listed(page.text) == ["闽A1Z345", "闽A12346"]  # 09:00 is in its minute
    assert 'name="since_time" type="time" value="07:50"' in page.text
    assert guard.get("/console/history", params={"since_time": "3600"}).status_code == 422
    reversed_times = guard.get("/console/history", params={
        "since": "2026-11-28", "since_time": "09:00", "until_time": "08:00"})
    assert reversed_times.status_code == 422
    assert "开始时间晚于结束时间" in reversed_times.text


def test_the_audit_log_of_one_passage_in_the_api_and_its_csv(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """通行记录's 操作日志 link lists one passage's entries; the API and the CSV export the
    console page offers take the same filter, so the file holds what the page showed."""
    from models.events import AuditEntry

    with transaction(client.app.state.services.sessions) as session:
        session.add_all([
            AuditEntry(username="guard2", action="passage.resolve", passage_id=7,
                       reason="车牌无法识别：业主本人在车上"),
            AuditEntry(username="guard3", action="passage.resolve", passage_id=8, reason="访客"),
            AuditEntry(username="guard3", action="gate.open", reason="救护车"),
        ])
    found = client.get("/api/v1/audit", params={"passage": 7}, headers=admin_headers)
    assert found.status_code == 200, found.text
    assert [e["username"] for e in found.json()["items"]] == ["guard2"]
    csv = client.get("/api/v1/audit.csv", params={"passage": 7}, headers=admin_headers)
    assert csv.status_code == 200 and "guard2" in csv.text and "guard3" not in csv.text
    assert client.get("/api/v1/audit", params={"passage": 0},
                      headers=admin_headers).status_code == 422


def test_a_hand_opening_is_shown_under_the_car_refused_just_before_it(guard: Any) -> None:
    """Only the first 开闸 at the car's own gate in the 10 minutes after it: not one before
    it, not one later, not one bound to another passage."""
    from models.events import AuditEntry

    with transaction(guard.app.state.services.sessions) as session:
        session.add_all([
            AuditEntry(at=local(28, 9, 5), username="guard1", action="gate.open",
                       gate_id="main-in", reason="物业电话确认"),
            AuditEntry(at=local(28, 9, 7), username="guard2", action="gate.open",
                       gate_id="main-in", reason="第二次"),
            AuditEntry(at=local(28, 10, 55), username="guard1", action="gate.open",
                       gate_id="main-out", reason="之前"),
            AuditEntry(at=local(28, 11, 3), username="guard1", action="gate.open",
                       gate_id="main-out", passage_id=999, reason="别的车"),
            AuditEntry(at=local(28, 11, 20), username="guard1", action="gate.open",
                       gate_id="main-out", reason="之后"),
        ])
    page = guard.get("/console/history", params={"since": "2026-11-28", "until": "2026-11-28"})
    assert page.status_code == 200, page.text
    shown = re.findall(r'<div class="resolve-reason opened-after">([^<]*)</div>', page.text)
    assert shown == ["随后 09:05:00 guard1 手动开闸：物业电话确认"]


def test_an_opening_that_names_the_refused_car_is_shown_however_late(guard: Any) -> None:
    """An open naming the car's passage (the console's 人工开闸放行 sends its passage_id) is
    for that car: shown under it days later, with its date, as the car's day is another."""
    from sqlalchemy import select

    from tests.api.test_console import csrf_of

    with guard.app.state.services.sessions() as session:
        refused = session.scalars(select(Passage.id).where(Passage.plate == "沪C55555")).one()
    opened = guard.post(
        "/api/v1/gates/main-out/actions",
        json={"action": "open", "reason": "业主来电确认", "passage_id": refused},
        headers={"X-CSRF-Token": csrf_of(guard.get("/console").text)},
    )
    assert opened.status_code == 200, opened.text

    page = guard.get("/console/history", params={"since": "2026-11-28", "until": "2026-11-28"})
    assert page.status_code == 200, page.text
    shown = re.findall(r'<div class="resolve-reason opened-after">([^<]*)</div>', page.text)
    assert len(shown) == 1, shown
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(f"随后 {when} guard1 手动开闸：业主来电确认", shown[0]), shown
    assert not shown[0].startswith("随后 2026-11-28")
