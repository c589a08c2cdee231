"""Rows the gate runtime writes through one ``AccessUnit`` (controllers.ports): a passage with
its consequences, a barrier's answer to it, an alarm. Shared by the live path
(controllers/runtime.py) and the journal's write-back (controllers/journal_writeback.py), so a
passage decided offline is written exactly as one decided online.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from controllers.ports import OUTCOME_FAULT, AccessUnit, PassageRecord
from controllers.values import Direction, Verdict

# An open alarm raised this recently stands for a repeat of the same one.
ALARM_REPEAT_WINDOW = timedelta(minutes=10)
# The longest alarm message the database keeps.
ALARM_MESSAGE_LIMIT = 500


def error_line(err: BaseException) -> str:
    """The exception's first line, named by its type: enough for an alarm and a log line
    (the traceback is logged once beside it)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def may_move_a_zone(record: PassageRecord) -> bool:
    """Whether an allowed passage may have moved a zone's count, so boards and the city feed
    are sent the counts again: one at a gate that counts into a zone, and a car's exit by a
    gate that counts none, as it comes off the zone it was counted into."""
    plate = record.decision.matched_plate or record.sighting.plate
    return record.zone_id is not None or (
        record.direction is Direction.OUT and plate is not None
    )


def write_passage(
    unit: AccessUnit, record: PassageRecord, note: str = ""
) -> tuple[int, list[dict[str, Any]]]:
    """The passage row, and for an allowed one its consequences, plus its alarms."""
    decision = record.decision
    passage_id = unit.record_passage(record)
    kinds = [decision.alarm] if decision.alarm else []
    if decision.verdict is Verdict.ALLOW:
        kinds += unit.apply_admission(record, passage_id)
    who = record.sighting.plate or (
        f"resident {decision.resident_id}" if decision.resident_id else "—"
    )
    alarms = []
    for kind in kinds:
        message = f"{kind} at {record.gate_id}: {who}{note}"
        # A blocked car that keeps trying, or a full zone at every entry, is one thing for
        # the guard to deal with: while its alarm is open and recent, the passages record
        # each attempt and no new alarm piles up on the console.
        since = record.sighting.at - ALARM_REPEAT_WINDOW
        if unit.open_alarm_like(kind, gate_id=record.gate_id, message=message, since=since):
            continue
        alarms.append(store_alarm(unit, kind, record.gate_id, passage_id, message))
    return passage_id, alarms


def record_outcome(unit: AccessUnit, passage_id: int, outcome: str) -> str | None:
    """Write the barrier's answer to a passage. Its presence, pass use and zone count were
    committed before the barrier moved (so a crash loses no passage): a barrier that did not
    open takes them back, so the car trying again, or let in by a guard, is counted then and
    is no anti-passback case; an open of the same passage that succeeds later gives them back.
    Returns ``"undone"``/``"redone"`` when that changed anything."""
    unit.set_outcome(passage_id, outcome)
    if outcome == OUTCOME_FAULT:
        return "undone" if unit.undo_admission(passage_id) else None
    return "redone" if unit.redo_admission(passage_id) else None


def outcome_update(unit: AccessUnit, passage_id: int, outcome: str) -> dict[str, Any]:
    """Write the barrier's answer to a passage (:func:`record_outcome`); for an admission
    undone or given back, what listeners need of the passage (the console's flags, the car
    whose parking hold to release)."""
    change = record_outcome(unit, passage_id, outcome)
    if change is None:
        return {}
    view = unit.passage_view(passage_id)
    return {"admission": change, **{key: view[key] for key in (
        "flags", "direction", "zone_id", "plate", "matched_plate", "gate_id"
    )}}


def store_alarm_once(
    unit: AccessUnit, kind: str, gate_id: str | None, passage_id: int | None, message: str,
    at: datetime, once_per_gate: bool,
) -> dict[str, Any] | None:
    """Store an alarm, or with ``once_per_gate`` tie the passage to an open one of the same
    kind and gate instead; returns what to publish (None when an open one stands for it)."""
    if once_per_gate:
        open_alarm = unit.open_alarm_like(
            kind, gate_id=gate_id, message=None, since=at - ALARM_REPEAT_WINDOW
        )
        if open_alarm is not None:
            if passage_id is not None:
                unit.link_alarm(open_alarm, passage_id)
            return None
    return store_alarm(unit, kind, gate_id, passage_id, message, at=at)


def store_alarm(
    unit: AccessUnit, kind: str, gate_id: str | None, passage_id: int | None, message: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Store an alarm; returns what the event bus publishes for it."""
    alarm_id = unit.raise_alarm(
        kind, gate_id=gate_id, passage_id=passage_id, message=message, at=at
    )
    return alarm_event(alarm_id, kind, gate_id, passage_id, message)


def alarm_event(
    alarm_id: int | None, kind: str, gate_id: str | None, passage_id: int | None, message: str
) -> dict[str, Any]:
    """What the event bus carries for an alarm (``id`` None while it waits in the journal)."""
    return {"id": alarm_id, "kind": kind, "gate_id": gate_id, "passage_id": passage_id,
            "message": message}
