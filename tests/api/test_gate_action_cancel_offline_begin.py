"""A guard's command cancelled while its audit entry is begun offline audits nothing false.

During a database outage the entry is begun in the audit journal (fsynced, outcome
``pending``) in a worker thread before the barrier is commanded. A cancel (a shutdown, the
client gone) that landed while that worker wrote, or after it wrote and before the request
went on, left that begun entry behind: held back from the write-back until the next start,
then written to the audit log as ``pending`` ("the barrier may have moved") for a barrier
that was never commanded. Online, a cancel before the command records nothing; so now does
this one. A cancel once the command is on the wire is still audited as pending.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.audit_journal import FileAuditJournal, JournalledAudit
from services.container import build_services
from services.gate_actions import perform_gate_action
from tests.cancel_window import ENDS_WITHIN_S, cancel_after_turns

pytestmark = pytest.mark.timeout(120)


class _SilentBarrier:
    """Takes a close and never answers: the command is on the wire when the cancel comes."""

    command_budget_s = 5.0
    state = "open"
    fault = None

    def __init__(self) -> None:
        self.asked = False
        self.on_the_wire = asyncio.Event()

    async def close(self) -> str:
        self.asked = True
        self.on_the_wire.set()
        await asyncio.Event().wait()
        return "closing"


def _journalled(journal: FileAuditJournal, reason: str) -> list[str | None]:
    return [e.details.get("outcome") for e in journal.pending() if e.reason == reason]


def _close(services: Any, reason: str) -> asyncio.Task[Any]:
    return asyncio.create_task(perform_gate_action(
        services, username="guard", gate_id="main-in", action="close", reason=reason,
    ))


def test_a_cancel_while_the_entry_is_being_begun_leaves_no_entry(
    make_settings: Any, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel lands while the worker thread is writing the begun entry (a slow disk):
    the request ends cancelled at once, the barrier is never commanded, and once the worker
    is done the journal holds no entry of the action (before: a begun ``pending`` one, kept
    from the write-back and written as pending at the next start)."""
    services = build_services(make_settings(), recognizer=plate_recognizer)
    journal = services.audit_journal
    assert journal is not None
    begin = journal.begin
    writing: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    disk_done = threading.Event()

    def slow_begin(entry: JournalledAudit) -> None:
        loop, event = writing[0]
        loop.call_soon_threadsafe(event.set)
        assert disk_done.wait(ENDS_WITHIN_S)
        begin(entry)

    monkeypatch.setattr(journal, "begin", slow_begin)

    async def main() -> None:
        pool = ThreadPoolExecutor(1)
        asyncio.get_running_loop().set_default_executor(pool)
        writing.append((asyncio.get_running_loop(), asyncio.Event()))
        services.runtime.mark_database_unavailable()
        barrier = _SilentBarrier()
        services.barriers["main-in"] = barrier  # type: ignore[assignment]
        closing = _close(services, "cut while begun")
        async with asyncio.timeout(ENDS_WITHIN_S):
            await writing[0][1].wait()
        assert await cancel_after_turns(closing, 0, "close")
        disk_done.set()
        pool.shutdown(wait=True)  # the worker's write is over
        assert not barrier.asked

    try:
        asyncio.run(main())
        assert _journalled(journal, "cut while begun") == []
    finally:
        services.engine.dispose()


def test_a_cancel_around_the_end_of_the_begin_audits_pending_only_once_commanded(
    make_settings: Any, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel comes 0 to 5 loop turns after the worker wrote the begun entry, or once the
    close is on the wire: before the request took the worker's answer (the barrier not
    commanded: no entry) or after it commanded the barrier (one entry, pending, ready for
    the write-back)."""
    services = build_services(make_settings(), recognizer=plate_recognizer)
    journal = services.audit_journal
    assert journal is not None
    begin = journal.begin
    # This run's loop and the event its worker sets once the entry is on disk.
    begun: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def signalled_begin(entry: JournalledAudit) -> None:
        begin(entry)
        loop, event = begun[-1]
        loop.call_soon_threadsafe(event.set)

    monkeypatch.setattr(journal, "begin", signalled_begin)
    commanded: dict[int | None, bool] = {}

    async def one(turns: int | None) -> None:
        """``turns`` None: the cancel comes once the barrier was commanded."""
        written = asyncio.Event()
        begun.append((asyncio.get_running_loop(), written))
        services.runtime.mark_database_unavailable()
        barrier = _SilentBarrier()
        services.barriers["main-in"] = barrier  # type: ignore[assignment]
        closing = _close(services, f"cut {turns} after begin")
        async with asyncio.timeout(ENDS_WITHIN_S):
            await written.wait()
            if turns is None:
                await barrier.on_the_wire.wait()
        assert await cancel_after_turns(closing, turns or 0, "close"), f"{turns}: not pending"
        commanded[turns] = barrier.asked

    try:
        for turns in [*range(6), None]:
            asyncio.run(one(turns))
            reason = f"cut {turns} after begin"
            expected = ["pending"] if commanded[turns] else []
            assert _journalled(journal, reason) == expected, f"{turns} turns"
            ready = [e.details.get("outcome") for e in journal.ready() if e.reason == reason]
            assert ready == expected, f"{turns} turns: held back as in flight"
        # Both sides were hit: a cancel before the command, and one after (how many turns
        # the worker's answer takes to reach the request varies with the machine's load).
        assert not commanded[0] and commanded[None], commanded
    finally:
        services.engine.dispose()
