"""A Modbus board that refuses the configured input address (exception 2, found walking an
install): a presence loop at an address the board does not have was only a warning at each
poll. The gate stayed "closed", /healthz was fine, the console showed nothing, and the loop
that keeps the arm off a car was never read. Now it is a gate fault naming the input, raised
once, before any car; the gate keeps its fault position and answers cars as a dead board's;
the fault clears when the board reads the address (its configuration fixed)."""

from __future__ import annotations

import asyncio

import pytest

from controllers.barrier import BarrierState
from errors import HardwareError
from hardware.registry import SafetyEventKind
from hardware.relay_barrier import RelayBarrier
from tests.hardware.rigs import FAST, ModbusRig, Rig, eventually, kinds, run_with_rig, supervised

pytestmark = pytest.mark.timeout(60)

# The rig's board has 64 discrete inputs (0 to 63): the loop configured at 100 is not there.
LOOP_PAST_THE_BOARD = {"presence_input": 100, "poll_interval_s": 0.05}
REFUSED = (
    "board refuses input address 100 (presence loop, presence_input): check the address in "
    "the config against the board's manual (counted from 0)"
)


@pytest.mark.parametrize("on_fault", ["fail_safe", "fail_secure"])
def test_a_loop_address_the_board_lacks_is_one_fault_before_any_car_until_it_is_fixed(
    on_fault: str,
) -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = supervised(
            rig, "gate0", {**FAST, **rig.config(0), **LOOP_PAST_THE_BOARD, "on_fault": on_fault}
        )
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, what="the fault")
        assert b.fault == f"modbus://127.0.0.1:{rig.port}/1: {REFUSED}"
        await eventually(
            lambda: rig.relay_on(0) is (on_fault == "fail_safe"), 2.0, "the fault position"
        )
        await asyncio.sleep(0.5)  # ten more polls, each refused
        assert b.state is BarrierState.FAULT
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]  # once, not once per poll
        assert events[0].message == b.fault

        # A car here: nothing is sent (the relay would obey, with the loop unread), the gate
        # answers with its fault and stays in it.
        coils_before = dict(rig.coils)
        with pytest.raises(HardwareError, match=r"open not sent: .*board refuses input address"):
            await b.open()
        assert rig.coils == coils_before and b.state is BarrierState.FAULT
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]

        # Someone sets the board up with the address: the next read clears the fault and the
        # gate re-asserts its fault position as after any link fault (fail_safe: it opens
        # once, then closes after open_seconds; the loop is read now).
        await rig.link_down()
        rig.input_count = 128
        await rig.link_up()
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]
        rig.inputs[100] = True  # a car on the loop at 100: read now
        assert isinstance(b, RelayBarrier)  # a Modbus board's gate: its state machine
        await eventually(lambda: b.machine.presence, what="the loop read")
        rig.inputs[100] = False
        await eventually(lambda: b.state is BarrierState.CLOSED, what="closed again")
        assert await b.open() in (BarrierState.OPENING, BarrierState.OPEN)
        assert rig.relay_on(0)

    run_with_rig("modbus", scenario)


def test_every_input_the_board_lacks_is_named() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = supervised(
            rig,
            "gate0",
            {
                **FAST,
                **rig.config(0),
                "limit_open_input": 70,
                "limit_closed_input": 71,
                "presence_input": 40,
                "poll_interval_s": 0.05,
            },
        )
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, what="the fault")
        assert b.fault == (
            f"modbus://127.0.0.1:{rig.port}/1: board refuses input addresses 70 (open limit "
            "switch, limit_open_input), 71 (closed limit switch, limit_closed_input): check the "
            "address in the config against the board's manual (counted from 0)"
        )
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]

    run_with_rig("modbus", scenario)


def test_the_fire_alarm_still_opens_a_gate_whose_inputs_are_refused() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = supervised(
            rig,
            "gate0",
            {**FAST, **rig.config(0), **LOOP_PAST_THE_BOARD, "on_fault": "fail_secure"},
        )
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, what="the fault")
        assert not rig.relay_on(0)  # fail_secure: kept down

        await b.set_fire_alarm(True)
        # The fault reaction during a fire alarm is the open: people and cars can leave.
        await eventually(lambda: rig.relay_on(0), what="the relay on")
        assert b.state is BarrierState.FAULT and "board refuses input address 100" in (
            b.fault or ""
        )
        await b.set_fire_alarm(False)
        await asyncio.sleep(FAST["open_seconds"] + 0.3)
        assert rig.relay_on(0)  # nothing brings it down onto a loop nobody reads
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]

    run_with_rig("modbus", scenario)


def test_a_board_that_refuses_the_input_read_with_another_code_is_a_fault_naming_it() -> None:
    """Found probing with pymodbus's own server: a gate whose unit_id the server does not
    have (pymodbus answers exception 4, device failure; a board whose input module failed
    answers so too) polled its inputs into one warning line and stayed "closed", healthy, its
    presence loop never read, until a car's open failed on the same refusal. Exception 2 was
    a fault already; any refusal of the read is one now, named, once, before any car."""

    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        rig.input_exception = 4
        b, events = supervised(rig, "gate0", {**FAST, **rig.config(0), "poll_interval_s": 0.05})
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, what="the fault")
        assert b.fault == (
            f"modbus://127.0.0.1:{rig.port}/1: board refuses to read inputs 20 to 40 (open "
            "limit switch, limit_open_input, closed limit switch, limit_closed_input, presence "
            "loop, presence_input): Modbus exception 4 (server device failure); check unit_id "
            "1 and the board"
        )
        await asyncio.sleep(0.5)  # ten more polls, each refused
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]
        coils_before = dict(rig.coils)
        with pytest.raises(HardwareError, match=r"open not sent: .*Modbus exception 4"):
            await b.open()
        assert rig.coils == coils_before

        rig.input_exception = None  # the board reads its inputs again
        await eventually(lambda: b.state is not BarrierState.FAULT, what="the fault to clear")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]

    run_with_rig("modbus", scenario)


def test_one_refused_read_among_good_ones_is_no_fault() -> None:
    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = supervised(rig, "gate0", {**FAST, **rig.config(0), "poll_interval_s": 0.2})
        await b.start()
        await eventually(lambda: b.state is BarrierState.CLOSED, what="closed")
        for _ in range(3):  # a busy board (exception 6) now and then, one read at a time
            refused = rig.input_reads + 1
            rig.input_exception = 6
            await eventually(lambda: rig.input_reads >= refused, what="a read refused")  # noqa: B023
            rig.input_exception = None
            await eventually(lambda: rig.input_reads > refused, what="a read answered")  # noqa: B023
        assert b.state is BarrierState.CLOSED and kinds(events) == []

    run_with_rig("modbus", scenario)


def test_refused_reads_with_an_unanswered_one_between_are_not_in_a_row() -> None:
    """Refused, no answer, refused: not two refusals in a row (the fault waits for those)."""

    async def scenario(rig: Rig) -> None:
        assert isinstance(rig, ModbusRig)
        b, events = supervised(rig, "gate0", {**FAST, **rig.config(0), "poll_interval_s": 0.2})
        await b.start()
        await eventually(lambda: b.state is BarrierState.CLOSED, what="closed")
        reads = rig.input_reads
        rig.input_exception = 4  # refused
        await eventually(lambda: rig.input_reads > reads, what="a read refused")
        rig.input_exception = None
        rig.fall_silent()  # the next read gets no answer within FAST's 0.3 s
        await asyncio.sleep(0.3 + 0.2 + 0.3)
        rig.input_exception = 4  # and the one after it is refused again
        rig.fall_silent(False)
        reads = rig.input_reads
        await eventually(lambda: rig.input_reads >= reads + 2, what="a read refused again")
        rig.input_exception = None
        await asyncio.sleep(0.5)
        assert kinds(events) == [], b.fault

    run_with_rig("modbus", scenario)
