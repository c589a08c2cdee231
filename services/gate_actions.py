"""A guard's manual command to a barrier: drive it, and write who did it and why.

Every attempt is audited, including refused and failed ones: the audit log answers "who
opened the gate at 02:13?" even when the barrier did not move.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal, get_args

from controllers.events import Event
from controllers.runtime import BARRIER_WAIT_MARGIN_S
from errors import ConflictError, HardwareError, InvalidInputError, NotFoundError
from models.db import transaction
from models.events import AuditEntry, Passage
from services.container import Services

logger = logging.getLogger(__name__)

GateAction = Literal["open", "close", "hold_open", "release"]
GATE_ACTIONS: tuple[str, ...] = get_args(GateAction)


@dataclass(frozen=True, slots=True)
class GateActionResult:
    gate_id: str
    action: str
    state: str
    audit_id: int


def gate_states(services: Services) -> list[dict[str, Any]]:
    """Every configured gate with its barrier's live state, in configuration order."""
    rows = []
    for gate in services.settings.community.gates:
        barrier = services.barriers.get(gate.id)
        rows.append(
            {
                "id": gate.id,
                "name": gate.name or gate.id,
                "kind": gate.kind,
                "direction": gate.direction,
                "zone": gate.zone,
                "state": str(barrier.state) if barrier is not None else "none",
                "fault": barrier.fault if barrier is not None else None,
            }
        )
    return rows


def write_audit(
    services: Services,
    *,
    username: str,
    action: str,
    reason: str,
    gate_id: str | None = None,
    passage_id: int | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    with transaction(services.sessions) as session:
        entry = AuditEntry(
            username=username,
            action=action,
            target=target,
            gate_id=gate_id,
            passage_id=passage_id,
            reason=reason,
            details=details or {},
        )
        session.add(entry)
        session.flush()
        entry_id = entry.id
    # Published once committed, so a listener that reads the log finds the row.
    services.bus.publish(
        Event(
            "audit",
            {"id": entry_id, "username": username, "action": action, "gate_id": gate_id,
             "passage_id": passage_id, "reason": reason, "details": details or {}},
        )
    )
    return entry_id


def _check_passage(services: Services, gate_id: str, passage_id: int | None) -> None:
    if passage_id is None:
        return
    with services.sessions() as session:
        passage = session.get(Passage, passage_id)
        if passage is None:
            raise NotFoundError(f"passage {passage_id} not found")
        # The passage gets this barrier's outcome and the audit links the two: a passage at
        # another gate would record an opening that never happened there.
        if passage.gate_id != gate_id:
            raise InvalidInputError(
                f"passage {passage_id} was at gate {passage.gate_id}, not {gate_id}"
            )


async def perform_gate_action(
    services: Services,
    *,
    username: str,
    gate_id: str,
    action: str,
    reason: str,
    passage_id: int | None = None,
) -> GateActionResult:
    """Drive one barrier command; raises NotFound/Conflict/Hardware errors after auditing."""
    if action not in GATE_ACTIONS:
        raise InvalidInputError(f"action must be one of {', '.join(GATE_ACTIONS)}, got {action!r}")
    services.runtime.gate(gate_id)  # unknown gate → 404 before anything is written
    barrier = services.barriers.get(gate_id)
    if barrier is None:
        raise NotFoundError(f"gate {gate_id!r} has no barrier to drive")
    await asyncio.to_thread(_check_passage, services, gate_id, passage_id)

    def audit(outcome: str, **extra: Any) -> int:
        return write_audit(
            services, username=username, action=f"gate.{action}", reason=reason,
            gate_id=gate_id, passage_id=passage_id, target=f"gate:{gate_id}",
            details={"outcome": outcome, **extra},
        )

    if action == "open":
        # Through the runtime so a linked passage gets its barrier outcome and a fault its alarm.
        state = await services.runtime.open_barrier(gate_id, passage_id=passage_id)
        if state == "fault":
            message = f"gate {gate_id}: open failed: {barrier.fault or 'no confirmation'}"
            await asyncio.to_thread(audit, "fault", error=message)
            raise HardwareError(message)
    else:
        command = getattr(barrier, action)
        try:
            # The barrier's own budget (its retries, and a command already on the wire) and a
            # margin, as for an open: a shorter limit cut a close off mid-retry.
            wait_s = barrier.command_budget_s + BARRIER_WAIT_MARGIN_S
            state = str(await asyncio.wait_for(command(), wait_s))
        except ConflictError as err:
            await asyncio.to_thread(audit, "refused", error=str(err))
            raise
        except (HardwareError, TimeoutError) as err:
            message = str(err) or f"gate {gate_id}: {action} not confirmed in time"
            logger.warning("gate %s: %s by %s failed: %s", gate_id, action, username, message)
            # A safety supervisor, when wired in, already raises an alarm when a barrier goes
            # into fault; only a failure it cannot see gets an alarm of its own here.
            supervised = getattr(services, "safety", None) is not None
            if not supervised or str(barrier.state) != "fault":
                await services.runtime.raise_alarm("hardware_fault", message, gate_id=gate_id)
            await asyncio.to_thread(audit, "fault", error=message)
            raise HardwareError(message) from err
    audit_id = await asyncio.to_thread(audit, state)
    logger.info("gate %s: %s by %s (%s) → %s", gate_id, action, username, reason, state)
    return GateActionResult(gate_id=gate_id, action=action, state=state, audit_id=audit_id)
