"""Modbus TCP relay boards: coils switch relays, discrete inputs carry the loop detector and
limit switches, holding registers drive a free-space board.

The write-coil response is the device's echo of the new relay state (function 05 answers
with the address and value it applied), so a command counts as confirmed only when that
echo matches.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from errors import HardwareError, HardwareTimeoutError, HardwareUnavailableError
from hardware.base import ContactReports, DigitalInput, LinkListener, LinkReports
from hardware.config import ModbusBarrierConfig, ModbusDisplayConfig, ModbusInputConfig
from hardware.relay_barrier import RelayBarrier
from wall_clock import utcnow

logger = logging.getLogger(__name__)

# Modbus exception codes 0x0A (gateway path unavailable) and 0x0B (gateway target device
# failed to respond): the gateway answered, the device behind it did not.
_GATEWAY_SILENT = frozenset({0x0A, 0x0B})
# Modbus exception code 0x02: the device has no such coil, input or register.
_ILLEGAL_ADDRESS = 0x02
# What the other exception codes mean, for the installer reading the gate's fault.
_EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server device busy",
    0x08: "memory parity error",
}
# Background reads (the coil probe, the input poll) left unanswered this many times in a row
# make the link down; one lost answer on a busy network is not yet a dead device.
UNANSWERED_READS = 2


class DeviceRefusedError(HardwareError):
    """The device answered a request with a Modbus exception code (``code``)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class IllegalAddressError(DeviceRefusedError):
    """The device answered with exception 2: it has no such coil, input or register."""


class ModbusLink(LinkReports):
    """One TCP connection to one unit, serialised, reconnecting on the next request."""

    def __init__(self, host: str, port: int, unit_id: int, timeout_s: float) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.timeout_s = timeout_s
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        # Requests answered so far (any answer, a refusal included): background readers see
        # from it that the device spoke between two of their own unanswered reads.
        self.answers = 0
        # Why the device refuses to read the gate's inputs (an address it does not have), or
        # None: the link is down for the gates meanwhile, whatever else the device answers.
        self.inputs_refused: str | None = None

    def __str__(self) -> str:
        return f"modbus://{self.host}:{self.port}/{self.unit_id}"

    def unanswered(self, reads: int) -> None:
        """``reads`` background reads in a row got no answer: the link is down for the gates,
        though TCP still connects (a hung server, or a serial gateway whose device is off).
        The next answer to any request brings it back."""
        self._link(False, f"{self}: no answer to {reads} reads in a row")

    def refuse_inputs(self, why: str) -> None:
        """The device answers but refuses to read the gate's inputs: its presence loop and
        limit switches are never read, which is no working gate. Down until they read again
        (``inputs_read``), however many other requests (relay commands) it answers."""
        self.inputs_refused = why
        self._link(False, why)

    def inputs_read(self) -> None:
        """The inputs were read: a refusal of them is over (the board's config was fixed)."""
        if self.inputs_refused is not None:
            self.inputs_refused = None
            self._link(True, f"{self} reads its inputs")

    async def _ensure(self) -> AsyncModbusTcpClient:
        if self._client is None:
            # pymodbus' own reconnect loop is off (delay 0): we reconnect per request, so a
            # server that comes back is used at once and a dead one fails fast.
            self._client = AsyncModbusTcpClient(
                self.host, port=self.port, timeout=self.timeout_s, retries=0, reconnect_delay=0
            )
        if not self._client.connected:
            try:
                ok = await self._client.connect()
            except (OSError, ModbusException) as err:
                raise HardwareUnavailableError(f"{self}: {err}") from err
            if not ok:
                raise HardwareUnavailableError(f"{self}: cannot connect")
        return self._client

    @property
    def busy(self) -> bool:
        """A request is on the wire (or waiting for its connection)."""
        return self._lock.locked()

    async def ensure_connected(self) -> None:
        async with self._lock:
            await self._ensure()

    async def call(
        self, method: str, *args: Any, answer_within_s: float | None = None, **kwargs: Any
    ) -> Any:
        """Run one pymodbus request; library errors become HardwareError.

        ``answer_within_s`` limits the wait for the answer only, counted once the link is
        ours: time spent queued behind a relay command is no silence of the device.
        """
        task = asyncio.current_task()
        cancels_before = task.cancelling() if task is not None else 0
        async with self._lock:
            try:
                client = await self._ensure()
            except HardwareUnavailableError as err:
                self._link(False, str(err))
                raise
            try:
                async with asyncio.timeout(answer_within_s):
                    response = await getattr(client, method)(
                        *args, device_id=self.unit_id, **kwargs
                    )
            except TimeoutError as err:
                self._drop()  # a late answer must not be read as the next request's
                within = f" within {answer_within_s:g} s" if answer_within_s is not None else ""
                raise HardwareTimeoutError(f"{self}: no answer to {method}{within}") from err
            except ConnectionException as err:
                self._drop()
                self._link(False, f"{self}: {err}")
                raise HardwareUnavailableError(f"{self}: {err}") from err
            except ModbusIOException as err:
                self._drop()
                raise HardwareTimeoutError(f"{self}: no answer to {method}: {err}") from err
            except ModbusException as err:
                self._drop()
                raise HardwareError(f"{self}: {method} failed: {err}") from err
            except ValueError as err:
                # pymodbus checks addresses and counts as it builds the request: nothing was
                # sent. Raised as ours so that a poll loop logs it instead of dying unseen.
                raise HardwareError(f"{self}: {method}{args} not sent: {err}") from err
            except asyncio.CancelledError:
                # Cancelled mid-request by a command time-out: the stream may hold a late
                # answer, so start the next request on a fresh connection.
                self._drop()
                raise
            if task is not None and task.cancelling() > cancels_before:
                # pymodbus waits for the answer with asyncio.wait_for, which on Python 3.11
                # returns an answer that arrives as the task is cancelled and drops the
                # cancellation: the probe and input poll, which read until cancelled, then
                # read on and the gate's stop never returned. The answer was read whole, so
                # the connection stays usable; the cancellation goes on as it was asked.
                raise asyncio.CancelledError
        if response.isError() and getattr(response, "exception_code", None) in _GATEWAY_SILENT:
            # A TCP-to-serial gateway answering for a device that did not: no answer at all.
            raise HardwareTimeoutError(
                f"{self}: no answer to {method} behind the gateway ({response})"
            )
        self.answers += 1
        if self.inputs_refused is None:
            self._link(True, f"{self} answering")
        if response.isError():
            code = getattr(response, "exception_code", None)
            if code == _ILLEGAL_ADDRESS:
                raise IllegalAddressError(
                    f"{self}: device refused {method}{args}: it has no such address (Modbus "
                    "exception 2, illegal data address); check the gate's open_channel, "
                    "close_channel and *_input addresses against the board's manual "
                    "(counted from 0)",
                    code,
                )
            raise DeviceRefusedError(
                f"{self}: device refused {method}{args}: {exception_text(code, response)}", code
            )
        return response

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        async with self._lock:
            self._drop()
        # Started again, the link reports its first answer (or refusal) afresh.
        self.inputs_refused = None
        self._forget_link()


def exception_text(code: int | None, response: object) -> str:
    """A Modbus exception answer as the installer reads it: its code and what it means."""
    name = _EXCEPTION_NAMES.get(code) if isinstance(code, int) else None
    return f"Modbus exception {code} ({name})" if name else str(response)


class ModbusRelayPort:
    """The relay coils of one unit.

    With a ``probe`` (a board whose inputs nobody polls), the coil that opens the gate is
    read back once per poll interval, so the link's loss and return are seen between
    commands, as an input poll would show them.
    """

    def __init__(self, link: ModbusLink, probe: LinkProbe | None = None) -> None:
        self.link = link
        self.probe = probe

    def add_link_listener(self, cb: LinkListener) -> None:
        self.link.add_link_listener(cb)

    @property
    def inputs_refused(self) -> str | None:
        return self.link.inputs_refused

    async def connect(self) -> None:
        # The probe first: when the server is down now, its first answer later is what
        # clears the gate's fault.
        if self.probe is not None:
            self.probe.start()
        await self.link.ensure_connected()

    async def disconnect(self) -> None:
        if self.probe is not None:
            await self.probe.stop()
        await self.link.close()

    async def set_output(self, channel: int, on: bool) -> None:
        response = await self.link.call("write_coil", channel, on)
        echoed = list(getattr(response, "bits", []) or [])
        if echoed and bool(echoed[0]) is not on:
            raise HardwareError(f"{self.link}: coil {channel} echoed {echoed[0]}, wanted {on}")


class Silence:
    """Counts a background reader's unanswered reads in a row and tells the link when there
    are ``UNANSWERED_READS``: TCP may still connect while nothing answers (a hung server, a
    gateway whose device is off), which no connection error would ever show."""

    def __init__(self, link: ModbusLink) -> None:
        self.link = link
        self._in_a_row = 0
        self._answers_seen = link.answers

    def answered(self) -> None:
        self._in_a_row = 0
        self._answers_seen = self.link.answers

    def failed(self, err: Exception) -> None:
        if self.link.answers != self._answers_seen:
            # The device answered someone (a relay command) since our last read: start over.
            self._in_a_row = 0
            self._answers_seen = self.link.answers
        if not isinstance(err, HardwareTimeoutError):
            self._in_a_row = 0  # an answer, if a refusal: the device is there
            return
        self._in_a_row += 1
        if self._in_a_row >= UNANSWERED_READS:  # the link reports its change once
            self.link.unanswered(self._in_a_row)


class LinkProbe:
    """Reads one coil every ``interval_s``; ``ModbusLink.call`` reports the link from it.

    Skipped while a command holds the link: its answer shows the server as well, and a
    probe queued in front of a command would only delay it.
    """

    def __init__(self, link: ModbusLink, coil: int, interval_s: float) -> None:
        self.link = link
        self.coil = coil
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._silence = Silence(link)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"probe-{self.link}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.link.busy:
                continue
            try:
                await self.link.call(
                    "read_coils", self.coil, count=1, answer_within_s=self.link.timeout_s
                )
                self._failing = False
                self._silence.answered()
            except (HardwareError, TimeoutError) as err:
                # Logged once per streak. A lost link also reaches the barrier through the
                # link listeners; a device that answers but refuses the read shows only here.
                if not self._failing:
                    logger.warning("%s: cannot read coil %s: %r", self.link, self.coil, err)
                self._failing = True
                self._silence.failed(err)


class ModbusInputPoller:
    """Reads the discrete inputs of one unit every ``interval_s`` and reports changes.

    A board that refuses the read (exception 2: an address it does not have) makes the link
    down for the gates (``ModbusLink.refuse_inputs``), naming the inputs it lacks, until a
    read works again: a presence loop nobody reads must be a gate fault, not a log line.
    """

    def __init__(self, link: ModbusLink, interval_s: float) -> None:
        self.link = link
        self.interval_s = interval_s
        self.inputs: dict[int, ModbusDiscreteInput] = {}
        # What each address is, for the installer: "presence loop, presence_input".
        self.roles: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._users = 0
        self._failing = False
        self._silence = Silence(link)
        # Reads refused in a row with an exception other than 2 (a device failure, a unit id
        # the server does not have): UNANSWERED_READS of them and the inputs are refused.
        self._refused = 0

    def add(self, name: str, address: int, role: str | None = None) -> ModbusDiscreteInput:
        inp = ModbusDiscreteInput(name, address, self)
        self.inputs[address] = inp
        self.roles[address] = role or name
        return inp

    async def start(self) -> None:
        self._users += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"poll-{self.link}")

    async def stop(self) -> None:
        self._users -= 1
        if self._users <= 0 and self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def poll_once(self, answer_within_s: float | None = None) -> None:
        first = min(self.inputs)
        count = max(self.inputs) - first + 1
        response = await self.link.call(
            "read_discrete_inputs", first, count=count, answer_within_s=answer_within_s
        )
        now = utcnow()
        # Releases before makes: a poll slower than the arm sees its closed limit released
        # and its open one made together, and the barrier must hear them in the arm's order
        # (both made at once is a faulty switch to it, not a raise).
        values = [
            (inp, bool(response.bits[address - first])) for address, inp in self.inputs.items()
        ]
        for inp, value in sorted(values, key=lambda item: item[1]):
            inp.update(value, now)

    async def _refusal(self, answer_within_s: float | None) -> str:
        """What the board refuses, for the installer: each input read alone (only when the
        read of them all was refused), so the message names the addresses it lacks."""
        lacking: list[int] = []
        for address in sorted(self.inputs):
            try:
                await self.link.call(
                    "read_discrete_inputs", address, count=1, answer_within_s=answer_within_s
                )
            except IllegalAddressError:
                lacking.append(address)
        if not lacking:  # each alone is there: the board will not read them in one request
            first, last = min(self.inputs), max(self.inputs)
            return (
                f"{self.link}: board refuses to read inputs {first} to {last} in one request "
                f"({', '.join(self.roles[a] for a in sorted(self.inputs))}): place them within "
                "the block the board reads at once (its manual)"
            )
        listed = ", ".join(f"{address} ({self.roles[address]})" for address in lacking)
        plural = "es" if len(lacking) > 1 else ""
        return (
            f"{self.link}: board refuses input address{plural} {listed}: check the address in "
            "the config against the board's manual (counted from 0)"
        )

    async def _run(self) -> None:
        while self._users > 0:
            try:
                # The limit is the link's, inside its lock (not wait_for: on 3.11 wait_for
                # can swallow the cancel sent by stop(), which left this loop running).
                await self.poll_once(answer_within_s=self.link.timeout_s)
                if self._failing:
                    logger.info("%s: inputs readable again", self.link)
                self._failing = False
                self._refused = 0
                self._silence.answered()
                self.link.inputs_read()
            except IllegalAddressError as err:
                # An answer, so no silence; refused at every poll until someone fixes the
                # address: found out and reported once, at the first refusal.
                self._silence.failed(err)
                if self.link.inputs_refused is None:
                    try:
                        why = await self._refusal(self.link.timeout_s)
                    except (HardwareError, TimeoutError) as lost:
                        why = f"{self.link}: board refuses to read the inputs ({lost})"
                    logger.warning("%s", why)
                    self._failing = True
                    self.link.refuse_inputs(why)
            except DeviceRefusedError as err:
                # Any other refusal leaves the loop and limit switches as unread as an
                # address the board lacks: a gate fault too, not a warning line while the gate
                # shows closed. Not at the first one: a busy board may refuse one read.
                self._silence.failed(err)
                if not self._failing:
                    logger.warning("%s: cannot read inputs: %s", self.link, err)
                self._failing = True
                self._refused += 1
                if self._refused >= UNANSWERED_READS and self.link.inputs_refused is None:
                    first, last = min(self.inputs), max(self.inputs)
                    why = (
                        f"{self.link}: board refuses to read inputs {first} to {last} "
                        f"({', '.join(self.roles[a] for a in sorted(self.inputs))}): "
                        f"{exception_text(err.code, err)}; check unit_id {self.link.unit_id} "
                        "and the board"
                    )
                    logger.warning("%s", why)
                    self.link.refuse_inputs(why)
            except (HardwareError, TimeoutError) as err:
                # Log once per outage; the barrier's commands report the fault itself.
                # Values stay as last read: an occupied loop keeps blocking the close.
                if not self._failing:
                    logger.warning("%s: cannot read inputs: %r", self.link, err)
                self._failing = True
                self._refused = 0  # refusals count in a row: this read got none
                self._silence.failed(err)
            await asyncio.sleep(self.interval_s)


class ModbusDiscreteInput(ContactReports):
    def __init__(self, name: str, address: int, poller: ModbusInputPoller) -> None:
        super().__init__(name)
        self.address = address
        self.poller = poller
        # Set for an input on a link of its own (``create_modbus_input``): a barrier it serves
        # then hears that link (hardware.base.InputLink). A barrier's own inputs share its
        # port's link, which it hears already.
        self.own_link = False

    def add_link_listener(self, cb: LinkListener) -> None:
        self.poller.link.add_link_listener(cb)

    async def start(self) -> None:
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()

    def update(self, value: bool, at: datetime) -> None:
        self._report(value, at)


class ModbusDisplay:
    """A free-space board: one holding register per zone holds the free count."""

    def __init__(self, name: str, config: ModbusDisplayConfig) -> None:
        self.name = name
        self.config = config
        self.link = ModbusLink(config.host, config.port, config.unit_id, config.timeout_s)

    async def start(self) -> None:
        return None  # connects on the first write, so a board that is off does not block

    async def stop(self) -> None:
        await self.link.close()

    async def show(self, zone_id: str, free: int) -> None:
        address = self.config.registers.get(zone_id)
        if address is None:
            logger.debug("display %s has no register for zone %s", self.name, zone_id)
            return
        # Registers are unsigned 16-bit; a negative count (over-full zone) shows as 0.
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await self.link.call("write_register", address, max(0, min(free, 0xFFFF)))
        except TimeoutError as err:
            raise HardwareTimeoutError(
                f"display {self.name}: {self.link} did not answer within {self.config.timeout_s} s"
            ) from err


def create_modbus_barrier(
    gate_id: str, config: ModbusBarrierConfig, presence: DigitalInput | None = None
) -> RelayBarrier:
    link = ModbusLink(config.host, config.port, config.unit_id, config.command_timeout_s)
    poller = ModbusInputPoller(link, config.poll_interval_s)
    if config.presence_input is not None:
        presence = poller.add(
            f"{gate_id}.presence", config.presence_input, "presence loop, presence_input"
        )
    limit_open = (
        poller.add(
            f"{gate_id}.limit_open", config.limit_open_input, "open limit switch, limit_open_input"
        )
        if config.limit_open_input is not None
        else None
    )
    limit_closed = (
        poller.add(
            f"{gate_id}.limit_closed",
            config.limit_closed_input,
            "closed limit switch, limit_closed_input",
        )
        if config.limit_closed_input is not None
        else None
    )
    # Nothing to poll on this unit: probe the opening coil on the same cadence instead, or a
    # dead server would show only when a car is waiting at the gate.
    probe = None if poller.inputs else LinkProbe(link, config.open_channel, config.poll_interval_s)
    return RelayBarrier(
        gate_id,
        ModbusRelayPort(link, probe),
        timing=config.timing(),
        wiring=config.wiring(),
        policy=config.policy(),
        presence=presence,
        limit_open=limit_open,
        limit_closed=limit_closed,
    )


def create_modbus_input(name: str, config: ModbusInputConfig) -> ModbusDiscreteInput:
    link = ModbusLink(config.host, config.port, config.unit_id, timeout_s=2.0)
    inp = ModbusInputPoller(link, config.poll_interval_s).add(name, config.address)
    inp.own_link = True
    return inp
