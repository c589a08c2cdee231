"""The booth page through a busy shift, in Debian chromium: the live list stays as long as it
was made to be however many cars come, and alarm lists answered out of order (several asked
for at once, each on a connection of its own) never bring back an alarm the guard has just
acknowledged. Cars and alarms are written straight to the database and announced on the
event bus, as the gates do, so that hundreds arrive in a second or two."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from controllers.events import Event
from models.db import transaction
from models.events import Alarm, Passage
from tests.browser.conftest import LiveServer
from tests.browser.test_console_live_browser import guard_page

pytestmark = pytest.mark.browser

LIVE_ROWS_KEPT = 200  # live.js MAX_ROWS


def add_passages(server: LiveServer, count: int) -> list[int]:
    with transaction(server.services.sessions) as session:
        rows = [
            Passage(gate_id="main-in", direction="in", plate=f"沪A{10000 + i}", decision="allow",
                    reason="resident", confidence=0.97)
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def add_alarm(server: LiveServer, plate: str) -> int:
    with transaction(server.services.sessions) as session:
        alarm = Alarm(kind="blocked_plate", gate_id="main-in",
                      message=f"blocked_plate at main-in: {plate}")
        session.add(alarm)
        session.flush()
        return alarm.id


def test_the_live_list_keeps_its_newest_rows_however_many_cars_come(
    live_server: LiveServer, new_page: Any
) -> None:
    """A 12-hour shift brings thousands of cars to a page that stays open: the list keeps the
    newest LIVE_ROWS_KEPT (older ones are in 通行记录), so the page's size does not grow with
    the shift. Measured on a real controller: about 10,400 elements with 200 rows and a full
    review queue, the same after 3,000 cars as after 250."""
    page = guard_page(new_page, live_server)
    ids = add_passages(live_server, LIVE_ROWS_KEPT + 40)
    for passage_id in ids:
        live_server.services.bus.publish(
            Event("passage", {"id": passage_id, "decision": "allow"}))
    rows = page.locator("#passage-rows tr.passage")
    expect(page.locator(f'#passage-rows tr[data-id="{ids[-1]}"]')).to_be_visible()
    # Rows come in as their fetches answer, a few at a time and not in order, so the count
    # can be LIVE_ROWS_KEPT for a moment before the last fetches answer: the oldest are the
    # ones gone once they have.
    expect(page.locator(f'#passage-rows tr[data-id="{ids[0]}"]')).to_have_count(0)
    expect(rows).to_have_count(LIVE_ROWS_KEPT)
    shown = {int(i) for i in page.eval_on_selector_all(
        "#passage-rows tr[data-id]", "rows => rows.map(r => r.dataset.id)")}
    assert ids[0] not in shown and ids[-1] in shown


def test_an_alarm_list_answered_late_does_not_bring_back_an_acknowledged_alarm(
    live_server: LiveServer, new_page: Any
) -> None:
    """Seen on a controller taking 8 cars a second: the guard acknowledged an alarm, and it
    stayed on the screen, because the list asked for by the alarm event just before arrived
    after the one asked for by the acknowledgement."""
    first = add_alarm(live_server, "沪K60613")
    page = guard_page(new_page, live_server)
    acked = page.locator(f'.alarm[data-alarm-id="{first}"]')
    expect(acked).to_be_visible()

    held: list[tuple[Any, Any]] = []

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
            return
        held.append((route, route.fetch()))  # answered now: the alarm is still open in it

    page.route("**/console/fragments/alarms", hold_first)
    second = add_alarm(live_server, "沪K70714")
    live_server.services.bus.publish(Event("alarm", {"id": second, "kind": "blocked_plate"}))
    while not held:
        page.wait_for_timeout(50)

    acked.locator("button[data-ack]").click()
    page.locator("#ack-confirm").click()
    expect(acked).to_have_count(0)
    expect(page.locator(f'.alarm[data-alarm-id="{second}"]')).to_be_visible()

    route, stale = held[0]
    with page.expect_request_finished(lambda request: "fragments/alarms" in request.url):
        route.fulfill(response=stale)
    page.wait_for_timeout(300)  # the page's handling of the late answer
    expect(acked).to_have_count(0, timeout=1)
    expect(page.locator(f'.alarm[data-alarm-id="{second}"]')).to_be_visible()


def test_a_queue_longer_than_its_cards_says_how_many_more_wait(
    live_server: LiveServer, new_page: Any
) -> None:
    """Found by the guard's walk: with 30 cars waiting the page listed the 20 oldest under a
    badge of 20, and the car at the barrier now was not among them nor counted anywhere. The
    badge counts the whole queue and a line says how many wait behind the cards; as cards are
    handled the later cars come up and the line goes."""
    with transaction(live_server.services.sessions) as session:
        session.add_all(
            Passage(gate_id="main-in", direction="in", plate=f"粤B{20000 + i}",
                    decision="review", reason="unknown_plate", confidence=0.95)
            for i in range(22)
        )
    page = guard_page(new_page, live_server)
    cards = page.locator("#review-list > .review-card")
    expect(cards).to_have_count(20)
    expect(page.locator("#review-count")).to_have_text("22")
    more = page.locator("#review-more")
    expect(more).to_have_text("另有 2 辆后到的没有列出：上面的处理完后会依次显示。")
    for _ in range(2):
        cards.first.get_by_role("button", name="车已离开").click()
        expect(page.locator("#toast")).to_contain_text("已移出队列")
    expect(more).to_be_hidden()
    expect(page.locator("#review-count")).to_have_text("20")
    expect(cards).to_have_count(20)
    expect(page.locator('#review-list > .review-card[data-plate="粤B20021"]')).to_be_visible()
