"""The boundaries the gate runtime talks through. Implementations live outside controllers/."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from controllers.policy import Permits, ZoneOccupancy
from controllers.values import AccessDecision, Direction, Sighting


@dataclass(frozen=True, slots=True)
class PassageRecord:
    """What is written for one passage, before the barrier is driven."""

    gate_id: str
    direction: Direction
    zone_id: str | None
    sighting: Sighting
    decision: AccessDecision
    snapshot_path: str | None
    details: dict[str, Any] = field(default_factory=dict)


class AccessUnit(Protocol):
    """One transaction: read what is known, record the passage and its consequences."""

    def permits(self, plate: str | None, now: datetime) -> Permits: ...

    def occupancy(self, zone_id: str | None) -> ZoneOccupancy | None: ...

    def record_passage(self, record: PassageRecord) -> int: ...

    def apply_admission(self, record: PassageRecord, passage_id: int) -> list[str]:
        """Presence, pass use and zone count after an allowed passage; returns alarm kinds."""
        ...

    def raise_alarm(
        self, kind: str, *, gate_id: str | None, passage_id: int | None, message: str
    ) -> int: ...

    def passage_view(self, passage_id: int) -> dict[str, Any]: ...


class AccessStore(Protocol):
    def unit(self) -> AbstractContextManager[AccessUnit]: ...

    def set_barrier_outcome(self, passage_id: int, outcome: str) -> None: ...

    def availability_view(self) -> dict[str, Any]: ...
