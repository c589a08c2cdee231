"""The screen service on a real event bus and simulated screens: the passage→hold link is
exact, a late answer never overwrites the next car's message, screens go idle after hold_s,
and passages written back after an outage are not shown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controllers.events import Event, EventBus
from hardware.simulated import SimulatedScreen
from services.gate_screens import GateScreenService, ScreenGate


def passage(pid: int, plate: str, **extra: Any) -> Event:
    return Event("passage", {
        "id": pid, "at": datetime.now(UTC).isoformat(), "gate_id": "main-in",
        "direction": "in", "plate": plate, "decision": "allow", "reason": "resident",
        "flags": [], "pass_id": None, **extra,
    })


def held(pid: int, space: str, distance: float) -> Event:
    return Event("space_held", {
        "passage_id": pid, "gate_id": "main-in", "holder": "x", "space_id": space,
        "label": space, "zone": "B", "distance_m": distance,
    })


async def until(check: Callable[[], bool], what: str, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def run(scenario: Callable[[GateScreenService, SimulatedScreen, EventBus], Awaitable[None]],
        *, hold_s: float = 5.0, timeout_s: float = 1.0) -> None:
    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        sim = SimulatedScreen("main-in")
        gate = ScreenGate("main-in", "B", pedestrian=False, hold_s=hold_s, timeout_s=timeout_s)
        service = GateScreenService([(gate, sim)], bus=bus, zone_names={"B": "B区"},
                                    free_counts=lambda: {"B": 23})
        await service.start()
        try:
            await scenario(service, sim, bus)
        finally:
            await service.stop()

    asyncio.run(main())


def test_a_hold_reaches_only_the_car_it_was_made_for() -> None:
    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        await until(lambda: sim.shown is not None and sim.shown.lines == ("余位 23",), "idle")
        bus.publish(passage(1, "闽A11111"))
        bus.publish(passage(2, "闽A22222"))
        bus.publish(held(1, "B-001", 30))  # car 1's hold, after car 2 reached the gate
        await until(lambda: len(sim.history) >= 2, "the second car")
        await asyncio.sleep(0.1)
        assert sim.shown is not None and sim.shown.lines == ("闽A·22222", "欢迎回家")
        bus.publish(held(2, "B-003", 54.2))
        await until(lambda: sim.shown is not None and len(sim.shown.lines) == 4, "car 2's hold")
        assert sim.shown is not None
        assert sim.shown.lines == ("闽A·22222", "欢迎回家", "请停 B-003", "B区 约55米")
        assert all("请停 B-001" not in m.lines for m in sim.history)

    run(scenario)


def test_a_late_answer_for_car_1_never_lands_after_car_2() -> None:
    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        # The counted idle screen first: sent once the count is read, it would otherwise hold
        # the slow screen when car 1 comes (a loaded machine reading the count late).
        await until(lambda: sim.shown is not None and sim.shown.lines == ("余位 23",), "idle")
        sim.delay_s = 0.3  # the screen is slow: car 1's message is still on the wire...
        bus.publish(passage(1, "闽A11111"))
        await asyncio.sleep(0.05)
        bus.publish(passage(2, "闽A22222"))  # ...when car 2 comes
        bus.publish(passage(3, "闽A33333"))
        await until(lambda: sim.shown is not None and "闽A·33333" in sim.shown.lines, "car 3")
        await asyncio.sleep(0.4)
        shown = [m.lines[0] for m in sim.history if not m.idle]
        assert shown == ["闽A·11111", "闽A·33333"]  # car 2's was superseded, never late
        seqs = [m.seq for m in sim.history]
        assert seqs == sorted(seqs)

    run(scenario)


def test_the_screen_goes_idle_after_hold_s_with_the_current_free_count() -> None:
    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        bus.publish(passage(1, "闽A11111"))
        await until(lambda: sim.shown is not None and not sim.shown.idle, "the message")
        bus.publish(Event("availability", {"zones": [{"id": "B", "free": 22}]}))
        await until(lambda: sim.shown is not None and sim.shown.lines == ("余位 22",),
                    "the idle screen with the new count")
        bus.publish(Event("availability", {"zones": [{"id": "B", "free": 21}]}))
        await until(lambda: sim.shown is not None and sim.shown.lines == ("余位 21",),
                    "an idle screen following the count")

    run(scenario, hold_s=0.3)


def test_passages_written_back_after_an_outage_are_not_shown() -> None:
    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        await until(lambda: sim.shown is not None, "idle")
        old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        bus.publish(passage(1, "闽A11111", at=old))
        # As the runtime publishes one decided with no snapshot yet: sent to the guard.
        bus.publish(Event("passage_offline", {
            "journal_id": "j1", "gate_id": "main-in", "plate": "闽A22222",
            "decision": "review", "reason": "database_unavailable", "flags": ["offline"],
            "direction": "in", "pass_id": None, "matched_plate": None}))
        await until(lambda: sim.shown is not None and not sim.shown.idle, "the offline car")
        assert sim.shown is not None
        assert sim.shown.lines == ("闽A·22222", "请稍候，保安确认中")
        assert all("闽A·11111" not in m.lines for m in sim.history)

    run(scenario)


def test_a_screen_that_keeps_failing_is_retried_and_logged_once(caplog: Any) -> None:
    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        sim.offline = True
        for pid in range(1, 6):
            bus.publish(passage(pid, f"闽A1111{pid}"))
            await asyncio.sleep(0.02)
        lane = service.lanes["main-in"]
        await until(lambda: lane.failing, "the failure")
        assert service.health() == {"main-in": False}
        sim.offline = False
        await until(lambda: sim.shown is not None and "闽A·11115" in sim.shown.lines,
                    "the newest message once the screen is back", timeout=6)
        assert service.health() == {"main-in": True}

    run(scenario)
    warnings = [r for r in caplog.records if "did not take a message" in r.getMessage()]
    assert len(warnings) == 1


def test_a_guards_open_written_back_after_an_outage_is_not_shown(
    tmp_path: Any, sessions: Any
) -> None:
    """The open was journalled during a database outage; minutes later its entry is written
    back and published: the car it let through is gone, the screen must not say 保安已放行
    to whoever is at the gate now. A live open (no "at") still is shown."""
    from services.audit_journal import FileAuditJournal, JournalledAudit, write_back

    journal = FileAuditJournal(tmp_path / "audit.jsonl")
    journal.record(JournalledAudit(
        key="j1", at=datetime.now(UTC) - timedelta(minutes=5), username="guard",
        action="gate.open", reason="摄像头故障", target="gate:main-in", gate_id="main-in",
        details={"outcome": "opening"},
    ))
    written = write_back(sessions, journal).written
    assert [e["action"] for e in written] == ["gate.open"]

    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        await until(lambda: sim.shown is not None and sim.shown.lines == ("余位 23",), "idle")
        bus.publish(passage(1, "闽A11111"))
        for entry in written:
            bus.publish(Event("audit", entry))
        bus.publish(Event("audit", {"action": "gate.open", "gate_id": "main-out",
                                    "details": {"outcome": "opening"}}))  # another gate
        await until(lambda: sim.shown is not None and "闽A·11111" in sim.shown.lines, "car 1")
        await asyncio.sleep(0.2)
        assert all("保安已放行" not in m.lines for m in sim.history), sim.history
        bus.publish(Event("audit", {"action": "gate.open", "gate_id": "main-in",
                                    "passage_id": None, "details": {"outcome": "opening"}}))
        await until(lambda: sim.shown is not None and sim.shown.lines == ("保安已放行",),
                    "a live open")

    run(scenario)


def test_a_database_that_does_not_answer_holds_up_no_cars_message() -> None:
    """The free counts read at start and a visitor's host building both come from the
    database; one that hangs (a connect time-out) must not keep the cars' messages waiting:
    events of every gate are handled one after another."""
    answer = threading.Event()

    def hung_counts() -> dict[str, int]:
        answer.wait(30)
        return {"B": 23}

    class HungSessions(sessionmaker[Session]):
        """Opening a session waits (a connect time-out), then fails."""

        def __call__(self, **local_kw: Any) -> Session:
            answer.wait(30)
            raise RuntimeError("no database")

    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        sim = SimulatedScreen("main-in")
        gate = ScreenGate("main-in", "B", pedestrian=False, hold_s=5, timeout_s=1)
        service = GateScreenService([(gate, sim)], bus=bus, sessions=HungSessions(),
                                    free_counts=hung_counts)
        await service.start()
        try:
            bus.publish(passage(1, "闽A11111"))
            await until(lambda: sim.shown is not None and "闽A·11111" in sim.shown.lines,
                        "a car while the free counts are still being read", timeout=5)
            bus.publish(passage(2, "闽B22222", pass_id=9, household_id=4, reason="visitor_pass"))
            await until(lambda: sim.shown is not None
                        and sim.shown.lines == ("闽B·22222", "欢迎光临", "访客"),
                        "a visitor greeted without the building that cannot be read", timeout=5)
            bus.publish(passage(3, "闽A33333"))
            await until(lambda: sim.shown is not None and "闽A·33333" in sim.shown.lines,
                        "the car after the visitor", timeout=5)
            assert not answer.is_set()  # all of it while the database still hung
        finally:
            answer.set()
            await service.stop()

    asyncio.run(main())


def offline(journal_id: str, plate: str) -> Event:
    """A resident's car decided offline, as the runtime publishes it (no row, no id yet)."""
    return Event("passage_offline", {
        "journal_id": journal_id, "gate_id": "main-in", "plate": plate, "decision": "allow",
        "reason": "resident", "flags": ["offline"], "direction": "in", "pass_id": None,
        "matched_plate": plate})


def told(bus: EventBus) -> tuple[list[tuple[str, ...]], AbstractContextManager[None]]:
    """Every non-idle message the service means for the screen (superseded ones too), and
    the listening block that fills the list."""
    lines: list[tuple[str, ...]] = []

    def hear(event: Event) -> None:
        if event.type == "screen" and event.data["level"] is not None:
            lines.append(tuple(event.data["lines"]))

    return lines, bus.listening(hear)


def test_a_guards_open_during_an_outage_is_told_once_at_its_gate() -> None:
    """audit_offline is the guard acting now; the written-back row of the same action, even
    seconds later (well inside hold_s), is not told a second time."""
    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        lines, listening = told(bus)
        with listening:
            bus.publish(Event("audit_offline", {
                "journal_id": "a1", "action": "gate.open", "gate_id": "main-out",
                "passage_id": None, "passage_journal_id": None,
                "details": {"outcome": "opening"}}))  # another gate's
            bus.publish(Event("audit_offline", {
                "journal_id": "a2", "action": "gate.open", "gate_id": "main-in",
                "passage_id": None, "passage_journal_id": None,
                "details": {"outcome": "fault"}}))  # the barrier did not move
            bus.publish(Event("audit_offline", {
                "journal_id": "a3", "action": "gate.open", "gate_id": "main-in",
                "passage_id": None, "passage_journal_id": None,
                "details": {"outcome": "opening"}}))
            await until(lambda: sim.shown is not None and sim.shown.lines == ("保安已放行",),
                        "the guard's open")
            bus.publish(Event("audit", {
                "id": 7, "at": datetime.now(UTC).isoformat(), "journal_id": "a3",
                "action": "gate.open", "gate_id": "main-in", "passage_id": None,
                "details": {"outcome": "opening"}}))
            bus.publish(passage(1, "闽A11111"))  # handled after the row: the sentinel
            await until(lambda: ("闽A·11111", "欢迎回家") in lines, "the next car")
        assert lines == [("保安已放行",), ("闽A·11111", "欢迎回家")]

    run(scenario)


def test_a_barrier_fault_on_a_passage_decided_offline_is_told_while_it_is_shown() -> None:
    async def scenario(service: GateScreenService, sim: SimulatedScreen, bus: EventBus) -> None:
        lines, listening = told(bus)
        with listening:
            bus.publish(offline("j1", "闽A11111"))
            bus.publish(Event("passage_offline_updated", {
                "journal_id": "j1", "gate_id": "main-in", "barrier_outcome": "fault"}))
            await until(lambda: sim.shown is not None
                        and sim.shown.lines == ("闽A·11111", "道闸故障", "请联系保安"), "the fault")
            bus.publish(offline("j2", "闽A22222"))
            # The first car's late answer (a guard's open of it failing) and its passage
            # written back once the database answers: the second car's message stays.
            bus.publish(Event("passage_offline_updated", {
                "journal_id": "j1", "gate_id": "main-in", "barrier_outcome": "fault"}))
            bus.publish(Event("passage_offline_updated", {
                "journal_id": "j2", "gate_id": "main-in", "barrier_outcome": "opening"}))
            bus.publish(passage(1, "闽A11111", journal_id="j1", flags=["offline"]))
            bus.publish(passage(3, "闽A33333"))  # the sentinel
            await until(lambda: ("闽A·33333", "欢迎回家") in lines, "the next car")
        assert lines == [("闽A·11111", "欢迎回家"), ("闽A·11111", "道闸故障", "请联系保安"),
                         ("闽A·22222", "欢迎回家"), ("闽A·33333", "欢迎回家")]

    run(scenario)
