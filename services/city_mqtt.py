"""Publishes the community's events and availability to MQTT for a city platform.

Topics (``<prefix>`` defaults to ``parkgate``, ``<community>`` is the configured name):

    <prefix>/<community>/availability          retained, schema parkgate.availability/1
    <prefix>/<community>/passages              schema parkgate.passage/1
    <prefix>/<community>/alarms                schema parkgate.alarm/1
    <prefix>/<community>/gates/<gate_id>/state retained, schema parkgate.gate/1
    <prefix>/<community>/status                retained "online"/"offline" (last will), the
                                               controller id in an MQTT 5 user property

Plates are personal information: unless ``publish_plates`` is on, a passage carries a masked
plate (闽A1***5) so the hub can count and de-duplicate without learning who came home.

While the broker is unreachable messages wait in memory in an ``Outbox``: retained topics keep
only their latest message, passages and alarms keep their order up to ``mqtt.queue_limit``
(beyond it the oldest are dropped and counted). Passages and alarms are also kept on disk until
the broker acknowledges them (``services.city_spool``, ``mqtt.durable_queue``), so a restart or
a crash during an outage sends them at the next start. That file is read in a worker thread
while the gates already answer: what they publish meanwhile is written to it at once and sent
after what it held. The loss and the recovery of the link are logged once per outage;
``CityPublisher.status`` is what /healthz shows.
The full schema and the outage behaviour are documented in docs/mqtt.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from controllers.barrier import BarrierState
from controllers.events import Event, EventBus
from plate_privacy import mask_plate
from services.city_spool import CitySpool, Loaded, Spooled
from settings import MqttPublishConfig
from wall_clock import utcnow

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
GATE_STATES = frozenset(str(state) for state in BarrierState)
# Messages handed to paho and not yet acknowledged by the broker. Only these sit in paho's own
# (unbounded) queue, so a link that dies without a word (noticed only at the keep-alive) cannot
# grow it; the rest wait in the Outbox, where the cap applies. After a reconnect paho re-sends
# these first.
HANDED_MAX = 50
RESEND_WAIT_S = 5.0
# The MQTT 5 user property naming the controller on a status message (docs/mqtt.md).
STATUS_CONTROLLER = "controller"
# paho's reason for the CONNACK of a broker that knows no MQTT 5 (return code 1 of 3.1.1).
UNSUPPORTED_PROTOCOL = "Unsupported protocol version"


def status_properties(controller: str | None, packet: int) -> Properties | None:
    """The properties of a status message (``packet``: PUBLISH, or WILLMESSAGE for the last
    will) naming ``controller``. A property, not a field in the payload: the payload stays the
    plain ``online``/``offline`` every hub reads, and a hub that reads properties can tell
    whose status it is when two controllers publish under one community name."""
    if controller is None:
        return None
    properties = Properties(packet)
    properties.UserProperty = (STATUS_CONTROLLER, controller)
    return properties


def to_message(
    event: Event, community: str, *, publish_plates: bool, controller: str | None = None
) -> tuple[str, dict[str, Any], bool] | None:
    """(topic suffix, payload, retain) for an event, or None for events not published."""
    data = event.data
    base: dict[str, Any] = {"community": community, "at": event.at.isoformat()}
    if controller is not None:
        base["controller"] = controller  # services/controller_id.py
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
            # 挂车 / 双层黄牌 for a hub that counts trailers or large vehicles; a code, additive
            # under docs/mqtt.md's rule that consumers ignore fields they do not know.
            "plate_kind": data.get("plate_kind"),
            "decision": data.get("decision"),
            "reason": data.get("reason"),
            "credential": data.get("credential"),
            # Codes, never personal data: a hub tells a plate a guard typed (its camera dark)
            # or a decision taken offline from an ordinary read.
            "flags": list(data.get("flags") or ()),
        }
        return "passages", payload, False
    if event.type == "alarm":
        if data.get("acknowledged_at") is not None:
            # A guard's acknowledgement, for the other consoles: not a new alarm. Sent with
            # the same id it would overwrite, for a hub that keeps alarms by id, the first
            # message's passage_id.
            return None
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


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    body: str
    retain: bool
    seq: int | None = None  # its number in the spool, for a passage or alarm kept on disk


class Outbox:
    """Messages waiting for the broker, oldest first.

    A retained topic (availability, a gate's state) keeps only its latest message, which moves
    to the back: a hub needs the current value, not the history. Events (passages, alarms) keep
    their order, at most ``limit`` of them; beyond it the oldest is dropped and counted.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.dropped = 0
        self._items: OrderedDict[str | int, Outgoing] = OrderedDict()  # topic or event number
        self._events = 0
        self._numbered = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: Outgoing) -> Outgoing | None:
        """Queue ``message``; returns the event dropped to make room for it, if one was."""
        if message.retain:
            self._items.pop(message.topic, None)
            self._items[message.topic] = message
            return None
        self._numbered += 1
        self._items[self._numbered] = message
        self._events += 1
        if self._events <= self.limit:
            return None
        # Retained entries are few (one per gate and availability), so the oldest event is near.
        oldest = next(key for key in self._items if isinstance(key, int))
        self._events -= 1
        self.dropped += 1
        return self._items.pop(oldest)

    def take(self) -> Outgoing | None:
        if not self._items:
            return None
        key, message = self._items.popitem(last=False)
        if isinstance(key, int):
            self._events -= 1
        return message


def _masked_again(message: Spooled) -> str:
    """A spooled passage as ``publish_plates`` off sends it, whatever the setting was when it
    was queued (masking a masked plate changes nothing)."""
    if not message.topic.endswith("/passages"):
        return message.body
    try:
        payload = json.loads(message.body)
        payload["plate"] = mask_plate(payload.get("plate"))
    except (ValueError, TypeError, AttributeError):
        return message.body
    return json.dumps(payload, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class CityLinkStatus:
    """The city link as /healthz shows it."""

    connected: bool
    since: datetime  # when the link last came up or went down (the start, before the first)
    queued: int  # messages the broker has not acknowledged yet
    dropped: int  # passages and alarms dropped since the start, the queue being full
    queue_limit: int


class CityPublisher:
    """Background component: bus → MQTT. A broker outage never blocks a gate.

    paho's callbacks run on its network thread and only hand over to the event loop, where
    the state lives and every publish is made: paho calls ``on_publish`` holding its message
    lock, so publishing from there could deadlock against a publish from the loop.
    """

    def __init__(
        self, config: MqttPublishConfig, community: str, bus: EventBus, *,
        publish_plates: bool = False, initial: dict[str, Any] | None = None,
        spool: CitySpool | None = None, controller: str | None = None,
    ) -> None:
        self._config = config
        self._controller = controller
        self._where = f"{config.host}:{config.port}"
        self._community = community
        self._bus = bus
        self._publish_plates = publish_plates
        self._initial = initial
        self._spool = spool
        self._syncing = False  # an fsync of the spool is on its way
        self._sync_again = False  # lines appended since that fsync began: another one after it
        self._prefix = f"{config.topic_prefix.rstrip('/')}/{community}"
        mqtt5 = config.protocol != "3.1.1"
        # Only MQTT 5 carries the id on the status (a user property); 3.1.1 is for a broker
        # older than MQTT 5, whose status then names no controller.
        self._status_controller = controller if mqtt5 else None
        self._may_fall_back = config.protocol == "auto"
        self._refusal_closing = False  # fell back: the broker closes the refused connection
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            # The id first: two controllers under one community name must not share a client
            # id (the broker disconnects the older session each time the other connects).
            client_id=(f"parkgate-{controller}-{community}" if controller
                       else f"parkgate-{community}")[:64],
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
        )
        if config.username:
            password = config.password.get_secret_value() if config.password else None
            self._client.username_pw_set(config.username, password)
        # The last will is fixed at connect time; the id is known then, so it names it too.
        self._client.will_set(
            f"{self._prefix}/status", "offline", qos=1, retain=True,
            properties=status_properties(self._status_controller, PacketTypes.WILLMESSAGE),
        )
        # paho annotates these as int but sleeps on floats.
        self._client.reconnect_delay_set(
            min_delay=config.reconnect_min_s,  # type: ignore[arg-type]
            max_delay=config.reconnect_max_s,  # type: ignore[arg-type]
        )
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening: contextlib.ExitStack | None = None
        self._outbox = Outbox(config.queue_limit)
        # The latest message of each retained topic (availability, each gate's state), sent
        # again whenever the link comes back: a broker restarted without its store (no
        # persistence, a crash between autosaves, a new broker) holds none or an old one, and
        # a hub connecting then would read no count, or an old one, until the next change.
        self._retained: dict[str, Outgoing] = {}
        # paho message ids not acknowledged yet, with the spool number of each
        self._handed: dict[int, int | None] = {}
        # While the spool is being read at start: what is published meanwhile, in order, to be
        # queued after what the spool held (None once it is read).
        self._held: list[Outgoing] | None = None
        self._taken_back = asyncio.Event()  # the spool is read and its messages queued
        self._resending = False  # reconnected: paho re-sends what it held; new ones wait
        self._stopping = False
        self._connected = False
        self._since = utcnow()
        self._down_since = time.monotonic()
        self._outage_logged = False  # the WARNING for the current outage was written
        self._outage_dropped_before = 0  # ``dropped`` when the current outage began
        self._full_logged = False  # the WARNING for the current backlog was written
        self.published = 0
        self._status = self._snapshot()

    @property
    def status(self) -> CityLinkStatus:
        """Safe to read from any thread: a snapshot replaced, never changed, on the loop."""
        return self._status

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._spool is None:
            self._taken_back.set()
        else:
            # Not awaited: after a long outage the file holds many MB, and the camera workers
            # and the API start after this; what comes meanwhile waits in _held.
            self._held = []
            self._spool.load_in_background(
                self._take_back, rewrite_body=None if self._publish_plates else _masked_again
            )
        self._since, self._down_since = utcnow(), time.monotonic()
        self._status = self._snapshot()
        # connect_async + loop_start: the network thread keeps retrying if the broker is down.
        self._client.connect_async(self._config.host, self._config.port, keepalive=30)
        self._client.loop_start()
        if self._initial is not None:
            self.publish(Event("availability", self._initial))
        # A listener, not a queue read by a task: a passage is queued (and in the spool) before
        # the camera gets its answer, so a crash right after the answer cannot lose it for the
        # hub, and a burst cannot overflow a subscriber queue.
        self._listening = contextlib.ExitStack()
        self._listening.enter_context(self._bus.listening(self.publish))

    async def taken_back(self) -> None:
        """Until what an earlier run left in the spool is queued (at once without one)."""
        await self._taken_back.wait()

    def _take_back(self, loaded: Loaded) -> None:
        """The spool is read (on the loop, before anything else is added to it): what an
        earlier run left unacknowledged is queued first, then what was published since."""
        held, self._held = self._held or [], None
        try:
            for message in loaded.left:
                self._queue(Outgoing(message.topic, message.body, False, message.seq))
            for waiting in held:
                if waiting.seq is not None:
                    waiting = dataclasses.replace(
                        waiting, seq=loaded.renumbered.get(waiting.seq)
                    )
                self._queue(waiting)
        finally:
            self._taken_back.set()  # stop() waits for it
        if loaded.left and self._spool is not None:
            logger.info(
                "city MQTT: %d passage(s)/alarm(s) left unsent by the last run are queued "
                "again (from %s)", len(loaded.left), self._spool.path,
            )
        self._drain()

    async def stop(self) -> None:
        if self._listening is not None:
            self._listening.close()
            self._listening = None
        if self._loop is not None:
            # What the spool held and what came since are queued before the stop decides
            # what to hand over and what to keep.
            await self._taken_back.wait()
        self._stopping = True
        if self._connected:
            # A clean stop with the broker there loses nothing: hand over all that waits.
            while (message := self._outbox.take()) is not None:
                self._hand(message)
        info = self._publish_status("offline")
        if self._connected:
            # The broker acknowledges in order: "offline" acknowledged, all before it is too.
            with contextlib.suppress(RuntimeError, ValueError):
                await asyncio.to_thread(info.wait_for_publish, 2.0)
            if info.is_published():
                for mid in list(self._handed):
                    self._acked(mid)
        undelivered = len(self._outbox) + len(self._handed)
        if undelivered and self._spool is not None and len(self._spool):
            logger.warning(
                "city MQTT stopping with %d message(s) the broker %s has not taken; the %d "
                "passage(s)/alarm(s) among them are kept in %s and sent at the next start",
                undelivered, self._where, len(self._spool), self._spool.path,
            )
        elif undelivered and self._spool is not None:
            # Nothing in the spool: no passage or alarm waits, only the latest availability
            # and gate states, which are never kept (it said durable_queue was off here).
            logger.warning(
                "city MQTT stopping with %d message(s) the broker %s has not taken, none of "
                "them a passage or alarm kept to send again: the latest availability and gate "
                "states are not kept (the next start publishes availability afresh)",
                undelivered, self._where,
            )
        elif undelivered:
            logger.warning(
                "city MQTT stopping with %d message(s) the broker %s has not taken; they are "
                "not kept across a restart (mqtt.durable_queue is off; the hub re-reads "
                "passages through the API, see docs/mqtt.md)", undelivered, self._where,
            )
        if self._spool is not None:
            self._spool.close()
        self._client.disconnect()
        # loop_stop joins the paho thread; keep that off the event loop.
        await asyncio.to_thread(self._client.loop_stop)
        if self._connected:
            self._connected, self._since = False, utcnow()
        self._status = self._snapshot()

    def publish(self, event: Event) -> None:
        """Queue ``event``'s message and send what the link allows. Call on the event loop."""
        message = to_message(event, self._community, publish_plates=self._publish_plates,
                             controller=self._controller)
        if message is None:
            return
        suffix, payload, retain = message
        body = json.dumps(payload, ensure_ascii=False)
        topic = f"{self._prefix}/{suffix}"
        if retain:
            self._retained[topic] = Outgoing(topic, body, retain)
        seq = None if retain or self._spool is None else self._spool.add(topic, body)
        if seq is not None:
            self._sync_spool_soon()
        if self._held is not None:
            # On disk already; sent after what the spool held, once it is read.
            self._held.append(Outgoing(topic, body, retain, seq))
            self._status = self._snapshot()
            return
        self._queue(Outgoing(topic, body, retain, seq))
        self._drain()

    # -- on the event loop -----------------------------------------------------------------
    def _queue(self, message: Outgoing) -> None:
        dropped = self._outbox.put(message)
        if dropped is None:
            return
        self._finished(dropped.seq)
        if not self._full_logged:
            self._full_logged = True
            logger.warning(
                "city MQTT queue full (%d passages and alarms waiting, mqtt.queue_limit): "
                "dropping the oldest until the broker %s takes them", self._outbox.limit,
                self._where,
            )

    def _drain(self) -> None:
        if self._resending and not self._handed:
            self._resending = False
        if self._connected and not self._stopping and not self._resending:
            while len(self._handed) < HANDED_MAX:
                message = self._outbox.take()
                if message is None:
                    break
                self._hand(message)
        if not self._outbox:
            self._full_logged = False
        self._status = self._snapshot()

    def _sync_spool_soon(self) -> None:
        """One fsync off the loop for the lines appended until it runs: a slow SD card must not
        hold up the gates, and a burst of passages costs one sync, not one each."""
        if self._loop is None or self._spool is None:
            return
        if self._syncing:
            # It may have begun before this line was appended, and so not cover it.
            self._sync_again = True
            return
        self._syncing = True
        spool = self._spool

        def synced(_done: object) -> None:
            self._syncing = False
            if self._sync_again and not self._stopping:  # stopping: the spool is closed
                self._sync_again = False
                self._sync_spool_soon()

        self._loop.run_in_executor(None, spool.sync).add_done_callback(synced)

    def _hand(self, message: Outgoing) -> None:
        try:
            info = self._client.publish(message.topic, message.body, qos=1, retain=message.retain)
        except ValueError as err:  # a topic paho refuses, e.g. a gate id with "+" or "#"
            logger.error("city MQTT cannot publish to %r: %s", message.topic, err)
            self._finished(message.seq)  # it never will be: not again at every start
            return
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            # NO_CONN: the link dropped a moment ago; paho keeps the message and re-sends it.
            self._handed[info.mid] = message.seq
            self.published += 1
        else:
            logger.error(
                "city MQTT publish to %s failed: %s", message.topic, mqtt.error_string(info.rc)
            )
            self._finished(message.seq)

    def _acked(self, mid: int) -> None:
        if mid in self._handed:
            self._finished(self._handed.pop(mid))
        self._drain()

    def _finished(self, seq: int | None) -> None:
        """A spooled message acknowledged, dropped or refused: not to be sent again."""
        if seq is not None and self._spool is not None:
            self._spool.done(seq)

    def _link_up(self) -> None:
        if self._stopping:
            return
        self._connected, self._since = True, utcnow()
        if self._outage_logged and self._held is None:
            # Queued behind what paho re-sends (below), so each topic stays in order; one
            # already waiting in the outbox is this same latest message. While the spool is
            # still being read, what was published since the start waits in _held, these
            # latest ones included, and nothing goes out before it.
            for message in self._retained.values():
                self._outbox.put(message)
            logger.info(
                "city MQTT connected to %s after %.0f s down: sending %d queued "
                "message(s); %d passage(s)/alarm(s) dropped meanwhile over mqtt.queue_limit %d",
                self._where, time.monotonic() - self._down_since,
                len(self._outbox) + len(self._handed),
                self._outbox.dropped - self._outage_dropped_before, self._outbox.limit,
            )
        else:
            # The names a hub's operator will quote when two controllers share a community.
            logger.info("city MQTT connected to %s as community %s, controller %s",
                        self._where, self._community, self._controller or "(no id)")
        self._outage_logged = False
        # paho re-sends what it held when the link dropped as soon as it reconnects; newer
        # messages wait for those to be acknowledged, so each topic stays in order. The wait
        # is bounded: a message paho never acknowledges must not stop the link for good.
        self._resending = bool(self._handed)
        if self._resending and self._loop is not None:
            self._loop.call_later(RESEND_WAIT_S, self._end_resend_wait)
        self._drain()

    def _end_resend_wait(self) -> None:
        self._resending = False
        self._drain()

    def _link_down(self, reason: str) -> None:
        if self._stopping:
            return
        if self._connected:
            self._connected, self._since = False, utcnow()
            self._down_since = time.monotonic()
            self._outage_dropped_before = self._outbox.dropped
            self._outage_logged = True
            logger.warning(
                "city MQTT link to %s lost (%s); queueing messages (at most %d passages and "
                "alarms) until it is back", self._where, reason, self._outbox.limit,
            )
        elif not self._outage_logged:
            self._outage_logged = True
            logger.warning(
                "city MQTT broker %s unreachable (%s); retrying, and queueing messages (at "
                "most %d passages and alarms) until it answers",
                self._where, reason, self._outbox.limit,
            )
        else:
            logger.debug("city MQTT broker %s still unreachable (%s)", self._where, reason)
        self._status = self._snapshot()

    def _publish_status(self, text: str) -> mqtt.MQTTMessageInfo:
        """``online``/``offline`` on the status topic, retained, naming this controller."""
        return self._client.publish(
            f"{self._prefix}/status", text, qos=1, retain=True,
            properties=status_properties(self._status_controller, PacketTypes.PUBLISH),
        )

    def _snapshot(self) -> CityLinkStatus:
        return CityLinkStatus(
            connected=self._connected,
            since=self._since,
            queued=len(self._outbox) + len(self._handed) + len(self._held or ()),
            dropped=self._outbox.dropped,
            queue_limit=self._outbox.limit,
        )

    # -- paho's network thread ---------------------------------------------------------------
    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(callback, *args)

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: Any,
        _props: object,
    ) -> None:
        self._refusal_closing = False
        if getattr(reason, "is_failure", False):
            old_broker = str(reason) == UNSUPPORTED_PROTOCOL
            if old_broker and self._may_fall_back and self._fall_back(client):
                return
            hint = ' (a broker older than MQTT 5: set mqtt.protocol "auto" or "3.1.1")'
            self._to_loop(self._link_down, f"refused: {reason}{hint if old_broker else ''}")
            return
        # Sent before paho re-sends what it held, so the hub sees "online" first.
        self._publish_status("online")
        self._to_loop(self._link_up)

    def _fall_back(self, client: mqtt.Client) -> bool:
        """Speak MQTT 3.1.1 from now on to a broker that refused 5 (an old city broker must
        not lose the feed when a controller is upgraded); False if paho cannot be turned.

        paho fixes the version when the client is made and offers no setter; it falls back
        from 3.1.1 to 3.1 the same way, by these attributes, and reconnects with them. Nothing
        of ours is with paho yet: messages are handed only once connected."""
        if not hasattr(client, "_protocol"):
            return False
        client._protocol = mqtt.MQTTv311
        # What a client made for 3.1.1 has by default: MQTT 5's clean start has no meaning
        # there, and the feed keeps no session with the broker either way.
        client._clean_session = True
        self._status_controller = None
        self._may_fall_back = False
        self._refusal_closing = True
        logger.warning(
            "city MQTT broker %s speaks no MQTT 5: falling back to 3.1.1, so the status names "
            "no controller (set mqtt.protocol \"3.1.1\" to skip the first try)", self._where,
        )
        return True

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        # paho calls this inside its ``except OSError`` without passing the error on.
        err = sys.exc_info()[1]
        self._to_loop(self._link_down, str(err) if err else "connection failed")

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: Any,
        _props: object,
    ) -> None:
        if self._refusal_closing:  # not an outage: the next try is the fall-back's
            self._refusal_closing = False
            return
        text = str(reason)
        # paho reports a dropped socket as "Unspecified error".
        self._to_loop(self._link_down, "connection lost" if text == "Unspecified error" else text)

    def _on_publish(
        self, _client: mqtt.Client, _userdata: object, mid: int, _reason: object,
        _props: object,
    ) -> None:
        self._to_loop(self._acked, mid)
