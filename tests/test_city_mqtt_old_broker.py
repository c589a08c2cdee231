"""The city feed to a broker that knows no MQTT 5: Mosquitto behind a version gate.

The controller speaks MQTT 5 so that its status can name it (docs/mqtt.md, "status"). A city
broker older than MQTT 5 refuses that connection; without a fall-back an upgraded controller
would stop feeding it until someone set ``mqtt.protocol``. With ``auto`` (the default) it falls
back to 3.1.1 by itself and the feed goes on; with ``5`` the link stays down and the log says
which setting brings it back.

No broker older than MQTT 5 installs here (Debian's Mosquitto is 2.0; amqtt, the one pip has,
drops an MQTT 5 CONNECT without the answer the standard asks for), so the test's broker is a
real Mosquitto behind a gate that does what MQTT 3.1.1 section 3.1.2.2 requires of a server
that does not support the protocol level asked for: CONNACK with return code 1, then close.
Every other connection is passed through to Mosquitto byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
import pytest

from controllers.events import EventBus
from services.city_mqtt import CityPublisher
from settings import MqttPublishConfig
from tests.private_broker import PrivateBroker
from tests.test_city_hub import availability

NAME = "阳光花园"
IDENT = "aaaaaaaaaaaa"
REFUSED_PROTOCOL_LEVEL = bytes([0x20, 0x02, 0x00, 0x01])  # CONNACK, return code 1


def _read_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _first_packet(conn: socket.socket) -> tuple[bytes, int]:
    """The client's CONNECT as read, and the protocol level it asks for."""
    header = _read_exactly(conn, 1)
    length, shift = 0, 0
    while True:  # the remaining length, 7 bits a byte
        byte = _read_exactly(conn, 1)
        header += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    body = _read_exactly(conn, length)
    name_length = int.from_bytes(body[:2], "big")
    return header + body, body[2 + name_length]


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class PreMqtt5Gate:
    """Listens on a port of its own; refuses MQTT 5 as an old broker must, passes 3.1.1 on."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                packet, level = _first_packet(conn)
            except (ConnectionError, IndexError):
                return
            if level == 5:
                self.refused += 1
                conn.sendall(REFUSED_PROTOCOL_LEVEL)
                return
            with socket.create_connection(("127.0.0.1", self._upstream)) as upstream:
                upstream.sendall(packet)
                back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
                back.start()
                _pump(conn, upstream)
                back.join(10)

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def old_broker(tmp_path: Path) -> Iterator[PreMqtt5Gate]:
    broker = PrivateBroker(tmp_path)
    broker.start()
    gate = PreMqtt5Gate(broker.port)
    try:
        yield gate
    finally:
        gate.close()
        broker.stop()


class Heard:
    """A hub of before MQTT 5: subscribes with 3.1.1 and notes each message's topic and body."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, str]] = []
        self.subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.on_connect = lambda c, *_: c.subscribe("parkgate/#", qos=1)
        self._client.on_subscribe = lambda *_: self.subscribed.set()
        self._client.on_message = self._message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.append((message.topic, message.payload.decode()))

    def topics(self) -> list[str]:
        return [topic.rsplit("/", 1)[-1] for topic, _ in self.messages]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def heard(old_broker: PreMqtt5Gate) -> Iterator[Heard]:
    heard = Heard(old_broker.port)
    assert heard.subscribed.wait(10), "the 3.1.1 subscriber did not subscribe"
    yield heard
    heard.close()


def controller(port: int, protocol: Literal["auto", "5"]) -> CityPublisher:
    config = MqttPublishConfig(enabled=True, port=port, protocol=protocol,
                               reconnect_min_s=0.2, reconnect_max_s=1.0)
    return CityPublisher(config, NAME, EventBus(), controller=IDENT)


async def until(done: Callable[[], bool], what: Callable[[], object], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.02)


@pytest.mark.broker
def test_an_upgraded_controller_feeds_an_old_broker_by_falling_back_to_mqtt_3(
    old_broker: PreMqtt5Gate, heard: Heard, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused as MQTT 5, the controller connects as 3.1.1: the hub hears its status and its
    availability, and its ``offline`` at the stop; one WARNING says why the status names no
    controller there."""
    publisher = controller(old_broker.port, "auto")

    async def scenario() -> None:
        with caplog.at_level(logging.WARNING, logger="services.city_mqtt"):
            await publisher.start()
            await until(lambda: publisher.status.connected, lambda: caplog.text)
            publisher.publish(availability(40, 30))
            await until(lambda: "availability" in heard.topics(), heard.topics)
            await publisher.stop()
            await until(lambda: heard.messages[-1] == (f"parkgate/{NAME}/status", "offline"),
                        lambda: heard.messages)

    asyncio.run(scenario())
    assert old_broker.refused == 1  # MQTT 5 asked for once, then 3.1.1 only
    assert (f"parkgate/{NAME}/status", "online") in heard.messages
    fell_back = [r for r in caplog.records if "falling back to 3.1.1" in r.getMessage()]
    assert len(fell_back) == 1, caplog.text
    assert "unreachable" not in caplog.text  # not an outage: the broker is there


@pytest.mark.broker
def test_a_controller_held_to_mqtt_5_says_which_setting_an_old_broker_needs(
    old_broker: PreMqtt5Gate, heard: Heard, caplog: pytest.LogCaptureFixture
) -> None:
    """``mqtt.protocol: "5"``: no fall-back, so the link stays down, and its line names the
    setting instead of leaving the operator with paho's reason alone."""
    publisher = controller(old_broker.port, "5")

    async def scenario() -> None:
        with caplog.at_level(logging.WARNING, logger="services.city_mqtt"):
            await publisher.start()
            await until(lambda: "mqtt.protocol" in caplog.text, lambda: caplog.text)
            await asyncio.sleep(1.0)  # a few reconnects: still refused
            assert not publisher.status.connected
            await publisher.stop()

    asyncio.run(scenario())
    assert "Unsupported protocol version" in caplog.text
    assert old_broker.refused >= 2  # it kept trying MQTT 5, as told
    assert heard.messages == []
