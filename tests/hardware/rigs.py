"""Real peers for the barrier contract suite: one rig per driver.

Each rig runs the far side for real: a Mosquitto broker with fake Tasmota or Shelly devices
written as MQTT clients (one per relay, each with the firmware's retained Last Will), a
pymodbus TCP server whose device model moves limit switches, gpiozero's MockFactory with the
relay pin wired to a feedback pin, and an http.server relay that answers as a Shelly Gen1
does. Rigs can mute a channel (the device stops confirming) and take the link down and up;
MQTT rigs can also kill one relay (power cut: no goodbye to the broker) and bring it back.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import TypeAdapter

from controllers.barrier import BarrierState
from hardware.base import Barrier
from hardware.config import BarrierConfig
from hardware.registry import SafetyEvent, SafetyEventKind, SafetySupervisor, create_barrier
from hardware.relay_barrier import RelayBarrier
from hardware.simulated import SimFault, SimulatedBarrier, SimulatedInput

if TYPE_CHECKING:
    from pymodbus.constants import ExcCodes

BARRIER_CONFIG: TypeAdapter[Any] = TypeAdapter(BarrierConfig)

# Short timings so the whole suite stays fast; every rig uses the same ones.
FAST: dict[str, Any] = {
    "open_seconds": 0.6,
    "command_timeout_s": 0.3,
    "retries": 1,
    "retry_delay_s": 0.05,
    "motion_timeout_s": 1.5,
    "travel_s": 0.05,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


# How long a test waits for what a gate, relay or broker is to do: a wait ends as soon as its
# condition holds, so this costs a passing test nothing, and it is sized for a loaded CI box
# (the other xdist worker, PostgreSQL, chromium on 2 cores), not an idle one: with 5 s, a
# broker restart's recovery was once not seen in time in CI, and never alone. A test that
# asserts a speed says so with a limit of its own (time_to_fault, the keep-alive test).
WAIT_S = 20.0


async def eventually(check: Callable[[], bool], timeout: float = WAIT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


async def wait_state(b: Barrier, state: BarrierState, timeout: float = WAIT_S) -> None:
    await eventually(lambda: b.state is state, timeout, f"{b.gate_id} {state} (is {b.state})")


class Rig:
    """The far side of one driver. ``channel`` k is gate k's relay."""

    name: ClassVar[str]
    has_link: ClassVar[bool] = True

    def __init__(self) -> None:
        self.muted: set[int] = set()
        self.barriers: list[Barrier] = []
        self.display = {}

    async def setup(self) -> None:
        return None

    async def teardown(self) -> None:
        for b in self.barriers:
            await b.stop()

    def config(self, k: int) -> dict[str, Any]:
        raise NotImplementedError

    def make(self, k: int) -> Barrier:
        config = BARRIER_CONFIG.validate_python({**FAST, **self.config(k)})
        barrier = create_barrier(f"gate{k}", config)
        self.barriers.append(barrier)
        return barrier

    def relay_on(self, k: int) -> bool:
        raise NotImplementedError

    def display_config(self) -> dict[str, Any] | None:
        """Config of a free-space board on this rig's peer; None if the driver has none."""
        return None

    def display_value(self, zone_id: str) -> int | None:
        return self.display.get(zone_id)

    display: dict[str, int]

    async def set_presence(self, b: Barrier, k: int, value: bool) -> None:
        self._set_presence(b, k, value)
        assert isinstance(b, RelayBarrier)
        await eventually(lambda: b.machine.presence is value, what="presence seen")

    def _set_presence(self, b: Barrier, k: int, value: bool) -> None:
        assert isinstance(b, RelayBarrier) and isinstance(b.presence, SimulatedInput)
        b.presence.set(value)

    async def link_down(self) -> None:
        raise NotImplementedError

    async def link_up(self) -> None:
        raise NotImplementedError


class SimRig(Rig):
    name = "sim"

    def config(self, k: int) -> dict[str, Any]:
        return {"driver": "sim", "opening_s": 0.05, "closing_s": 0.05, "echo_delay_s": 0.005}

    def display_config(self) -> dict[str, Any] | None:
        return {"driver": "sim"}

    def _sim(self, k: int) -> SimulatedBarrier:
        b = self.barriers[k]
        assert isinstance(b, SimulatedBarrier)
        return b

    def relay_on(self, k: int) -> bool:
        return self._sim(k).motor.relays.get(1, False)

    def mute_now(self) -> None:
        for k, b in enumerate(self.barriers):
            sim = self._sim(k)
            if k in self.muted:
                sim.inject_fault(SimFault.NO_ECHO)
            else:
                sim.motor.faults.discard(SimFault.NO_ECHO)
            assert b is sim

    async def link_down(self) -> None:
        for k in range(len(self.barriers)):
            self._sim(k).inject_fault(SimFault.OFFLINE)

    async def link_up(self) -> None:
        for k in range(len(self.barriers)):
            self._sim(k).motor.faults.discard(SimFault.OFFLINE)


class FakeRelay:
    """One relay's own MQTT client, run as its firmware runs it: it listens on its command
    topics and, when it announces itself (``announcement``: topic, online, offline), leaves the
    broker a retained offline Last Will and publishes a retained online on every connect."""

    def __init__(
        self,
        port: int,
        client_id: str,
        subscription: str,
        announcement: tuple[str, str, str] | None,
        on_message: Callable[[mqtt.Client, mqtt.MQTTMessage], None],
        keepalive_s: int = 60,
    ) -> None:
        self.port = port
        self.keepalive_s = keepalive_s
        self.alive = False
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]
        if announcement is not None:
            client.will_set(announcement[0], announcement[2], qos=1, retain=True)

        def on_connect(c: mqtt.Client, *_: object) -> None:
            c.subscribe(subscription, qos=1)
            if announcement is not None:
                c.publish(announcement[0], announcement[1], qos=1, retain=True)

        client.on_connect = on_connect
        client.on_message = lambda c, _userdata, msg: on_message(c, msg)
        self.client = client

    async def start(self) -> None:
        await asyncio.to_thread(self.client.connect, "127.0.0.1", self.port, self.keepalive_s)
        self.client.loop_start()
        self.alive = True
        await eventually(self.client.is_connected, what="the fake relay on the broker")

    async def kill(self) -> None:
        """Power cut: the connection ends without a DISCONNECT packet, so the broker publishes
        the relay's Last Will; the relay stays silent until ``start`` again."""
        self.alive = False
        await asyncio.to_thread(self.client.loop_stop)
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    async def freeze(self) -> None:
        """Power cut on Wi-Fi: nothing closes the connection, the relay just stops talking;
        the broker publishes the Last Will once 1.5 keep-alive intervals pass in silence."""
        self.alive = False
        await asyncio.to_thread(self.client.loop_stop)

    async def pause(self) -> None:
        """Stop its own reconnect back-off (the broker is down), to reconnect at a chosen
        moment with ``resume``."""
        await asyncio.to_thread(self.client.loop_stop)

    async def resume(self) -> None:
        await asyncio.to_thread(self.client.reconnect)
        self.client.loop_start()
        self.alive = True
        await eventually(self.client.is_connected, what="the fake relay back on the broker")

    async def stop(self) -> None:
        if self.alive:
            self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)
        self.alive = False


class MosquittoRig(Rig):
    """A private Mosquitto on a free port, a fake relay client per gate (``RELAYS`` of them)
    and a site client that plays the loop detectors, panels and the display board.

    ``lwt=False`` makes relays that never announce themselves (old firmware, LWT disabled);
    ``relay_keepalive_s`` is their MQTT keep-alive.
    """

    RELAYS: ClassVar[int] = 2  # gates 0 and 1, as many as any contract test drives

    def __init__(self, *, lwt: bool = True, relay_keepalive_s: int = 60) -> None:
        super().__init__()
        self.relay_keepalive_s = relay_keepalive_s
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.relays: dict[int, bool] = {}
        self.lwt = lwt
        self.fake_relays: dict[int, FakeRelay] = {}
        self.device: mqtt.Client | None = None  # the site client

    def _start_broker(self) -> None:
        exe = shutil.which("mosquitto")
        assert exe, "mosquitto is not installed"
        self.proc = subprocess.Popen(
            [exe, "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port)

    def _stop_broker(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None

    async def setup(self) -> None:
        self._start_broker()
        connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-{self.name}")
        client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]

        def on_connect(c: mqtt.Client, *_: object) -> None:
            c.subscribe("parkgate/display/#", qos=1)
            connected.set()

        def on_message(c: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
            self.display[msg.topic.rsplit("/", 1)[1]] = int(msg.payload)

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        assert connected.wait(5)
        self.device = client
        for k in range(self.RELAYS):
            relay = FakeRelay(
                self.port,
                f"fake-{self.name}-dev{k}",
                self.relay_subscription(k),
                self.announcement(k) if self.lwt else None,
                self.on_device_message,
                self.relay_keepalive_s,
            )
            await relay.start()
            self.fake_relays[k] = relay

    async def teardown(self) -> None:
        await super().teardown()
        for relay in self.fake_relays.values():
            await relay.stop()
        if self.device is not None:
            self.device.disconnect()
            self.device.loop_stop()
        self._stop_broker()

    def relay_subscription(self, k: int) -> str:
        raise NotImplementedError

    def announcement(self, k: int) -> tuple[str, str, str]:
        """The relay's Last Will as its firmware sends it: topic, online, offline."""
        raise NotImplementedError

    def on_device_message(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        raise NotImplementedError

    def relay_on(self, k: int) -> bool:
        return self.relays.get(k, False)

    def display_config(self) -> dict[str, Any] | None:
        return {
            "driver": "mqtt",
            "host": "127.0.0.1",
            "port": self.port,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 0.5,
        }

    def _set_presence(self, b: Barrier, k: int, value: bool) -> None:
        assert self.device is not None
        self.device.publish(f"tele/dev{k}/LOOP", "ON" if value else "OFF", qos=1)

    async def kill_relay(self, k: int) -> None:
        await self.fake_relays[k].kill()

    async def freeze_relay(self, k: int) -> None:
        await self.fake_relays[k].freeze()

    async def revive_relay(self, k: int) -> None:
        await self.fake_relays[k].resume()

    async def link_down(self) -> None:
        self._stop_broker()
        await asyncio.sleep(0.1)

    async def link_up(self) -> None:
        self._start_broker()

    async def link_up_device_first(self) -> None:
        """Start the broker and reconnect the fake devices at once, ahead of the gate's next
        reconnect attempt: the gate's recovery command then finds the device listening, as
        it does on site when the relay was online before parkgate got its broker back."""
        device = self.device
        assert device is not None
        live = [relay for relay in self.fake_relays.values() if relay.alive]
        # Their own back-off would race the gate's.
        await asyncio.to_thread(device.loop_stop)
        for relay in live:
            await relay.pause()
        self._start_broker()
        await asyncio.to_thread(device.reconnect)
        device.loop_start()
        for relay in live:
            await relay.resume()
        await eventually(device.is_connected, what="the fake site client back on the broker")


class TasmotaRig(MosquittoRig):
    """Fake Tasmota: ``cmnd/dev<k>/POWER1`` ON/OFF is echoed on ``stat/dev<k>/POWER1``; the
    Last Will is ``tele/dev<k>/LWT`` Online/Offline."""

    name = "mqtt_tasmota"

    def config(self, k: int) -> dict[str, Any]:
        return {
            "driver": "mqtt",
            "preset": "tasmota",
            "host": "127.0.0.1",
            "port": self.port,
            "device": f"dev{k}",
            "presence_topic": f"tele/dev{k}/LOOP",
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 0.5,
        }

    def __init__(self, *, lwt: bool = True, relay_keepalive_s: int = 60) -> None:
        super().__init__(lwt=lwt, relay_keepalive_s=relay_keepalive_s)
        self.log: list[tuple[str, str]] = []  # (command topic, payload) as received

    def relay_subscription(self, k: int) -> str:
        return f"cmnd/dev{k}/+"

    def announcement(self, k: int) -> tuple[str, str, str]:
        return (f"tele/dev{k}/LWT", "Online", "Offline")

    def on_device_message(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        _, dev, command = msg.topic.split("/")
        k = int(dev.removeprefix("dev"))
        if k in self.muted or not command.startswith("POWER"):
            return
        on = msg.payload.decode() == "ON"
        self.log.append((msg.topic, msg.payload.decode()))
        if command == "POWER1":
            self.relays[k] = on
        client.publish(f"stat/{dev}/{command}", "ON" if on else "OFF", qos=1)


class ShellyRig(MosquittoRig):
    """Fake Shelly Gen2: RPC ``Switch.Set`` on ``dev<k>/rpc``, reply on ``<src>/rpc``; the Last
    Will is ``dev<k>/online`` true/false."""

    name = "mqtt_shelly"
    reply_error = False  # answer Switch.Set with an RPC error, as a misconfigured device does

    def config(self, k: int) -> dict[str, Any]:
        return {
            "driver": "mqtt",
            "preset": "shelly",
            "host": "127.0.0.1",
            "port": self.port,
            "device": f"dev{k}",
            "open_channel": 0,
            "presence_topic": f"tele/dev{k}/LOOP",
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 0.5,
        }

    def relay_subscription(self, k: int) -> str:
        return f"dev{k}/rpc"

    def announcement(self, k: int) -> tuple[str, str, str]:
        return (f"dev{k}/online", "true", "false")

    def on_device_message(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        request = json.loads(msg.payload)
        if "method" not in request:
            return  # not a request
        dev = msg.topic.split("/")[0]
        k = int(dev.removeprefix("dev"))
        if k in self.muted:
            return
        if request["method"] != "Switch.Set" or self.reply_error:
            reply = {"id": request["id"], "src": dev, "error": {"code": 404, "message": "no"}}
        else:
            was_on = self.relays.get(k, False)
            self.relays[k] = bool(request["params"]["on"])
            reply = {
                "id": request["id"],
                "src": dev,
                "dst": request["src"],
                "result": {"was_on": was_on},
            }
        client.publish(f"{request['src']}/rpc", json.dumps(reply), qos=1)


class ModbusRig(Rig):
    """A pymodbus TCP server; its device model moves the arm and reports limit switches.

    Gate k: coil k, limit-open input 20+2k, limit-closed input 21+2k, presence input 40+k.
    The board has ``input_count`` discrete inputs (64 by default: 0 to 63); a read past them
    is refused with exception 2, as a real board's. Changed between ``link_down`` and
    ``link_up``, it is the board after someone changed its configuration.
    """

    name = "modbus"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.coils: dict[int, bool] = {}
        self.inputs: dict[int, bool] = {21: True, 23: True}
        self.input_count = 64
        self.server: Any = None
        self._serve: asyncio.Task[None] | None = None
        self._unmute = asyncio.Event()
        self._moves: set[asyncio.Task[None]] = set()
        # Set: every request is taken and never answered (a hung server) until cleared.
        self._silent = False
        # Set: every read of the discrete inputs is answered with this Modbus exception code
        # (4: an input module failed; what pymodbus answers for a unit id it does not have).
        self.input_exception: int | None = None
        self.input_reads = 0  # reads of the discrete inputs taken, answered or refused
        self._speak = asyncio.Event()

    def config(self, k: int) -> dict[str, Any]:
        return {
            "driver": "modbus",
            "host": "127.0.0.1",
            "port": self.port,
            "unit_id": 1,
            "open_channel": k,
            "limit_open_input": 20 + 2 * k,
            "limit_closed_input": 21 + 2 * k,
            "presence_input": 40 + k,
            "poll_interval_s": 0.02,
        }

    async def _action(
        self,
        fc: int,
        _start: int,
        address: int,
        _count: int,
        regs: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self._silent:
            await self._speak.wait()
        if fc == 2:
            self.input_reads += 1
        if fc == 2 and self.input_exception is not None:
            from pymodbus.constants import ExcCodes

            return ExcCodes(self.input_exception)
        if fc == 5 and address in self.muted:
            await self._unmute.wait()  # the relay write is never answered
        if fc == 2:  # discrete inputs, packed 16 per register
            for i in range(len(regs)):
                regs[i] = 0
            for addr, value in self.inputs.items():
                if value and addr // 16 < len(regs):
                    regs[addr // 16] |= 1 << (addr % 16)
        elif fc == 6 and set_values is not None:
            zone = {0: "B1", 1: "B2"}[address]
            self.display[zone] = int(set_values[0])
        elif fc == 5 and set_values is not None:
            on = bool(set_values[0])
            self.coils[address] = on
            task = asyncio.create_task(self._move(address, on))
            self._moves.add(task)
            task.add_done_callback(self._moves.discard)
        return None

    async def _move(self, k: int, on: bool) -> None:
        leaving, reaching = (21 + 2 * k, 20 + 2 * k) if on else (20 + 2 * k, 21 + 2 * k)
        self.inputs[leaving] = False
        await asyncio.sleep(0.05)
        self.inputs[reaching] = True

    async def _start_server(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        blocks = (
            [SimData(0, count=64, values=False, datatype=DataType.BITS)],
            [SimData(0, count=self.input_count, values=False, datatype=DataType.BITS)],
            [SimData(0, count=32, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
        )
        self.server = ModbusTcpServer(
            SimDevice(0, simdata=blocks, action=self._action), address=("127.0.0.1", self.port)
        )
        self._serve = asyncio.create_task(self.server.serve_forever())
        await asyncio.to_thread(wait_port, self.port)

    async def setup(self) -> None:
        await self._start_server()

    async def teardown(self) -> None:
        self._unmute.set()
        self.fall_silent(False)
        await super().teardown()
        await self.link_down()

    def fall_silent(self, silent: bool = True) -> None:
        """The server keeps accepting connections and requests but answers none."""
        self._silent = silent
        if silent:
            self._speak.clear()
        else:
            self._speak.set()

    def mute_now(self) -> None:
        if self.muted:
            self._unmute.clear()
        else:
            self._unmute.set()

    def relay_on(self, k: int) -> bool:
        return self.coils.get(k, False)

    def display_config(self) -> dict[str, Any] | None:
        return {
            "driver": "modbus",
            "host": "127.0.0.1",
            "port": self.port,
            "registers": {"B1": 0, "B2": 1},
            "timeout_s": 0.3,
        }

    def _set_presence(self, b: Barrier, k: int, value: bool) -> None:
        self.inputs[40 + k] = value

    async def link_down(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None
        if self._serve is not None:
            await asyncio.gather(self._serve, return_exceptions=True)
            self._serve = None

    async def link_up(self) -> None:
        await self._start_server()


class GpioRig(Rig):
    """gpiozero MockFactory: relay pin wired to a feedback pin, presence on its own pin."""

    name = "gpio"
    has_link = False  # local pins: there is no broker or server to lose
    PINS: ClassVar[list[tuple[int, int, int]]] = [(17, 27, 22), (5, 6, 13)]

    async def setup(self) -> None:
        from gpiozero.pins.mock import MockConnectedPin

        from hardware.gpio import pin_factory

        factory = pin_factory("mock")
        assert factory is not None  # "mock" is always gpiozero's shared MockFactory
        self.factory = factory
        self.factory.reset()
        for relay, feedback, _presence in self.PINS:
            self.factory.pin(
                relay, pin_class=MockConnectedPin, input_pin=self.factory.pin(feedback)
            )

    def config(self, k: int) -> dict[str, Any]:
        relay, feedback, presence = self.PINS[k]
        return {
            "driver": "gpio",
            "pin_factory": "mock",
            "open_channel": relay,
            "feedback_pin": feedback,
            "presence_pin": presence,
            "pull_up": False,
        }

    def mute_now(self) -> None:
        for k, (relay, feedback, _) in enumerate(self.PINS):
            # Cutting the feedback wire: the relay switches but nothing confirms it.
            pin = self.factory.pin(relay)
            pin.input_pin = None if k in self.muted else self.factory.pin(feedback)

    def relay_on(self, k: int) -> bool:
        return bool(self.factory.pin(self.PINS[k][0]).state)

    def _set_presence(self, b: Barrier, k: int, value: bool) -> None:
        pin = self.factory.pin(self.PINS[k][2])
        if value:
            pin.drive_high()
        else:
            pin.drive_low()


class HttpRig(Rig):
    """An http.server relay as a Shelly Gen1 answers: GET /relay/<ch>?turn=on|off switches and
    answers {"ison": ...}, GET /relay/<ch> only reports, GET /status reports every relay.

    Gates read ``/relay/<k>`` every 0.05 s (``status_url``); ``fall_silent`` makes the device
    take requests and answer none (a hung firmware), ``link_down`` closes its port.
    """

    name = "http"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.relays: dict[int, bool] = {}
        self.server: ThreadingHTTPServer | None = None
        self.commands: list[str] = []  # paths of switching requests, as received
        self.received: list[str] = []  # paths of every request, in order
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self.status_reads = 0
        self.silent_reads = 0  # status reads taken while the device answers nothing
        self.delay_s = 0.0  # every answer waits this long (a slow board)
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests the device had open at once
        self._count = threading.Lock()
        self._speak = threading.Event()
        self._speak.set()

    def fall_silent(self, silent: bool = True) -> None:
        """The device keeps accepting connections and requests but answers none."""
        if silent:
            self._speak.clear()
        else:
            self._speak.set()

    def _start(self) -> None:
        rig = self

        class Handler(BaseHTTPRequestHandler):
            open_here = False

            def do_GET(self) -> None:  # http.server dispatches on this exact name
                with rig._count:
                    rig.in_flight += 1
                    rig.most_in_flight = max(rig.most_in_flight, rig.in_flight)
                self.open_here = True
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up waiting (its time-out), as it should
                finally:
                    self._done()

            def _done(self) -> None:
                if self.open_here:
                    self.open_here = False
                    with rig._count:
                        rig.in_flight -= 1

            def send_response(self, code: int, message: str | None = None) -> None:
                # Done before the answer leaves: the client may send its next request the
                # moment it has this one, and that is no overlap.
                self._done()
                super().send_response(code, message)

            def _answer(self) -> None:
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                query = parse_qs(url.query)
                switching = parts[0] == "relay" and "turn" in query
                rig.received.append(self.path)
                rig.authorizations.append(self.headers.get("Authorization"))
                if switching:
                    rig.commands.append(self.path)
                elif parts[0] in ("relay", "status"):
                    rig.status_reads += 1
                    if not rig._speak.is_set():
                        rig.silent_reads += 1
                rig._speak.wait(30)
                time.sleep(rig.delay_s)
                if parts == ["display"]:
                    rig.display[query["zone"][0]] = int(query["free"][0])
                    self.send_response(204)
                    self.end_headers()
                    return
                if parts == ["status"]:
                    relays = [{"ison": rig.relays.get(k, False)} for k in range(2)]
                    self._json({"relays": relays})
                    return
                if len(parts) != 2 or parts[0] != "relay":
                    self.send_error(404)
                    return
                k = int(parts[1])
                if switching:
                    if k in rig.muted:
                        time.sleep(1.0)  # hangs past the command time-out
                    rig.relays[k] = query["turn"] == ["on"]
                self._json({"ison": rig.relays.get(k, False)})

            def _json(self, data: dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                return None  # keep test output quiet

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.server = server

    async def setup(self) -> None:
        self._start()

    async def teardown(self) -> None:
        self.fall_silent(False)
        await super().teardown()
        await self.link_down()

    def config(self, k: int) -> dict[str, Any]:
        base = f"http://127.0.0.1:{self.port}/relay/{{channel}}"
        return {
            "driver": "http",
            "on_url": base + "?turn=on",
            "off_url": base + "?turn=off",
            "open_channel": k,
            "expect_body": '"ison"',
            "presence": {"driver": "sim"},
            "status_url": base,
            "status_expect_body": '"ison"',
            "poll_interval_s": 0.05,
        }

    def relay_on(self, k: int) -> bool:
        return self.relays.get(k, False)

    def display_config(self) -> dict[str, Any] | None:
        return {
            "driver": "http",
            "timeout_s": 0.3,
            "url": f"http://127.0.0.1:{self.port}/display?zone={{zone_id}}&free={{free}}",
        }

    async def link_down(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.shutdown)
            self.server.server_close()
            self.server = None

    async def link_up(self) -> None:
        self._start()


RIGS: dict[str, type[Rig]] = {
    r.name: r for r in (SimRig, TasmotaRig, ShellyRig, ModbusRig, GpioRig, HttpRig)
}


def mute(rig: Rig, *channels: int) -> None:
    rig.muted = set(channels)
    hook = getattr(rig, "mute_now", None)
    if hook is not None:
        hook()


def run_with_rig(name: str, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    async def main() -> None:
        rig = RIGS[name]()
        await rig.setup()
        try:
            await scenario(rig)
        finally:
            await rig.teardown()

    asyncio.run(main())


def supervised(rig: Any, gate_id: str, data: dict[str, Any]) -> tuple[Barrier, list[SafetyEvent]]:
    """The barrier ``data`` describes, in ``rig`` as ``gate_id``, its faults reaching a safety
    supervisor: the product's alarm path. Returns it and the events the supervisor sent."""
    barrier = create_barrier(gate_id, BARRIER_CONFIG.validate_python(data))
    rig.barriers.append(barrier)
    supervisor = SafetySupervisor()
    events: list[SafetyEvent] = []
    supervisor.add_listener(events.append)
    supervisor.register(barrier)
    return barrier, events


def kinds(events: list[SafetyEvent]) -> list[SafetyEventKind]:
    return [e.kind for e in events]
