"""An HTTP relay with a ``status_url`` is read every ``poll_interval_s``: a device that stops
answering is a gate fault (gate strip, /healthz, the hardware_fault alarm) before any car,
and its next answer clears it. Without ``status_url`` nothing is polled, as before."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest

from controllers.barrier import BarrierState
from errors import HardwareError
from hardware.base import Barrier
from hardware.http import FailedReads, HttpRelayPort
from hardware.registry import SafetyEvent, SafetyEventKind, create_barrier
from tests.hardware.rigs import (
    BARRIER_CONFIG,
    FAST,
    HttpRig,
    eventually,
    kinds,
    supervised,
    wait_state,
)

pytestmark = pytest.mark.timeout(60)

MOVING_OR_OPEN = (BarrierState.OPENING, BarrierState.OPEN)
NO_STATUS = {"status_url": None, "status_expect_body": None}


def watched(rig: HttpRig, **overrides: Any) -> tuple[Barrier, list[SafetyEvent]]:
    """Gate 0 with its faults reaching the safety supervisor, the alarm path of the product."""
    return supervised(rig, "gate0", {**FAST, **rig.config(0), **overrides})


def run(scenario: Any) -> None:
    async def main() -> None:
        rig = HttpRig()
        await rig.setup()
        try:
            await scenario(rig)
        finally:
            await rig.teardown()

    asyncio.run(main())


async def go_dead(rig: HttpRig, how: str) -> None:
    if how == "port closed":
        await rig.link_down()
    else:
        rig.fall_silent()


async def come_back(rig: HttpRig, how: str) -> None:
    if how == "port closed":
        await rig.link_up()
    else:
        rig.fall_silent(False)


@pytest.mark.parametrize("how", ["port closed", "never answers"])
def test_a_relay_that_stops_answering_is_a_fault_before_any_command_and_clears_on_its_answer(
    how: str,
) -> None:
    async def scenario(rig: HttpRig) -> None:
        b, events = watched(rig, on_fault="fail_secure")
        await b.start()
        await eventually(lambda: rig.status_reads >= 2, 10.0, "the status polled")
        assert b.state is BarrierState.CLOSED and events == []

        await go_dead(rig, how)
        await eventually(lambda: b.state is BarrierState.FAULT, 15.0, "the fault")
        assert "link lost" in (b.fault or "")
        assert "2 status reads in a row failed" in (b.fault or "")
        if how == "never answers":
            # Two reads went unanswered and the second one faulted the gate: the fault came
            # within two poll intervals (plus their time-outs), not later.
            assert rig.silent_reads == 2
        # No car, no open: the poll alone saw it. At most the fault reaction (fail_secure
        # closes) has been tried since.
        assert rig.commands in ([], ["/relay/0?turn=off"])
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]

        await come_back(rig, how)
        await eventually(lambda: b.state is not BarrierState.FAULT, 15.0, "the fault to clear")
        assert b.fault is None
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]
        assert await b.open() in MOVING_OR_OPEN
        await wait_state(b, BarrierState.OPEN, timeout=10.0)
        assert rig.relay_on(0)

    run(scenario)


def test_an_answer_without_status_expect_body_counts_as_no_answer() -> None:
    """A barrier controller whose web API answers for itself while its relay board is gone
    says so in the body; status_expect_body is how such a device is watched."""
    async def scenario(rig: HttpRig) -> None:
        b, events = watched(rig, status_expect_body='"online":true')
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, 15.0, "the fault")
        assert "lacks" in (b.fault or "")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT]

    run(scenario)


def test_a_shelly_status_page_serves_as_status_url() -> None:
    async def scenario(rig: HttpRig) -> None:
        b, events = watched(rig, status_url=f"http://127.0.0.1:{rig.port}/status",
                            status_expect_body='"relays"')
        await b.start()
        await eventually(lambda: rig.status_reads >= 3, 10.0, "three status reads")
        assert b.state is BarrierState.CLOSED and events == []

    run(scenario)


def test_without_status_url_nothing_is_polled_and_a_dead_relay_shows_at_the_next_command() -> None:
    async def scenario(rig: HttpRig) -> None:
        b, events = watched(rig, **NO_STATUS)
        await b.start()
        await asyncio.sleep(0.5)  # ten poll intervals of the rig's config
        assert rig.status_reads == 0 and rig.commands == []
        await rig.link_down()
        await asyncio.sleep(0.5)
        assert b.state is BarrierState.CLOSED and events == []  # today's behaviour, kept
        with pytest.raises(HardwareError):
            await b.open()
        assert b.state is BarrierState.FAULT

    run(scenario)


def test_status_reads_never_overlap_a_command_on_the_device() -> None:
    """Many relay boards serve one request at a time: the device must never see a status
    read while a command is open, whatever the poll's timing."""
    async def scenario(rig: HttpRig) -> None:
        rig.delay_s = 0.03  # each answer takes a while, so an overlap would show
        b, _ = watched(rig, poll_interval_s=0.01, command_timeout_s=1.0)
        await b.start()
        for _ in range(5):
            assert await b.open() in MOVING_OR_OPEN
            await wait_state(b, BarrierState.OPEN, timeout=10.0)
            await b.close()
            await wait_state(b, BarrierState.CLOSED, timeout=10.0)
        assert rig.status_reads > 0 and len(rig.commands) == 10
        assert rig.most_in_flight == 1
        assert b.fault is None

    run(scenario)


def test_no_status_read_falls_inside_a_pulse() -> None:
    """A pulse is two requests pulse_ms apart; a read between them would stretch the pulse
    by the device's answer time."""
    async def scenario(rig: HttpRig) -> None:
        b, _ = watched(rig, relay_mode="pulse", close_channel=1, pulse_ms=100,
                       poll_interval_s=0.01, command_timeout_s=1.0)
        await b.start()
        for _ in range(3):
            await b.open()
            await wait_state(b, BarrierState.OPEN, timeout=10.0)
            await b.close()
            await wait_state(b, BarrierState.CLOSED, timeout=10.0)
        pulse_open: str | None = None
        for path in rig.received:
            if path.endswith("?turn=on"):
                pulse_open = path
            elif path.endswith("?turn=off"):
                pulse_open = None
            else:
                assert pulse_open is None, f"a status read during the pulse {pulse_open}"
        assert rig.status_reads > 0 and len(rig.commands) == 12
        assert b.fault is None

    run(scenario)


def test_a_relay_dead_at_start_is_a_fault_until_it_answers() -> None:
    async def scenario(rig: HttpRig) -> None:
        await rig.link_down()
        b, events = watched(rig)
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, 15.0, "the fault")
        assert "link lost" in (b.fault or "")
        await rig.link_up()
        await eventually(lambda: b.state is not BarrierState.FAULT, 15.0, "the fault to clear")
        assert kinds(events) == [SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED]

    run(scenario)


def test_a_failed_read_around_a_confirmed_command_is_not_two_in_a_row() -> None:
    """Read failed, a car's command confirmed, read failed: the device spoke in between, so
    the gate must not fault; two failed reads with nothing heard between them do."""
    port = HttpRelayPort(BARRIER_CONFIG.validate_python({
        **FAST, "driver": "http", "on_url": "http://127.0.0.1:9/on",
        "off_url": "http://127.0.0.1:9/off", "status_url": "http://127.0.0.1:9/status",
    }))
    streak = FailedReads(port)
    assert streak.failed() == 1
    port.answers += 1  # what set_output counts for a confirmed command
    assert streak.failed() == 1
    assert streak.failed() == 2
    streak.answered()
    assert streak.failed() == 1


def test_after_a_command_clears_a_status_fault_the_poll_can_fault_the_gate_again() -> None:
    """A status_url that never reads well (a wrong path at commissioning, a status page the
    firmware serves slowly) faults the gate; a car's confirmed open clears that fault. The
    poll must still be able to fault the gate afterwards: the device dying later is news,
    not the same lost link reported already."""
    async def scenario(rig: HttpRig) -> None:
        b, events = watched(rig, status_url=f"http://127.0.0.1:{rig.port}/nothing",
                            status_expect_body=None, on_fault="fail_secure")
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, 15.0, "the status fault")
        assert "status 404" in (b.fault or "")

        assert await b.open() in MOVING_OR_OPEN  # the device answers commands
        await wait_state(b, BarrierState.OPEN, timeout=10.0)
        await b.close()
        await wait_state(b, BarrierState.CLOSED, timeout=10.0)

        await rig.link_down()  # now the device is really gone, and no car comes
        await eventually(lambda: b.state is BarrierState.FAULT, 15.0, "the dead device's fault")
        assert "link lost" in (b.fault or "")
        assert kinds(events)[-1] is SafetyEventKind.BARRIER_FAULT

    run(scenario)


def test_a_password_in_a_relay_url_stays_out_of_the_fault_and_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Shelly's own documentation puts basic auth in the URL (user:password@host). A fault
    message is an alarm: stored, on the booth screen and sent to the city platform. The log
    at INFO, as a controller runs: httpx logs each request's URL there, and it wrote the
    password into the journal with every status read."""
    caplog.set_level(logging.INFO)
    async def scenario(rig: HttpRig) -> None:
        b, events = watched(rig, status_url=f"http://admin:s3cret@127.0.0.1:{rig.port}/nothing",
                            status_expect_body=None)
        await b.start()
        await eventually(lambda: b.state is BarrierState.FAULT, 15.0, "the status fault")
        assert "admin:***@127.0.0.1" in (b.fault or "") and "status 404" in (b.fault or "")
        assert events and all("s3cret" not in e.message for e in events)
        # The device is still asked with the user and password, as basic auth.
        basic = "Basic " + base64.b64encode(b"admin:s3cret").decode()
        reads = [a for path, a in zip(rig.received, rig.authorizations, strict=True)
                 if path == "/nothing"]
        assert reads and set(reads) == {basic}

    run(scenario)
    assert "127.0.0.1" in caplog.text  # the requests were logged, without the password
    assert "s3cret" not in caplog.text


def test_a_status_read_on_the_wire_does_not_eat_a_cars_command_time() -> None:
    """A car's open that finds a status read on the wire waits for it, then has its own
    command_timeout_s: the wait is not taken out of its attempt (with retries: 0 that was
    the car's only one, and the gate faulted with the device answering every request)."""
    async def scenario(rig: HttpRig) -> None:
        # A slow board: every answer takes 0.4 s, reads and commands alike. A command whose
        # wait for the read were taken out of its 0.7 s would need 0.8 s and fail; its own
        # 0.7 s leaves 0.3 s for a loaded CI machine (0.2 / 0.35 s left 0.15 s, and a status
        # read timed out there: the next request then found the old one still on the wire).
        rig.delay_s = 0.4
        b, events = watched(rig, poll_interval_s=0.01, command_timeout_s=0.7, retries=0,
                            on_fault="fail_secure")
        await b.start()
        for _ in range(4):
            await eventually(lambda: rig.in_flight == 1, what="a status read on the wire")
            assert await b.open() in MOVING_OR_OPEN
            await wait_state(b, BarrierState.OPEN, timeout=10.0)
            await eventually(lambda: rig.in_flight == 1, what="a status read on the wire")
            await b.close()
            await wait_state(b, BarrierState.CLOSED, timeout=10.0)
        assert b.fault is None and events == []
        assert rig.most_in_flight == 1

    run(scenario)


def test_two_gates_on_one_two_channel_relay_never_overlap_on_it() -> None:
    """An entry and an exit switched by the two channels of one board (a Shelly 2.5, a
    two-relay board): each gate's port polls it, and one gate's read must not land on the
    device while the other gate's command is open, nor two commands at once."""
    async def scenario(rig: HttpRig) -> None:
        rig.delay_s = 0.03
        gates = []
        for k in (0, 1):
            config = {**FAST, **rig.config(k), "poll_interval_s": 0.01, "command_timeout_s": 1.0}
            barrier = create_barrier(f"gate{k}", BARRIER_CONFIG.validate_python(config))
            rig.barriers.append(barrier)
            gates.append(barrier)
            await barrier.start()

        async def cycle(b: Barrier) -> None:
            for _ in range(3):
                await b.open()
                await wait_state(b, BarrierState.OPEN, timeout=10.0)
                await b.close()
                await wait_state(b, BarrierState.CLOSED, timeout=10.0)

        await asyncio.gather(*(cycle(b) for b in gates))
        assert rig.status_reads > 0 and len(rig.commands) == 12
        assert rig.most_in_flight == 1
        assert all(b.fault is None for b in gates)

    run(scenario)
