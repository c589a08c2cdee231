"""Per-space sensor feeds: the real one (MQTT) and a simulated one for the demo.

Both hand raw payloads (schema in docs/parking.md) and their topic to one ``ingest``
callback, so the simulated feed exercises the same parsing, checks and counters as the
broker does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from models.base import utcnow
from services.parking_config import SpaceSensorMqttConfig
from task_cancel import cancel_and_wait

logger = logging.getLogger(__name__)

IngestFn = Callable[[bytes, str | None], object]


class SpaceSensorFeed(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def topic_for(topic_filter: str, space_id: str) -> str:
    """The concrete topic a sensor of ``space_id`` publishes to under ``topic_filter``."""
    return topic_filter.replace("+", space_id, 1)


class MqttSpaceSensors:
    """Subscribes to the sensors' topic; paho's network thread calls ``ingest``."""

    def __init__(self, config: SpaceSensorMqttConfig, topic: str, ingest: IngestFn) -> None:
        self._config = config
        self.topic = topic
        self._ingest = ingest
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            # Unique per process: a second instance with the same id would kick this one off.
            client_id=f"parkgate-spaces-{secrets.token_hex(4)}",
        )
        if config.username:
            password = config.password.get_secret_value() if config.password else None
            self._client.username_pw_set(config.username, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._where = f"{config.host}:{config.port}"
        # One line per outage, not one per retry: paho retries every 1-30 s for as long as it
        # lasts. The sensors' spaces go stale meanwhile (sensor_max_age_s), so it must be said.
        self._down_said: str | None = None
        self._stopping = False
        self._refusal_closing = False

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            # A wrong password or a client the broker's ACL refuses: paho retries, and so
            # does every retry fail until the configuration is mended.
            self._went_down(f"refused the connection ({reason}): check "
                            "parking.sensors' username and password", logging.ERROR)
            self._refusal_closing = True
            return
        # Subscribing on every connect restores the subscription after a broker restart.
        client.subscribe(self.topic, qos=self._config.qos)
        logger.info(
            "space sensors: subscribed to %s on %s%s", self.topic, self._where,
            " (the link is back)" if self._down_said else "",
        )
        self._down_said = None

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._went_down("unreachable", logging.WARNING)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if self._refusal_closing:  # the broker closing the connection it refused
            self._refusal_closing = False
        elif not self._stopping:
            self._went_down(f"lost the link ({reason})", logging.WARNING)

    def _went_down(self, what: str, level: int) -> None:
        if self._down_said == what:
            return
        self._down_said = what
        logger.log(
            level, "space sensors: broker %s %s; retrying. Their spaces show as unknown once "
            "their last reading is older than staleness.sensor_max_age_s", self._where, what,
        )

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._ingest(bytes(message.payload), message.topic)  # typed bytes | bytearray
        except Exception:  # never let one payload kill paho's network thread
            logger.exception("space sensor payload on %s crashed the handler", message.topic)

    async def start(self) -> None:
        # connect_async + loop_start: paho keeps retrying in its thread while the broker is down.
        self._client.connect_async(self._config.host, self._config.port, keepalive=30)
        self._client.loop_start()

    async def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()


class SimulatedSpaceSensors:
    """A car park that lives a little: sensors report, heartbeat, and now and then a car
    arrives or leaves. For the demo community and development; a complete feed (timestamps,
    heartbeats, the real payload schema), not a test stub.
    """

    def __init__(
        self,
        space_ids: Sequence[str],
        topic_filter: str,
        ingest: IngestFn,
        *,
        occupied_share: float = 0.35,
        change_every_s: float = 30.0,
        heartbeat_s: float = 300.0,
        seed: int = 7,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._ids = list(space_ids)
        self._topic_filter = topic_filter
        self._ingest = ingest
        self._random = random.Random(seed)
        self._change_every_s = change_every_s
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self.occupied = {sid: self._random.random() < occupied_share for sid in self._ids}
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def report(self, space_id: str) -> None:
        payload = {
            "space": space_id,
            "occupied": self.occupied[space_id],
            "ts": self._clock().isoformat(),
            "battery": 90,
        }
        self._ingest(json.dumps(payload).encode(), topic_for(self._topic_filter, space_id))
        self.sent += 1

    async def _run(self) -> None:
        for sid in self._ids:
            self.report(sid)
        since_heartbeat = 0.0
        while self._ids:
            await asyncio.sleep(self._change_every_s)
            sid = self._random.choice(self._ids)
            self.occupied[sid] = not self.occupied[sid]
            self.report(sid)
            since_heartbeat += self._change_every_s
            if since_heartbeat >= self._heartbeat_s:
                since_heartbeat = 0.0
                for other in self._ids:
                    self.report(other)

    async def start(self) -> None:
        logger.info("space sensors: simulated feed for %d spaces", len(self._ids))
        self._task = asyncio.create_task(self._run(), name="simulated-space-sensors")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
