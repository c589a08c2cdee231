"""Publishes the community's events and availability to MQTT for a city platform.

Topics (``<prefix>`` defaults to ``parkgate``, ``<community>`` is the configured name):

    <prefix>/<community>/availability          retained, schema parkgate.availability/1
    <prefix>/<community>/passages              schema parkgate.passage/1
    <prefix>/<community>/alarms                schema parkgate.alarm/1
    <prefix>/<community>/gates/<gate_id>/state retained, schema parkgate.gate/1
    <prefix>/<community>/status                retained "online"/"offline" (last will)

Plates are personal information: unless ``publish_plates`` is on, a passage carries a masked
plate (闽A1***5) so the hub can count and de-duplicate without learning who came home.
The full schema is documented in docs/mqtt.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import paho.mqtt.client as mqtt

from controllers.barrier import BarrierState
from controllers.events import Event, EventBus
from settings import MqttPublishConfig

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
GATE_STATES = frozenset(str(state) for state in BarrierState)


def mask_plate(plate: str | None) -> str | None:
    if not plate:
        return None
    if len(plate) <= 4:
        return plate[:1] + "*" * (len(plate) - 1)
    return plate[:3] + "*" * (len(plate) - 4) + plate[-1]


def to_message(
    event: Event, community: str, *, publish_plates: bool
) -> tuple[str, dict[str, Any], bool] | None:
    """(topic suffix, payload, retain) for an event, or None for events not published."""
    data = event.data
    base = {"community": community, "at": event.at.isoformat()}
    if event.type == "availability":
        zones = [
            {"id": z["id"], "capacity": z["capacity"], "free": z["free"]}
            for z in data.get("zones", [])
        ]
        payload = {
            "schema": f"parkgate.availability/{SCHEMA_VERSION}",
            **base,
            "zones": zones,
            "total_capacity": data.get("total_capacity"),
            "total_free": data.get("total_free"),
        }
        return "availability", payload, True
    if event.type == "passage":
        plate = data.get("plate")
        payload = {
            "schema": f"parkgate.passage/{SCHEMA_VERSION}",
            **base,
            "id": data.get("id"),
            "time": data.get("at"),
            "gate_id": data.get("gate_id"),
            "direction": data.get("direction"),
            "zone_id": data.get("zone_id"),
            "plate": plate if publish_plates else mask_plate(plate),
            "plate_color": data.get("plate_color"),
            "decision": data.get("decision"),
            "reason": data.get("reason"),
            "credential": data.get("credential"),
        }
        return "passages", payload, False
    if event.type == "alarm":
        payload = {
            "schema": f"parkgate.alarm/{SCHEMA_VERSION}",
            **base,
            "id": data.get("id"),
            "kind": data.get("kind"),
            "gate_id": data.get("gate_id"),
            "passage_id": data.get("passage_id"),
        }
        return "alarms", payload, False
    if event.type == "gate":
        if data.get("state") not in GATE_STATES:
            # The safety supervisor's "recovered" notice carries no state: the status change
            # that cleared the fault was published already, with the real state. A retained
            # null would overwrite it for every hub until the next movement.
            return None
        gate_id = data.get("gate_id")
        payload = {
            "schema": f"parkgate.gate/{SCHEMA_VERSION}",
            **base,
            "gate_id": gate_id,
            "state": data.get("state"),
            "fault": data.get("fault"),
        }
        return f"gates/{gate_id}/state", payload, True
    return None


class CityPublisher:
    """Background component: bus → MQTT. A broker outage never blocks a gate."""

    def __init__(
        self, config: MqttPublishConfig, community: str, bus: EventBus, *,
        publish_plates: bool = False, initial: dict[str, Any] | None = None,
    ) -> None:
        self._config = config
        self._community = community
        self._bus = bus
        self._publish_plates = publish_plates
        self._initial = initial
        self._prefix = f"{config.topic_prefix.rstrip('/')}/{community}"
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"parkgate-{community}"[:64]
        )
        if config.username:
            password = config.password.get_secret_value() if config.password else None
            self._client.username_pw_set(config.username, password)
        self._client.will_set(f"{self._prefix}/status", "offline", qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.publish(f"{self._prefix}/status", "online", qos=1, retain=True)
        logger.info("city MQTT connected to %s:%d", self._config.host, self._config.port)

    async def start(self) -> None:
        # connect_async + loop_start: the network thread keeps retrying if the broker is down.
        self._client.connect_async(self._config.host, self._config.port, keepalive=30)
        self._client.loop_start()
        self._task = asyncio.create_task(self._pump(), name="city-mqtt")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        info = self._client.publish(f"{self._prefix}/status", "offline", qos=1, retain=True)
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(timeout=1.0)
        self._client.disconnect()
        self._client.loop_stop()

    async def _pump(self) -> None:
        async with self._bus.subscribe() as queue:
            if self._initial is not None:
                self.publish(Event("availability", self._initial))
            while True:
                self.publish(await queue.get())

    def publish(self, event: Event) -> None:
        message = to_message(event, self._community, publish_plates=self._publish_plates)
        if message is None:
            return
        suffix, payload, retain = message
        body = json.dumps(payload, ensure_ascii=False)
        # QoS 1 messages are queued by paho while the broker is away and sent on reconnect.
        self._client.publish(f"{self._prefix}/{suffix}", body, qos=1, retain=retain)
        self.published += 1
