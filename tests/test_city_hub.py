"""The reference city hub (``main.py city-hub``): several communities' feeds into one picture,
each passage once, an unknown schema version refused."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from controllers.events import Event, EventBus
from services.city_hub import CityHub, _open_record, record_line, run_hub
from services.city_mqtt import CityPublisher, to_message
from settings import MqttPublishConfig
from tests.conftest import ROOT
from tests.private_broker import PrivateBroker

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def passage(n: int) -> Event:
    data = {
        "id": n,
        "at": (T0 + timedelta(seconds=n)).isoformat(),
        "gate_id": "main-in",
        "direction": "in",
        "zone_id": "A",
        "plate": "闽A12345",
        "plate_color": "blue",
        "decision": "allow",
        "reason": "resident",
        "credential": "plate",
    }
    return Event("passage", data, T0 + timedelta(seconds=n))


def availability(capacity: int, free: int) -> Event:
    return Event(
        "availability",
        {
            "zones": [{"id": "A", "capacity": capacity, "free": free}],
            "total_capacity": capacity,
            "total_free": free,
        },
    )


def wire(event: Event, community: str) -> tuple[str, bytes]:
    """The topic and bytes a controller of ``community`` publishes for ``event``."""
    produced = to_message(event, community, publish_plates=False)
    assert produced is not None
    suffix, payload, _retain = produced
    return f"parkgate/{community}/{suffix}", json.dumps(payload, ensure_ascii=False).encode()


def test_the_hub_adds_communities_up_and_takes_each_passage_once() -> None:
    hub = CityHub()
    for topic, body in [
        wire(availability(40, 31), "east"),
        wire(availability(20, 5), "west"),
        wire(passage(1), "east"),
        wire(passage(1), "east"),  # a QoS 1 repeat
        wire(passage(1), "west"),  # the same id in another community is another passage
    ]:
        hub.take(topic, body)
    hub.take("parkgate/east/status", b"online")
    hub.take("parkgate/west/status", b"offline")
    totals = hub.totals()
    assert (totals["communities"], totals["online"]) == (2, 1)
    assert (totals["total_capacity"], totals["total_free"]) == (60, 36)
    assert (totals["passages"], totals["repeats_dropped"]) == (2, 1)
    assert hub.summary_lines() == [
        "east: online, 31/40 free, 1 passages, 0 alarms",
        "west: OFFLINE, 5/20 free, 1 passages, 0 alarms",
    ]


def recorded(n: int) -> str:
    """The line a hub's ``--out`` held for passage ``n`` of community east before the record
    was the message as received (such records are still read)."""
    _topic, body = wire(passage(n), "east")
    return (
        json.dumps({"community": "east", "kind": "passage", **json.loads(body)}, ensure_ascii=False)
        + "\n"
    )


def test_a_restarted_hub_does_not_record_a_passage_twice(tmp_path: Path) -> None:
    record = tmp_path / "hub.jsonl"
    record.write_text(
        recorded(1) + '{"community": "east", "kind": "pass',
        encoding="utf-8",  # a torn stop
    )
    hub = CityHub()
    assert hub.remember(record) == 1
    assert hub.take(*wire(passage(1), "east")) is None  # re-sent by the broker
    assert hub.take(*wire(passage(2), "east")) is not None
    assert hub.totals()["repeats_dropped"] == 1
    with _open_record(record) as out:  # the next run appends on a line of its own
        out.write(recorded(2))
    again = CityHub()
    assert again.remember(record) == 2
    assert again.take(*wire(passage(2), "east")) is None


def test_a_restarted_hub_does_not_record_an_alarm_twice(tmp_path: Path) -> None:
    """The record once held an alarm under "kind": its alarm kind (blocked_plate) written over
    the record's own "alarm", so a restarted hub did not know the alarm and appended it again
    when the broker re-sent it."""
    alarm = Event(
        "alarm", {"id": 3, "kind": "blocked_plate", "gate_id": "main-in", "passage_id": 5}, T0
    )
    record = tmp_path / "hub.jsonl"
    first = CityHub()
    taken = first.take(*wire(alarm, "east"))
    assert taken is not None
    record.write_text(record_line(taken), encoding="utf-8")
    assert json.loads(record.read_text("utf-8"))["kind"] == "blocked_plate"  # the alarm's own
    again = CityHub()
    assert again.remember(record) == 1
    assert again.take(*wire(alarm, "east")) is None
    assert (again.totals()["alarms"], again.totals()["repeats_dropped"]) == (0, 1)


def test_an_id_used_again_after_a_restore_is_a_new_passage() -> None:
    """Restored from last week's backup, a controller numbers its next passages from the
    backup's ids again: same id, another ``at``. Only the very same message is a repeat."""
    hub = CityHub()
    before = passage(5)
    after_restore = Event(
        "passage",
        {**before.data, "at": "2026-12-03T08:00:00+00:00"},
        datetime(2026, 12, 3, 8, 0, tzinfo=UTC),
    )
    assert hub.take(*wire(before, "east")) is not None
    assert hub.take(*wire(after_restore, "east")) is not None
    assert hub.take(*wire(after_restore, "east")) is None  # QoS 1 re-sent it
    assert (hub.totals()["passages"], hub.totals()["repeats_dropped"]) == (2, 1)


def test_alarms_without_an_id_are_each_new_and_a_gate_fault_is_listed() -> None:
    hub = CityHub()
    alarm = Event(
        "alarm", {"id": None, "kind": "hardware_fault", "gate_id": "main-in", "passage_id": None}
    )
    first = hub.take(*wire(alarm, "east"))
    second = hub.take(*wire(alarm, "east"))
    assert first is not None and second is not None and hub.totals()["alarms"] == 2
    hub.take(
        *wire(Event("gate", {"gate_id": "main-in", "state": "fault", "fault": "no answer"}), "east")
    )
    assert hub.totals()["gates_in_fault"] == ["east/main-in"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"schema": "parkgate.passage/2", "id": 5}).encode(), "reads version 1"),
        (json.dumps({"schema": "parkgate.alarm/1", "id": 5}).encode(), "schema"),
        (json.dumps({"schema": "parkgate.passage/1"}).encode(), "passage without an id"),
        # Deeper than Python's recursion limit: json.loads raised RecursionError, which ended
        # the hub's MQTT thread while the hub went on logging a frozen picture.
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
    ids=["not_json", "not_object", "next_major", "wrong_kind", "no_id", "nested_too_deep"],
)
def test_what_a_hub_cannot_read_is_refused_and_said_once(
    body: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    hub = CityHub()
    assert hub.take("parkgate/east/passages", body) is None
    assert hub.take("parkgate/east/passages", body) is None
    assert hub.refused == 2 and hub.totals()["passages"] == 0
    said = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(said) == 1 and why in said[0]


@pytest.mark.parametrize(
    "body",
    [
        {"zones": []},
        {"zones": [], "total_capacity": "40", "total_free": 31},
        {"zones": [], "total_capacity": None, "total_free": None},
    ],
    ids=["totals_missing", "not_a_number", "nulls"],
)
def test_an_availability_the_hub_cannot_add_up_is_refused(body: dict[str, object]) -> None:
    """The city summary runs on the hub's main loop: one community's bad message must not
    stop it (a KeyError there ended the hub)."""
    hub = CityHub()
    hub.take(*wire(availability(40, 31), "east"))
    payload = {
        "schema": "parkgate.availability/1",
        "community": "west",
        "at": T0.isoformat(),
        **body,
    }
    assert hub.take("parkgate/west/availability", json.dumps(payload).encode()) is None
    assert hub.refused == 1
    assert (hub.totals()["total_capacity"], hub.totals()["total_free"]) == (40, 31)
    assert (
        hub.summary_lines()[1] == "west: status unknown, availability unknown, 0 passages, 0 alarms"
    )


def third_party(topic: str, **change: Any) -> tuple[str, bytes]:
    """East's passage 1, alarm 1, availability or gate state with ``change`` made, as another
    publisher on the city's topic tree might send it."""
    kind = topic.split("/")[0]
    event = {
        "passages": passage(1),
        "availability": availability(40, 31),
        "alarms": Event(
            "alarm", {"id": 1, "kind": "blocked_plate", "gate_id": "main-in", "passage_id": 1}, T0
        ),
        "gates": Event("gate", {"gate_id": "main-in", "state": "fault", "fault": "x"}, T0),
    }[kind]
    _topic, body = wire(event, "east")
    payload = {
        key: value for key, value in {**json.loads(body), **change}.items() if value is not DROP
    }
    return f"parkgate/east/{topic}", json.dumps(payload).encode()


DROP = object()


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (third_party("passages", community="west"), "its community is not the topic's"),
        (third_party("passages", community=DROP), "its community is not the topic's"),
        (third_party("passages", id=True), "passage without an id"),  # JSON true, not 1
        (third_party("passages", id=0), "passage without an id"),
        (third_party("passages", at=DROP), "passage without its time of emission"),
        (third_party("passages", at=5), "passage without its time of emission"),
        (third_party("alarms", id="7"), "alarm id neither"),
        (third_party("alarms", id=-1), "alarm id neither"),
        (third_party("availability", total_capacity=True), "availability without its totals"),
        (third_party("availability", total_free=-5), "availability without its totals"),
        (third_party("gates/main-in/state", state=["fault"]), "gate message without a state"),
    ],
    ids=[
        "other_community",
        "no_community",
        "id_true",
        "id_0",
        "no_at",
        "at_number",
        "alarm_id_text",
        "alarm_id_negative",
        "capacity_true",
        "free_negative",
        "state_list",
    ],
)
def test_what_another_publisher_on_the_topic_tree_sends_wrong_is_refused(
    message: tuple[str, bytes], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Such a message counted as a passage or alarm each time it came (an alarm id "7" was
    never de-duplicated), put its own community into the record, or skewed the city's totals
    (JSON true was a capacity of 1)."""
    hub = CityHub()
    hub.take(*wire(availability(40, 31), "east"))
    assert hub.take(*message) is None and hub.take(*message) is None
    totals = hub.totals()
    assert (totals["passages"], totals["alarms"], totals["refused"]) == (0, 0, 2)
    assert (totals["total_capacity"], totals["total_free"], totals["gates_in_fault"]) == (
        40,
        31,
        [],
    )
    said = [r.getMessage() for r in caplog.records if "from east refused" in r.getMessage()]
    assert len(said) == 1 and why in said[0]


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("parkgate//passages", third_party("passages", community="")),
        ("parkgate/east/gates/main-in/fault", third_party("gates/main-in/state")),
    ],
    ids=["no_community", "not_a_state_topic"],
)
def test_topics_outside_the_schema_are_ignored(topic: str, message: tuple[str, bytes]) -> None:
    """A passage under an empty community level was counted; any third level under gates/
    was taken as the gate's state."""
    hub = CityHub()
    assert hub.take(topic, message[1]) is None
    totals = hub.totals()
    assert (totals["passages"], totals["gates_in_fault"], totals["refused"]) == (0, [], 0)


def test_a_board_or_screen_on_the_same_broker_is_no_community() -> None:
    """Found running the hub beside the demo, whose free-space board publishes to its default
    parkgate/display/<zone> on the city broker: the hub counted "display" as a community
    (city: 2 communities (1 online)) and listed it with no status or availability."""
    hub = CityHub()
    topic, body = wire(Event("availability", {"zones": [{"id": "A", "capacity": 40,
                                                        "free": 31}],
                                              "total_capacity": 40, "total_free": 31}), "east")
    assert hub.take(topic, body) is None
    assert hub.take("parkgate/display/A", b"31") is None
    assert hub.take("parkgate/display/B", b"20") is None
    screen = {"schema": "parkgate.screen/1", "gate_id": "main-in", "seq": 1, "mode": "idle"}
    assert hub.take("parkgate/screens/main-in", json.dumps(screen).encode()) is None
    totals = hub.totals()
    assert (totals["communities"], totals["total_free"], totals["refused"]) == (1, 31, 0)
    assert list(hub.communities) == ["east"]


def test_a_minor_version_and_unknown_fields_are_read() -> None:
    hub = CityHub()
    topic, body = wire(passage(7), "east")
    payload = {**json.loads(body), "schema": "parkgate.passage/1.3", "lane": 2}
    accepted = hub.take(topic, json.dumps(payload).encode())
    assert accepted is not None and accepted.payload["id"] == 7


def test_other_topics_under_the_prefix_and_other_prefixes_are_ignored() -> None:
    hub = CityHub("city/parkgate")
    topic, body = wire(passage(1), "east")
    assert hub.take(topic, body) is None  # parkgate/east/…: not this hub's prefix
    assert hub.take("city/parkgate/east/passages", body) is not None
    assert hub.take("city/parkgate/east/something/else", b"{}") is None
    assert hub.refused == 0


@pytest.mark.broker
def test_two_controllers_through_a_real_broker_into_one_hub(tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    hub = CityHub()
    stop, subscribed = threading.Event(), threading.Event()
    out = (tmp_path / "hub.jsonl").open("w", encoding="utf-8")
    thread = threading.Thread(
        target=run_hub,
        args=(hub, "127.0.0.1", broker.port),
        kwargs={
            "client_id": "hub-test",
            "out": out,
            "every_s": 60.0,
            "stop": stop,
            "subscribed": subscribed,
        },
    )
    thread.start()
    assert subscribed.wait(10), "the hub did not subscribe"

    def controller(name: str) -> CityPublisher:
        config = MqttPublishConfig(enabled=True, port=broker.port)
        return CityPublisher(config, name, EventBus())

    async def scenario() -> None:
        east, west = controller("east"), controller("west")
        for publisher in (east, west):
            await publisher.start()
        east.publish(availability(40, 30))
        west.publish(availability(20, 20))
        for n in (1, 2):
            east.publish(passage(n))
        east.publish(passage(2))  # sent twice, as after a restart
        west.publish(passage(1))
        deadline = time.monotonic() + 10
        while (hub.totals()["passages"], hub.totals()["repeats_dropped"]) != (3, 1):
            assert time.monotonic() < deadline, hub.totals()
            await asyncio.sleep(0.05)
        for publisher in (east, west):
            await publisher.stop()
        # The broker hands the stops' offline on after stop() returns: the hub's thread must
        # not end before it has them.
        deadline = time.monotonic() + 10
        while hub.totals()["online"] != 0:
            assert time.monotonic() < deadline, hub.totals()
            await asyncio.sleep(0.05)

    try:
        asyncio.run(scenario())
    finally:
        stop.set()
        thread.join(10)
        out.close()
        broker.stop()
    totals = hub.totals()
    assert (totals["communities"], totals["total_capacity"], totals["total_free"]) == (2, 60, 50)
    assert totals["online"] == 0  # both stopped: their "offline" arrived
    lines = [json.loads(line) for line in (tmp_path / "hub.jsonl").read_text("utf-8").splitlines()]
    assert sorted((r["community"], r["id"]) for r in lines) == [
        ("east", 1),
        ("east", 2),
        ("west", 1),
    ]
    assert all(r["plate"] == "闽A1***5" for r in lines)


@pytest.mark.broker
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "systemd"])
def test_the_command_records_what_arrives_and_stops_cleanly_on_a_signal(
    tmp_path: Path, stop_signal: int
) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    out = tmp_path / "hub.jsonl"
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()
    try:
        # Retained: the hub gets it whenever it subscribes.
        sender.publish(*wire(availability(40, 12), "east"), qos=1, retain=True).wait_for_publish(5)
        hub = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "main.py"),
                "city-hub",
                "--port",
                str(broker.port),
                "--out",
                str(out),
                "--every",
                "0.5",
                "--duration",
                "60",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert hub.stderr is not None
        log = ""
        while "city hub subscribed to parkgate/+/#" not in log:
            line = hub.stderr.readline()
            assert line, log  # the command ended before it subscribed
            log += line
        sender.publish(*wire(passage(9), "east"), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 30
        while not (out.exists() and out.read_text("utf-8").endswith("\n")):
            assert time.monotonic() < deadline, "the passage was not recorded"
            time.sleep(0.05)
        hub.send_signal(stop_signal)  # Ctrl-C or systemctl stop: a clean stop with a summary
        _, rest = hub.communicate(timeout=60)
        log += rest
    finally:
        sender.loop_stop()
        broker.stop()
    assert hub.returncode == 0, log
    assert "city: 1 communities (0 online), 12/40 spaces free, 1 passages" in log
    assert [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()] == [9]


def test_the_command_refuses_a_bad_port_with_a_line() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "city-hub", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "a port is 1-65535, got 70000" in done.stderr


class BrokenOn(CityHub):
    """A hub with a fault of its own on one topic: whatever escapes take()."""

    def take(self, topic: str, payload: bytes, *, controller: str | None = None) -> Any:
        if topic.endswith("/poison/passages"):
            raise RecursionError("as json.loads did on a deeply nested message")
        return super().take(topic, payload, controller=controller)


@pytest.mark.broker
def test_a_message_the_hub_trips_on_is_dropped_and_the_hub_reads_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception out of take() ended paho's network thread: the hub went on logging the
    same totals, read nothing more, and the unacknowledged message came back at each start."""
    broker = PrivateBroker(tmp_path)
    broker.start()
    hub, stop, subscribed = BrokenOn(), threading.Event(), threading.Event()
    out = io.StringIO()
    thread = threading.Thread(
        target=run_hub,
        args=(hub, "127.0.0.1", broker.port),
        kwargs={
            "client_id": "hub-poison",
            "out": out,
            "every_s": 60.0,
            "stop": stop,
            "subscribed": subscribed,
        },
    )
    thread.start()
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()
    try:
        assert subscribed.wait(10), "the hub did not subscribe"
        sender.publish("parkgate/poison/passages", b"{}", qos=1).wait_for_publish(5)
        sender.publish(*wire(passage(4), "east"), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while hub.totals()["passages"] < 1:
            assert time.monotonic() < deadline, "the hub read nothing after the bad message"
            time.sleep(0.05)
    finally:
        sender.loop_stop()
        stop.set()
        thread.join(10)
        broker.stop()
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [4]
    assert hub.refused == 1
    assert any(
        "message on parkgate/poison/passages could not be read" in r.getMessage()
        for r in caplog.records
    )


class FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


@pytest.mark.broker
def test_a_record_that_cannot_be_written_stops_the_hub_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()

    def hub_run(out: Any, send: list[int], passages: int) -> tuple[bool, CityHub]:
        """A hub on the one session until it stopped by itself or took ``passages``."""
        hub, stop, subscribed = CityHub(), threading.Event(), threading.Event()
        result: list[bool] = []
        thread = threading.Thread(
            target=lambda: result.append(
                run_hub(
                    hub,
                    "127.0.0.1",
                    broker.port,
                    client_id="hub-disk",
                    out=out,
                    every_s=60.0,
                    stop=stop,
                    subscribed=subscribed,
                )
            )
        )
        thread.start()
        try:
            assert subscribed.wait(10), "the hub did not subscribe"
            for n in send:
                sender.publish(*wire(passage(n), "east"), qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 10
            while thread.is_alive() and hub.totals()["passages"] < passages:
                assert time.monotonic() < deadline, hub.totals()
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(10)
        return result[0], hub

    try:
        # The first write fails: the hub stops by itself, acknowledging neither passage.
        failed, _ = hub_run(FullDisk(), [1, 2], passages=3)
        good = io.StringIO()
        recovered, _ = hub_run(good, [], passages=2)  # the broker hands both over again
    finally:
        sender.loop_stop()
        broker.stop()
    assert failed is False and recovered is True
    assert any("cannot write the record" in r.getMessage() for r in caplog.records)
    assert [json.loads(line)["id"] for line in good.getvalue().splitlines()] == [1, 2]
