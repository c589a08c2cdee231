"""Relays and contacts on the controller's own GPIO pins (gpiozero).

Channels are BCM pin numbers. A relay counts as confirmed when the optional feedback input
(wired to the relay's contact) follows it, or else when the pin reads back as driven.
gpiozero calls input callbacks on its own thread; they are moved onto the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from gpiozero import Device, DigitalInputDevice, GPIOZeroError, OutputDevice
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory

from errors import HardwareError, HardwareUnavailableError
from hardware.base import ContactReports, DigitalInput
from hardware.config import GpioBarrierConfig, GpioInputConfig
from hardware.relay_barrier import RelayBarrier

logger = logging.getLogger(__name__)


def pin_factory(kind: Literal["default", "mock"]) -> Factory | None:
    """``mock`` shares one MockFactory as gpiozero's default so tests can reach its pins."""
    if kind == "default":
        return None  # gpiozero picks lgpio/RPi.GPIO/native on the board
    if not isinstance(Device.pin_factory, MockFactory):
        Device.pin_factory = MockFactory()
    return Device.pin_factory


class GpioInput(ContactReports):
    """A contact on one input pin."""

    def __init__(
        self, name: str, pin: int, *, pull_up: bool = True, factory: Factory | None = None
    ) -> None:
        super().__init__(name)
        self.pin = pin
        self.pull_up = pull_up
        self.factory = factory
        self._device: DigitalInputDevice | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self._device is not None:
            return
        self._loop = asyncio.get_running_loop()
        try:
            device = DigitalInputDevice(self.pin, pull_up=self.pull_up, pin_factory=self.factory)
        except GPIOZeroError as err:
            raise HardwareUnavailableError(f"GPIO input {self.name} pin {self.pin}: {err}") from err
        device.when_activated = lambda: self._from_thread(True)
        device.when_deactivated = lambda: self._from_thread(False)
        self._device = device
        self._set(bool(device.is_active))

    async def stop(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None

    def _from_thread(self, value: bool) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._set, value)

    def _set(self, value: bool) -> None:
        self._report(value)


class GpioRelayPort:
    """Relays on output pins, confirmed by a feedback input or by reading the pin back."""

    def __init__(
        self,
        pins: set[int],
        *,
        active_high: bool = True,
        feedback: GpioInput | None = None,
        feedback_channel: int | None = None,
        factory: Factory | None = None,
    ) -> None:
        self.pins = pins
        self.active_high = active_high
        self.feedback = feedback
        self.feedback_channel = feedback_channel
        self.factory = factory
        self._outputs: dict[int, OutputDevice] = {}
        # Why connect() could not open the relay pins: each command says so, not "not set up".
        self._not_started: str | None = None

    async def connect(self) -> None:
        try:
            for pin in sorted(self.pins - set(self._outputs)):
                self._outputs[pin] = OutputDevice(
                    pin, active_high=self.active_high, initial_value=False,
                    pin_factory=self.factory,
                )
        except GPIOZeroError as err:
            self._not_started = f"GPIO relay pins {sorted(self.pins)}: {err}"
            raise HardwareUnavailableError(self._not_started) from err
        self._not_started = None
        if self.feedback is not None:
            await self.feedback.start()

    async def disconnect(self) -> None:
        for device in self._outputs.values():
            device.close()
        self._outputs.clear()
        if self.feedback is not None:
            await self.feedback.stop()

    async def set_output(self, channel: int, on: bool) -> None:
        device = self._outputs.get(channel)
        if device is None:
            raise HardwareUnavailableError(
                self._not_started or f"GPIO pin {channel} is not set up as a relay"
            )
        try:
            device.value = on
            read_back = bool(device.value)
        except GPIOZeroError as err:
            raise HardwareError(f"GPIO pin {channel}: {err}") from err
        if read_back is not on:
            raise HardwareError(f"GPIO pin {channel} reads {read_back} after driving {on}")
        if self.feedback is None or channel != self.feedback_channel:
            return
        # The contact follows within milliseconds; the barrier's time-out bounds the wait.
        while self.feedback.value is not on:
            await asyncio.sleep(0.01)


def create_gpio_barrier(
    gate_id: str, config: GpioBarrierConfig, presence: DigitalInput | None = None
) -> RelayBarrier:
    factory = pin_factory(config.pin_factory)

    def contact(suffix: str, pin: int | None) -> GpioInput | None:
        if pin is None:
            return None
        return GpioInput(f"{gate_id}.{suffix}", pin, pull_up=config.pull_up, factory=factory)

    pins = {config.open_channel}
    if config.close_channel is not None:
        pins.add(config.close_channel)
    port = GpioRelayPort(
        pins,
        active_high=config.active_high,
        feedback=contact("relay_feedback", config.feedback_pin),
        feedback_channel=config.open_channel,  # the feedback contact sits on the open relay
        factory=factory,
    )
    return RelayBarrier(
        gate_id,
        port,
        timing=config.timing(),
        wiring=config.wiring(),
        policy=config.policy(),
        presence=contact("presence", config.presence_pin) or presence,
        limit_open=contact("limit_open", config.limit_open_pin),
        limit_closed=contact("limit_closed", config.limit_closed_pin),
    )


def create_gpio_input(name: str, config: GpioInputConfig) -> GpioInput:
    return GpioInput(
        name, config.pin, pull_up=config.pull_up, factory=pin_factory(config.pin_factory)
    )
