"""The hardware boundary: small Protocols every driver implements, and their values.

Drivers raise only the ``HardwareError`` family from ``errors.py``; library exceptions are
translated where they happen with ``raise … from err``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from controllers.barrier import BarrierState
from wall_clock import utcnow


@dataclass(frozen=True, slots=True)
class BarrierStatus:
    """Published to listeners on every change of a barrier's state or fault.

    ``uncommanded_open``: this change is the arm reaching its open limit with no command from
    parkgate (a key switch, a remote: 异常抬杆). Only a barrier with an open limit switch wired
    can tell; it is published even when the state did not change.

    ``tailgating``: this change is a vehicle leaving the presence loop one more than the opens
    parkgate commanded for this opening (跟车): it went through unrecorded. Only a barrier with
    a presence loop can tell; published once per opening, even when the state did not change.
    """

    gate_id: str
    state: BarrierState
    fault: str | None
    at: datetime
    uncommanded_open: bool = False
    tailgating: bool = False

    def __post_init__(self) -> None:
        if not self.gate_id:
            raise ValueError("BarrierStatus.gate_id must not be empty")
        if (self.state is BarrierState.FAULT) != (self.fault is not None):
            raise ValueError(
                f"BarrierStatus.fault must be set exactly when state is fault, "
                f"got state={self.state} fault={self.fault!r}"
            )
        if self.uncommanded_open and self.state is BarrierState.FAULT:
            raise ValueError("BarrierStatus.uncommanded_open cannot come with a fault")
        if self.tailgating and self.state is BarrierState.FAULT:
            raise ValueError("BarrierStatus.tailgating cannot come with a fault")

    @property
    def is_alarm(self) -> bool:
        return self.state is BarrierState.FAULT


@dataclass(frozen=True, slots=True)
class InputChange:
    """A digital input changed (loop detector, limit switch, fire alarm)."""

    name: str
    value: bool
    at: datetime


BarrierListener = Callable[[BarrierStatus], None]
InputListener = Callable[[InputChange], None]
# (up, reason): a connection-oriented port reports losing and regaining its broker/server.
LinkListener = Callable[[bool, str], None]


@runtime_checkable
class Barrier(Protocol):
    """A vehicle barrier or a pedestrian gate driven through a relay.

    ``open``/``close``/``hold_open`` return once the device accepted the command (the state
    is then ``opening`` or already ``open``); they raise ``HardwareError`` when it did not,
    after which ``state`` is ``fault`` and ``fault`` says why. A command its caller cancels
    before the device confirmed it leaves ``fault`` too. A command the machine folds into
    one still unconfirmed (an open while opening) answers with that one, never with a state
    nothing confirmed. ``close`` while the presence loop is occupied does not raise: the
    close is deferred until the loop clears and the returned state is still ``open``.
    ``close``/``release`` during a fire alarm raise ``ConflictError``.
    """

    gate_id: str

    @property
    def state(self) -> BarrierState: ...

    @property
    def fault(self) -> str | None: ...

    @property
    def command_budget_s(self) -> float:
        """The longest a command takes before it returns or raises (its retries included);
        whoever waits on one with a time-out of its own waits longer than this."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def open(self) -> BarrierState: ...

    async def close(self) -> BarrierState: ...

    async def hold_open(self) -> BarrierState: ...

    async def release(self) -> BarrierState: ...

    async def set_fire_alarm(self, active: bool) -> BarrierState: ...

    def add_listener(self, cb: BarrierListener) -> None: ...


# A pedestrian gate is driven exactly like a vehicle barrier (relay, loop, fire hold).
Gate = Barrier


@runtime_checkable
class DigitalInput(Protocol):
    """A contact: loop detector, limit switch or fire-alarm relay.

    ``value`` is ``None`` until the first reading. Listeners are called on the event loop
    that ran ``start()``.
    """

    name: str

    @property
    def value(self) -> bool | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def add_listener(self, cb: InputListener) -> None: ...


class ContactReports:
    """For a ``DigitalInput`` driver: its last value and its listeners, told of changes only
    (a polled or subscribed input hears the same value many times)."""

    def __init__(self, name: str, value: bool | None = None) -> None:
        self.name = name
        self._value = value
        self._listeners: list[InputListener] = []

    @property
    def value(self) -> bool | None:
        return self._value

    def add_listener(self, cb: InputListener) -> None:
        self._listeners.append(cb)

    def _report(self, value: bool, at: datetime | None = None) -> None:
        if value == self._value:
            return
        self._value = value
        change = InputChange(self.name, value, at if at is not None else utcnow())
        for cb in list(self._listeners):
            cb(change)


@runtime_checkable
class Display(Protocol):
    """A free-space board (余位屏) showing the free spaces of one or more zones."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def show(self, zone_id: str, free: int) -> None: ...


class ScreenLevel(StrEnum):
    """How a lane screen colours a message: go, wait for a guard, or do not pass."""

    OK = "ok"
    WAIT = "wait"
    STOP = "stop"


# A lane screen (车道屏) has room for a few short lines; a message longer than this is a bug
# in the texts, not something to cut on the device.
SCREEN_MAX_LINES = 4
SCREEN_MAX_LINE_CHARS = 24


@dataclass(frozen=True, slots=True)
class ScreenMessage:
    """What the person at a gate is told: a few short lines, a level and, for screens with
    text-to-speech, what to say. ``passage_id`` ties it to the passage it answers (None for
    a guard's open or an idle screen); ``seq`` numbers a gate's messages in the order they
    were meant (the driver sends it, so a device can drop one that arrives late)."""

    lines: tuple[str, ...]
    level: ScreenLevel | None = None  # None: the idle screen (free spaces, a greeting)
    speak: str | None = None
    passage_id: int | None = None
    seq: int = 0

    def __post_init__(self) -> None:
        if len(self.lines) > SCREEN_MAX_LINES:
            raise ValueError(
                f"ScreenMessage.lines holds at most {SCREEN_MAX_LINES} lines, got {len(self.lines)}"
            )
        for line in self.lines:
            if not isinstance(line, str) or len(line) > SCREEN_MAX_LINE_CHARS:
                raise ValueError(
                    f"ScreenMessage line must be text of at most {SCREEN_MAX_LINE_CHARS} "
                    f"characters, got {line!r}"
                )
        if self.speak is not None and not self.speak.strip():
            raise ValueError("ScreenMessage.speak must be None or non-blank text")
        if self.level is None and self.speak is not None:
            raise ValueError("an idle ScreenMessage (level None) says nothing aloud")
        if self.seq < 0:
            raise ValueError(f"ScreenMessage.seq must be >= 0, got {self.seq}")

    @property
    def idle(self) -> bool:
        return self.level is None

    def payload(self, gate_id: str, at: datetime) -> dict[str, object]:
        """The JSON object every networked screen driver sends (docs/mqtt.md,
        ``parkgate.screen/1``)."""
        return {
            "schema": "parkgate.screen/1",
            "gate_id": gate_id,
            "seq": self.seq,
            "at": at.isoformat(),
            "mode": "idle" if self.idle else "message",
            "level": None if self.level is None else str(self.level),
            "lines": list(self.lines),
            "speak": self.speak,
            "passage_id": self.passage_id,
        }


@runtime_checkable
class GateScreen(Protocol):
    """A lane screen (车道屏) or a face terminal's screen beside one gate: it shows the person
    at the gate a ``ScreenMessage`` and goes back to its idle screen with ``clear``.

    ``show``/``clear`` return once the device took the message and raise the
    ``HardwareError`` family when it did not; the caller bounds them with a time-out (a
    screen never holds up a barrier)."""

    gate_id: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def show(self, message: ScreenMessage) -> None: ...

    async def clear(self, idle: ScreenMessage) -> None: ...


@runtime_checkable
class RelayPort(Protocol):
    """The transport a relay-driven barrier talks through (one per driver).

    ``set_output`` switches one relay channel and returns once the device confirmed the new
    state (MQTT echo, Modbus response, HTTP 2xx, GPIO read-back); it raises
    ``HardwareUnavailableError`` when the device or broker cannot be reached and
    ``HardwareError`` when the device answered wrongly. Time-outs are applied by the caller.

    ``connect`` returns once the broker or server answers and raises
    ``HardwareUnavailableError`` when it does not within the port's configured time-out. A
    port that is also a ``LinkWatcher`` keeps trying after that and reports the link as soon
    as it is up, so a gate started while its peer was down does not wait for a command to
    recover.
    """

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def set_output(self, channel: int, on: bool) -> None: ...


@runtime_checkable
class SharedDevice(Protocol):
    """Optional for a ``RelayPort`` whose device also serves reads of the port's own (an HTTP
    status poll), one request at a time. ``command_turn`` is entered before a command's
    attempts: it waits for a read already on the wire (at most ``turn_wait_s``) and keeps
    new ones off until it is left, so that wait is not taken out of the command's own
    time-out."""

    @property
    def turn_wait_s(self) -> float: ...

    def command_turn(self) -> AbstractAsyncContextManager[None]: ...


class LinkReports:
    """For a port that watches its own link (a ``LinkWatcher``): keeps its listeners and tells
    them of each change, only changes, since a port may read its device many times a second."""

    def __init__(self) -> None:
        self._link_listeners: list[LinkListener] = []
        self._up: bool | None = None

    def add_link_listener(self, cb: LinkListener) -> None:
        self._link_listeners.append(cb)

    def _link(self, up: bool, reason: str) -> None:
        if up == self._up:
            return
        self._up = up
        for cb in list(self._link_listeners):
            cb(up, reason)

    def _forget_link(self) -> None:
        """The next report is made whatever the last was (a port that starts again)."""
        self._up = None


@runtime_checkable
class LinkWatcher(Protocol):
    """Optional for a ``RelayPort``: tells the barrier when its link drops or returns, so a
    dead broker shows as a fault before the next car, not only when a command fails."""

    def add_link_listener(self, cb: LinkListener) -> None: ...


@runtime_checkable
class InputLink(Protocol):
    """Optional for a ``DigitalInput`` read over a link of its own (a Modbus input on another
    board than its barrier's): ``own_link`` says whether it has one, and its listeners hear
    the link drop (the input no longer read) and return, so the barrier holds its fault."""

    @property
    def own_link(self) -> bool: ...

    def add_link_listener(self, cb: LinkListener) -> None: ...


@runtime_checkable
class InputsWatcher(Protocol):
    """Optional for a ``LinkWatcher`` whose device also carries the barrier's inputs (a
    Modbus board's presence loop and limit switches). ``inputs_refused`` says why the device
    refuses to read them (an address it does not have), None while it reads them. The port
    reports its link down while they are refused and up once they read again; meanwhile the
    barrier's fault is this text, and no command a device answer would confirm clears it: the
    loop that keeps the arm off a car is not read."""

    @property
    def inputs_refused(self) -> str | None: ...
