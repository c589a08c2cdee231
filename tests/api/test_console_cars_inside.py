"""场内车辆 on the console: the page lists the cars inside with each zone's count and cars
recorded inside, filters, links each row to its entry passage, shows Beijing times; its
「标记已离场」 form needs a reason, takes the car out and says so, and a stale form changes
nothing (409). Through the test client, as a browser's form would post."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from api.console.audit_texts import audit_details
from api.console.security import LANG_COOKIE
from models.db import transaction
from models.site import Zone
from models.vehicles import Presence
from tests.api.test_cars_inside import entered, inside, occupied, park
from tests.api.test_console import cookie_login
from tests.conftest import services_of

BEIJING_TIME = ZoneInfo("Asia/Shanghai")


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-plate="([^"]+)"', html)


def mark(client: Any, csrf: str, plate: str, passage: int | None, **form: Any) -> Any:
    return client.post("/console/presence/left", follow_redirects=False, data={
        "csrf_token": csrf, "plate": plate, "passage_id": str(passage or ""), **form})


def test_the_page_lists_the_cars_inside(client: Any) -> None:
    park(client)
    entered(client, "闽A12345", hours_ago=30.5)
    cookie_login(client, "guard1", "guard")

    page = client.get("/console/presence")

    assert page.status_code == 200, page.text
    html = page.text
    assert '<a href="/console/presence" class="active">场内</a>' in html  # in the menu
    assert "<h1>场内车辆</h1>" in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert rows(html) == ["闽A12345", "粤B88888", "京A11111"]
    assert "A区地面</strong>：计数 3/40 · <span class=\"inside-recorded\">记录在场 3 辆" in html
    assert "B区地下</strong>：计数 0/20" in html and "记录在场 0 辆" in html
    assert "3栋 1201" in html and "业主车辆" in html and "访客车辆" in html
    assert "1 天 6 小时" in html  # 30.5 h
    entry = inside(client)["闽A12345"]
    assert f'href="/console/history?passage={entry}"' in html
    # Times in the community's zone (Beijing), as every console page.
    stamp = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', html)
    assert stamp is not None
    local = datetime.fromisoformat(stamp.group(1)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert stamp.group(2) == local.strftime("%Y-%m-%d %H:%M")
    # Filters, as the API's.
    assert rows(client.get("/console/presence", params={"kind": "visitor"}).text) == [
        "粤B88888"]
    assert rows(client.get("/console/presence", params={"plate": "a123"}).text) == ["闽A12345"]
    assert rows(client.get("/console/presence", params={"inside_for_h": "24"}).text) == [
        "闽A12345"]
    stale = client.get("/console/presence", params={"zone": "Z"})
    assert stale.status_code == 422 and "没有编号为“Z”的区域" in stale.text
    assert client.get("/console/presence", params={"inside_for_h": "-1"}).status_code == 422
    # English too.
    client.cookies.set(LANG_COOKIE, "en")
    english = client.get("/console/presence").text
    assert "3 cars recorded inside" in english and "Mark as left" in english


def test_not_logged_in_goes_to_the_login(client: Any) -> None:
    answer = client.get("/console/presence", follow_redirects=False)
    assert answer.status_code in (302, 303) and "/console/login" in answer.headers["location"]


def test_mark_left_on_the_console(client: Any) -> None:
    cars = park(client)
    csrf = cookie_login(client, "guard1", "guard")
    entry = inside(client)["粤B88888"]

    done = mark(client, csrf, "粤B88888", entry, preset="尾随前车出场，出口未识别",
                reason_text="监控确认", here="/console/presence?kind=visitor")

    assert done.status_code == 303, done.text
    assert done.headers["location"] == (
        "/console/presence?kind=visitor&left=%E7%B2%A4B88888&left_count=down")
    assert "粤B88888" not in inside(client) and occupied(client) == 2
    shown = client.get(done.headers["location"]).text
    assert "已标记 粤B88888 离场，所在区域计数已减 1<" in shown and rows(shown) == []
    audit = client.get("/api/v1/audit", headers=cars.admin,
                       params={"action": "presence.left"}).json()["items"]
    assert [(a["username"], a["reason"]) for a in audit] == [
        ("guard1", "尾随前车出场，出口未识别：监控确认")]
    # 操作日志 words it.
    client.cookies.clear()  # the guard's session cookie, refreshed by each page
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/audit", params={"action": "presence.left"}).text
    assert "标记已离场" in page and "车牌 粤B88888" in page and "区域计数变化" in page


def test_the_form_needs_a_reason_and_a_stale_one_changes_nothing(client: Any) -> None:
    park(client)
    csrf = cookie_login(client, "guard1", "guard")
    entry = inside(client)["闽A12345"]
    assert entry is not None

    missing = mark(client, csrf, "闽A12345", entry, preset="", reason_text=" ")
    assert missing.status_code == 422 and "请为 闽A12345 选择或填写离场原因" in missing.text

    for bad in ("abc", "0", "٣"):  # not the page's number: refused, nothing changed
        forged_id = client.post("/console/presence/left", data={
            "csrf_token": csrf, "plate": "闽A12345", "passage_id": bad,
            "preset": "巡查确认车辆不在场"})
        assert forged_id.status_code == 422 and "未做任何更改" in forged_id.text, bad
    for bad in (" ", "闽A1\x01"):  # not a plate the page lists: the same page, not JSON
        forged_plate = client.post("/console/presence/left", data={
            "csrf_token": csrf, "plate": bad, "preset": "巡查确认车辆不在场"})
        assert forged_plate.status_code == 422 and "未做任何更改" in forged_plate.text, bad

    stale = mark(client, csrf, "闽A12345", entry + 100, preset="巡查确认车辆不在场")
    assert stale.status_code == 409 and "未做任何更改" in stale.text
    assert inside(client)["闽A12345"] == entry and occupied(client) == 3

    forged = client.post("/console/presence/left", data={
        "csrf_token": "nope", "plate": "闽A12345", "preset": "巡查确认车辆不在场"})
    assert forged.status_code in (400, 403) and inside(client)["闽A12345"] == entry


def test_the_filter_form_as_a_browser_sends_it(client: Any) -> None:
    """A GET form sends every field: 「全部类别」 and an empty hours box arrive as ``kind=``
    and ``inside_for_h=`` and mean no filter (they were a 422 page for any search typed)."""
    park(client)
    cookie_login(client, "guard1", "guard")

    page = client.get("/console/presence?plate=a123&zone=&kind=&inside_for_h=")

    assert page.status_code == 200, page.text
    assert rows(page.text) == ["闽A12345"]
    hours_only = client.get("/console/presence?plate=&zone=&kind=&inside_for_h=0.5")
    assert hours_only.status_code == 200 and rows(hours_only.text) == ["闽A12345", "粤B88888"]
    for bad in ("-1", "nan", "inf", "1e9", "abc", "x"):  # still refused, with the page
        answer = client.get(f"/console/presence?kind=&inside_for_h={bad}")
        assert answer.status_code == 422 and "<h1>" in answer.text, bad


def test_a_refused_mark_shows_the_guards_list_again(client: Any) -> None:
    """A reason too short or a stale form is answered on the list the guard marked from (the
    form's ``here``), the car's panel open again for a reason; it was the whole unfiltered
    list, the car searched for lost among up to 50 others."""
    park(client)
    csrf = cookie_login(client, "guard1", "guard")
    entry = inside(client)["闽A12345"]
    assert entry is not None
    here = "/console/presence?plate=a123&kind=resident"

    short = mark(client, csrf, "闽A12345", entry, preset="", reason_text="走", here=here)

    assert short.status_code == 422 and "请为 闽A12345 选择或填写离场原因" in short.text
    assert rows(short.text) == ["闽A12345"] and 'name="plate" value="a123"' in short.text
    assert re.search(r'<tr data-plate="闽A12345".*?<details class="row-edit" open>',
                     short.text, re.S)
    stale = mark(client, csrf, "闽A12345", entry + 100, preset="巡查确认车辆不在场", here=here)
    assert stale.status_code == 409 and "未做任何更改" in stale.text
    assert rows(stale.text) == ["闽A12345"] and 'class="row-edit" open' not in stale.text
    for odd in ("/console/presence?inside_for_h=abc&kind=x&plate=", "/console/presence?"
                "inside_for_h=nan", "/console/presence?inside_for_h=-2", "https://elsewhere/"):
        answer = mark(client, csrf, "闽A12345", entry, preset="", here=odd)
        assert answer.status_code == 422 and "请为 闽A12345" in answer.text, odd
        assert len(rows(answer.text)) == 3, odd


def test_the_pager_in_english_says_next_not_older(client: Any, monkeypatch: Any) -> None:
    """Longest inside first: the next page holds cars that came in later, so it is not
    通行记录's "Older ›"."""
    from api.console import cars_inside

    monkeypatch.setattr(cars_inside, "PAGE_ROWS", 2)
    park(client)
    cookie_login(client, "guard1", "guard")
    client.cookies.set(LANG_COOKIE, "en")

    first = client.get("/console/presence").text
    second = client.get("/console/presence", params={"page": 2}).text

    assert 'id="page-next">Next ›</a>' in first and "Older" not in first
    assert 'id="page-previous">‹ Previous</a>' in second and "Newer" not in second
    client.cookies.set(LANG_COOKIE, "zh")
    assert 'id="page-next">下一页 ›</a>' in client.get("/console/presence").text


def test_the_refusals_address_by_get_is_the_list(client: Any) -> None:
    """A refusal is shown at /console/presence/left; switching the language there comes back
    to that address by GET, which was a JSON 405."""
    park(client)
    csrf = cookie_login(client, "guard1", "guard")
    refused = mark(client, csrf, "闽A12345", None, preset="", reason_text="走")
    assert refused.status_code == 422
    assert 'name="next" value="/console/presence/left"' in refused.text

    switched = client.post("/console/lang", data={
        "csrf_token": csrf, "lang": "en", "next": "/console/presence/left"})

    assert switched.status_code == 200, switched.text
    assert str(switched.url).endswith("/console/presence")
    assert "<h1>Cars inside</h1>" in switched.text


def test_marking_on_page_two_comes_back_to_page_two(client: Any, monkeypatch: Any) -> None:
    """Past the first page the form comes back to the page it was sent from, done or
    refused; it came back to page 1."""
    from api.console import cars_inside

    monkeypatch.setattr(cars_inside, "PAGE_ROWS", 1)
    park(client)
    csrf = cookie_login(client, "guard1", "guard")
    second = client.get("/console/presence", params={"zone": "A", "page": 2}).text
    assert rows(second) == ["粤B88888"]
    assert 'name="here" value="/console/presence?zone=A&amp;page=2"' in second
    here = "/console/presence?zone=A&page=2"

    refused = mark(client, csrf, "粤B88888", None, preset="", here=here)
    assert refused.status_code == 422 and rows(refused.text) == ["粤B88888"]
    done = mark(client, csrf, "粤B88888", None, preset="巡查确认车辆不在场", here=here)
    assert done.headers["location"] == f"{here}&left=%E7%B2%A4B88888&left_count=down"
    assert rows(client.get(done.headers["location"]).text) == ["京A11111"]
    for odd in ("0", "-1", "x", "99999", "٣"):  # not a page the list writes: page 1
        answer = mark(client, csrf, "京A11111", None, preset="",
                      here=f"/console/presence?page={odd}")
        assert answer.status_code == 422 and rows(answer.text) == ["闽A12345"], odd


def test_the_done_notice_says_what_the_count_did(client: Any) -> None:
    """After 标记已离场 the notice said 「所在区域计数已减 1（计数为 0 时不变）」 for every car,
    also one no zone counted; it now says which of the three happened. The outcome rides in
    the address and only picks a text: anything else there reads as a plain "marked"."""
    park(client)
    csrf = cookie_login(client, "guard1", "guard")
    with transaction(services_of(client).sessions) as session:
        session.execute(update(Presence).where(Presence.plate == "京A11111").values(
            zone_id=None))

    unzoned = mark(client, csrf, "京A11111", None, preset="巡查确认车辆不在场")

    assert unzoned.headers["location"].endswith("&left_count=none")
    shown = client.get(unzoned.headers["location"]).text
    assert "已标记 京A11111 离场；它不在任何区域的计数里，没有区域计数改变" in shown
    assert "计数已减" not in shown and occupied(client) == 3

    with transaction(services_of(client).sessions) as session:
        session.execute(update(Zone).where(Zone.id == "A").values(occupied=0))
    clamped = mark(client, csrf, "粤B88888", None, preset="巡查确认车辆不在场")
    assert clamped.headers["location"].endswith("&left_count=zero")
    shown = client.get(clamped.headers["location"]).text
    assert "所在区域计数已为 0，未再减少（计数为 0 时不变）" in shown and occupied(client) == 0

    client.cookies.set(LANG_COOKIE, "en")
    english = client.get(unzoned.headers["location"]).text
    assert "京A11111 marked as left; no zone counted it, so no count changed" in english
    # Display only: an odd outcome picks no text of its own, and the plate is escaped.
    client.cookies.set(LANG_COOKIE, "zh")
    odd = client.get("/console/presence", params={"left": "<b>x</b>", "left_count": "inside"})
    assert odd.status_code == 200
    assert 'id="inside-done">已标记 &lt;b&gt;x&lt;/b&gt; 离场</p>' in odd.text


def test_the_audit_log_names_the_zone_a_car_was_marked_left_from(client: Any) -> None:
    """操作日志 showed 标记已离场's zone as its id (区域：A) where 场内车辆 and the boards
    say A区地面; it names it now, and keeps the id for a zone no longer on file."""
    park(client)
    csrf = cookie_login(client, "guard1", "guard")
    mark(client, csrf, "粤B88888", None, preset="巡查确认车辆不在场")
    client.cookies.clear()
    cookie_login(client, "admin", "admin")

    page = client.get("/console/admin/audit", params={"action": "presence.left"}).text

    assert "区域：A区地面" in page and "区域：A；" not in page
    client.cookies.set(LANG_COOKIE, "en")
    english = client.get("/console/admin/audit", params={"action": "presence.left"}).text
    assert "Zone: A区地面" in english
    assert audit_details("zh", {"zone": "Q"}, {}, BEIJING_TIME, zones={"A": "A区地面"}) == [
        ("区域", "Q")]


def test_the_counts_say_1_entry_in_english(client: Any) -> None:
    """场内车辆 and 操作日志 in English said "1 entries" above a single row (the text 通行记录
    and 报警记录 share)."""
    park(client)
    csrf = cookie_login(client, "guard1", "guard")
    mark(client, csrf, "粤B88888", None, preset="巡查确认车辆不在场")
    client.cookies.set(LANG_COOKIE, "en")

    one = client.get("/console/presence", params={"kind": "resident"}).text
    two = client.get("/console/presence").text

    assert 'id="inside-total">1 entry<' in one and 'id="inside-total">2 entries<' in two
    client.cookies.clear()
    cookie_login(client, "admin", "admin")
    client.cookies.set(LANG_COOKIE, "en")
    audit = client.get("/console/admin/audit", params={"action": "presence.left"}).text
    assert '<p class="quiet">1 entry</p>' in audit
