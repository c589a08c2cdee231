"""The city link through broker outages, on a Mosquitto of the test's own that is stopped and
started again (the shared broker on 1883 is never touched)."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controllers.events import Event, EventBus
from services.city_mqtt import HANDED_MAX, CityPublisher, Outbox, Outgoing
from services.city_spool import CitySpool
from settings import MqttPublishConfig
from tests.private_broker import Hub, PrivateBroker, Received, retained

pytestmark = pytest.mark.broker

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """Not started: each test decides when the broker is there."""
    broker = PrivateBroker(tmp_path)
    yield broker
    broker.stop()


def city(port: int, **settings: Any) -> CityPublisher:
    config = MqttPublishConfig(
        enabled=True, port=port, reconnect_min_s=0.1, reconnect_max_s=0.5, **settings
    )
    return CityPublisher(config, "demo", EventBus())


def passage(n: int) -> Event:
    data = {"id": n, "at": (T0 + timedelta(seconds=n)).isoformat(), "gate_id": "main-in",
            "direction": "in", "zone_id": "A", "plate": "闽A12345", "decision": "allow",
            "reason": "resident", "credential": "plate"}
    return Event("passage", data, T0 + timedelta(seconds=n))


def availability(free: int) -> Event:
    zones = [{"id": "A", "capacity": 40, "free": free}]
    return Event("availability", {"zones": zones, "total_capacity": 40, "total_free": free})


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def settle(hub: Hub, quiet: float = 0.5) -> list[Received]:
    """Everything the hub got, once it is connected and nothing more has arrived for ``quiet``
    seconds (the broker holds what came while the hub was away, until the hub is back)."""
    await until(hub.client.is_connected)
    assert all(hub.connects[1:]), "the broker lost the hub's session over its restart"
    got: list[Received] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        try:
            got.append(hub.received.get_nowait())
            last = time.monotonic()
        except queue.Empty:
            await asyncio.sleep(0.05)
    return got


def on(topic: str, got: list[Received]) -> list[Any]:
    return [body for t, body, _ in got if t == f"parkgate/demo/{topic}"]


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name == "services.city_mqtt" and r.levelno == level
    ]


def event(n: int) -> Outgoing:
    return Outgoing("parkgate/demo/passages", f"p{n}", retain=False)


def state(topic: str, value: str) -> Outgoing:
    return Outgoing(f"parkgate/demo/{topic}", value, retain=True)


@pytest.mark.parametrize(
    ("limit", "put", "taken", "dropped"),
    [
        (3, [event(1), event(2)], ["p1", "p2"], 0),
        (2, [event(1), event(2), event(3), event(4)], ["p3", "p4"], 2),
        # A retained topic keeps its latest message, which moves to the back.
        (5, [state("availability", "a1"), event(1), state("availability", "a2")], ["p1", "a2"], 0),
        # Retained messages are not events: they neither count nor get dropped for the cap.
        (1, [state("availability", "a"), state("gates/g1/state", "g"), event(1), event(2)],
         ["a", "g", "p2"], 1),
    ],
    ids=["in_order", "oldest_dropped", "retained_latest_only", "retained_outside_the_cap"],
)
def test_outbox(limit: int, put: list[Outgoing], taken: list[str], dropped: int) -> None:
    box = Outbox(limit)
    for message in put:
        box.put(message)
    out = []
    while (next_out := box.take()) is not None:
        out.append(next_out.body)
    assert (out, box.dropped, len(box)) == (taken, dropped, 0)


def test_outbox_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"):
        Outbox(0)


def test_broker_down_at_start_is_logged_once_and_the_queue_goes_out_when_it_answers(
    broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="services.city_mqtt")
    broker.start()
    hub = Hub(broker.port, "parkgate/demo/#")
    broker.stop()  # the broker keeps the hub's session for when it is back
    publisher = city(broker.port)

    async def scenario() -> list[Received]:
        await publisher.start()
        for n in (1, 2, 3):
            publisher.publish(passage(n))
        publisher.publish(availability(40))
        publisher.publish(availability(39))
        await until(lambda: len(logged(caplog, logging.DEBUG)) >= 2)  # it retried, twice or more
        status = publisher.status
        assert not status.connected
        assert (status.queued, status.dropped, status.queue_limit) == (4, 0, 10_000)
        return await once_delivered(publisher, broker, hub)

    try:
        got = asyncio.run(scenario())
    finally:
        hub.close()
    warnings = logged(caplog, logging.WARNING)
    assert len(warnings) == 1, warnings
    assert f"broker 127.0.0.1:{broker.port} unreachable" in warnings[0]
    assert "Connection refused" in warnings[0]
    recovered = [m for m in logged(caplog, logging.INFO) if " s down: " in m]
    assert len(recovered) == 1, logged(caplog, logging.INFO)
    assert "sending 4 queued message(s); 0 passage(s)/alarm(s) dropped" in recovered[0]
    passages = on("passages", got)
    assert [p["id"] for p in passages] == [1, 2, 3]
    # ``at`` is when the controller emitted the event, not when the broker came back.
    assert passages[0]["at"] == (T0 + timedelta(seconds=1)).isoformat()
    assert [a["total_free"] for a in on("availability", got)] == [39]


def test_a_link_lost_while_running_is_logged_and_the_queue_is_capped(
    broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="services.city_mqtt")
    broker.start()
    hub = Hub(broker.port, "parkgate/demo/#")
    publisher = city(broker.port, queue_limit=3)

    async def scenario() -> list[Received]:
        await publisher.start()
        publisher.publish(passage(1))
        await until(lambda: publisher.status.connected and publisher.status.queued == 0)
        broker.stop()
        await until(lambda: not publisher.status.connected)
        down_since = publisher.status.since
        for n in range(2, 7):
            publisher.publish(passage(n))
        await until(lambda: len(logged(caplog, logging.DEBUG)) >= 2)  # it retried, twice or more
        status = publisher.status
        assert (status.connected, status.since, status.queued, status.dropped) == (
            False, down_since, 3, 2
        )
        broker.start()
        await until(lambda: publisher.status.connected and publisher.status.queued == 0)
        assert publisher.status.since > down_since and publisher.status.dropped == 2
        got = await settle(hub)
        await publisher.stop()
        return got

    try:
        got = asyncio.run(scenario())
    finally:
        hub.close()
    warnings = logged(caplog, logging.WARNING)
    assert len(warnings) == 2, warnings
    assert f"link to 127.0.0.1:{broker.port} lost (connection lost)" in warnings[0]
    assert "queue full (3 passages and alarms waiting, mqtt.queue_limit)" in warnings[1]
    recovered = [m for m in logged(caplog, logging.INFO) if " s down: " in m]
    assert len(recovered) == 1
    assert "sending 3 queued message(s); 2 passage(s)/alarm(s) dropped" in recovered[0]
    # The oldest were dropped; what was kept arrives in order.
    assert [p["id"] for p in on("passages", got)] == [1, 4, 5, 6]


def test_a_broker_back_without_its_retained_messages_is_given_them_again(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    """Found restarting the city broker under a running demo: a broker back without its store
    (persistence off, Mosquitto's own default; a crash between autosaves; a new broker) held
    no availability and no gate state, and the controller, which had nothing new to send,
    sent none: a hub connecting then read the community online with no count (or an old
    autosaved one) until the next car, hours at night."""
    broker.start()
    publisher = city(broker.port)
    topic = "parkgate/demo/availability"

    async def scenario() -> tuple[Any, Any]:
        await publisher.start()
        publisher.publish(availability(12))
        publisher.publish(Event("gate", {"gate_id": "main-in", "state": "closed", "fault": None}))
        await until(lambda: publisher.status.connected and publisher.status.queued == 0)
        assert (await asyncio.to_thread(retained, broker.port, topic))["total_free"] == 12
        broker.stop()
        (tmp_path / "mosquitto.db").unlink()  # the store is gone: nothing retained is left
        await until(lambda: not publisher.status.connected)
        broker.start()
        await until(lambda: publisher.status.connected and publisher.status.queued == 0)
        got = await asyncio.gather(
            asyncio.to_thread(retained, broker.port, topic),
            asyncio.to_thread(retained, broker.port, "parkgate/demo/gates/main-in/state"),
        )
        await publisher.stop()
        return got[0], got[1]

    count, gate = asyncio.run(scenario())
    assert (count["total_free"], gate["state"]) == (12, "closed")


def test_a_clean_stop_with_the_broker_there_delivers_everything_in_order(
    broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker.start()
    hub = Hub(broker.port, "parkgate/demo/passages")
    publisher = city(broker.port)
    count = 4 * HANDED_MAX  # more than paho is given at a time

    async def scenario() -> None:
        await publisher.start()
        await until(lambda: publisher.status.connected)
        for n in range(count):
            publisher.publish(passage(n))
        await publisher.stop()

    try:
        asyncio.run(scenario())
        got = asyncio.run(settle(hub))
    finally:
        hub.close()
    assert [p["id"] for p in on("passages", got)] == list(range(count))
    assert hub.repeats == 0  # with the broker up throughout, nothing may come twice
    assert logged(caplog, logging.WARNING) == []
    assert not publisher.status.connected and publisher.status.queued == 0


def test_stopping_while_the_broker_is_away_says_what_is_lost(
    broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = city(broker.port)  # the broker is never started

    async def scenario() -> None:
        await publisher.start()
        publisher.publish(passage(1))
        publisher.publish(passage(2))
        await publisher.stop()

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 3
    lost = [m for m in logged(caplog, logging.WARNING) if "stopping with" in m]
    assert len(lost) == 1 and "stopping with 2 message(s)" in lost[0]


def test_stopping_with_only_availability_waiting_does_not_say_durable_queue_is_off(
    broker: PrivateBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found walking an install: a controller stopped while the city broker was unreachable
    logged "mqtt.durable_queue is off" with the queue on, for its start-up availability."""
    publisher = durable_city(broker.port, tmp_path / "journal" / "city_mqtt.jsonl")

    async def scenario() -> None:
        await publisher.start()
        await publisher.taken_back()
        publisher.publish(availability(37))
        await publisher.stop()

    asyncio.run(scenario())
    lost = [m for m in logged(caplog, logging.WARNING) if "stopping with" in m]
    assert len(lost) == 1, lost
    assert "durable_queue is off" not in lost[0]
    assert "none of them a passage or alarm" in lost[0]


def durable_city(port: int, spool_path: Path, **settings: Any) -> CityPublisher:
    config = MqttPublishConfig(
        enabled=True, port=port, reconnect_min_s=0.1, reconnect_max_s=0.5, **settings
    )
    return CityPublisher(
        config, "demo", EventBus(), spool=CitySpool(spool_path),
        publish_plates=config.publish_plates,
    )


async def once_delivered(
    publisher: CityPublisher, broker: PrivateBroker, hub: Hub
) -> list[Received]:
    """The broker back; what the hub got once the publisher has nothing left, then a stop."""
    broker.start()
    await until(lambda: publisher.status.connected and publisher.status.queued == 0)
    got = await settle(hub)
    await publisher.stop()
    return got


def test_a_restart_during_a_broker_outage_sends_the_kept_passages_at_the_next_start(
    broker: PrivateBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker.start()
    hub = Hub(broker.port, "parkgate/demo/#")
    broker.stop()
    spool_path = tmp_path / "journal" / "city_mqtt.jsonl"

    async def first_run() -> None:
        publisher = durable_city(broker.port, spool_path)
        await publisher.start()
        for n in (1, 2, 3):
            publisher.publish(passage(n))
        publisher.publish(availability(37))  # retained: the next run publishes its own
        await publisher.stop()

    async def second_run() -> list[Received]:
        publisher = durable_city(broker.port, spool_path)
        await publisher.start()
        await publisher.taken_back()  # the spool is read in a worker thread
        assert publisher.status.queued == 3  # before the broker answers, /healthz says so
        publisher.publish(passage(4))
        return await once_delivered(publisher, broker, hub)

    try:
        asyncio.run(first_run())
        kept = [m for m in logged(caplog, logging.WARNING) if "stopping with" in m]
        assert len(kept) == 1 and "3 passage(s)/alarm(s) among them are kept" in kept[0]
        got = asyncio.run(second_run())
    finally:
        hub.close()
    assert [p["id"] for p in on("passages", got)] == [1, 2, 3, 4]
    assert on("availability", got) == []  # the old count is not replayed over a newer one
    assert spool_path.stat().st_size == 0  # all acknowledged: nothing for a third run


def test_a_crash_during_a_broker_outage_loses_no_passage_for_the_hub(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    broker.start()
    hub = Hub(broker.port, "parkgate/demo/passages")
    broker.stop()
    spool_path = tmp_path / "city_mqtt.jsonl"
    crashed = durable_city(broker.port, spool_path)

    async def until_the_crash() -> None:
        await crashed.start()
        for n in (1, 2):
            crashed.publish(passage(n))
        # Killed here: no stop(), nothing flushed or said; only what is on disk remains.

    async def after_restart() -> list[Received]:
        publisher = durable_city(broker.port, spool_path)
        await publisher.start()
        return await once_delivered(publisher, broker, hub)

    try:
        asyncio.run(until_the_crash())
        crashed._client.loop_stop()  # the dead process's network thread is gone with it
        got = asyncio.run(after_restart())
    finally:
        hub.close()
    assert [p["id"] for p in on("passages", got)] == [1, 2]


def test_a_clean_stop_with_the_broker_there_leaves_nothing_to_send_again(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    broker.start()
    hub = Hub(broker.port, "parkgate/demo/passages")
    spool_path = tmp_path / "city_mqtt.jsonl"

    async def run(ids: range) -> None:
        publisher = durable_city(broker.port, spool_path)
        await publisher.start()
        await until(lambda: publisher.status.connected)
        for n in ids:
            publisher.publish(passage(n))
        await publisher.stop()

    try:
        asyncio.run(run(range(2 * HANDED_MAX)))
        asyncio.run(run(range(2 * HANDED_MAX, 2 * HANDED_MAX + 1)))
        got = asyncio.run(settle(hub))
    finally:
        hub.close()
    assert [p["id"] for p in on("passages", got)] == list(range(2 * HANDED_MAX + 1))
    assert hub.repeats == 0  # the second start re-sent nothing the broker had acknowledged


def test_passages_kept_with_full_plates_go_out_masked_once_publish_plates_is_off(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    broker.start()
    hub = Hub(broker.port, "parkgate/demo/passages")
    broker.stop()
    spool_path = tmp_path / "city_mqtt.jsonl"

    async def run(publish_plates: bool, send: bool) -> list[Received]:
        publisher = durable_city(broker.port, spool_path, publish_plates=publish_plates)
        await publisher.start()
        if not send:
            publisher.publish(passage(1))
            await publisher.stop()
            return []
        return await once_delivered(publisher, broker, hub)

    try:
        asyncio.run(run(publish_plates=True, send=False))
        assert "闽A12345" in spool_path.read_text(encoding="utf-8")
        got = asyncio.run(run(publish_plates=False, send=True))
    finally:
        hub.close()
    assert [p["plate"] for p in on("passages", got)] == ["闽A1***5"]


class SlowDisk(CitySpool):
    """A spool whose fsync takes until the test lets it finish; records how many lines were
    appended when each fsync began."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.synced_from: list[int] = []
        self.syncing = threading.Event()
        self.finish = threading.Event()

    def sync(self) -> None:
        self.synced_from.append(len(self.path.read_bytes().splitlines()))
        self.syncing.set()
        self.finish.wait(10)
        super().sync()


def test_a_passage_queued_during_an_fsync_is_synced_by_another(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    spool = SlowDisk(tmp_path / "city_mqtt.jsonl")
    config = MqttPublishConfig(enabled=True, port=broker.port, reconnect_min_s=0.1)
    publisher = CityPublisher(config, "demo", EventBus(), spool=spool)

    async def scenario() -> None:
        await publisher.start()
        publisher.publish(passage(1))
        await asyncio.to_thread(spool.syncing.wait, 10)
        publisher.publish(passage(2))  # appended after that fsync began: not covered by it
        spool.finish.set()
        await until(lambda: len(spool.synced_from) >= 2, timeout=5)
        await publisher.stop()

    asyncio.run(scenario())
    assert spool.synced_from[-1] == 2
