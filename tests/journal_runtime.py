"""The gate runtime the database-outage tests drive: one entry gate into zone A, no barrier
unless a test gives one, the file journal in a test's own folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.offline import OfflineAccess
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime, Opener
from controllers.values import Direction
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
