"""The barrier state machine: pure, no I/O, no asyncio, no hardware imports.

Drivers feed it events (commands from people, limit switches, the presence loop, the fire
alarm, faults and clock ticks) and carry out the relay commands it returns. Every safety rule
lives here so that every driver obeys the same rules:

* never close while the presence loop is occupied (a close is deferred until the loop
  clears, and a closing barrier reverses when a vehicle arrives on the loop);
* a fire alarm opens the barrier and holds it open until the alarm is cleared;
* a fault puts the barrier in ``fault`` and, per gate, asks the relay to open
  (``fail_safe``) or to close when nothing is on the loop (``fail_secure``).

It also tells an arm raised by the barrier's own manual means (key switch, remote: 异常抬杆)
from one it raised itself: see ``Transition.uncommanded_open``.

During one opening for cars (from an open command until the arm is closed again) it counts the
vehicles crossing the presence loop: once as many have crossed as opens were commanded, the arm
comes down ``close_after_pass_s`` after the loop clears (车过落杆), and a vehicle more than
that is a tailgater (跟车): see ``Transition.tailgating``. Neither happens while the barrier is
held open or during a fire alarm, when many pass legitimately.

Time is a plain float of seconds from a monotonic clock chosen by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# How a motion time-out's fault message begins (the rest: "within N s"). An arm that did not
# rise is the opening's fault: the runtime ties it to the car that opening was for.
NOT_OPEN = "barrier did not report open"
NOT_CLOSED = "barrier did not report closed"


class BarrierState(StrEnum):
    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    HELD_OPEN = "held_open"
    FAULT = "fault"


class RelayCommand(StrEnum):
    """What the machine asks the relay to do; the driver maps it to its wiring."""

    OPEN = "open"
    CLOSE = "close"


class FaultPolicy(StrEnum):
    FAIL_SAFE = "fail_safe"  # on a fault, try to open: people and cars can leave
    FAIL_SECURE = "fail_secure"  # on a fault, try to close (only with an empty loop)


class Refusal(StrEnum):
    """Why a command was not carried out as asked. Stable codes shown to guards."""

    PRESENCE = "presence_loop_occupied"  # close deferred until the loop clears
    FIRE_ALARM = "fire_alarm_active"
    HELD_OPEN = "held_open"


@dataclass(frozen=True, slots=True)
class BarrierTiming:
    """Timing rules of one gate.

    ``open_seconds`` <= 0 disables auto-close. ``motion_timeout_s`` is how long opening or
    closing may take before the missing limit-switch confirmation is a fault.

    ``close_after_pass_s``: once the vehicles an opening was for have crossed the presence
    loop, close this long after it cleared (车过落杆); None leaves the arm up for
    ``open_seconds``. ``tailgate_gap_s``: the loop freed for less than this is still the same
    vehicle (a trailer behind a truck, a loop detector dropping out).
    """

    open_seconds: float = 10.0
    motion_timeout_s: float = 10.0
    on_fault: FaultPolicy = FaultPolicy.FAIL_SAFE
    # How long after the arm is reported closed an open-limit edge is still taken for the
    # old position rather than a raise: the two switches can reach us out of order (separate
    # inputs, boards or topics, each read on its own), and no arm rises from closed to its
    # open limit this fast.
    raise_settle_s: float = 0.5
    close_after_pass_s: float | None = 1.0
    tailgate_gap_s: float = 0.5

    def __post_init__(self) -> None:
        if self.motion_timeout_s <= 0:
            raise ValueError(
                f"BarrierTiming.motion_timeout_s must be > 0, got {self.motion_timeout_s}"
            )
        if self.raise_settle_s < 0:
            raise ValueError(
                f"BarrierTiming.raise_settle_s must be >= 0, got {self.raise_settle_s}"
            )
        if self.close_after_pass_s is not None and self.close_after_pass_s < 0:
            raise ValueError(
                "BarrierTiming.close_after_pass_s must be None or >= 0, got "
                f"{self.close_after_pass_s}"
            )
        if self.tailgate_gap_s < 0:
            raise ValueError(
                f"BarrierTiming.tailgate_gap_s must be >= 0, got {self.tailgate_gap_s}"
            )


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of one event: the state after it and the relay commands to send.

    ``uncommanded_open``: the arm reached its open limit from rest closed with no open of
    ours on its way (异常抬杆): a key switch, a remote or a hand raised it. Only a limit-switch
    edge sets it; the driver decides whether a report is an edge (a first reading is not).

    ``tailgating``: a vehicle crossed the presence loop that is one more than the opens
    commanded for this opening (跟车): it went through unrecorded and uncounted. Set once per
    opening, when the loop clears behind it (not as it arrives: a car whose own open comes
    while it is on the loop, its plate decided late, is no tailgater); never while held open
    or during a fire alarm.
    """

    state: BarrierState
    commands: tuple[RelayCommand, ...] = ()
    refused: Refusal | None = None
    fault: str | None = None
    uncommanded_open: bool = False
    tailgating: bool = False


class BarrierMachine:
    """State of one barrier. Not thread-safe: feed it from one thread or event loop."""

    def __init__(
        self, timing: BarrierTiming | None = None, state: BarrierState = BarrierState.CLOSED
    ) -> None:
        self.timing = timing or BarrierTiming()
        self._state = state
        self._fault: str | None = None
        self._presence = False
        self._fire = False
        self._held = False
        # A close asked for while the loop was occupied; carried out once it clears.
        self._close_pending = False
        self._motion_deadline: float | None = None
        self._auto_close_at: float | None = None
        # When we last asked the relay to open (a command, a hold, the fire alarm, a reversal,
        # a fail-safe reaction) and the open limit has not confirmed it since: an edge then is
        # that command arriving, even after the arm was seen closed (a slow or retried open
        # that ended in a fault, then a fail_secure close).
        self._open_sent_at: float | None = None
        # When the arm was last reported closed; None while that is only the starting
        # assumption (a raise from it is still a raise).
        self._closed_at: float | None = None
        # The arm is up by a hand's raise (异常抬杆), not ours: our close may not bring it down
        # (a latched relay we never energised changes nothing when switched off), so the
        # close after open_seconds must not fault when the arm stays up. A fault there
        # would send the fail_safe open, energising the relay: the barrier then held itself
        # up, latched in fault, until the next car.
        self._raised_by_hand = False
        # The opening being counted (from an open for a car until closed): None when there is
        # none, or when a hold, the fire alarm or a fault made it one many may pass.
        self._count: _PassCount | None = None
        # 车过落杆: when to close, the cars this opening was for having crossed the loop.
        self._pass_close_at: float | None = None

    # -- read-only view -------------------------------------------------------------------
    @property
    def state(self) -> BarrierState:
        return self._state

    @property
    def fault(self) -> str | None:
        return self._fault

    @property
    def presence(self) -> bool:
        return self._presence

    @property
    def fire_alarm(self) -> bool:
        return self._fire

    @property
    def held(self) -> bool:
        return self._held

    @property
    def close_pending(self) -> bool:
        return self._close_pending

    @property
    def auto_close_at(self) -> float | None:
        return self._auto_close_at

    @property
    def pass_close_at(self) -> float | None:
        return self._pass_close_at

    @property
    def vehicles_counted(self) -> int | None:
        """Vehicles on or past the loop during this opening; None when none is counted."""
        return None if self._count is None else self._count.vehicles

    @property
    def vehicles_allowed(self) -> int | None:
        """Opens commanded for cars during this opening; None when none is counted."""
        return None if self._count is None else self._count.allowed

    # -- helpers --------------------------------------------------------------------------
    def _result(
        self, commands: tuple[RelayCommand, ...] = (), refused: Refusal | None = None,
        uncommanded_open: bool = False, tailgating: bool = False,
    ) -> Transition:
        return Transition(
            self._state, commands, refused, self._fault, uncommanded_open, tailgating
        )

    def _stop_counting(self) -> None:
        """A hold, the fire alarm, a fault or the arm down: this opening is not counted."""
        self._count = None
        self._pass_close_at = None

    def _start_opening(self, now: float) -> Transition:
        self._state = BarrierState.OPENING
        self._fault = None  # a new attempt; the driver reports again if it fails again
        self._motion_deadline = now + self.timing.motion_timeout_s
        self._auto_close_at = None
        self._pass_close_at = None
        self._open_sent_at = now
        self._raised_by_hand = False
        return self._result((RelayCommand.OPEN,))

    def _raised_without_us(self, now: float) -> bool:
        """Whether an open-limit edge now is an arm nobody here asked to rise.

        Only from rest closed: opening is our command, closing may be the barrier's own
        anti-crush reversal, fault is the fail-safe reaction or a device coming back, and
        open or held open are already up (a bouncing switch repeats its edge there).
        """
        if self._state is not BarrierState.CLOSED or self._must_stay_open():
            return False
        if (
            self._open_sent_at is not None
            and now - self._open_sent_at < self.timing.motion_timeout_s
        ):
            return False
        return self._closed_at is None or now - self._closed_at >= self.timing.raise_settle_s

    def _start_closing(self, now: float) -> Transition:
        self._state = BarrierState.CLOSING
        self._fault = None
        self._close_pending = False
        # After a hand's raise the arm comes down when the barrier's own means bring it
        # (its remote, its timer) or with our close if that can move it: CLOSING until the
        # closed limit says so, never a motion fault.
        self._motion_deadline = (
            None if self._raised_by_hand else now + self.timing.motion_timeout_s
        )
        self._auto_close_at = None
        self._pass_close_at = None
        return self._result((RelayCommand.CLOSE,))

    def _arm_auto_close(self, now: float) -> None:
        if self.timing.open_seconds > 0:
            self._auto_close_at = now + self.timing.open_seconds
        else:
            self._auto_close_at = None

    def _must_stay_open(self) -> bool:
        return self._fire or self._held

    def _count_open(self) -> None:
        """One more car this opening is for: the first starts the count."""
        if self._must_stay_open() or self._state is BarrierState.HELD_OPEN:
            return
        self._pass_close_at = None  # wait for this car too
        if self._count is None:
            # A car already on the loop (waiting under the arm) is the first to cross it.
            self._count = _PassCount(vehicles=1 if self._presence else 0)
        else:
            self._count.allowed += 1

    # -- commands -------------------------------------------------------------------------
    def open(self, now: float, *, for_vehicle: bool = True) -> Transition:
        """Open for a car (or a person at a pedestrian gate).

        ``for_vehicle=False``: an open for no one in particular (the driver re-asserting the
        fault position after a lost link): nothing is counted and nothing closes early.
        """
        # The newest command wins: a close deferred for the car on the loop (or the close a
        # safety reversal owes) must not bring the arm down on the car let in now.
        self._close_pending = False
        if for_vehicle:
            self._count_open()
        if self._state is BarrierState.OPEN:
            self._arm_auto_close(now)  # a second pass through the same opening
            return self._result()
        if self._state in (BarrierState.OPENING, BarrierState.HELD_OPEN):
            return self._result()
        return self._start_opening(now)

    def close(self, now: float) -> Transition:
        if self._fire:
            return self._result(refused=Refusal.FIRE_ALARM)
        if self._held:
            return self._result(refused=Refusal.HELD_OPEN)
        if self._state in (BarrierState.CLOSED, BarrierState.CLOSING):
            return self._result()
        if self._presence:
            self._close_pending = True
            return self._result(refused=Refusal.PRESENCE)
        return self._start_closing(now)

    def hold(self, now: float) -> Transition:
        self._held = True
        return self._keep_open(now)

    def _keep_open(self, now: float) -> Transition:
        """A guard's hold or a fire alarm: open (if not already) and stay open."""
        self._close_pending = False
        self._stop_counting()  # many may pass now, legitimately
        if self._state is BarrierState.OPEN:
            self._state = BarrierState.HELD_OPEN
            self._auto_close_at = None
            return self._result()
        if self._state in (BarrierState.OPENING, BarrierState.HELD_OPEN):
            return self._result()
        return self._start_opening(now)

    def release(self, now: float) -> Transition:
        self._held = False
        if self._fire:
            return self._result(refused=Refusal.FIRE_ALARM)
        if self._state is BarrierState.HELD_OPEN:
            self._state = BarrierState.OPEN
            self._arm_auto_close(now)
        return self._result()

    # -- inputs ---------------------------------------------------------------------------
    def limit_open(self, now: float) -> Transition:
        if self._state in (BarrierState.OPEN, BarrierState.HELD_OPEN):
            return self._result()
        uncommanded = self._raised_without_us(now)
        self._open_sent_at = None  # confirmed (or overtaken by hand): the next edge is news
        self._fault = None  # the device demonstrably moved: it recovered
        self._motion_deadline = None
        if self._must_stay_open():
            self._state = BarrierState.HELD_OPEN
            self._auto_close_at = None
            return self._result()
        self._state = BarrierState.OPEN
        self._raised_by_hand = uncommanded
        # Raised by hand or by us, it closes after open_seconds like any open arm.
        self._arm_auto_close(now)
        if self._close_pending and not self._presence:
            # The vehicle that reversed the barrier left the loop while it re-opened.
            return self._start_closing(now)
        if self._pass_close_due(now):
            # The car crossed the loop while the arm was still rising: down once it is up.
            return self._start_closing(now)
        return self._result(uncommanded_open=uncommanded)

    def limit_closed(self, now: float) -> Transition:
        if self._state in (BarrierState.CLOSED, BarrierState.OPENING):
            # While opening, a closed report is the stale edge of the old position.
            return self._result()
        self._fault = None
        self._motion_deadline = None
        self._auto_close_at = None
        if self._must_stay_open():
            # Closed by hand or by a fault while it must stay open: open it again.
            return self._start_opening(now)
        self._state = BarrierState.CLOSED
        self._closed_at = now
        self._raised_by_hand = False
        self._close_pending = False
        self._stop_counting()  # the opening is over
        return self._result()

    def presence_on(self, now: float) -> Transition:
        was_on, self._presence = self._presence, True
        count = self._count
        if count is not None and not was_on and not self._must_stay_open():
            self._pass_close_at = None  # never count down to a close with a car on the loop
            gap = None if count.left_at is None else now - count.left_at
            if gap is None or gap >= self.timing.tailgate_gap_s:
                count.vehicles += 1
        if self._state is BarrierState.CLOSING:
            # Safety reversal: never lower the arm onto a vehicle; close again once it left.
            self._close_pending = True
            return self._start_opening(now)
        return self._result()

    def presence_off(self, now: float) -> Transition:
        was_on, self._presence = self._presence, False
        count = self._count
        tailgating = False
        if count is not None and was_on and not self._must_stay_open():
            count.left_at = now
            if count.vehicles > count.allowed and not count.reported:
                count.reported = True
                tailgating = True
            after = self.timing.close_after_pass_s
            if after is not None and count.vehicles >= count.allowed:
                self._pass_close_at = now + after
        if self._close_pending and self._state is BarrierState.OPEN:
            self._start_closing(now)
            return self._result((RelayCommand.CLOSE,), tailgating=tailgating)
        if self._pass_close_due(now):
            self._start_closing(now)
            return self._result((RelayCommand.CLOSE,), tailgating=tailgating)
        return self._result(tailgating=tailgating)

    def fire_alarm_on(self, now: float) -> Transition:
        self._fire = True
        return self._keep_open(now)

    def fire_alarm_off(self, now: float) -> Transition:
        self._fire = False
        if self._state is BarrierState.HELD_OPEN and not self._held:
            self._state = BarrierState.OPEN
            self._arm_auto_close(now)
        return self._result()

    def fail(self, message: str, now: float) -> Transition:
        """The driver lost the device or a command was not confirmed."""
        if not message:
            raise ValueError("BarrierMachine.fail needs a message saying what went wrong")
        self._state = BarrierState.FAULT
        self._fault = message
        self._motion_deadline = None
        self._auto_close_at = None
        # The arm's position is unknown, and fail_safe leaves it up for anyone: not counted.
        self._stop_counting()
        if self._fire or self.timing.on_fault is FaultPolicy.FAIL_SAFE:
            self._open_sent_at = now
            return self._result((RelayCommand.OPEN,))
        if self._presence or self._held:
            return self._result()
        return self._result((RelayCommand.CLOSE,))

    def tick(self, now: float) -> Transition:
        if (
            self._state in (BarrierState.OPENING, BarrierState.CLOSING)
            and self._motion_deadline is not None
            and now >= self._motion_deadline
        ):
            target = "open" if self._state is BarrierState.OPENING else "closed"
            return self.fail(
                f"{NOT_OPEN if target == 'open' else NOT_CLOSED} within "
                f"{self.timing.motion_timeout_s:g} s", now
            )
        if (
            self._state is BarrierState.OPEN
            and self._auto_close_at is not None
            and now >= self._auto_close_at
            and not self._presence
            and not self._must_stay_open()
        ):
            return self._start_closing(now)
        if self._pass_close_due(now):
            return self._start_closing(now)
        return self._result()

    def _pass_close_due(self, now: float) -> bool:
        """车过落杆: the cars this opening was for crossed the loop and it stayed clear."""
        return (
            self._state is BarrierState.OPEN
            and self._pass_close_at is not None
            and now >= self._pass_close_at
            and not self._presence
            and not self._must_stay_open()
        )


@dataclass(slots=True)
class _PassCount:
    """Vehicles through one opening for cars: how many opens it was for, how many arrived on
    the loop, when the loop last cleared, and whether a tailgater was reported already."""

    allowed: int = 1
    vehicles: int = 0
    left_at: float | None = None
    reported: bool = False
