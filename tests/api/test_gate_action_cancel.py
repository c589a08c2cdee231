"""A guard's command cancelled as the barrier answers ends cancelled.

The command waited for the barrier with ``asyncio.wait_for``, which on Python 3.11 returns an
answer that comes as its task is cancelled and drops the cancellation: a request cancelled
(a server's shutdown) went on, audited the command as done and answered it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from models.events import AuditEntry
from services import gate_actions
from services.container import build_services
from services.gate_actions import perform_gate_action
from tests.cancel_window import cancel_after_turns

pytestmark = pytest.mark.timeout(120)


class _AnsweringBarrier:
    """Answers a close when the test says so (a stand-in for the relay)."""

    command_budget_s = 5.0
    state = "open"
    fault = None

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def close(self) -> str:
        self.asked.set()
        await self.answer.wait()
        return "closing"


def test_a_close_cancelled_as_the_barrier_answers_ends_cancelled(
    make_settings: Any, plate_recognizer: Any
) -> None:
    """The cancel comes 0 to 5 loop turns after the answer; each that finds the command still
    pending must end it cancelled, not audited as done."""
    services = build_services(make_settings(), recognizer=plate_recognizer)

    async def main() -> list[int]:
        cancelled_pending: list[int] = []
        for turns in range(6):
            barrier = _AnsweringBarrier()
            services.barriers["main-in"] = barrier  # type: ignore[assignment]
            closing = asyncio.create_task(perform_gate_action(
                services, username="guard", gate_id="main-in", action="close",
                reason="cancel test",
            ))
            async with asyncio.timeout(10):
                await barrier.asked.wait()  # and waits for the answer: nothing runs between
            barrier.answer.set()
            if await cancel_after_turns(closing, turns, "close"):
                cancelled_pending.append(turns)
        return cancelled_pending

    try:
        # The window was hit at all: a cancel came while the answer was on its way.
        assert asyncio.run(main())[:1] == [0]
    finally:
        services.engine.dispose()


class _SilentBarrier:
    """Takes a command and never answers while the test waits: the command is on the wire
    (the relay may have switched) when the request is cancelled."""

    command_budget_s = 5.0
    state = "closed"
    fault = None

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def _answer(self) -> str:
        self.asked.set()
        await asyncio.Event().wait()
        return "opening"

    async def open(self) -> str:
        return await self._answer()

    async def close(self) -> str:
        return await self._answer()


def _own_pool() -> ThreadPoolExecutor:
    """The loop's default pool, one worker, of the test's own (see _pool_held)."""
    pool = ThreadPoolExecutor(1)
    asyncio.get_running_loop().set_default_executor(pool)
    return pool


@contextlib.contextmanager
def _pool_held(pool: ThreadPoolExecutor) -> Iterator[None]:
    """The pool's worker busy until the end of the block, then the pool shut down: a write
    handed to the pool meanwhile waits in its queue until the cancel came (as on a busy
    controller, where to_thread's queued job was dropped with its cancelled task), and is
    done before the entries are counted."""
    release = threading.Event()
    pool.submit(release.wait)
    try:
        yield
    finally:
        release.set()
        pool.shutdown(wait=True)


def _audited(services: Any, reason: str) -> list[AuditEntry]:
    with services.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.reason == reason)))


async def _close_cut_off(
    services: Any, *, reason: str, turns: int, username: str = "guard"
) -> None:
    """A guard's close at main-in whose request is cancelled ``turns`` loop turns after the
    barrier answered, while the pool's only worker is busy (its audit write waits in the
    queue, as on a loaded controller)."""
    pool = _own_pool()
    barrier = _AnsweringBarrier()
    services.barriers["main-in"] = barrier
    closing = asyncio.create_task(perform_gate_action(
        services, username=username, gate_id="main-in", action="close", reason=reason,
    ))
    async with asyncio.timeout(10):
        await barrier.asked.wait()
    with _pool_held(pool):
        barrier.answer.set()
        await cancel_after_turns(closing, turns, "close")


@pytest.mark.parametrize("action", ["open", "close"])
def test_a_command_cancelled_while_on_the_wire_is_still_audited(
    make_settings: Any, plate_recognizer: Any, action: str
) -> None:
    """A shutdown cancels the guard's request 0-5 loop turns after the barrier was commanded
    and before it answered: the barrier may have moved, so the override is recorded with who
    and why (outcome pending: its answer is unknown), and the request ends cancelled."""
    services = build_services(make_settings(), recognizer=plate_recognizer)

    async def main() -> None:
        for turns in range(6):
            barrier = _SilentBarrier()
            services.barriers["main-in"] = barrier  # type: ignore[assignment]
            services.runtime._barriers["main-in"] = barrier  # the open goes through it
            acting = asyncio.create_task(perform_gate_action(
                services, username="guard", gate_id="main-in", action=action,
                reason=f"{action} cancelled {turns}",
            ))
            async with asyncio.timeout(10):
                await barrier.asked.wait()
            assert await cancel_after_turns(acting, turns, action), f"{turns}: not pending"
        await services.write_back_audit()  # as the offline loop does within seconds

    try:
        asyncio.run(main())
        for turns in range(6):
            rows = _audited(services, f"{action} cancelled {turns}")
            assert [(r.username, r.action, r.gate_id, r.details.get("outcome"))
                    for r in rows] == [("guard", f"gate.{action}", "main-in", "pending")], (
                f"{turns} turns: {rows}")
    finally:
        services.engine.dispose()


def test_a_close_cancelled_around_its_answer_is_audited_once(
    make_settings: Any, plate_recognizer: Any
) -> None:
    """The cancel comes 0 to 5 loop turns after the barrier answered: before the audit row's
    write began (recorded as pending) or while it is being written (the row, with the
    answer): either way exactly one entry, never none and never two."""
    services = build_services(make_settings(), recognizer=plate_recognizer)
    outcomes: list[str | None] = []

    try:
        for turns in range(6):
            asyncio.run(_close_cut_off(services, reason=f"close answered {turns}", turns=turns))
            journal = services.audit_journal
            assert journal is not None
            waiting = [e for e in journal.pending() if e.reason == f"close answered {turns}"]
            rows = _audited(services, f"close answered {turns}")
            assert len(waiting) + len(rows) == 1, f"{turns} turns: {waiting} {rows}"
            outcomes += [e.details.get("outcome") for e in waiting]
            outcomes += [r.details.get("outcome") for r in rows]
        assert set(outcomes) <= {"pending", "closing"}, outcomes
    finally:
        services.engine.dispose()


def test_a_close_during_an_outage_cancelled_around_its_answer_is_not_left_in_flight(
    make_settings: Any, plate_recognizer: Any
) -> None:
    """During an outage the entry is begun in the audit journal before the barrier moves. A
    cancel 0 to 5 loop turns after the answer: the entry is finished (with the answer, or as
    pending) and ready for the write-back, not held back as still waiting for its barrier
    until the next restart (the journal's finish, queued for a worker thread, was dropped
    with the cancelled task)."""
    services = build_services(make_settings(), recognizer=plate_recognizer)
    journal = services.audit_journal
    assert journal is not None

    async def one(turns: int) -> None:
        services.runtime.mark_database_unavailable()  # the guard's action goes offline
        await _close_cut_off(services, reason=f"offline close {turns}", turns=turns)

    try:
        for turns in range(6):
            asyncio.run(one(turns))
            reason = f"offline close {turns}"
            assert [e.username for e in journal.pending() if e.reason == reason] == ["guard"]
            ready = [e.details.get("outcome") for e in journal.ready() if e.reason == reason]
            assert ready in (["closing"], ["pending"]), f"{turns} turns: ready {ready}"
    finally:
        services.engine.dispose()


def test_a_write_that_fails_after_its_request_was_cancelled_names_the_guard(
    make_settings: Any, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The shielded write goes on after the request's cancel; when it then fails, nothing
    awaits it: the log must say which action lost its entry, not only asyncio's "Future
    exception was never retrieved" (review of 42299d5)."""
    services = build_services(make_settings(), recognizer=plate_recognizer)

    def broken(*_: Any, **__: Any) -> int:
        raise RuntimeError("the audit table is gone")

    monkeypatch.setattr(gate_actions, "write_audit", broken)

    async def scenario() -> None:
        # Cancelled once the write was handed to the (held) pool.
        await _close_cut_off(services, reason="lost write", turns=20, username="guard7")
        await asyncio.sleep(0.05)  # the write's failure reaches the loop

    try:
        with caplog.at_level(logging.ERROR, logger="services.gate_actions"):
            asyncio.run(scenario())
    finally:
        services.engine.dispose()
    lost = [r.getMessage() for r in caplog.records if "was cut off" in r.getMessage()]
    assert lost and "guard7" in lost[0] and "lost write" in lost[0], caplog.text
