"""Lane screens on every driver: the MQTT screen against the real Mosquitto on 127.0.0.1:1883,
the HTTP screen against a real local HTTP server, the simulated one with its faults; and
the screen configuration's refusals."""

from __future__ import annotations

import asyncio
import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from jsonschema import Draft202012Validator
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import TypeAdapter, ValidationError

from errors import HardwareError, HardwareUnavailableError
from hardware.base import GateScreen, ScreenLevel, ScreenMessage
from hardware.config import ScreenConfig
from hardware.registry import create_screen
from hardware.simulated import SimulatedScreen
from tests.hardware.rigs import free_port

SCREEN_CONFIG: TypeAdapter[Any] = TypeAdapter(ScreenConfig)
SCHEMA = Draft202012Validator(json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "parkgate.screen.v1.json")
    .read_text(encoding="utf-8")
))
WELCOME = ScreenMessage(("闽A·12345", "欢迎回家"), ScreenLevel.OK, "欢迎回家", 7, seq=1)
IDLE = ScreenMessage(("余位 23",), seq=2)


def broker_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def listener() -> Iterator[tuple[str, queue.Queue[tuple[str, dict[str, Any], int, bool]]]]:
    """A client of the shared broker on a topic of this test's own."""
    if not broker_up():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883 (.ci/run starts it)")
    prefix = f"parkgate-test/{uuid.uuid4().hex}"
    received: queue.Queue[tuple[str, dict[str, Any], int, bool]] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, msg: received.put(
        (msg.topic, json.loads(msg.payload), msg.qos, bool(msg.retain))
    )
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    assert subscribed.wait(5), "the test client could not subscribe"
    yield prefix, received
    client.loop_stop()
    client.disconnect()


def test_mqtt_screen_publishes_each_message_in_order_on_its_gate_topic(
    listener: tuple[str, queue.Queue[tuple[str, dict[str, Any], int, bool]]],
) -> None:
    prefix, received = listener
    config = SCREEN_CONFIG.validate_python(
        {"driver": "mqtt", "host": "127.0.0.1", "topic": f"{prefix}/lane/{{gate_id}}"}
    )
    screen = create_screen("main-in", config)
    assert isinstance(screen, GateScreen)

    async def scenario() -> None:
        await screen.start()
        try:
            await screen.conn.wait_connected(5)  # type: ignore[attr-defined]
            await screen.show(WELCOME)
            await screen.clear(IDLE)
        finally:
            await screen.stop()

    asyncio.run(scenario())
    first = received.get(timeout=5)
    second = received.get(timeout=5)
    assert first[0] == f"{prefix}/lane/main-in"
    _topic, body, qos, retained = first
    assert (qos, retained) == (1, False)
    SCHEMA.validate(body)
    assert body | {"at": None} == {
        "schema": "parkgate.screen/1", "gate_id": "main-in", "seq": 1, "at": None,
        "mode": "message", "level": "ok", "lines": ["闽A·12345", "欢迎回家"],
        "speak": "欢迎回家", "passage_id": 7,
    }
    SCHEMA.validate(second[1])
    assert (second[1]["seq"], second[1]["mode"], second[1]["lines"]) == (2, "idle", ["余位 23"])


def test_mqtt_screen_without_its_broker_refuses_at_once() -> None:
    config = SCREEN_CONFIG.validate_python(
        {"driver": "mqtt", "host": "127.0.0.1", "port": free_port()}
    )
    screen = create_screen("main-in", config)

    async def scenario() -> None:
        await screen.start()
        try:
            started = time.monotonic()
            with pytest.raises(HardwareUnavailableError):
                await screen.show(WELCOME)
            assert time.monotonic() - started < 0.5
        finally:
            await screen.stop()

    asyncio.run(scenario())


class ScreenDevice:
    """A lane screen's web API: keeps what was POSTed; can answer 500 or hang."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.hang = threading.Event()  # set: requests wait until released
        self.release = threading.Event()
        device = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                if device.hang.is_set():
                    device.release.wait(10)
                device.bodies.append({"path": self.path, **body})
                self.send_response(device.status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def device() -> Iterator[ScreenDevice]:
    device = ScreenDevice()
    yield device
    device.close()


def test_http_screen_posts_json_and_reports_refusals_and_time_outs(
    device: ScreenDevice,
) -> None:
    config = SCREEN_CONFIG.validate_python({
        "driver": "http", "url": f"http://127.0.0.1:{device.port}/screens/{{gate_id}}",
        "timeout_s": 0.5,
    })
    screen = create_screen("ped-1", config)

    async def scenario() -> None:
        await screen.start()
        try:
            await screen.show(WELCOME)
            await screen.clear(IDLE)
            device.status = 500
            with pytest.raises(HardwareError, match="status 500"):
                await screen.show(WELCOME)
            device.status = 200
            device.hang.set()
            started = time.monotonic()
            with pytest.raises(HardwareError, match="no answer"):
                await screen.show(WELCOME)
            assert time.monotonic() - started < 2.0
        finally:
            await screen.stop()

    asyncio.run(scenario())
    assert [b["path"] for b in device.bodies[:2]] == ["/screens/ped-1", "/screens/ped-1"]
    for body in device.bodies[:2]:
        SCHEMA.validate({k: v for k, v in body.items() if k != "path"})
    assert device.bodies[0]["lines"] == ["闽A·12345", "欢迎回家"]
    assert device.bodies[1]["mode"] == "idle"


def test_simulated_screen_keeps_what_it_shows_and_has_a_real_screens_faults() -> None:
    async def scenario() -> None:
        screen = SimulatedScreen("main-in")
        await screen.start()
        await screen.show(WELCOME)
        assert screen.shown == WELCOME
        screen.offline = True
        with pytest.raises(HardwareUnavailableError):
            await screen.show(IDLE)
        screen.offline, screen.hung = False, True
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await screen.clear(IDLE)
        assert screen.shown == WELCOME and screen.history == [WELCOME]
        await screen.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"driver": "mqtt", "topic": "lane/{gate}/screen"}, "may use only {gate_id}"),
        ({"driver": "mqtt", "topic": "lane/+/screen"}, "wildcards"),
        ({"driver": "http", "url": "192.168.1.9/screen"}, "http:// or https://"),
        ({"driver": "http", "url": "http://x/{zone_id}"}, "may use only {gate_id}"),
        ({"driver": "sim", "hold_s": 0}, "greater than 0"),
        ({"driver": "sim", "colour": "red"}, "Extra inputs are not permitted"),
        ({"driver": "lcd"}, "does not match any of the expected tags"),
    ],
)
def test_bad_screen_settings_are_refused_with_a_clear_message(
    config: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(words)):
        SCREEN_CONFIG.validate_python(config)


def test_a_gates_screen_setting_names_the_gate_when_wrong(tmp_path: Path) -> None:
    from errors import ConfigError
    from settings import load_settings

    path = tmp_path / "parkgate.yaml"
    path.write_text(
        "community:\n  name: t\n  zones: [{id: A, capacity: 5}]\n  gates:\n"
        "    - {id: north-in, kind: vehicle, direction: in, zone: A,\n"
        "       screen: {driver: http, url: 'ftp://x'}}\n",
        encoding="utf-8",
    )
    with pytest.raises((ConfigError, ValidationError)) as err:
        load_settings(path, data_dir=tmp_path)
    assert "screen" in str(err.value) and "http:// or https://" in str(err.value)


class TakesNothingBroker:
    """An MQTT broker that accepts the connection and answers pings, but never acknowledges a
    publish (hung inside, its disk full): QoS 1 messages pile up unacknowledged."""

    def __init__(self) -> None:
        import socket

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.publishes = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            stream = conn.makefile("rb")
            while True:
                head = stream.read(1)
                if not head:
                    return
                length, shift = 0, 0
                while True:  # the remaining length, a variable-length integer
                    byte = stream.read(1)[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                stream.read(length)
                kind = head[0] >> 4
                if kind == 1:  # CONNECT → CONNACK, accepted
                    conn.sendall(b"\x20\x02\x00\x00")
                elif kind == 12:  # PINGREQ → PINGRESP
                    conn.sendall(b"\xd0\x00")
                elif kind == 3:
                    self.publishes += 1  # and no PUBACK

    def close(self) -> None:
        self.server.close()


def test_mqtt_screen_refuses_rather_than_piles_up_messages_a_broker_never_takes() -> None:
    from hardware.mqtt import SCREEN_MAX_UNACKED

    broker = TakesNothingBroker()
    config = SCREEN_CONFIG.validate_python(
        {"driver": "mqtt", "host": "127.0.0.1", "port": broker.port}
    )
    screen = create_screen("main-in", config)

    async def scenario() -> None:
        await screen.start()
        try:
            await screen.conn.wait_connected(5)  # type: ignore[attr-defined]
            for seq in range(1, SCREEN_MAX_UNACKED + 1):
                await screen.show(ScreenMessage(("闽A·12345",), ScreenLevel.OK, seq=seq))
            with pytest.raises(HardwareUnavailableError, match="failed"):
                await screen.show(WELCOME)
        finally:
            await screen.stop()

    try:
        asyncio.run(scenario())
    finally:
        broker.close()


def test_simulated_devices_remember_a_bounded_history() -> None:
    """The demo runs for days: its simulated screens and boards (and barriers, through the
    same ``remember``) keep the newest SIM_HISTORY things they were sent, not every car's."""
    from hardware.simulated import SIM_HISTORY, SimulatedDisplay, SimulatedScreen

    screen = SimulatedScreen("main-in")
    board = SimulatedDisplay()

    async def many() -> None:
        for n in range(SIM_HISTORY + 5):
            await screen.show(ScreenMessage((f"闽A{n:05d}",), ScreenLevel.OK))
            await board.show("A", n)

    asyncio.run(many())
    assert len(screen.history) == SIM_HISTORY
    assert screen.history[0].lines == ("闽A00005",)
    assert screen.history[-1] == screen.shown
    assert len(board.history) == SIM_HISTORY
    assert board.history[0] == ("A", 5) and board.history[-1] == ("A", SIM_HISTORY + 4)
