"""One place that turns configuration into drivers, and the fire-alarm safety supervisor.

Driver modules are imported only when a gate uses them, so a deployment with simulated
barriers does not need paho, pymodbus or gpiozero to import cleanly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from errors import ConflictError, HardwareError, InvalidInputError
from hardware.base import (
    Barrier,
    BarrierStatus,
    DigitalInput,
    Display,
    GateScreen,
    InputChange,
)
from hardware.config import (
    BarrierConfig,
    DisplayConfig,
    GpioBarrierConfig,
    GpioInputConfig,
    HttpBarrierConfig,
    HttpDisplayConfig,
    HttpScreenConfig,
    InputConfig,
    ModbusBarrierConfig,
    ModbusDisplayConfig,
    ModbusInputConfig,
    MqttBarrierConfig,
    MqttDisplayConfig,
    MqttInputConfig,
    MqttScreenConfig,
    ScreenConfig,
    SimBarrierConfig,
    SimDisplayConfig,
    SimInputConfig,
    SimScreenConfig,
)
from hardware.simulated import (
    SimulatedBarrier,
    SimulatedDisplay,
    SimulatedInput,
    SimulatedScreen,
)
from wall_clock import utcnow

logger = logging.getLogger(__name__)


def create_barrier(gate_id: str, config: BarrierConfig) -> Barrier:
    """Build the barrier of one gate; nothing connects until ``start()``."""
    presence_config = getattr(config, "presence", None)
    presence = (
        create_input(f"{gate_id}.presence", presence_config)
        if presence_config is not None
        else None
    )
    if isinstance(config, SimBarrierConfig):
        return SimulatedBarrier(
            gate_id,
            timing=config.timing(),
            policy=config.policy(),
            opening_s=config.opening_s,
            closing_s=config.closing_s,
            echo_delay_s=config.echo_delay_s,
            presence=presence,
        )
    if isinstance(config, MqttBarrierConfig):
        from hardware.mqtt import create_mqtt_barrier

        return create_mqtt_barrier(gate_id, config, presence)
    if isinstance(config, ModbusBarrierConfig):
        from hardware.modbus import create_modbus_barrier

        return create_modbus_barrier(gate_id, config, presence)
    if isinstance(config, GpioBarrierConfig):
        from hardware.gpio import create_gpio_barrier

        return create_gpio_barrier(gate_id, config, presence)
    if isinstance(config, HttpBarrierConfig):
        from hardware.http import create_http_barrier

        return create_http_barrier(gate_id, config, presence)
    raise TypeError(f"unknown barrier config {type(config).__name__}")


def create_input(name: str, config: InputConfig) -> DigitalInput:
    """Build a contact (e.g. the fire-alarm input of the ``SafetySupervisor``)."""
    if isinstance(config, SimInputConfig):
        return SimulatedInput(name)
    if isinstance(config, MqttInputConfig):
        from hardware.mqtt import create_mqtt_input

        return create_mqtt_input(name, config)
    if isinstance(config, ModbusInputConfig):
        from hardware.modbus import create_modbus_input

        return create_modbus_input(name, config)
    if isinstance(config, GpioInputConfig):
        from hardware.gpio import create_gpio_input

        return create_gpio_input(name, config)
    raise TypeError(f"unknown input config {type(config).__name__}")


def create_display(name: str, config: DisplayConfig) -> Display:
    """Build a free-space board."""
    if isinstance(config, SimDisplayConfig):
        return SimulatedDisplay(name)
    if isinstance(config, MqttDisplayConfig):
        from hardware.mqtt import MqttDisplay

        return MqttDisplay(name, config)
    if isinstance(config, ModbusDisplayConfig):
        from hardware.modbus import ModbusDisplay

        return ModbusDisplay(name, config)
    if isinstance(config, HttpDisplayConfig):
        from hardware.http import HttpDisplay

        return HttpDisplay(name, config)
    raise TypeError(f"unknown display config {type(config).__name__}")


def create_screen(gate_id: str, config: ScreenConfig) -> GateScreen:
    """Build the lane screen of one gate; nothing connects until ``start()``."""
    if isinstance(config, SimScreenConfig):
        return SimulatedScreen(gate_id)
    if isinstance(config, MqttScreenConfig):
        from hardware.mqtt import MqttScreen

        return MqttScreen(gate_id, config)
    if isinstance(config, HttpScreenConfig):
        from hardware.http import HttpScreen

        return HttpScreen(gate_id, config)
    raise TypeError(f"unknown screen config {type(config).__name__}")


class SafetyEventKind(StrEnum):
    FIRE_ALARM = "fire_alarm"
    FIRE_ALARM_CLEARED = "fire_alarm_cleared"
    BARRIER_FAULT = "barrier_fault"
    BARRIER_RECOVERED = "barrier_recovered"
    # The arm went up with no command from parkgate (异常抬杆): a key switch, a remote or a
    # hand let someone past the system. Seen only where an open limit switch is wired.
    BARRIER_MANUAL_OPEN = "barrier_manual_open"
    # A second vehicle went through one opening meant for one (跟车): it is not recorded and
    # not counted. Seen only where a presence loop is wired.
    TAILGATING = "tailgating"


@dataclass(frozen=True, slots=True)
class SafetyEvent:
    """An alarm for guards and the event log."""

    kind: SafetyEventKind
    at: datetime
    message: str
    gate_id: str | None = None
    user: str | None = None


SafetyListener = Callable[[SafetyEvent], None]


class SafetySupervisor:
    """Owns the fire-alarm input and applies "open every gate and hold" to all barriers.

    The alarm latches: when the input goes back to normal the gates stay open until an admin
    calls ``clear_fire_alarm(user)`` (refused while the input is still active). It also
    turns every barrier fault, every arm raised without a command and every vehicle following
    another through one opening into a ``SafetyEvent`` for the alarm listeners.
    """

    def __init__(self, fire_input: DigitalInput | None = None) -> None:
        self.fire_input = fire_input
        self._barriers: dict[str, Barrier] = {}
        self._listeners: list[SafetyListener] = []
        self._latched = False
        self._faulted: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def fire_alarm_active(self) -> bool:
        return self._latched

    @property
    def barriers(self) -> dict[str, Barrier]:
        return dict(self._barriers)

    def add_listener(self, cb: SafetyListener) -> None:
        self._listeners.append(cb)

    def register(self, barrier: Barrier) -> None:
        if barrier.gate_id in self._barriers:
            raise InvalidInputError(f"gate {barrier.gate_id} is already registered")
        self._barriers[barrier.gate_id] = barrier
        barrier.add_listener(self._on_barrier_status)
        if self._latched:
            # A gate added during a fire alarm joins the hold at once.
            self._spawn(self._apply_one(barrier, True))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        if self.fire_input is None:
            return
        self.fire_input.add_listener(self._on_fire_input)
        await self.fire_input.start()
        if self.fire_input.value:
            await self.trigger_fire_alarm(f"input {self.fire_input.name} active at start")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.fire_input is not None:
            await self.fire_input.stop()

    async def trigger_fire_alarm(self, source: str) -> None:
        """Open every gate and hold it open. Also callable from a guard's panic button."""
        first = not self._latched
        self._latched = True
        if first:
            logger.critical("FIRE ALARM (%s): opening all %s gates", source, len(self._barriers))
            self._emit(SafetyEvent(SafetyEventKind.FIRE_ALARM, _now(), source))
        await self._apply_all(True)

    async def clear_fire_alarm(self, user: str) -> None:
        """Admin action: end the fire hold; barriers go back to normal auto-close."""
        if not user:
            raise InvalidInputError("clear_fire_alarm needs the admin's user name")
        if self.fire_input is not None and self.fire_input.value:
            raise ConflictError("the fire-alarm input is still active; it cannot be cleared")
        if not self._latched:
            return
        self._latched = False
        logger.warning("fire alarm cleared by %s", user)
        self._emit(
            SafetyEvent(
                SafetyEventKind.FIRE_ALARM_CLEARED, _now(), f"cleared by {user}", user=user
            )
        )
        await self._apply_all(False)

    async def _apply_all(self, active: bool) -> None:
        # Concurrently: a hung gate must not delay opening the others. Each barrier bounds
        # its own wait with its command time-out and retries.
        await asyncio.gather(*(self._apply_one(b, active) for b in self._barriers.values()))

    async def _apply_one(self, barrier: Barrier, active: bool) -> None:
        try:
            await barrier.set_fire_alarm(active)
        except HardwareError as err:
            # Already a visible fault on that gate; the other gates go on regardless.
            logger.error("gate %s: fire alarm %s not applied: %s",
                         barrier.gate_id, "on" if active else "off", err)

    def _on_fire_input(self, change: InputChange) -> None:
        if not change.value:
            logger.warning("fire-alarm input %s back to normal; gates stay open until an "
                           "admin clears the alarm", change.name)
            return
        self._spawn(self.trigger_fire_alarm(f"input {change.name}"))

    def _on_barrier_status(self, status: BarrierStatus) -> None:
        if status.uncommanded_open:
            # The alarm's own time is the raise's (stored, or journalled during an outage).
            self._emit(SafetyEvent(
                SafetyEventKind.BARRIER_MANUAL_OPEN, status.at,
                f"barrier at {status.gate_id} raised without a command from parkgate "
                "(key switch, remote or by hand)",
                gate_id=status.gate_id,
            ))
        if status.tailgating:
            self._emit(SafetyEvent(
                SafetyEventKind.TAILGATING, status.at,
                f"a vehicle followed through gate {status.gate_id} on an opening for the one "
                "before it (tailgating): it is not recorded and not counted",
                gate_id=status.gate_id,
            ))
        if status.is_alarm:
            self._faulted.add(status.gate_id)
            self._emit(SafetyEvent(SafetyEventKind.BARRIER_FAULT, status.at,
                                   status.fault or "fault", gate_id=status.gate_id))
        elif status.gate_id in self._faulted:
            self._faulted.discard(status.gate_id)
            self._emit(SafetyEvent(SafetyEventKind.BARRIER_RECOVERED, status.at,
                                   f"now {status.state}", gate_id=status.gate_id))

    def _emit(self, event: SafetyEvent) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:
                logger.exception("safety listener %r failed", cb)


def _now() -> datetime:
    return utcnow()
