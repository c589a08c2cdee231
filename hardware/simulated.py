"""A complete simulated barrier, contacts, free-space board and lane screen.

Not a test stub: the simulated barrier runs the same ``RelayBarrier`` logic as the real
drivers over a simulated motor with realistic timing and limit switches, so the vehicle-entry
flow can be developed and demonstrated without hardware. Faults can be injected at run time
(``stuck``, ``no_echo``, ``slow``, ``offline``) to rehearse alarms.
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from typing import TypeVar

from controllers.barrier import BarrierTiming
from errors import HardwareUnavailableError
from hardware.base import ContactReports, DigitalInput, ScreenMessage
from hardware.relay_barrier import CommandPolicy, RelayBarrier, RelayWiring

# What a simulated device remembers of what it was sent, newest last: enough for a test or a
# look at a demo, and bounded, since the demo runs for days (bench.soak found every car's
# commands and screen messages kept).
SIM_HISTORY = 1000
T = TypeVar("T")


def remember(history: list[T], item: T) -> None:
    """Append, dropping the oldest beyond ``SIM_HISTORY``."""
    history.append(item)
    if len(history) > SIM_HISTORY:
        del history[: len(history) - SIM_HISTORY]


logger = logging.getLogger(__name__)


class SimFault(StrEnum):
    STUCK = "stuck"  # the relay answers but the arm never moves: motion time-out
    NO_ECHO = "no_echo"  # the relay never confirms: command time-out
    SLOW = "slow"  # the arm moves, slow_factor times slower than normal
    OFFLINE = "offline"  # the device cannot be reached at all


class SimulatedInput(ContactReports):
    """A contact set by code: a loop detector, a limit switch or a fire-alarm relay."""

    def __init__(self, name: str, value: bool = False) -> None:
        super().__init__(name, value)

    async def start(self) -> None:
        return None  # nothing to connect: the value is set by code

    async def stop(self) -> None:
        return None

    def set(self, value: bool) -> None:
        """Change the contact; listeners run now, on the caller's thread (the event loop)."""
        self._report(value)


class SimulatedMotor:
    """The ``RelayPort`` of the simulated barrier: a relay driving an arm with limit switches."""

    def __init__(
        self,
        *,
        wiring: RelayWiring,
        limit_open: SimulatedInput,
        limit_closed: SimulatedInput,
        opening_s: float = 1.5,
        closing_s: float = 1.5,
        echo_delay_s: float = 0.02,
        slow_factor: float = 4.0,
    ) -> None:
        self.wiring = wiring
        self.limit_open = limit_open
        self.limit_closed = limit_closed
        self.opening_s = opening_s
        self.closing_s = closing_s
        self.echo_delay_s = echo_delay_s
        self.slow_factor = slow_factor
        self.faults: set[SimFault] = set()
        self.relays: dict[int, bool] = {}
        self.commands: list[tuple[int, bool]] = []  # what the barrier sent, for demos and tests
        self._motion: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        if SimFault.OFFLINE in self.faults:
            raise HardwareUnavailableError("simulated barrier is offline")

    async def disconnect(self) -> None:
        if self._motion is not None:
            self._motion.cancel()
            self._motion = None

    async def set_output(self, channel: int, on: bool) -> None:
        if SimFault.OFFLINE in self.faults:
            raise HardwareUnavailableError("simulated barrier is offline")
        if SimFault.NO_ECHO in self.faults:
            # The relay never answers; the barrier's command time-out ends this wait.
            await asyncio.Event().wait()
        await asyncio.sleep(self.echo_delay_s)
        remember(self.commands, (channel, on))
        self.relays[channel] = on
        direction = self._direction(channel, on)
        if direction is not None and SimFault.STUCK not in self.faults:
            self._move(direction)

    def _direction(self, channel: int, on: bool) -> str | None:
        if self.wiring.mode == "latch":
            return ("open" if on else "close") if channel == self.wiring.open_channel else None
        if not on:
            return None  # the trailing edge of a pulse does nothing
        if channel == self.wiring.open_channel:
            return "open"
        return "close" if channel == self.wiring.close_channel else None

    def move_by_hand(self, direction: str) -> None:
        """The arm moved by the barrier's own means (remote, key switch): no relay involved."""
        self._move(direction)

    def _move(self, direction: str) -> None:
        if self._motion is not None:
            self._motion.cancel()
        self._motion = asyncio.create_task(self._run_motion(direction))

    async def _run_motion(self, direction: str) -> None:
        seconds = self.opening_s if direction == "open" else self.closing_s
        if SimFault.SLOW in self.faults:
            seconds *= self.slow_factor
        if direction == "open":
            self.limit_closed.set(False)
            await asyncio.sleep(seconds)
            self.limit_open.set(True)
        else:
            self.limit_open.set(False)
            await asyncio.sleep(seconds)
            self.limit_closed.set(True)
        logger.debug("simulated arm reached %s after %.2f s", direction, seconds)


class SimulatedBarrier(RelayBarrier):
    """A barrier with a simulated motor, limit switches and presence loop.

    Drive the loop with ``presence_loop.set(True/False)``; inject faults with
    ``inject_fault(SimFault.STUCK)`` and remove them with ``clear_faults()``; lift the arm
    as a remote would with ``lift_by_hand()``.
    """

    def __init__(
        self,
        gate_id: str,
        *,
        timing: BarrierTiming | None = None,
        policy: CommandPolicy | None = None,
        opening_s: float = 1.5,
        closing_s: float = 1.5,
        echo_delay_s: float = 0.02,
        slow_factor: float = 4.0,
        presence: DigitalInput | None = None,
    ) -> None:
        """``presence`` replaces the simulated loop with a real detector when given."""
        wiring = RelayWiring(mode="latch", open_channel=1)
        self.presence_loop = SimulatedInput(f"{gate_id}.presence")
        self.limit_open_switch = SimulatedInput(f"{gate_id}.limit_open")
        self.limit_closed_switch = SimulatedInput(f"{gate_id}.limit_closed", value=True)
        self.motor = SimulatedMotor(
            wiring=wiring,
            limit_open=self.limit_open_switch,
            limit_closed=self.limit_closed_switch,
            opening_s=opening_s,
            closing_s=closing_s,
            echo_delay_s=echo_delay_s,
            slow_factor=slow_factor,
        )
        super().__init__(
            gate_id,
            self.motor,
            timing=timing,
            wiring=wiring,
            policy=policy,
            presence=presence or self.presence_loop,
            limit_open=self.limit_open_switch,
            limit_closed=self.limit_closed_switch,
        )

    def inject_fault(self, fault: SimFault) -> None:
        logger.warning("gate %s: simulated fault %s injected", self.gate_id, fault)
        self.motor.faults.add(fault)

    def clear_faults(self) -> None:
        self.motor.faults.clear()

    def lift_by_hand(self) -> None:
        """The barrier's own remote or key switch: the arm goes up with the relay untouched,
        to rehearse the 异常抬杆 alarm. Call it on the event loop."""
        logger.warning("gate %s: simulated arm lifted by hand", self.gate_id)
        self.motor.move_by_hand("open")


class SimulatedDisplay:
    """A free-space board that remembers what it shows (and can be taken offline)."""

    def __init__(self, name: str = "sim-display") -> None:
        self.name = name
        self.shown: dict[str, int] = {}
        self.history: list[tuple[str, int]] = []
        self.offline = False

    async def start(self) -> None:
        return None  # nothing to connect

    async def stop(self) -> None:
        return None

    async def show(self, zone_id: str, free: int) -> None:
        if self.offline:
            raise HardwareUnavailableError(f"display {self.name} is offline")
        self.shown[zone_id] = free
        remember(self.history, (zone_id, free))
        logger.debug("display %s: zone %s free %s", self.name, zone_id, free)


class SimulatedScreen:
    """A lane screen that keeps what it shows, for the demo, the console and tests.

    Its faults are a real screen's: ``offline`` refuses every message at once (powered off,
    unplugged), ``hung`` accepts the connection and never answers (a frozen controller),
    ``delay_s`` answers late. ``shown`` is what the person at the gate sees now."""

    def __init__(self, gate_id: str) -> None:
        self.gate_id = gate_id
        self.shown: ScreenMessage | None = None
        self.history: list[ScreenMessage] = []
        self.offline = False
        self.hung = False
        self.delay_s = 0.0
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def show(self, message: ScreenMessage) -> None:
        await self._take(message)

    async def clear(self, idle: ScreenMessage) -> None:
        await self._take(idle)

    async def _take(self, message: ScreenMessage) -> None:
        if self.offline:
            raise HardwareUnavailableError(f"screen at {self.gate_id} is offline")
        if self.hung:
            # Like a frozen controller: the caller's time-out is what ends the wait.
            await asyncio.Event().wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.shown = message
        remember(self.history, message)
        logger.debug("screen %s shows %s", self.gate_id, " / ".join(message.lines) or "(idle)")
