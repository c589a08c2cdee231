"""City-platform publishing against the real Mosquitto broker on this machine."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from controllers.events import Event, EventBus
from plate_privacy import mask_plate
from services.city_mqtt import CityPublisher, to_message
from settings import MqttPublishConfig
from tests.conftest import LabelledPhoto
from tests.private_broker import PrivateBroker, free_port, retained

BROKER = ("127.0.0.1", 1883)


def broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.broker
shared_broker = pytest.mark.skipif(
    not broker_up(), reason="no MQTT broker on 127.0.0.1:1883 (.ci/run starts one)"
)


@pytest.fixture
def private_broker(tmp_path: Path) -> Any:
    broker = PrivateBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def subscribe(topic: str) -> tuple[mqtt.Client, queue.Queue[tuple[str, dict[str, Any], bool]]]:
    received: queue.Queue[tuple[str, dict[str, Any], bool]] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

    def on_message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        body = json.loads(m.payload) if m.payload.startswith(b"{") else {"raw": m.payload.decode()}
        received.put((m.topic, body, m.retain))

    client.on_message = on_message
    client.connect(*BROKER)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client, received


def wait_for(received: queue.Queue[Any], predicate: Any, timeout: float = 10.0) -> Any:
    """The first message matching ``predicate``; messages that do not match are put back,
    since topics may arrive in any order (a queued availability can beat the status)."""
    deadline = time.monotonic() + timeout
    skipped: list[Any] = []
    try:
        while time.monotonic() < deadline:
            try:
                item = received.get(timeout=0.2)
            except queue.Empty:
                continue
            if predicate(item):
                return item
            skipped.append(item)
        raise AssertionError("expected MQTT message did not arrive")
    finally:
        for item in skipped:
            received.put(item)


def test_plates_are_masked_by_default() -> None:
    assert mask_plate("闽A12345") == "闽A1***5"
    assert mask_plate("闽AD12345") == "闽AD****5"
    assert mask_plate(None) is None


AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "state"),
    [
        ({"gate_id": "main-in", "state": "closing", "fault": None}, "closing"),
        ({"gate_id": "main-in", "state": "fault", "fault": "no echo"}, "fault"),
        ({"gate_id": "main-in", "state": "held_open", "fault": None}, "held_open"),
        # The safety supervisor's notice after a fault: no state of its own.
        ({"gate_id": "main-in", "recovered": True}, None),
        ({"gate_id": "main-in", "state": None, "fault": None}, None),
        ({"gate_id": "main-in", "state": "ajar", "fault": None}, None),
    ],
    ids=["closing", "fault", "held_open", "recovered_notice", "null_state", "unknown_state"],
)
def test_gate_messages_carry_a_state_from_the_schema(
    data: dict[str, Any], state: str | None
) -> None:
    message = to_message(Event("gate", data, AT), "demo", publish_plates=False)
    if state is None:
        assert message is None
    else:
        assert message is not None
        topic, payload, retain = message
        assert (topic, payload["state"], retain) == ("gates/main-in/state", state, True)


def test_an_acknowledged_alarm_is_not_published_again() -> None:
    """The console's acknowledgement event has the alarm's id: sent to the city it would be a
    second alarm, or overwrite the first one's passage_id for a hub keeping alarms by id."""
    raised = {"id": 17, "kind": "blocked_plate", "gate_id": "main-in", "passage_id": 812}
    acknowledged = {"id": 17, "kind": "blocked_plate", "gate_id": "main-in",
                    "acknowledged_by": "guard1", "acknowledged_at": AT.isoformat()}
    assert to_message(Event("alarm", raised, AT), "demo", publish_plates=False) is not None
    assert to_message(Event("alarm", acknowledged, AT), "demo", publish_plates=False) is None


def test_a_recovered_barrier_keeps_its_real_retained_state(private_broker: PrivateBroker) -> None:
    """A barrier recovering from a fault: the status that cleared the fault is published, then
    the supervisor's "recovered" notice. A hub connecting afterwards must read the real state."""
    config = MqttPublishConfig(enabled=True, port=private_broker.port)
    publisher = CityPublisher(config, "demo", EventBus())

    async def scenario() -> None:
        await publisher.start()
        publisher.publish(Event("gate", {"gate_id": "main-in", "state": "closing", "fault": None}))
        publisher.publish(Event("gate", {"gate_id": "main-in", "recovered": True}))
        deadline = time.monotonic() + 10
        while not (publisher.status.connected and publisher.status.queued == 0):
            assert time.monotonic() < deadline, "the broker did not take the messages"
            await asyncio.sleep(0.05)
        await publisher.stop()

    asyncio.run(scenario())
    state = retained(private_broker.port, "parkgate/demo/gates/main-in/state")
    assert state["schema"] == "parkgate.gate/1"
    assert (state["state"], state["fault"]) == ("closing", None)


def test_a_restart_replaces_the_gate_states_the_broker_kept(
    app_factory: Any, private_broker: PrivateBroker
) -> None:
    """The broker keeps each gate's last state across a controller restart: a gate that was
    open, or faulted, when the controller stopped must not stay so for every hub connecting
    later, when its barrier starts closed and so reports no change."""
    stale = {"schema": "parkgate.gate/1", "community": "demo", "at": "2026-11-01T08:00:00+00:00",
             "gate_id": "main-in", "state": "fault", "fault": "no answer from the relay"}
    old = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    old.connect("127.0.0.1", private_broker.port)
    old.loop_start()
    old.publish("parkgate/demo/gates/main-in/state", json.dumps(stale), qos=1,
                retain=True).wait_for_publish(5)
    old.disconnect()
    old.loop_stop()
    assert retained(private_broker.port, "parkgate/demo/gates/main-in/state")["state"] == "fault"

    client = app_factory(mqtt={"enabled": True, "port": private_broker.port})
    deadline = time.monotonic() + 10
    while True:
        state = retained(private_broker.port, "parkgate/demo/gates/main-in/state")
        if state["state"] != "fault":
            break
        assert time.monotonic() < deadline, "the stale fault stayed on the broker"
        time.sleep(0.2)
    assert (state["state"], state["fault"]) == ("closed", None)
    assert client.app.state.services.barriers["main-in"].fault is None


@shared_broker
def test_passages_and_availability_reach_the_city_hub(
    app_factory: Any, readable_photos: list[LabelledPhoto]
) -> None:
    community = f"test-{uuid.uuid4().hex[:8]}"
    demo = {
        "name": community,
        "zones": [{"id": "A", "capacity": 40}],
        "gates": [{"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A"}],
    }
    hub, received = subscribe(f"parkgate/{community}/#")
    try:
        client = app_factory(community=demo, mqtt={"enabled": True})
        status = wait_for(received, lambda m: m[0].endswith("/status"))
        assert status[1] == {"raw": "online"}
        initial = wait_for(received, lambda m: m[0].endswith("/availability"))
        assert initial[1]["schema"] == "parkgate.availability/1"
        assert initial[1]["zones"] == [{"id": "A", "capacity": 40, "free": 40}]
        # A hub that connects later still gets the last availability: it is retained.
        late, late_received = subscribe(f"parkgate/{community}/availability")
        try:
            retained = wait_for(late_received, lambda m: True)
            assert retained[2] is True and retained[1]["total_free"] == 40
        finally:
            late.loop_stop()
            late.disconnect()

        photo = readable_photos[0]
        client.post(
            "/api/v1/gates/main-in/frames",
            content=photo.path.read_bytes(),
            headers={"X-API-Key": "test-camera-key", "Content-Type": "image/jpeg"},
        )
        topic, passage, _ = wait_for(received, lambda m: m[0].endswith("/passages"))
        assert topic == f"parkgate/{community}/passages"
        assert passage["schema"] == "parkgate.passage/1"
        assert passage["gate_id"] == "main-in" and passage["decision"] == "review"
        assert passage["plate"] == mask_plate(photo.plate) != photo.plate
    finally:
        hub.loop_stop()
        hub.disconnect()


def _health_when(client: Any, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        health: dict[str, Any] = client.get("/healthz").json()
        if done(health) or time.monotonic() > deadline:
            return health
        time.sleep(0.1)


def test_health_shows_a_city_link_that_cannot_connect_without_degrading_the_gates(
    app_factory: Any,
) -> None:
    client = app_factory(mqtt={"enabled": True, "port": free_port()})  # nobody listens there
    health = _health_when(client, lambda h: h["city_mqtt"] is not None)
    link = health["city_mqtt"]
    assert link["connected"] is False and link["dropped"] == 0 and link["queue_limit"] > 0
    # The gates work without the hub: the link is shown, not counted in the status.
    assert health["status"] == "ok"


@shared_broker
def test_health_shows_the_city_link_up(app_factory: Any) -> None:
    client = app_factory(
        community={"name": f"test-{uuid.uuid4().hex[:8]}", "zones": [], "gates": []},
        mqtt={"enabled": True},
    )
    health = _health_when(client, lambda h: bool(h["city_mqtt"] and h["city_mqtt"]["connected"]))
    assert health["city_mqtt"]["connected"] is True


def test_health_has_no_city_link_when_publishing_is_off(client: Any) -> None:
    assert client.get("/healthz").json()["city_mqtt"] is None
