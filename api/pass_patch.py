"""Editing a visitor pass after it was made: a partial update checked by creation's rules.

The visitor stays one more night (a later ``valid_to``), leaves early (an earlier one), the
note or the plate was mistyped, the cleaner's days or hours change. What a PATCH leaves out
stays as stored; the result, merged, must be a pass ``PassIn`` would accept, with one
difference: a ``valid_to`` moved *earlier* may be in the past, which ends the pass now (a
guard may do that; deleting it stays an admin's). What does not change: which kind of pass it
is (a walk-in pass stays without a plate, a car's pass keeps a plate), the host household
(spaces and the passages already counted are theirs), and ``uses``, which the gates count.
Those are refused with a message saying what to do instead. An ended pass may be edited
too: extending it is how a visitor whose pass ran out overnight stays on.

The pass keeps its id and its ``qr_nonce``, so the QR code the visitor holds stays the one to
show; the gates read the new window at their next decision (``models.access_store``,
``services.credentials.check_qr``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, field_validator

from api.params import BodyId, JsonInt, Moment
from api.schemas import EntryLimit, _clean, _Patch, check_pass_window, plate_field
from controllers.pass_hours import normal_hours, normal_weekdays
from errors import InvalidInputError
from models.vehicles import VisitorPass

# The columns an edit may change, in the order the audit entry lists them.
EDITABLE = ("plate", "valid_from", "valid_to", "max_uses", "note", "weekdays", "hours_from",
            "hours_to")
# Free text about a person (快递员 王师傅): the audit entry says it changed, not what it says,
# as pass.create keeps it out of the log.
UNLOGGED = frozenset({"note"})
# A pass ended at or before its start keeps this much of a window, all of it past.
ENDED_SPAN = timedelta(minutes=1)


class PassPatch(_Patch):
    """Any subset of a pass's editable fields; null clears what may be empty (max_uses:
    unlimited, weekdays: every day, hours: all day)."""

    nullable: ClassVar[frozenset[str]] = frozenset(
        {"plate", "walk_in", "max_uses", "weekdays", "hours_from", "hours_to"}
    )

    plate: str | None = Field(
        None, examples=["粤B88888"],
        description="A corrected plate; a car's pass keeps one, a walk-in pass gets none.",
    )
    walk_in: bool | None = Field(
        None, description="May be sent (as the console's form does) but must say what the "
        "pass already is: the kind of a pass cannot change.",
    )
    host_household_id: BodyId | None = Field(
        None, description="Cannot change; sent, it must be the pass's own.",
    )
    valid_from: Moment | None = None
    valid_to: Moment | None = Field(
        None, description="Later extends the pass; earlier shortens it, and a time already "
        "past ends it now.",
    )
    max_uses: EntryLimit | None = Field(
        None, description="Entries allowed; null for unlimited. Not below the uses made.",
    )
    # The limit before the clean-up, as PassIn's (and said the same way: at most 500
    # characters); on ``Note | None`` pydantic would check it after, as a count of "items".
    note: Annotated[str, Field(max_length=500), AfterValidator(_clean)] | None = None
    weekdays: list[Annotated[str, Field(max_length=16)]] | None = Field(
        None, max_length=7, description="mon … sun; null for every day.",
    )
    hours_from: str | None = Field(None, max_length=5, examples=["08:00"])
    hours_to: str | None = Field(None, max_length=5, examples=["12:00"])
    uses: Annotated[int, JsonInt(0, 10_000)] | None = Field(
        None, description="Refused: the gates count it. Raise max_uses to allow more entries.",
    )

    @field_validator("plate")
    @classmethod
    def _norm(cls, value: str | None) -> str | None:
        return None if value is None else plate_field(value)

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[str] | None) -> list[str] | None:
        normal_weekdays(value)  # the days alone: unknown or none is wrong whatever is stored
        return value

    def columns(self, visitor_pass: VisitorPass, now: datetime) -> dict[str, Any]:
        """The pass's columns after this edit, checked as a whole; raises InvalidInputError
        saying what is wrong (the API's 422)."""
        try:
            return self._merged(visitor_pass, now)
        except ValueError as err:
            raise InvalidInputError(str(err)) from err

    def _merged(self, visitor_pass: VisitorPass, now: datetime) -> dict[str, Any]:
        sent = self.model_fields_set
        if "uses" in sent:
            raise ValueError("uses is counted by the gates and cannot be set; raise max_uses "
                             "to allow more entries")
        if "host_household_id" in sent and self.host_household_id != visitor_pass.host_household_id:
            raise ValueError(
                f"the host household of pass {visitor_pass.id} cannot be changed; delete the "
                "pass and register a new one for the other household"
            )
        stored = {name: getattr(visitor_pass, name) for name in EDITABLE}
        merged = {**stored, **{name: getattr(self, name) for name in EDITABLE if name in sent}}
        self._same_kind(visitor_pass, merged["plate"])
        merged["valid_from"] = merged["valid_from"].astimezone(UTC)
        merged["valid_to"] = merged["valid_to"].astimezone(UTC)
        ending = merged["valid_to"] < stored["valid_to"]
        if (ending and "valid_from" not in sent and merged["valid_to"] <= now
                and merged["valid_to"] <= merged["valid_from"]):
            # 结束时间 set to now or earlier ends the pass at once (admin guide 5.1, the edit
            # panel's hint), also one not begun yet (a visit called off) or begun a moment
            # ago: its start moves to just before that end, so the pass is one already over
            # rather than refused as ending before it starts (a guard cannot delete it).
            merged["valid_from"] = merged["valid_to"] - ENDED_SPAN
        check_pass_window(merged["valid_from"], merged["valid_to"], now=now, ending=ending)
        if merged["max_uses"] is not None and merged["max_uses"] < visitor_pass.uses:
            raise ValueError(
                f"max_uses {merged['max_uses']} is below the {visitor_pass.uses} entries "
                "this pass has already made"
            )
        if "weekdays" in sent:
            merged["weekdays"] = normal_weekdays(self.weekdays)
        if sent & {"hours_from", "hours_to"}:
            hours = normal_hours(merged["hours_from"], merged["hours_to"])
            merged["hours_from"], merged["hours_to"] = hours or (None, None)
        return merged

    def _same_kind(self, visitor_pass: VisitorPass, plate: str | None) -> None:
        walk_in = visitor_pass.plate is None
        if (plate is None) == walk_in and self.walk_in in (None, walk_in):
            return
        if not walk_in:
            raise ValueError(
                f"pass {visitor_pass.id} is for a car: its plate can be corrected but not "
                "removed (the kind of a pass cannot change); register a walk-in pass for a "
                "visitor on foot"
            )
        raise ValueError(
            f"pass {visitor_pass.id} is a walk-in pass and stays without a plate (the kind "
            "of a pass cannot change); register a new pass for a visitor with a car"
        )


def edit_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What an edit changed, field by field (old, new), times in UTC ISO as the log keeps
    them."""
    def shown(value: Any) -> Any:
        return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value

    return {name: (shown(before[name]), shown(after[name])) for name in EDITABLE
            if shown(before[name]) != shown(after[name])}
