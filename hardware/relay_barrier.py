"""One barrier implementation for every relay transport (sim, MQTT, Modbus, GPIO, HTTP).

``RelayBarrier`` owns the pure ``BarrierMachine`` and does the asyncio part: it feeds the
machine with inputs and clock ticks, sends the relay commands it returns through a
``RelayPort`` with a time-out and bounded retries, turns failures into the machine's
``fault`` state, and publishes ``BarrierStatus`` to listeners. Each gate has its own lock
and tasks, so a hung device only ever delays its own gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal

from controllers.barrier import (
    BarrierMachine,
    BarrierState,
    BarrierTiming,
    FaultPolicy,
    Refusal,
    RelayCommand,
    Transition,
)
from errors import (
    ConfigError,
    ConflictError,
    HardwareError,
    HardwareTimeoutError,
    HardwareUnavailableError,
)
from hardware.base import (
    BarrierListener,
    BarrierStatus,
    DigitalInput,
    InputChange,
    InputLink,
    InputsWatcher,
    LinkWatcher,
    RelayPort,
    SharedDevice,
)
from wall_clock import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayWiring:
    """How open/close map onto relay channels.

    ``latch``: one relay, energised = open. ``pulse``: a short pulse on ``open_channel``
    opens and a pulse on ``close_channel`` closes (typical barrier controller inputs).
    """

    mode: Literal["latch", "pulse"] = "latch"
    open_channel: int = 1
    close_channel: int | None = None
    pulse_s: float = 0.5

    def __post_init__(self) -> None:
        if self.mode == "pulse" and self.close_channel is None:
            raise ValueError("RelayWiring: pulse mode needs close_channel")
        if self.pulse_s <= 0:
            raise ValueError(f"RelayWiring.pulse_s must be > 0, got {self.pulse_s}")


@dataclass(frozen=True, slots=True)
class CommandPolicy:
    """Time-outs and retries for relay commands.

    ``travel_s`` is how long the arm is assumed to take when no limit switches are wired:
    the device's echo then stands in for the switch after that delay.
    """

    command_timeout_s: float = 2.0
    retries: int = 2
    retry_delay_s: float = 0.2
    travel_s: float = 1.5
    tick_s: float = 0.1

    def __post_init__(self) -> None:
        if self.command_timeout_s <= 0:
            raise ValueError(
                f"CommandPolicy.command_timeout_s must be > 0, got {self.command_timeout_s}"
            )
        if self.retries < 0:
            raise ValueError(f"CommandPolicy.retries must be >= 0, got {self.retries}")

    @property
    def command_s(self) -> float:
        """The longest one command takes before it is given up: every attempt times out,
        with the pauses between them (a pulse is sent within its attempt's time-out)."""
        return (1 + self.retries) * self.command_timeout_s + self.retries * self.retry_delay_s


class RelayBarrier:
    """A ``Barrier`` driven through any ``RelayPort``."""

    def __init__(
        self,
        gate_id: str,
        port: RelayPort,
        *,
        timing: BarrierTiming | None = None,
        wiring: RelayWiring | None = None,
        policy: CommandPolicy | None = None,
        presence: DigitalInput | None = None,
        limit_open: DigitalInput | None = None,
        limit_closed: DigitalInput | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not gate_id:
            raise ValueError("RelayBarrier.gate_id must not be empty")
        self.gate_id = gate_id
        self.port = port
        self.wiring = wiring or RelayWiring()
        self.policy = policy or CommandPolicy()
        self.presence = presence
        self.limit_open = limit_open
        self.limit_closed = limit_closed
        self._clock = clock
        self._machine = BarrierMachine(timing)
        self._listeners: list[BarrierListener] = []
        self._io_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tick_task: asyncio.Task[None] | None = None
        self._assume: asyncio.TimerHandle | None = None
        self._published: tuple[BarrierState, str | None] | None = None
        # Set while the current fault is only a lost link, so its return can clear it.
        self._link_fault = False
        # Whether the link went down since it was last up: its return is then a restoration,
        # the first connect is not.
        self._link_was_lost = False
        # The command on its way to the device and not yet confirmed: resolved with None once
        # confirmed or with the error that ended it. A second caller whose command the machine
        # folds into this one (an open while opening) waits for it instead of returning a
        # state nothing has confirmed.
        self._unconfirmed: asyncio.Future[HardwareError | None] | None = None
        self._stopping = False
        # Whether the open limit switch has been read released: only then is its next
        # "made" an edge. A first reading after start (a Modbus poll that comes after start()
        # returned) only tells where the arm already was.
        self._limit_open_seen_released = False
        # Whether the last open edge found the closed limit made too (logged once a streak).
        self._switches_disagree = False
        # Why an input could not start (a GPIO pin the service may not open), or None. Held as
        # the Modbus board's refusal of its inputs is: its loop is never read.
        self._unstarted: str | None = None
        # Inputs on a link of their own that is down (name -> why), held the same way.
        self._inputs_down: dict[str, str] = {}
        # Pulse channels switched on whose switching off was not confirmed (the link lost
        # mid-pulse, an ON never confirmed): still made on the device, as far as we know.
        self._left_on: set[int] = set()
        if isinstance(port, LinkWatcher):
            port.add_link_listener(self._on_link)
        # Wired once here, not in start(): a restarted barrier must not get every edge twice.
        for inp, handler in (
            (presence, self._on_presence),
            (limit_open, self._on_limit_open),
            (limit_closed, self._on_limit_closed),
        ):
            if inp is not None:
                inp.add_listener(handler)
                if isinstance(inp, InputLink) and inp.own_link:
                    inp.add_link_listener(functools.partial(self._on_input_link, inp.name))

    # -- Barrier protocol ------------------------------------------------------------------
    @property
    def state(self) -> BarrierState:
        return self._machine.state

    @property
    def fault(self) -> str | None:
        return self._machine.fault

    @property
    def machine(self) -> BarrierMachine:
        """Read-only use: presence, fire alarm and hold flags for status pages."""
        return self._machine

    @property
    def command_budget_s(self) -> float:
        """The longest ``open``/``close`` can take before it returns or raises: its own
        attempts, after waiting for one command already on the wire (an auto-close, a fault
        reaction), each after a status read on the wire of a ``SharedDevice``. A caller's own
        time-out must be longer, or it cuts the retries off."""
        turn = self.port.turn_wait_s if isinstance(self.port, SharedDevice) else 0.0
        return 2 * (self.policy.command_s + turn)

    def _device_turn(self) -> AbstractAsyncContextManager[None]:
        if isinstance(self.port, SharedDevice):
            return self.port.command_turn()
        return contextlib.nullcontext()

    def add_listener(self, cb: BarrierListener) -> None:
        self._listeners.append(cb)

    async def start(self) -> None:
        if self._tick_task is not None:
            return
        self._stopping = False
        # An input that cannot start (a GPIO pin the service may not open) is a fault held
        # until a restart, as a board refusing its inputs is: it escaped this method, the
        # service logged it and went on, and the gate read "closed" with its loop unread.
        self._unstarted = None
        for inp in (self.presence, self.limit_open, self.limit_closed):
            if inp is not None:
                try:
                    await inp.start()
                except (HardwareError, ConfigError) as err:
                    self._unstarted = self._unstarted or f"cannot start: {err}"
        if self.limit_open is not None:
            self._limit_open_seen_released = self.limit_open.value is False
        try:
            await self.port.connect()
        except (HardwareError, ConfigError) as err:
            # A ConfigError (the broker password's variable not in the environment) too: it
            # left the gate "closed" with no alarm until a car's open failed.
            # Keep serving: the port reconnects by itself and the next command retries. A
            # device that cannot be reached is a lost link: when the port reports it back
            # (a Modbus input poll answering), the fault clears then, not at the next car.
            self._link_fault = isinstance(err, HardwareUnavailableError) and isinstance(
                self.port, LinkWatcher
            )
            self._link_was_lost = self._link_was_lost or self._link_fault
            self._fail(f"cannot connect: {err}")
        self._hold_refusal()
        if self.presence is not None and self.presence.value:
            self._apply(self._machine.presence_on(self._clock()))
        if self.limit_open is not None and self.limit_open.value:
            self._apply(self._machine.limit_open(self._clock()))
        self._publish()
        self._tick_task = asyncio.create_task(self._tick_loop(), name=f"barrier-{self.gate_id}")
        logger.info("barrier %s started in state %s", self.gate_id, self.state)

    async def stop(self) -> None:
        self._stopping = True  # our own disconnect is not a fault
        self._cancel_assumption()
        tasks = [t for t in (self._tick_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tick_task = None
        for inp in (self.presence, self.limit_open, self.limit_closed):
            if inp is not None:
                await inp.stop()
        await self.port.disconnect()
        logger.info("barrier %s stopped", self.gate_id)

    async def open(self) -> BarrierState:
        return await self._command(self._machine.open, "open")

    async def close(self) -> BarrierState:
        return await self._command(self._machine.close, "close")

    async def hold_open(self) -> BarrierState:
        return await self._command(self._machine.hold, "hold_open")

    async def release(self) -> BarrierState:
        return await self._command(self._machine.release, "release")

    async def set_fire_alarm(self, active: bool) -> BarrierState:
        fn = self._machine.fire_alarm_on if active else self._machine.fire_alarm_off
        if self._inputs_refused() is not None:
            # The machine learns of the alarm, and the gate stays this fault: its reaction
            # during a fire alarm is the open (the relay obeys), held until the inputs read
            # again. Nothing closes the arm meanwhile, the alarm's end included.
            fn(self._clock())
            self._hold_refusal()
            return self.state
        return await self._command(fn, "fire_alarm_on" if active else "fire_alarm_off")

    # -- machine plumbing -------------------------------------------------------------------
    def _inputs_refused(self) -> str | None:
        if isinstance(self.port, InputsWatcher) and self.port.inputs_refused is not None:
            return self.port.inputs_refused
        if self._unstarted is None and self._inputs_down:
            return next(iter(self._inputs_down.values()))
        return self._unstarted

    def _on_input_link(self, name: str, up: bool, reason: str) -> None:
        """An input read over a link of its own lost it or got it back. Not read, it is as a
        loop a board refuses: the gate holds that fault (an HTTP gate whose Modbus loop board
        was down opened and closed after open_seconds with its loop never read)."""
        if self._stopping:
            return
        if not up:
            self._inputs_down[name] = f"{name} not read: {reason}"
            self._hold_refusal()
            return
        if self._inputs_down.pop(name, None) is None:
            return  # its first reading, or a return already seen
        logger.info("gate %s: %s read again (%s)", self.gate_id, name, reason)
        if self._inputs_refused() is None and self._machine.state is BarrierState.FAULT:
            # As after a lost link: the fault position re-asserted through a confirmed
            # command, which clears the fault.
            self._spawn(self._recover_link_fault())

    def _hold_refusal(self) -> None:
        """The device refuses to read this gate's inputs: the gate is that fault, and stays
        it until they read again (a link fault: the next read that works clears it, and the
        gate re-asserts its fault position). Whatever fault it had before is this one now:
        the arm's switches were not read either."""
        refused = self._inputs_refused()
        if refused is None or self._stopping:
            return
        self._link_fault = True
        self._link_was_lost = True
        if self._machine.fault != refused:
            self._fail(refused)

    async def _command(self, fn: Callable[[float], Transition], name: str) -> BarrierState:
        if self._inputs_refused() is not None:
            # Nothing is sent: the relay would obey, but a car let in here could get the arm
            # down on it (its loop is not read), and the confirmation would clear the fault.
            # The gate answers as one whose board does not answer; fail_safe keeps it open.
            self._hold_refusal()
            raise HardwareError(f"gate {self.gate_id}: {name} not sent: {self.fault}")
        while True:
            transition = fn(self._clock())
            self._publish()
            if transition.refused in (Refusal.FIRE_ALARM, Refusal.HELD_OPEN):
                raise ConflictError(f"gate {self.gate_id}: {name} refused: {transition.refused}")
            if transition.refused is Refusal.PRESENCE:
                logger.info("gate %s: close deferred, presence loop occupied", self.gate_id)
            if transition.commands:
                await self._send(transition.commands)
                return self.state
            unconfirmed = self._unconfirmed
            if unconfirmed is None or unconfirmed.done():
                return self.state
            # Nothing to send because a command to the same end is still unconfirmed (the
            # previous car's open): its answer is this one's. Shielded: giving up on the wait
            # must not cancel the other caller's command.
            if await asyncio.shield(unconfirmed) is None:
                return self.state
            # It failed and the machine is in fault now: the next round sends this command
            # itself, so the caller learns what the device says, not a stale state.

    def _apply(self, transition: Transition, *, limit_edge: bool = False) -> None:
        """Apply a transition caused by an input or a tick: send its commands in background.

        ``limit_edge``: the transition is a real open-limit edge, so an uncommanded raise it
        reports is one (an assumed arrival or a first reading never is).
        """
        self._publish(
            uncommanded_open=limit_edge and transition.uncommanded_open,
            tailgating=transition.tailgating,
        )
        if transition.state is BarrierState.FAULT:
            # A fault found by the machine itself (motion time-out): react like _fail.
            self._cancel_assumption()
            if transition.commands:
                self._spawn(self._best_effort(transition.commands))
        elif transition.commands:
            self._spawn(self._send_logged(transition.commands))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_logged(self, commands: tuple[RelayCommand, ...]) -> None:
        try:
            await self._send(commands)
        except HardwareError:
            # Already turned into the fault state and logged by _send.
            return

    async def _send(self, commands: tuple[RelayCommand, ...]) -> None:
        answer: asyncio.Future[HardwareError | None] = asyncio.get_running_loop().create_future()
        self._unconfirmed = answer
        error: HardwareError | None = None
        try:
            async with self._io_lock, self._device_turn():
                for command in commands:
                    await self._send_with_retries(command)
        except HardwareError as err:
            error = err
            self._fail(str(err))
            raise
        except asyncio.CancelledError:
            # The caller gave up (its own time-out) before the device confirmed: the machine
            # must not stay "opening" on a command that may never have reached the device,
            # or the next open would be folded into it and nothing sent at all.
            if not self._stopping:
                error = HardwareTimeoutError(
                    f"gate {self.gate_id}: {commands[-1]} given up before the device confirmed it"
                )
                self._fail(str(error))
            raise
        finally:
            answer.set_result(error)
            if self._unconfirmed is answer:
                self._unconfirmed = None
        self._after_accepted(commands[-1])

    async def _send_with_retries(self, command: RelayCommand) -> None:
        attempts = 1 + self.policy.retries
        last: HardwareError | None = None
        for attempt in range(1, attempts + 1):
            try:
                # asyncio.timeout rather than wait_for: it never swallows an outer cancel.
                async with asyncio.timeout(self.policy.command_timeout_s):
                    await self._actuate(command)
                return
            except TimeoutError as err:
                last = HardwareTimeoutError(
                    f"gate {self.gate_id}: {command} not confirmed within "
                    f"{self.policy.command_timeout_s:g} s"
                )
                last.__cause__ = err
            except HardwareError as err:
                last = err
            logger.warning(
                "gate %s: %s attempt %s/%s failed: %s",
                self.gate_id,
                command,
                attempt,
                attempts,
                last,
            )
            if attempt < attempts:
                await asyncio.sleep(self.policy.retry_delay_s)
        assert last is not None
        raise last

    async def _actuate(self, command: RelayCommand) -> None:
        wiring = self.wiring
        if wiring.mode == "latch":
            await self.port.set_output(wiring.open_channel, command is RelayCommand.OPEN)
            return
        channel = wiring.open_channel if command is RelayCommand.OPEN else wiring.close_channel
        assert channel is not None  # RelayWiring checks this for pulse mode
        for other in sorted(self._left_on - {channel}):
            # A pulse that never ended left that contact made: a barrier controller with its
            # OPEN input held keeps the arm up whatever CLOSE is pulsed (the gate then read
            # closed after a broker restart mid-pulse). Let go of it first.
            await self.port.set_output(other, False)
            self._left_on.discard(other)
        self._left_on.add(channel)
        await self.port.set_output(channel, True)
        await asyncio.sleep(wiring.pulse_s)
        await self.port.set_output(channel, False)
        self._left_on.discard(channel)

    def _after_accepted(self, command: RelayCommand) -> None:
        """The device took the command: learn the position from switches or assume it."""
        # The device answered, so no link fault is pending any more: a later link-up must not
        # take some other fault (a stuck arm) for one and "recover" it.
        self._link_fault = False
        self._cancel_assumption()
        if command is RelayCommand.OPEN and self.limit_open is not None:
            if self.limit_open.value:
                self._apply(self._machine.limit_open(self._clock()))
            return
        if command is RelayCommand.CLOSE and self.limit_closed is not None:
            if self.limit_closed.value:
                self._apply(self._machine.limit_closed(self._clock()))
            return
        # No limit switch for this direction: the confirmed relay stands in for it.
        reached = (
            self._machine.limit_open if command is RelayCommand.OPEN else self._machine.limit_closed
        )
        loop = asyncio.get_running_loop()
        self._assume = loop.call_later(
            self.policy.travel_s, lambda: self._apply(reached(self._clock()))
        )

    def _cancel_assumption(self) -> None:
        # An assumed arrival from an earlier command must not mask a fault or a new command.
        if self._assume is not None:
            self._assume.cancel()
            self._assume = None

    def _fail(self, message: str) -> None:
        self._cancel_assumption()
        transition = self._machine.fail(message, self._clock())
        self._publish()
        if transition.commands:
            self._spawn(self._best_effort(transition.commands))

    async def _best_effort(self, commands: tuple[RelayCommand, ...]) -> None:
        """The fault reaction (open for fail_safe): one try, failures only logged.

        The fault stays latched afterwards: only a new limit-switch edge or a command that
        the device carries out clears it, so a stuck arm does not flap between fault and
        open every auto-close cycle.
        """
        for command in commands:
            try:
                async with (
                    self._io_lock,
                    self._device_turn(),
                    asyncio.timeout(self.policy.command_timeout_s),
                ):
                    await self._actuate(command)
            except (HardwareError, TimeoutError) as err:
                logger.warning("gate %s: fault reaction %s failed: %r", self.gate_id, command, err)
                return

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.tick_s)
            try:
                self._apply(self._machine.tick(self._clock()))
            except Exception:
                # Auto-close and motion time-outs live here: never let one bug end them.
                logger.exception("gate %s: tick failed", self.gate_id)

    def _on_link(self, up: bool, reason: str) -> None:
        if self._stopping:
            return
        if not up:
            self._link_was_lost = True
            if self._inputs_refused() is not None:
                self._hold_refusal()
            elif self._machine.state is not BarrierState.FAULT:
                self._link_fault = True
                self._fail(f"link lost: {reason}")
            return
        if self._link_was_lost:
            logger.info("gate %s: link restored (%s)", self.gate_id, reason)
        else:  # the first connect: nothing was lost
            logger.info("gate %s: link up (%s)", self.gate_id, reason)
        self._link_was_lost = False
        # The device may have rebooted closed: re-assert a hold that must be in force.
        now = self._clock()
        if self._machine.fire_alarm:
            self._apply(self._machine.fire_alarm_on(now))
        elif self._machine.held:
            self._apply(self._machine.hold(now))
        elif self._link_fault and self._machine.state is BarrierState.FAULT:
            self._spawn(self._recover_link_fault())
        self._link_fault = False

    async def _recover_link_fault(self) -> None:
        """A fault that was only the lost link ends with one confirmed command.

        The arm's position is unknown after the outage, so the gate re-asserts its fault
        position (open for fail_safe, closed for fail_secure) through the normal command path:
        the device's echo is what clears the fault, as with any other fault. An open then
        auto-closes as usual.
        """
        try:
            if self._machine.timing.on_fault is FaultPolicy.FAIL_SECURE:
                await self.close()
            else:
                # For no car: cars through it are not counted, nor is it closed after one.
                await self._command(lambda now: self._machine.open(now, for_vehicle=False), "open")
        except (HardwareError, ConflictError) as err:
            logger.warning("gate %s: recovery after link loss failed: %s", self.gate_id, err)
            if self._machine.state is BarrierState.FAULT:
                # Parkgate reached the broker before the relay itself was back (a broker
                # restart, a relay still booting): the relay's own "online", one more link-up,
                # tries again instead of leaving the fault to the next car.
                self._link_fault = True

    def _on_presence(self, change: InputChange) -> None:
        now = self._clock()
        fn = self._machine.presence_on if change.value else self._machine.presence_off
        self._apply(fn(now))

    def _on_limit_open(self, change: InputChange) -> None:
        was_released = self._limit_open_seen_released
        self._limit_open_seen_released = not change.value
        if not change.value:
            return
        # An arm rising leaves its closed limit long before it reaches the open one: both
        # made at once is a switch (broken, loose, miswired), not a hand. As a raise, a
        # chattering open switch was an alarm every open_seconds for as long as it chattered.
        closed_made = self.limit_closed is not None and self.limit_closed.value is True
        if closed_made and was_released and not self._switches_disagree:
            logger.warning(
                "gate %s: open and closed limit switches both made: a switch is "
                "faulty or miswired (not reported as a raise)",
                self.gate_id,
            )
        self._switches_disagree = closed_made
        self._apply(
            self._machine.limit_open(self._clock()), limit_edge=was_released and not closed_made
        )

    def _on_limit_closed(self, change: InputChange) -> None:
        if change.value:
            self._apply(self._machine.limit_closed(self._clock()))

    def _publish(self, *, uncommanded_open: bool = False, tailgating: bool = False) -> None:
        current = (self._machine.state, self._machine.fault)
        if current == self._published and not uncommanded_open and not tailgating:
            return
        previous, self._published = self._published, current
        status = BarrierStatus(
            self.gate_id,
            current[0],
            current[1],
            utcnow(),
            uncommanded_open,
            tailgating,
        )
        if status.is_alarm:
            logger.error("gate %s FAULT: %s", self.gate_id, status.fault)
        elif uncommanded_open:
            logger.warning(
                "gate %s raised without a command (key switch, remote or by hand)", self.gate_id
            )
        elif tailgating:
            logger.warning(
                "gate %s: a vehicle more than the gate was opened for crossed the "
                "loop (tailgating)",
                self.gate_id,
            )
        else:
            # A passage's opening, open, closing, closed is four lines a car (half the log in the
            # walk) and its passage line already says barrier=opening: DEBUG. Held open by a
            # guard, and the way out of a fault or a hold, stay INFO.
            unusual = (BarrierState.HELD_OPEN, BarrierState.FAULT)
            routine = status.state not in unusual and (
                previous is not None and previous[0] not in unusual)
            logger.log(logging.DEBUG if routine else logging.INFO, "gate %s is %s",
                       self.gate_id, status.state)
        for cb in list(self._listeners):
            try:
                cb(status)
            except Exception:
                # A broken listener must not stop the barrier or the other listeners.
                logger.exception("gate %s: barrier listener %r failed", self.gate_id, cb)
