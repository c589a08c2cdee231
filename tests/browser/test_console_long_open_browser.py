"""The booth page left open for days, in Debian chromium: what it remembers about the cars
resolved meanwhile does not grow with them. Read from the page's own script state through the
DevTools protocol (the closure of live.js), as no element shows it; bench/booth_page.py
measures the rest (elements, heap, listeners, timers, streams) over a run of the demo."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from controllers.events import Event
from tests.browser.conftest import WAIT_MS, LiveServer
from tests.browser.test_console_browser import bearer
from tests.browser.test_console_busy_shift_browser import add_passages
from tests.browser.test_console_live_browser import guard_page, push_unread

pytestmark = pytest.mark.browser

# Fewer than the event bus queues for one stream (256): more would end in a resync instead.
RESOLVED_ELSEWHERE = 200


def live_js_variable_size(page: Any, name: str) -> int:
    """``.size`` of the Set or Map ``name`` in live.js's closure, found through the scopes of
    the page's ``input`` listener on the document (live.js's reasonEdited)."""
    cdp = page.context.new_cdp_session(page)
    try:
        # The console's command line API (getEventListeners) hands out the listener itself.
        handler = cdp.send("Runtime.evaluate", {
            "expression": "getEventListeners(document).input[0].listener",
            "includeCommandLineAPI": True})["result"]
        props = cdp.send("Runtime.getProperties", {"objectId": handler["objectId"]})
        scopes = next(p for p in props["internalProperties"] if p["name"] == "[[Scopes]]")
        for scope in cdp.send("Runtime.getProperties",
                              {"objectId": scopes["value"]["objectId"]})["result"]:
            variables = cdp.send("Runtime.getProperties",
                                 {"objectId": scope["value"]["objectId"]})["result"]
            found = next((v for v in variables if v["name"] == name), None)
            if found is not None:
                size = cdp.send("Runtime.callFunctionOn", {
                    "objectId": found["value"]["objectId"],
                    "functionDeclaration": "function () { return this.size; }",
                    "returnByValue": True})
                return int(size["result"]["value"])
        raise AssertionError(f"no {name} in the closure of live.js's input listener")
    finally:
        cdp.detach()


def remembered_after_reads(page: Any) -> int:
    """The cars live.js remembers as resolved, once the queue reads on their way have
    answered: polled, as no element changes when the last one has."""
    deadline = time.monotonic() + WAIT_MS / 1000
    size = live_js_variable_size(page, "gone")
    while size > 0 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        size = live_js_variable_size(page, "gone")
    return size


def test_cars_resolved_at_another_booth_are_not_remembered_for_ever(
    live_server: LiveServer, new_page: Any
) -> None:
    """Each car resolved elsewhere was kept in a set (so that a queue read already on its way
    does not bring its card back) for as long as the page stayed open: one more entry per
    resolved car, every day. Once a queue read sent after the resolution has answered, the
    car is forgotten."""
    page = guard_page(new_page, live_server)
    assert live_js_variable_size(page, "gone") == 0
    for i in range(RESOLVED_ELSEWHERE):
        live_server.services.bus.publish(Event("passage_updated", {
            "id": 900_000 + i, "resolution": "denied", "resolved_by": "guard2"}))
    # Events are handled in order: once this car's row is there, every resolution was heard.
    (marker,) = add_passages(live_server, 1)
    live_server.services.bus.publish(Event("passage", {"id": marker, "decision": "allow"}))
    expect(page.locator(f'#passage-rows tr[data-id="{marker}"]')).to_be_visible()
    # Each resolution asked for the queue again (one read at a time, the last sent after them
    # all): the set empties once that read has answered.
    size = remembered_after_reads(page)
    assert size == 0, f"{size} resolved cars still remembered"


def test_a_queue_read_answered_late_does_not_bring_back_a_car_resolved_elsewhere(
    live_server: LiveServer, new_page: Any
) -> None:
    """What the remembered cars are for, kept while they are forgotten sooner: a queue read
    sent before another booth resolved a car answers after its card went, still listing it."""
    first = push_unread(live_server)
    page = guard_page(new_page, live_server)
    card = page.locator(f'.review-card[data-passage="{first}"]')
    expect(card).to_be_visible()

    held: list[Any] = []

    def hold(route: Any) -> None:  # the first two reads wait for the test
        if len(held) < 2:
            held.append(route)
        else:
            route.continue_()

    page.route("**/console/fragments/review", hold)
    second = push_unread(live_server)  # its event asks for the queue
    while not held:
        page.wait_for_timeout(50)
    stale = held[0].fetch()  # read now: the first car still waits in it
    response = httpx.post(
        f"{live_server.base_url}/api/v1/passages/{first}/resolve",
        json={"resolution": "deny", "reason": "另一岗亭核实"},
        headers=bearer(live_server, "admin"), timeout=30)
    assert response.status_code == 200, response.text
    expect(card).to_have_count(0)

    # The stale answer; the read the resolution asked for is sent once it has been merged.
    held[0].fulfill(response=stale)
    while len(held) < 2:
        page.wait_for_timeout(50)
    assert card.count() == 0, "a late queue read brought back a car resolved elsewhere"
    held[1].continue_()
    expect(page.locator(f'.review-card[data-passage="{second}"]')).to_be_visible()
    expect(card).to_have_count(0)
    assert remembered_after_reads(page) == 0
