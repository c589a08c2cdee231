"""MQTT relays (Tasmota, Shelly Gen2, custom topics), MQTT contacts and an MQTT display.

paho-mqtt runs its network loop in its own thread; every message is handed to the asyncio
loop with ``call_soon_threadsafe`` so all state lives on the loop. A command is confirmed
only by the device's own echo (``stat/<dev>/POWER<n>`` for Tasmota, the RPC reply or
``<dev>/status/switch:<n>`` for Shelly), never by the broker accepting the publish.

A relay port's link is the broker connection and, when the firmware announces itself, the
relay's own retained Last Will (``RelayLink``): a relay that loses power is a fault when the
broker says so, not when the next car's open times out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from errors import ConfigError, HardwareError, HardwareUnavailableError
from hardware.base import (
    ContactReports,
    DigitalInput,
    LinkListener,
    ScreenMessage,
)
from hardware.config import (
    MqttBarrierConfig,
    MqttDisplayConfig,
    MqttInputConfig,
    MqttScreenConfig,
    RelayAvailability,
)
from hardware.config import _MqttConnection as MqttConnectionConfig
from hardware.relay_barrier import RelayBarrier
from wall_clock import utcnow

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
# A waiter's test of one message: True = confirmed, False = not this one; raises on a
# device-reported error.
EchoCheck = Callable[[str, bytes], bool]


class MqttConnection:
    """One paho client with automatic reconnect, bridged to the running asyncio loop."""

    def __init__(
        self, config: MqttConnectionConfig, client_id: str, *, max_unacked: int = 0
    ) -> None:
        self.config = config
        self.client_id = client_id
        # QoS 1 messages paho keeps until the broker acknowledges them (0: no limit). Past it
        # a publish is refused instead of queued: a broker that is connected but takes nothing
        # must not grow the process's memory for as long as it stays so.
        self.max_unacked = max_unacked
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._waiters: list[tuple[EchoCheck, asyncio.Future[None]]] = []
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False
        # Set on the event loop once the broker accepted us, cleared when it drops us: what
        # a relay port waits on at start, so a dead broker is a fault from the first second.
        self._up = asyncio.Event()
        # Why the broker last turned us away (bad credentials, ...), for the fault text.
        self._refused: str | None = None
        self._link_listeners: list[LinkListener] = []
        # Set by disconnect(): the disconnect that follows is ours, not the broker's.
        self._leaving = False
        # Why connect() could not even start (the password's variable unset): every publish
        # says so, not "not connected" as if the broker were down.
        self._not_started: str | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    def add_link_listener(self, cb: LinkListener) -> None:
        self._link_listeners.append(cb)

    def report_down(self, reason: str) -> None:
        """On the event loop: tell the listeners the link is down (the broker was not
        reachable at start, so no disconnect ever said so)."""
        for cb in list(self._link_listeners):
            cb(False, reason)

    def _link_changed(self, up: bool, reason: str) -> None:
        """From the paho thread: tell the listeners on the event loop."""
        for cb in list(self._link_listeners):
            self._on_loop(cb, up, reason)

    async def connect(self) -> None:
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._up = asyncio.Event()
        self._leaving = False
        self._not_started = None
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.config.username:
            password = None
            if self.config.password_env:
                password = os.environ.get(self.config.password_env)
                if password is None:
                    self._not_started = (
                        f"MQTT {self.config.host}:{self.config.port}: the broker password's "
                        f"environment variable {self.config.password_env} (password_env) is "
                        "not set for parkgate"
                    )
                    raise ConfigError(self._not_started)
            client.username_pw_set(self.config.username, password)
        # paho annotates these as int but sleeps on floats; sub-second delays matter here.
        client.reconnect_delay_set(
            min_delay=self.config.reconnect_min_s,  # type: ignore[arg-type]
            max_delay=self.config.reconnect_max_s,  # type: ignore[arg-type]
        )
        if self.max_unacked:
            client.max_queued_messages_set(self.max_unacked)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        try:
            # connect_async + loop_start: the paho thread keeps retrying if the broker is
            # down, so a gate configured before its broker is up recovers by itself.
            client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
            client.loop_start()
        except (OSError, ValueError) as err:
            raise HardwareUnavailableError(
                f"MQTT {self.config.host}:{self.config.port}: {err}"
            ) from err
        self._client = client

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._leaving = True
        client.disconnect()
        # loop_stop joins the paho thread; keep that off the event loop.
        await asyncio.to_thread(client.loop_stop)
        self._connected = False

    async def wait_connected(self, timeout_s: float) -> None:
        """Return once the broker accepted the connection; raise ``HardwareUnavailableError``
        if it did not within ``timeout_s``. paho keeps retrying in the background either way,
        and the link listeners hear when it succeeds."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._up.wait()
        except TimeoutError as err:
            why = f" (refused: {self._refused})" if self._refused else ""
            raise HardwareUnavailableError(
                f"MQTT broker {self.config.host}:{self.config.port} not reachable within "
                f"{timeout_s:g} s{why}"
            ) from err

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        self._handlers.setdefault(topic, []).append(handler)
        if self._client is not None and self._connected:
            self._client.subscribe(topic, qos=1)

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        if self._client is None and self._not_started is not None:
            raise HardwareUnavailableError(self._not_started)
        if self._client is None or not self._connected:
            raise HardwareUnavailableError(
                f"MQTT broker {self.config.host}:{self.config.port} not connected"
            )
        try:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
        except ValueError as err:  # paho refuses wildcards and over-long topics this way
            raise HardwareError(f"MQTT publish to {topic!r} refused: {err}") from err
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise HardwareUnavailableError(
                f"MQTT publish to {topic} failed: {mqtt.error_string(info.rc)}"
            )

    async def request(self, topic: str, payload: str, check: EchoCheck) -> None:
        """Publish and wait (without limit: the caller applies the time-out) for the echo."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (check, future)
        # Register before publishing: a fast device may answer before publish returns.
        self._waiters.append(waiter)
        try:
            await self.publish(topic, payload)
            await future
        finally:
            self._waiters.remove(waiter)

    # -- paho thread callbacks -------------------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: object,
        _props: object,
    ) -> None:
        if getattr(reason, "is_failure", False):
            self._refused = str(reason)
            logger.warning("MQTT %s: connect refused: %s", self.client_id, reason)
            return
        for topic in self._handlers:
            client.subscribe(topic, qos=1)
        self._connected = True
        self._refused = None
        self._on_loop(self._up.set)
        self._link_changed(True, f"connected to {self.config.host}:{self.config.port}")
        logger.info("MQTT %s connected to %s:%s", self.client_id, self.config.host,
                    self.config.port)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, flags: object, reason: object,
        _props: object,
    ) -> None:
        was_connected, self._connected = self._connected, False
        self._on_loop(self._up.clear)
        where = f"{self.config.host}:{self.config.port}"
        why = disconnect_reason(flags, reason)
        if was_connected:
            self._link_changed(False, f"MQTT broker {where}: {why}")
        if self._leaving:
            # A clean stop: every stop of parkgate logged a WARNING here for each MQTT relay.
            logger.info("MQTT %s disconnected from %s (stopping)", self.client_id, where)
            return
        logger.warning("MQTT %s disconnected from %s: %s", self.client_id, where, why)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._on_loop(self._dispatch, msg.topic, bytes(msg.payload))

    def _on_loop(self, fn: Callable[..., object], *args: object) -> None:
        """From the paho thread: run ``fn`` on the event loop (asyncio is not thread-safe)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    # -- on the asyncio loop ---------------------------------------------------------------
    def _dispatch(self, topic: str, payload: bytes) -> None:
        for check, future in list(self._waiters):
            if future.done():
                continue
            try:
                if check(topic, payload):
                    future.set_result(None)
            except HardwareError as err:
                future.set_exception(err)
        for pattern, handlers in self._handlers.items():
            if mqtt.topic_matches_sub(pattern, topic):
                for handler in handlers:
                    handler(topic, payload)


# How long an MQTT contact on a connection of its own waits for its broker at start before it
# reports the link down (paho keeps trying; the first connect reports it up).
INPUT_CONNECT_WAIT_S = 2.0

# Mosquitto, when it shuts down, publishes every client's Last Will just before it closes the
# connections: an "offline" followed this soon by losing the broker is the broker going away,
# not the relay, and the gate's fault should say so.
OFFLINE_SETTLE_S = 1.0


class RelayLink:
    """The link a relay barrier sees: the broker connection and the relay's own announcement.

    Tasmota and Shelly publish a retained "online" when they connect and leave the broker a
    retained "offline" Last Will, which it publishes when the relay drops without saying
    goodbye (power or Wi-Fi lost). Only an explicit offline is a link fault: a relay that never
    announced anything (old firmware, Last Will disabled) counts as online while the broker is
    up, as before. An offline stands until the relay says online, even across a reconnect to
    the broker; an online is trusted only on the connection it came on, so a relay that comes
    back after parkgate reached the broker is reported up when it says so, and the barrier's
    recovery runs then instead of at the next car.
    """

    def __init__(
        self, conn: MqttConnection, device: str, availability: RelayAvailability | None
    ) -> None:
        self.device = device
        self.availability = availability
        self._listeners: list[LinkListener] = []
        self._broker_up = False
        self._online: bool | None = None  # None: not said on this connection
        # An offline heard but not reported yet (OFFLINE_SETTLE_S).
        self._offline_pending: asyncio.TimerHandle | None = None
        conn.add_link_listener(self._on_broker)
        if availability is not None:
            conn.subscribe(availability.topic, self._on_announcement)

    def add_link_listener(self, cb: LinkListener) -> None:
        self._listeners.append(cb)

    def _tell(self, up: bool, reason: str) -> None:
        for cb in list(self._listeners):
            cb(up, reason)

    def _on_broker(self, up: bool, reason: str) -> None:
        self._broker_up = up
        if not up:
            if self._offline_pending is not None:
                # The broker's own shutdown sent that offline: the relay said nothing.
                self._offline_pending.cancel()
                self._offline_pending = None
                self._online = None
            elif self._online:
                self._online = None
            self._tell(False, reason)
        elif self._online is False:
            logger.warning("MQTT relay %s: broker back, but the relay last said offline; "
                           "waiting for it to say online", self.device)
        else:
            self._tell(True, reason)

    def _on_announcement(self, topic: str, payload: bytes) -> None:
        assert self.availability is not None  # only subscribed with one
        text = payload.decode(errors="replace").strip()
        said = self.availability.says_online(text)
        if said is None:
            logger.warning("MQTT relay %s: %r on %s is neither %r nor %r; ignored", self.device,
                           text, topic, self.availability.online, self.availability.offline)
            return
        before, self._online = self._online, said
        if said == before or not self._broker_up:
            return
        if not said:
            reason = (f"relay {self.device} is offline ({topic} = {text}): it lost power or "
                      "its network")
            self._offline_pending = asyncio.get_running_loop().call_later(
                OFFLINE_SETTLE_S, self._report_offline, reason
            )
            return
        logger.info("MQTT relay %s is online (%s = %s)", self.device, topic, text)
        if self._offline_pending is not None:
            # Back before its offline was reported (a quick reboot): nothing to undo.
            self._offline_pending.cancel()
            self._offline_pending = None
            return
        self._tell(True, f"relay {self.device} is online ({topic} = {text})")

    def _report_offline(self, reason: str) -> None:
        self._offline_pending = None
        logger.warning("MQTT %s", reason)
        self._tell(False, reason)


class TopicRelayPort:
    """Tasmota or custom topics: publish ON/OFF, expect the state topic to echo it."""

    def __init__(self, conn: MqttConnection, config: MqttBarrierConfig) -> None:
        self.conn = conn
        self.config = config
        self.link = RelayLink(conn, config.device, config.relay_availability())
        if config.preset == "tasmota":
            self.command_topic = "cmnd/{device}/POWER{channel}"
            self.state_topic = "stat/{device}/POWER{channel}"
            self.payloads = ("ON", "OFF", "ON", "OFF")
        else:
            assert config.command_topic and config.state_topic  # verify_custom_topics
            self.command_topic = config.command_topic
            self.state_topic = config.state_topic
            self.payloads = (config.payload_on, config.payload_off, config.state_on,
                             config.state_off)

    @property
    def _state_words(self) -> str:
        """Where the relay's state payloads are set, for a fault naming one parkgate lacks."""
        if self.config.preset == "tasmota":
            return "Tasmota says them as set by its StateText2 and StateText1"
        return "state_on, state_off"

    def _state_topic(self, channel: int) -> str:
        return self.state_topic.format(device=self.config.device, channel=channel)

    def _state_topics(self, channel: int) -> tuple[str, ...]:
        """Where the relay answers for ``channel``. Tasmota names a device's only relay POWER
        in what it publishes (unless SetOption26 is on): a one-relay Tasmota answers
        cmnd/<dev>/POWER1 on stat/<dev>/POWER, and waiting on POWER1 alone never confirmed
        it. That topic exists only on such a device, so it is read beside POWER1."""
        topic = self._state_topic(channel)
        if self.config.preset == "tasmota" and channel == 1:
            return (topic, f"stat/{self.config.device}/POWER")
        return (topic,)

    def add_link_listener(self, cb: LinkListener) -> None:
        self.link.add_link_listener(cb)

    async def connect(self) -> None:
        # Subscribed before connecting: paho subscribes in on_connect, before any command
        # can be published, so the first echo cannot be missed.
        for channel in {self.config.open_channel, self.config.close_channel}:
            if channel is not None:
                for topic in self._state_topics(channel):
                    self.conn.subscribe(topic, _ignore)
        await self.conn.connect()
        await self.conn.wait_connected(self.config.command_timeout_s)

    async def disconnect(self) -> None:
        await self.conn.disconnect()

    async def set_output(self, channel: int, on: bool) -> None:
        state_topics = self._state_topics(channel)
        cmd_on, cmd_off, state_on, state_off = self.payloads
        expected = state_on if on else state_off

        def check(topic: str, payload: bytes) -> bool:
            if topic not in state_topics:
                return False
            text = payload.decode(errors="replace").strip()
            if text not in (state_on, state_off, cmd_on, cmd_off):
                # The relay answered, in words parkgate does not know (a lower-case StateText,
                # a custom firmware's own): said now, not as "not confirmed within N s" after
                # every retry, which sends the installer to the network instead of the config.
                # Our own command (a device taking and reporting on one topic) is no answer.
                raise HardwareError(
                    f"MQTT relay {self.config.device}: {topic} said {text!r}, which is neither "
                    f"{state_on!r} nor {state_off!r} ({self._state_words})"
                )
            return text == expected

        await self.conn.request(
            self.command_topic.format(device=self.config.device, channel=channel),
            cmd_on if on else cmd_off, check
        )


class ShellyRpcPort:
    """Shelly Gen2/Gen3 over MQTT RPC: ``Switch.Set`` on ``<dev>/rpc``."""

    def __init__(self, conn: MqttConnection, config: MqttBarrierConfig) -> None:
        self.conn = conn
        self.config = config
        self.src = conn.client_id  # replies come back on <src>/rpc
        self._ids = itertools.count(1)
        self.link = RelayLink(conn, config.device, config.relay_availability())

    def add_link_listener(self, cb: LinkListener) -> None:
        self.link.add_link_listener(cb)

    async def connect(self) -> None:
        self.conn.subscribe(f"{self.src}/rpc", _ignore)
        self.conn.subscribe(f"{self.config.device}/status/+", _ignore)
        await self.conn.connect()
        await self.conn.wait_connected(self.config.command_timeout_s)

    async def disconnect(self) -> None:
        await self.conn.disconnect()

    async def set_output(self, channel: int, on: bool) -> None:
        request_id = next(self._ids)
        body = {
            "id": request_id,
            "src": self.src,
            "method": "Switch.Set",
            "params": {"id": channel, "on": on},
        }
        status_topic = f"{self.config.device}/status/switch:{channel}"

        def check(topic: str, payload: bytes) -> bool:
            try:
                data = json.loads(payload)
            except ValueError:
                return False
            if not isinstance(data, dict):
                return False
            if topic == f"{self.src}/rpc" and data.get("id") == request_id:
                if "error" in data:
                    raise HardwareError(f"Shelly {self.config.device}: {data['error']}")
                return True
            return topic == status_topic and data.get("output") is on

        await self.conn.request(f"{self.config.device}/rpc", json.dumps(body), check)


class MqttInput(ContactReports):
    """A contact reported on an MQTT topic (e.g. a Tasmota input or a loop detector).

    ``payload_off`` is what makes it inactive; any other payload (the device's JSON, an empty
    message clearing the retained value, a garbled one) says nothing and is ignored: read as
    inactive, it freed a presence loop under a car. None: every payload but ``payload_on``.
    """

    def __init__(
        self, name: str, conn: MqttConnection, topic: str, payload_on: str, *,
        payload_off: str | None, owns_connection: bool = False,
    ) -> None:
        super().__init__(name)
        self.conn = conn
        self.topic = topic
        self.payload_on = payload_on
        self.payload_off = payload_off
        self.owns_connection = owns_connection
        self._subscribed = False
        # An unknown payload is logged once, until the topic says on or off again.
        self._unknown_logged = False

    @property
    def own_link(self) -> bool:
        """On a connection of its own: a barrier it serves hears that connection's link
        (hardware.base.InputLink); on the barrier's own, the barrier hears it already."""
        return self.owns_connection

    def add_link_listener(self, cb: LinkListener) -> None:
        self.conn.add_link_listener(cb)

    async def start(self) -> None:
        if not self._subscribed:
            self.conn.subscribe(self.topic, self._on_message)
            self._subscribed = True
        if self.owns_connection:
            await self.conn.connect()
            try:
                await self.conn.wait_connected(INPUT_CONNECT_WAIT_S)
            except HardwareUnavailableError as err:
                # paho retries on; the broker's first connect reports the link up. Until then
                # the contact is not read, which a barrier it serves must hear now: no link
                # ever went down to tell it.
                self.conn.report_down(str(err))

    async def stop(self) -> None:
        if self.owns_connection:
            await self.conn.disconnect()

    def _on_message(self, topic: str, payload: bytes) -> None:
        text = payload.decode(errors="replace").strip()
        if text == self.payload_on:
            value = True
        elif self.payload_off is None or text == self.payload_off:
            value = False
        else:
            if not self._unknown_logged:
                logger.warning(
                    "MQTT input %s: %r on %s is neither %r nor %r; ignored (still %s)",
                    self.name, text, topic, self.payload_on, self.payload_off,
                    "unread" if self.value is None else "on" if self.value else "off",
                )
                self._unknown_logged = True
            return
        self._unknown_logged = False
        self._report(value)


class MqttDisplay:
    """A free-space board that subscribes to a (retained) topic per zone."""

    def __init__(self, name: str, config: MqttDisplayConfig) -> None:
        self.name = name
        self.config = config
        self.conn = MqttConnection(config, f"parkgate-display-{name}")

    async def start(self) -> None:
        await self.conn.connect()

    async def stop(self) -> None:
        await self.conn.disconnect()

    async def show(self, zone_id: str, free: int) -> None:
        fields = {"zone_id": zone_id, "free": free}
        await self.conn.publish(
            self.config.topic.format(**fields),
            self.config.payload.format(**fields),
            retain=self.config.retain,
        )


# A lane sends one message at a time, so more than this many unacknowledged means the broker
# takes nothing: the screen is then failing (/healthz), not a queue growing for hours.
SCREEN_MAX_UNACKED = 8


class MqttScreen:
    """A lane screen that subscribes to its gate's topic: one JSON message per change
    (``parkgate.screen/1``, docs/mqtt.md), QoS 1 and not retained, so a screen that reboots
    shows its idle screen instead of an earlier car's message."""

    def __init__(self, gate_id: str, config: MqttScreenConfig) -> None:
        self.gate_id = gate_id
        self.config = config
        self.topic = config.resolved_topic(gate_id)
        self.conn = MqttConnection(config, config.client_id or f"parkgate-screen-{gate_id}",
                                   max_unacked=SCREEN_MAX_UNACKED)

    async def start(self) -> None:
        await self.conn.connect()

    async def stop(self) -> None:
        await self.conn.disconnect()

    async def show(self, message: ScreenMessage) -> None:
        await self._publish(message)

    async def clear(self, idle: ScreenMessage) -> None:
        await self._publish(idle)

    async def _publish(self, message: ScreenMessage) -> None:
        body = json.dumps(message.payload(self.gate_id, utcnow()), ensure_ascii=False)
        await self.conn.publish(self.topic, body, retain=False)


def disconnect_reason(flags: object, reason: object) -> str:
    """What a disconnect means, for a log line and a fault an operator reads.

    paho reports a dropped connection (the broker stopped, restarted or the network went) as
    the reason code "Unspecified error", which says nothing to whoever reads it at night."""
    if getattr(flags, "is_disconnect_packet_from_server", False):
        return f"the broker closed the connection ({reason})"
    text = str(reason)
    if text == "Keep alive timeout":
        return "the broker stopped answering (keep-alive time-out: network or broker hung)"
    if text in ("Success", "Normal disconnection"):
        return "disconnected"
    if text == "Unspecified error":
        return "connection lost (broker stopped or restarted, or the network is down)"
    return text


def _ignore(_topic: str, _payload: bytes) -> None:
    """Handler for topics that are only subscribed so their echoes reach the waiters."""


def create_mqtt_barrier(
    gate_id: str, config: MqttBarrierConfig, presence: DigitalInput | None = None
) -> RelayBarrier:
    conn = MqttConnection(config, config.client_id or f"parkgate-{gate_id}")
    port: TopicRelayPort | ShellyRpcPort = (
        ShellyRpcPort(conn, config) if config.preset == "shelly" else TopicRelayPort(conn, config)
    )
    if config.presence_topic:
        presence = MqttInput(f"{gate_id}.presence", conn, config.presence_topic,
                             config.presence_on, payload_off=config.presence_free())
    return RelayBarrier(
        gate_id,
        port,
        timing=config.timing(),
        wiring=config.wiring(),
        policy=config.policy(),
        presence=presence,
    )


def create_mqtt_input(name: str, config: MqttInputConfig) -> MqttInput:
    conn = MqttConnection(config, f"parkgate-input-{name}")
    return MqttInput(name, conn, config.topic, config.payload_on,
                     payload_off=config.payload_free(), owns_connection=True)
