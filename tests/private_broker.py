"""A Mosquitto of a test's own, which the test may stop and start again (the shared broker on
1883 must never be stopped), and a hub client on it that keeps its session across restarts."""

from __future__ import annotations

import json
import os
import pwd
import queue
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

Received = tuple[str, Any, bool]  # topic, JSON body (or the raw text), retain flag


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateBroker:
    """Persistence is on and the broker is stopped with SIGTERM, so it saves its sessions: a
    hub subscribed with a persistent session gets, after a restart, the QoS 1 messages sent
    while it was not connected, whoever reconnects first."""

    def __init__(self, directory: Path) -> None:
        exe = shutil.which("mosquitto")
        if exe is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
        self.exe = exe
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            # Mosquitto drops QoS 1 messages past 1000 queued for one subscriber by default: a
            # hub test fed thousands at once on a loaded CI machine lost some to that, which is
            # the broker's setting, not parkgate's delivery (docs/mqtt.md tells hub operators).
            "max_queued_messages 0\n"
            f"persistence_location {directory}/\n"
            # Started as root, mosquitto would run as the user "mosquitto", which cannot write
            # the test's private directory: the sessions would not be saved.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None, "broker already running"
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


class Hub:
    """A city hub: a persistent session subscribed to ``topic`` that reconnects by itself and,
    as docs/mqtt.md asks of a hub, drops a passage or alarm whose ``id`` it already has (QoS 1
    is at least once: a broker stopped before it saw the hub's PUBACK hands the message again
    after its restart). ``repeats`` counts what was dropped."""

    def __init__(self, port: int, topic: str) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"hub-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]

        self.subscribed = threading.Event()
        self.connects: list[bool] = []
        self.repeats = 0
        seen: set[tuple[str, Any, Any]] = set()

        def on_connect(client: mqtt.Client, _u: Any, flags: Any, *_: Any) -> None:
            # Subscribing again would replay retained messages; the session keeps the first.
            self.connects.append(bool(flags.session_present))
            if not flags.session_present:
                client.subscribe(topic, qos=1)

        self.client.on_subscribe = lambda *_: self.subscribed.set()

        def on_message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
            text = m.payload.decode()
            body = json.loads(text) if text.startswith("{") else text
            # An alarm raised during an outage has no id yet: each such one is new.
            if isinstance(body, dict) and body.get("id") is not None and not m.retain:
                key = (m.topic, body["id"], body.get("at"))
                if key in seen:
                    self.repeats += 1
                    return
                seen.add(key)
            self.received.put((m.topic, body, bool(m.retain)))

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(5), "the hub could not subscribe"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(port: int, topic: str, timeout: float = 5.0) -> Any:
    """The retained message on ``topic`` as a hub connecting now would get it."""
    got: queue.Queue[Any] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, m: got.put(json.loads(m.payload) if m.retain else None)
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        return got.get(timeout=timeout)
    finally:
        client.disconnect()
        client.loop_stop()
