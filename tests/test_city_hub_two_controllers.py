"""Two controllers under one community name (a name such as 阳光花园 is common in a city).

Before: both used the client id ``parkgate-<name>``, so the broker disconnected each in turn,
and the hub folded their free spaces and passages into one community. Now each controller
has an id of its own (services/controller_id.py) in its client id and messages, and the hub
keeps the community's first controller and refuses the other's, saying so with both ids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path

import pytest

from controllers.events import Event, EventBus
from services.city_hub import CONTROLLER_QUIET_S, CityHub, run_hub
from services.city_mqtt import CityPublisher, to_message
from services.controller_id import controller_id
from settings import MqttPublishConfig
from tests.private_broker import PrivateBroker
from tests.test_city_hub import availability, passage

NAME = "阳光花园"


def wire(event: Event, controller: str | None) -> tuple[str, bytes]:
    produced = to_message(event, NAME, publish_plates=False, controller=controller)
    assert produced is not None
    suffix, payload, _ = produced
    return f"parkgate/{NAME}/{suffix}", json.dumps(payload, ensure_ascii=False).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_second_controller_under_a_name_is_refused_and_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    hub = CityHub(clock=clock)
    hub.take(*wire(availability(40, 30), "aaaaaaaaaaaa"))
    with caplog.at_level(logging.WARNING, logger="services.city_hub"):
        assert hub.take(*wire(passage(1), "bbbbbbbbbbbb")) is None
        hub.take(*wire(availability(99, 99), "bbbbbbbbbbbb"))
    assert hub.take(*wire(passage(1), "aaaaaaaaaaaa")) is not None
    totals = hub.totals()
    assert (totals["total_capacity"], totals["total_free"], totals["passages"]) == (40, 30, 1)
    assert totals["controller_clashes"] == 2
    assert "bbbbbbbbbbbb" in caplog.text and "aaaaaaaaaaaa" in caplog.text
    assert "two controllers share one community.name" in caplog.text
    assert "second controller" in hub.summary_lines()[0]


def test_a_replaced_controller_is_taken_once_the_old_one_is_quiet() -> None:
    clock = Clock()
    hub = CityHub(clock=clock)
    hub.take(*wire(availability(40, 30), "aaaaaaaaaaaa"))
    clock.now += CONTROLLER_QUIET_S + 1  # the old box died; a new one set up afresh
    assert hub.take(*wire(passage(7), "cccccccccccc")) is not None
    hub.take(*wire(availability(40, 12), "cccccccccccc"))
    assert hub.totals()["total_free"] == 12
    clock.now += 5
    assert hub.take(*wire(passage(8), "aaaaaaaaaaaa")) is None  # the old one back: refused


def test_messages_of_controllers_without_an_id_are_read_as_before() -> None:
    hub = CityHub()
    assert hub.take(*wire(passage(1), None)) is not None
    assert hub.take(*wire(passage(2), "aaaaaaaaaaaa")) is not None


def test_the_controller_id_is_made_once_and_kept(tmp_path: Path) -> None:
    first = controller_id(tmp_path)
    assert len(first) == 12 and int(first, 16) >= 0
    assert controller_id(tmp_path) == first
    (tmp_path / "controller_id").write_text("not an id\n", encoding="ascii")
    assert controller_id(tmp_path) != first  # a damaged file is replaced, not used


@pytest.mark.broker
def test_two_controllers_with_one_name_through_a_real_broker(tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    hub = CityHub()
    stop, subscribed = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_hub, args=(hub, "127.0.0.1", broker.port),
        kwargs={"client_id": "hub-test", "out": None, "every_s": 60.0, "stop": stop,
                "subscribed": subscribed},
    )
    thread.start()
    assert subscribed.wait(10), "the hub did not subscribe"
    config = MqttPublishConfig(enabled=True, port=broker.port)
    first = CityPublisher(config, NAME, EventBus(), controller=controller_id(tmp_path / "a"))
    second = CityPublisher(config, NAME, EventBus(), controller=controller_id(tmp_path / "b"))

    async def scenario() -> tuple[bool, bool]:
        await first.start()
        first.publish(availability(40, 30))
        deadline = time.monotonic() + 10
        while hub.totals()["total_capacity"] != 40:
            assert time.monotonic() < deadline, hub.totals()
            await asyncio.sleep(0.05)
        await second.start()
        second.publish(availability(20, 20))
        second.publish(passage(1))
        first.publish(passage(2))
        while hub.totals()["passages"] != 1 or hub.totals()["controller_clashes"] < 2:
            assert time.monotonic() < deadline, hub.totals()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # long enough for a broker to throw one of them off
        connected = first.status.connected, second.status.connected
        for publisher in (first, second):
            await publisher.stop()
        return connected

    try:
        connected = asyncio.run(scenario())
    finally:
        stop.set()
        thread.join(10)
        broker.stop()
    assert connected == (True, True)  # one client id each: neither disconnects the other
    totals = hub.totals()
    assert (totals["communities"], totals["total_capacity"], totals["total_free"]) == (1, 40, 30)


@pytest.mark.parametrize("controller", ["", "ABCDEF012345", "0a1b2c3d4e5", 12, ["x"]])
def test_a_controller_id_not_of_the_schemas_form_is_refused(controller: object) -> None:
    hub = CityHub()
    topic, body = wire(passage(1), "aaaaaaaaaaaa")
    message = json.loads(body)
    message["controller"] = controller
    assert hub.take(topic, json.dumps(message).encode()) is None
    assert hub.totals()["refused"] == 1


def status(text: str) -> tuple[str, bytes]:
    """A status naming no controller (an older controller's, its last will too)."""
    return f"parkgate/{NAME}/status", text.encode()


def test_no_message_of_a_refused_controller_counts(caplog: pytest.LogCaptureFixture) -> None:
    """Once a second controller is heard under the name, none of its messages changes the
    community: availability, gate states, passages and alarms by their id, and status (which
    has none) by not being taken while the second is heard. Before: its ``offline`` (its stop,
    or its last will) showed the community offline while the first controller was up."""
    clock = Clock()
    hub = CityHub(clock=clock)
    hub.take(*status("online"))
    hub.take(*wire(availability(40, 30), "aaaaaaaaaaaa"))
    hub.take(*wire(Event("gate", {"gate_id": "main-in", "state": "closed", "fault": None}),
                   "aaaaaaaaaaaa"))
    second = [
        wire(availability(99, 99), "bbbbbbbbbbbb"),
        wire(Event("gate", {"gate_id": "main-in", "state": "fault", "fault": "x"}),
             "bbbbbbbbbbbb"),
        wire(passage(1), "bbbbbbbbbbbb"),
        wire(Event("alarm", {"id": 3, "kind": "hardware_fault", "gate_id": "main-in"}),
             "bbbbbbbbbbbb"),
        status("offline"),  # the second one stops
    ]
    with caplog.at_level(logging.WARNING, logger="services.city_hub"):
        for message in second:
            assert hub.take(*message) is None
    totals = hub.totals()
    assert (totals["online"], totals["total_capacity"], totals["total_free"]) == (1, 40, 30)
    assert (totals["passages"], totals["alarms"], totals["gates_in_fault"]) == (0, 0, [])
    assert totals["controller_clashes"] == len(second), totals
    assert totals["refused"] == len(second), totals
    refusals = [r.getMessage() for r in caplog.records if "status message" in r.getMessage()]
    assert refusals and "bbbbbbbbbbbb" in refusals[0] and "aaaaaaaaaaaa" in refusals[0]
    assert "online" in hub.summary_lines()[0]

    # The second one quiet for long enough: the community's status is taken again.
    clock.now += CONTROLLER_QUIET_S + 1
    hub.take(*wire(availability(40, 29), "aaaaaaaaaaaa"))
    hub.take(*status("offline"))
    assert hub.totals()["online"] == 0


def test_a_refused_controller_that_takes_over_has_its_status_taken() -> None:
    """The first controller dies while the second publishes under its name: once the first has
    been quiet long enough the second is the community's, and its status counts at once."""
    clock = Clock()
    hub = CityHub(clock=clock)
    hub.take(*wire(availability(40, 30), "aaaaaaaaaaaa"))
    hub.take(*wire(availability(20, 20), "bbbbbbbbbbbb"))  # refused
    clock.now += CONTROLLER_QUIET_S - 1
    hub.take(*wire(availability(20, 19), "bbbbbbbbbbbb"))  # refused: the first is not quiet
    clock.now += 2
    hub.take(*wire(availability(20, 18), "bbbbbbbbbbbb"))  # taken: the first is quiet
    assert hub.totals()["total_free"] == 18
    hub.take(*status("online"))
    assert hub.totals()["online"] == 1
