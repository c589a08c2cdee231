"""The live console page and its fragments as the server renders them: what the guard sees
of the queue (ages, compact cards, 车已离开), resolved rows, gate labels, keyboard order and
what the page relies on to notice an expired session."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.api.test_console import add_staff, cookie_login

CAMERA = {"X-API-Key": "test-camera-key"}


def grey_png() -> bytes:
    """A frame without a plate: the controller sends it to the guard as unread. Small, as
    only the recogniser's answer (no plate) matters here: its look at 640x480 costs 0.13 s
    of CPU, at 64x48 0.006 s."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def unread_passage(client: Any, gate: str = "main-in") -> int:
    """Posted as the camera does, without the guard's cookies (which would ask for CSRF)."""
    from fastapi.testclient import TestClient

    camera = TestClient(client.app)
    response = camera.post(
        f"/api/v1/gates/{gate}/frames", content=grey_png(),
        headers={**CAMERA, "Content-Type": "image/png"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["decision"], body["reason"]) == ("review", "no_plate"), body
    return int(body["passage_id"])


def backdate(client: Any, passage_id: int, minutes: int) -> None:
    from models.db import transaction
    from models.events import Passage

    with transaction(client.app.state.services.sessions) as session:
        passage = session.get(Passage, passage_id)
        assert passage is not None
        passage.at = datetime.now(UTC) - timedelta(minutes=minutes)


def household(client: Any, building: str, unit: str) -> int:
    headers = add_staff(client.app.state.services, "admin", "admin")
    response = client.post(
        "/api/v1/households", json={"building": building, "unit": unit}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def card_of(html: str, passage_id: int) -> str:
    match = re.search(
        rf'<form class="review-card" data-passage="{passage_id}".*?</form>', html, re.S
    )
    assert match, f"no review card for passage {passage_id}"
    return match.group(0)


def row_of(html: str, passage_id: int) -> str:
    match = re.search(rf'<tr class="passage[^"]*" data-id="{passage_id}".*?</tr>', html, re.S)
    assert match, f"no row for passage {passage_id}"
    return match.group(0)


@pytest.fixture
def guard(client: Any) -> str:
    add_staff(client.app.state.services, "guard", "guard")
    return cookie_login(client, "guard", "guard")


def test_gates_come_before_the_queue_and_skip_links_come_first(client: Any, guard: str) -> None:
    for _ in range(3):
        unread_passage(client)
    page = client.get("/console").text
    body = page[page.index("<body"):]
    first_link = re.search(r"<a [^>]*href=\"([^\"]+)\"[^>]*>([^<]+)</a>", body)
    assert first_link is not None and first_link.groups() == ("#gates", "跳到道闸控制")
    assert 'href="#review"' in body
    # Gate buttons precede every review card in the document, hence in tab order.
    assert body.index('data-action="open"') < body.index('class="review-card"')
    assert 'id="gates" tabindex="-1"' in body and 'id="review" tabindex="-1"' in body


def test_review_cards_are_compact_and_show_the_wait(client: Any, guard: str) -> None:
    fresh, old = unread_passage(client), unread_passage(client)
    backdate(client, old, 5)
    page = client.get("/console").text
    card = card_of(page, old)
    # Reasons are one select, not seven radio buttons.
    assert '<select name="preset">' in card and 'type="radio"' not in card
    assert "访客无通行证，业主确认" in card
    assert 'data-resolution="left"' in card and "车已离开" in card
    assert re.search(r'class="age old" data-role="age">5分钟前<', card)
    assert re.search(r'class="age" data-role="age">\d+秒前<', card_of(page, fresh))
    # The server's clock travels with the queue, so ages are right on a booth PC that is off.
    now = re.search(r'id="review-list" data-count="2" data-now="([^"]+)"', page)
    assert now is not None
    assert abs(datetime.fromisoformat(now.group(1)) - datetime.now(UTC)) < timedelta(minutes=1)
    # The oldest car is served first.
    assert page.index(f'data-passage="{old}"') < page.index(f'data-passage="{fresh}"')
    fragment = client.get("/console/fragments/review").text
    assert "5分钟前" in card_of(fragment, old) and 'data-now="' in fragment


def test_passages_table_scrolls_inside_a_wrapper(client: Any, guard: str) -> None:
    passage_id = unread_passage(client)
    page = client.get("/console").text
    assert re.search(r'<div class="table-scroll">\s*<table class="grid passages-table">', page)
    row = row_of(page, passage_id)
    assert '<td class="nowrap">东门入口</td>' in row
    assert 'class="plate nowrap"' in row


def test_a_resolved_visitor_pass_row_shows_the_outcome_household_and_pass(
    client: Any, guard: str
) -> None:
    hid = household(client, "3栋", "1201")
    passage_id = unread_passage(client)
    resolved = client.post(
        f"/api/v1/passages/{passage_id}/resolve",
        json={"resolution": "visitor_pass", "reason": "业主电话确认", "plate": "闽A12345",
              "visitor_pass": {"host_household_id": hid,
                               "valid_to": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}},
        headers={"X-CSRF-Token": guard},
    )
    assert resolved.status_code == 200, resolved.text
    pass_id = resolved.json()["pass_id"]

    for html in (client.get(f"/console/fragments/passage/{passage_id}").text,
                 row_of(client.get("/console").text, passage_id)):
        assert '<span class="badge allow">已放行</span>' in html
        assert "badge review" not in html  # no yellow "待人工" left on a decided car
        assert f"访客通行证 #{pass_id}" in html and "3栋 1201" in html
        assert "guard：业主电话确认" in html
        assert 'data-resolution="visitor_pass"' in html


def test_the_rows_fragment_is_the_newest_rows_as_the_page_renders_them(
    client: Any, guard: str
) -> None:
    """What the booth reads to catch up after its stream was down or behind (live.js
    refreshRows): the newest rows, each as its own fragment renders it (a resolved one with
    its household and reason), as many as asked up to the 200 the list keeps."""
    hid = household(client, "3栋", "1201")
    ids = [unread_passage(client) for _ in range(3)]
    resolved = client.post(
        f"/api/v1/passages/{ids[1]}/resolve",
        json={"resolution": "visitor_pass", "reason": "业主电话确认", "plate": "闽A12345",
              "visitor_pass": {"host_household_id": hid,
                               "valid_to": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}},
        headers={"X-CSRF-Token": guard},
    )
    assert resolved.status_code == 200, resolved.text

    rows = client.get("/console/fragments/passages", params={"limit": 200}).text
    assert re.findall(r'<tr class="passage[^"]*" data-id="(\d+)"', rows) == [
        str(i) for i in reversed(ids)
    ]
    for passage_id in ids:
        single = client.get(f"/console/fragments/passage/{passage_id}").text
        assert row_of(rows, passage_id) == row_of(single, passage_id)
    assert "3栋 1201" in row_of(rows, ids[1]) and "guard：业主电话确认" in rows
    two = client.get("/console/fragments/passages", params={"limit": 2}).text
    assert re.findall(r'data-id="(\d+)"', two) == [str(ids[2]), str(ids[1])]
    for limit in ("0", "201", "x"):
        refused = client.get("/console/fragments/passages", params={"limit": limit})
        assert refused.status_code == 422, (limit, refused.status_code)
    client.cookies.clear()
    assert client.get("/console/fragments/passages").status_code == 401


def test_a_row_written_from_the_journal_names_its_entry(client: Any, guard: str) -> None:
    """A passage decided during a database outage is shown from the journal (data-journal)
    until written; a booth that missed the write-back's event finds in its catch-up which
    journal row each stored row replaces (live.js refreshRows). The page, its row and the
    rows fragment say so alike, and only for such a row."""
    from models.db import transaction
    from models.events import Passage

    plain, written = unread_passage(client), unread_passage(client)
    with transaction(client.app.state.services.sessions) as session:  # as the write-back sets it
        passage = session.get(Passage, written)
        assert passage is not None
        passage.journal_id = "0f3a9c"

    rows = client.get("/console/fragments/passages").text
    for html in (rows, client.get(f"/console/fragments/passage/{written}").text,
                 client.get("/console").text):
        assert row_of(html, written).startswith(
            f'<tr class="passage decision-review" data-id="{written}" data-written-from="0f3a9c" '
        )
    assert "data-written-from" not in row_of(rows, plain)
    assert rows.count("data-written-from") == 1


def test_car_left_is_a_denial_with_the_reason_written_for_the_guard(
    client: Any, guard: str
) -> None:
    """What 车已离开 sends: the ordinary resolution API, audited like any other."""
    passage_id = unread_passage(client)
    reason = "车辆未等处理已自行离开"
    response = client.post(
        f"/api/v1/passages/{passage_id}/resolve",
        json={"resolution": "deny", "reason": reason, "plate": None},
        headers={"X-CSRF-Token": guard},
    )
    assert response.status_code == 200, response.text
    assert response.json()["barrier"] is None  # the barrier does not move
    row = client.get(f"/console/fragments/passage/{passage_id}").text
    assert '<span class="badge deny">已拒绝</span>' in row and f"guard：{reason}" in row
    assert 'data-passage="' not in client.get("/console/fragments/review").text
    audit = client.get("/api/v1/audit", params={"action": "passage.resolve"})
    assert audit.status_code == 403  # guards do not read the log; the admin does
    admin = add_staff(client.app.state.services, "admin", "admin")
    items = client.get("/api/v1/audit", params={"action": "passage.resolve"},
                       headers=admin).json()["items"]
    assert [(i["passage_id"], i["reason"], i["username"]) for i in items] == [
        (passage_id, reason, "guard")
    ]


def test_gate_states_are_labelled_apart_from_the_buttons(client: Any, guard: str) -> None:
    zh = client.get("/console").text
    assert re.search(r'<span class="state-prefix">状态：</span><span class="state-text"'
                     r' data-role="state-text">关闭</span>', zh)
    client.post("/console/lang", data={"lang": "en", "csrf_token": guard})
    en = client.get("/console").text
    assert '<span class="state-prefix">State: </span>' in en
    texts = json.loads(unescape(re.search(r'id="page-texts" data-texts="([^"]*)"', en).group(1)))  # type: ignore[union-attr]
    assert texts["gates.noop_release"] == "was not held open: nothing to release"
    assert "{gate}" in texts["review.confirm_old"] and "{age}" in texts["review.confirm_old"]
    names = re.search(r"data-names='([^']*)'", en)
    assert names is not None and json.loads(unescape(names.group(1)))["main-in"] == "东门入口"


def test_an_expired_session_is_told_apart_by_the_fragment_probe(client: Any, guard: str) -> None:
    """The page learns that an action was refused for want of a login: the action route
    answers 401 (no cookie) or 403 (a stale cookie fails the CSRF check first), and the
    fragment the page then asks answers 401."""
    security = client.app.state.console_security
    body = {"action": "open", "reason": "测试开闸"}
    client.cookies.delete("parkgate_session")
    client.cookies.set("parkgate_session",
                       security.signer.issue("guard", "guard", now=time.time() - 3600))
    stale = client.post("/api/v1/gates/main-in/actions", json=body,
                        headers={"X-CSRF-Token": guard})
    assert stale.status_code in (401, 403)
    assert client.get("/console/fragments/alarms").status_code == 401
    client.cookies.delete("parkgate_session")
    gone = client.post("/api/v1/gates/main-in/actions", json=body,
                       headers={"X-CSRF-Token": guard})
    assert gone.status_code == 401
    assert str(client.app.state.services.barriers["main-in"].state) == "closed"


def test_every_logged_in_page_carries_the_session_expired_dialog(
    client: Any, guard: str
) -> None:
    page = client.get("/console").text
    dialog = re.search(r'<dialog id="session-dialog".*?</dialog>', page, re.S)
    assert dialog is not None
    assert "登录已过期" in dialog.group(0) and "请重新登录，然后再操作一次" in dialog.group(0)
    assert 'href="/console/login?expired=1&amp;next=/console"' in dialog.group(0)


def test_the_booth_says_how_many_open_alarms_it_does_not_list(client: Any, guard: str) -> None:
    """A shift's alarms left open: the booth lists the newest 50 and says that more wait (it
    said nothing, so the guard took the 50 for all there were)."""
    from api.routes.alarms import BOOTH_ALARMS
    from models.db import transaction
    from models.events import Alarm

    def add(count: int) -> None:
        with transaction(client.app.state.services.sessions) as session:
            session.add_all(
                Alarm(kind="blocked_plate", gate_id="main-in",
                      message=f"blocked_plate at main-in: 沪A{10000 + i}")
                for i in range(count)
            )

    add(BOOTH_ALARMS)
    listed = client.get("/console/fragments/alarms").text
    assert listed.count('class="alarm"') == BOOTH_ALARMS and "alarm-more" not in listed
    add(3)
    listed = client.get("/console/fragments/alarms").text
    assert listed.count('class="alarm"') == BOOTH_ALARMS
    assert "另有 3 条更早的未处理报警没有列出" in listed
    assert '<a href="/console/alarms?state=open">报警记录</a>' in listed
    assert "另有 3 条更早的未处理报警没有列出" in client.get("/console").text
