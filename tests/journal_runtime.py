"""The gate runtime the database-outage tests drive: one entry gate into zone A, no barrier
unless a test gives one (``quick_barrier``), the file journal in a test's own folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controllers.barrier import BarrierTiming
from controllers.events import EventBus
from controllers.offline import OfflineAccess
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime, Opener
from controllers.values import Direction
from hardware.relay_barrier import CommandPolicy
from hardware.simulated import SimulatedBarrier
from models.access_store import SqlAccessStore
from services.passage_journal import FilePassageJournal


def journalled_runtime(
    sessions: sessionmaker[Session], folder: Path, *,
    barriers: Mapping[str, Opener] | None = None, **kwargs: Any,
) -> GateRuntime:
    return GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, "A")},
        barriers=barriers or {},
        policy=AccessPolicy(),
        bus=EventBus(),
        journal=FilePassageJournal(folder / "journal" / "passages.jsonl"),
        offline=OfflineAccess(),
        **kwargs,
    )


def quick_barrier(command_timeout_s: float) -> SimulatedBarrier:
    """main-in's barrier moving in 50 ms; a command not answered within ``command_timeout_s``
    is a fault."""
    return SimulatedBarrier(
        "main-in",
        timing=BarrierTiming(open_seconds=0.3, motion_timeout_s=0.5),
        policy=CommandPolicy(command_timeout_s=command_timeout_s, retries=1,
                             retry_delay_s=0.01, tick_s=0.02),
        opening_s=0.05, closing_s=0.05, echo_delay_s=0.01,
    )
