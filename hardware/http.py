"""Relays and free-space boards switched by HTTP requests (URL templates), via httpx.

Suits Shelly Gen1 (``/relay/0?turn=on``), many Chinese network relay boards and barrier
controllers with a web API. A 2xx answer (containing ``expect_body`` when set) is the echo.

With ``status_url`` set, the port reads it every ``poll_interval_s`` and reports the link to
the barrier as the Modbus coil probe does: two failed reads in a row are a lost link (a gate
fault before any car), the next good read brings it back. Without it HTTP has no link to
watch and a dead device shows only when a command fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from errors import ConfigError, HardwareError, HardwareTimeoutError, HardwareUnavailableError
from hardware.base import DigitalInput, LinkReports, ScreenMessage
from hardware.config import HttpBarrierConfig, HttpDisplayConfig, HttpScreenConfig
from hardware.relay_barrier import RelayBarrier
from url_credentials import shown_url, split_credentials
from wall_clock import utcnow

logger = logging.getLogger(__name__)

# Status reads failed this many times in a row make the link down, as for the Modbus probe:
# one lost request on a busy Wi-Fi is not yet a dead device.
FAILED_STATUS_READS = 2


async def _request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    expect_body: str | None = None,
    *,
    json_body: object | None = None,
) -> httpx.Response:
    """One request (with a JSON body when given); httpx errors become the HardwareError
    family."""
    shown = shown_url(url)
    bare, credentials = split_credentials(url)
    # A password in the URL goes as the request's basic auth (what httpx would make of it),
    # so that httpx's request log and errors name the URL without it.
    try:
        if credentials is None:  # the client's own (auth_env), if any
            response = await client.request(method, bare, json=json_body)
        else:
            response = await client.request(
                method, bare, json=json_body, auth=httpx.BasicAuth(*credentials)
            )
    except (httpx.ConnectError, httpx.ConnectTimeout) as err:
        raise HardwareUnavailableError(f"HTTP {shown}: {err!r}") from err
    except httpx.TimeoutException as err:
        raise HardwareTimeoutError(f"HTTP {shown}: no answer: {err!r}") from err
    except httpx.HTTPError as err:
        raise HardwareUnavailableError(f"HTTP {shown}: {err!r}") from err
    if not response.is_success:
        raise HardwareError(f"HTTP {shown}: status {response.status_code}")
    if expect_body is not None and expect_body not in response.text:
        raise HardwareError(
            f"HTTP {shown}: answer lacks {expect_body!r}: {response.text[:80]!r}"
        )
    return response


def _auth(env: str | None) -> httpx.BasicAuth | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None or ":" not in value:
        raise ConfigError(f"environment variable {env} must hold 'user:password'")
    user, password = value.split(":", 1)
    return httpx.BasicAuth(user, password)


class DeviceTurns:
    """What every port switching one HTTP device shares (the entry and exit gates on the two
    channels of one board): its requests are taken one at a time across them all."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        # Commands that entered command_turn and are not done: no read starts meanwhile.
        self.commands_waiting = 0
        # Event-loop time until which a pulse on the device may still be open.
        self.pulse_open_until = 0.0


# Per event loop and device origin (scheme, host, port); gone with the last port using it.
_DEVICES: weakref.WeakValueDictionary[tuple[asyncio.AbstractEventLoop, str], DeviceTurns] = (
    weakref.WeakValueDictionary()
)


def device_turns(url: str) -> DeviceTurns:
    """The turns of the device ``url`` is on, shared by every port of this event loop."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    key = (asyncio.get_running_loop(), origin)
    turns = _DEVICES.get(key)
    if turns is None:
        turns = _DEVICES[key] = DeviceTurns()
    return turns


class HttpRelayPort(LinkReports):
    """The relay channels of one HTTP device, one request at a time.

    Always a ``LinkWatcher`` by shape, but it reports the link only when ``status_url`` is
    configured: without it nothing is ever reported and the barrier behaves as before.
    """

    def __init__(self, config: HttpBarrierConfig) -> None:
        super().__init__()
        self.config = config
        self.status_url = config.resolved_status_url()
        self._client: httpx.AsyncClient | None = None
        # Serialises commands and status reads: many relay boards serve one request at a
        # time and drop or stall a second connection. Shared with the other gates' ports on
        # the same device once connected (each polling it would otherwise overlap the other's
        # commands).
        self._turns = DeviceTurns()
        # Commands the device confirmed so far: a status read sees from it that the device
        # answered between two of its own failed reads.
        self.answers = 0
        self._poll_task: asyncio.Task[None] | None = None
        # Why connect() could not make its client (auth_env unset): each command says so.
        self._not_started: str | None = None

    @property
    def turn_wait_s(self) -> float:
        """The longest a command waits for a status read on the wire (its bound)."""
        return self.config.command_timeout_s if self.status_url is not None else 0.0

    @contextlib.asynccontextmanager
    async def command_turn(self) -> AsyncIterator[None]:
        """Entered by the barrier before a command's attempts and their time-outs: a read on
        the wire ends first (within turn_wait_s), and none starts until the command is done.
        Waited for inside set_output instead, a slow read took its time out of the command's
        first attempt: with retries 0 a car's open failed on a device answering every
        request."""
        turns = self._turns
        turns.commands_waiting += 1
        try:
            async with turns.lock:
                pass
            yield
        finally:
            turns.commands_waiting -= 1

    async def connect(self) -> None:
        # No request here: HTTP has no session. The status poll (when configured) shows
        # reachability from its reads; otherwise the first command does.
        if self._client is None:
            try:
                auth = _auth(self.config.auth_env)
            except ConfigError as err:
                self._not_started = str(err)
                raise
            self._not_started = None
            self._turns = device_turns(self.config.on_url.format(channel=self.config.open_channel))
            self._client = httpx.AsyncClient(timeout=self.config.command_timeout_s, auth=auth)
        if self.status_url is not None and self._poll_task is None:
            self._poll_task = asyncio.create_task(
                self._poll(self._client, self.status_url),
                name=f"http-status-{shown_url(self.status_url)}",
            )

    async def disconnect(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
            self._poll_task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._forget_link()  # a restarted port reports its first read afresh

    async def set_output(self, channel: int, on: bool) -> None:
        if self._client is None:
            raise HardwareUnavailableError(self._not_started or "HTTP relay used before connect()")
        template = self.config.on_url if on else self.config.off_url
        async with self._turns.lock:
            await _request(
                self._client, self.config.method, template.format(channel=channel),
                self.config.expect_body,
            )
        self.answers += 1
        if self._up is False:
            # The barrier takes this answer as the end of the lost link's fault. Unless the
            # poll may report the link lost again, a device that dies after it (or a
            # status_url that never reads well) leaves the gate looking healthy until a car's
            # command fails: the watch would have stopped watching without a word.
            self._forget_link()
        if self.config.relay_mode == "pulse":
            # A pulse is two requests pulse_ms apart: a read between them would stretch it by
            # as long as the device takes to answer. Bounded, so an "off" that never comes (a
            # cancelled command) cannot stop the poll for good.
            loop = asyncio.get_running_loop()
            self._turns.pulse_open_until = (
                loop.time() + self.config.pulse_ms / 1000 + self.config.command_timeout_s
                if on else 0.0
            )

    async def read_status(self, client: httpx.AsyncClient, url: str) -> None:
        """One status read; raises the HardwareError family when the device did not answer
        as configured."""
        async with self._turns.lock:
            try:
                # httpx's time-out is per phase (connect, each read): a device trickling its
                # answer could outlast it, so the whole read is bounded too.
                async with asyncio.timeout(self.config.command_timeout_s):
                    await _request(client, "GET", url, self.config.status_expect_body)
            except TimeoutError as err:
                raise HardwareTimeoutError(
                    f"HTTP {shown_url(url)}: no answer within {self.config.command_timeout_s:g} s"
                ) from err

    async def _poll(self, client: httpx.AsyncClient, url: str) -> None:
        streak = FailedReads(self)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.poll_interval_s)
            # Skipped, not queued, while a command holds the device (or is between the two
            # halves of a pulse): the command's own answer, or its failure, which faults the
            # gate anyway, says as much about the device as a read would, and a read queued in
            # front of a car's open would only delay it on a board that serves one request at
            # a time. The check and the lock's acquisition below happen without a yield, so no
            # command can slip in between; a command that comes during a read waits for it.
            turns = self._turns
            if (
                turns.lock.locked() or turns.commands_waiting
                or loop.time() < turns.pulse_open_until
            ):
                continue
            try:
                await self.read_status(client, url)
            except Exception as err:
                # Anything but HardwareError is a fault of ours, not the device's: logged with
                # its trace but counted all the same, so a read that cannot work ends in a
                # visible gate fault, never in a watch that stopped without a word.
                in_a_row = streak.failed()
                if in_a_row == 1 and isinstance(err, HardwareError):
                    logger.warning("HTTP relay status read failed: %s", err)
                elif in_a_row == 1:
                    logger.exception("HTTP relay status read of %s failed", shown_url(url))
                if in_a_row >= FAILED_STATUS_READS:
                    self._link(False, f"{in_a_row} status reads in a row failed, last: {err}")
                continue
            if streak.in_a_row:
                logger.info("HTTP relay %s answers again", shown_url(url))
            streak.answered()
            self._link(True, f"{shown_url(url)} answering")


class FailedReads:
    """Counts a port's failed status reads in a row. A command the device confirmed since the
    previous read ends the streak: the device spoke between the two reads."""

    def __init__(self, port: HttpRelayPort) -> None:
        self.port = port
        self.in_a_row = 0
        self._answers_seen = port.answers

    def answered(self) -> None:
        self.in_a_row = 0
        self._answers_seen = self.port.answers

    def failed(self) -> int:
        """Count one failed read; returns how many failed in a row now."""
        if self.port.answers != self._answers_seen:
            self.answered()
        self.in_a_row += 1
        return self.in_a_row


class HttpDisplay:
    def __init__(self, name: str, config: HttpDisplayConfig) -> None:
        self.name = name
        self.config = config
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout_s)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def show(self, zone_id: str, free: int) -> None:
        if self._client is None:
            raise HardwareUnavailableError(f"display {self.name} used before start()")
        url = self.config.url.format(zone_id=zone_id, free=free)
        await _request(self._client, self.config.method, url)


class HttpScreen:
    """A lane screen with a web API: each message is POSTed to its URL as JSON
    (``parkgate.screen/1``, docs/mqtt.md); any 2xx answer is the device taking it."""

    def __init__(self, gate_id: str, config: HttpScreenConfig) -> None:
        self.gate_id = gate_id
        self.config = config
        self.url = config.resolved_url(gate_id)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.config.timeout_s, auth=_auth(self.config.auth_env)
            )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def show(self, message: ScreenMessage) -> None:
        await self._post(message)

    async def clear(self, idle: ScreenMessage) -> None:
        await self._post(idle)

    async def _post(self, message: ScreenMessage) -> None:
        if self._client is None:
            raise HardwareUnavailableError(f"screen at {self.gate_id} used before start()")
        body = message.payload(self.gate_id, utcnow())
        await _request(self._client, "POST", self.url, json_body=body)


def create_http_barrier(
    gate_id: str, config: HttpBarrierConfig, presence: DigitalInput | None = None
) -> RelayBarrier:
    return RelayBarrier(
        gate_id,
        HttpRelayPort(config),
        timing=config.timing(),
        wiring=config.wiring(),
        policy=config.policy(),
        presence=presence,
    )
