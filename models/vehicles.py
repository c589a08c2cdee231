"""Vehicles, visitor passes, allow/block lists and who is inside right now."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import NEVER_REUSED_IDS, Base, TimestampMixin, utcnow


class Vehicle(TimestampMixin, Base):
    __tablename__ = "vehicles"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    plate: Mapped[str] = mapped_column(String(16), unique=True)
    plate_color: Mapped[str] = mapped_column(String(16), default="unknown")
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"), default=None
    )


def new_qr_nonce() -> str:
    """128 random bits, hex: what makes each pass's QR code its own (see ``qr_nonce``)."""
    return secrets.token_hex(16)


class VisitorPass(TimestampMixin, Base):
    __tablename__ = "visitor_passes"
    __table_args__ = (
        CheckConstraint("valid_to > valid_from", name="window_ordered"),
        CheckConstraint("uses >= 0", name="uses_non_negative"),
        Index("ix_visitor_passes_plate", "plate"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL: a walk-in pass (步行访客), for a visitor on foot. It admits only by its QR code
    # at a pedestrian gate: with no plate to match, a vehicle gate never opens for it.
    plate: Mapped[str | None] = mapped_column(String(16), default=None)
    host_household_id: Mapped[int] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE")
    )
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime]
    max_uses: Mapped[int | None] = mapped_column(default=None)
    uses: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    # Signed into the pass's QR code with its id. SQLite handed a deleted pass's id to the next
    # pass before migration 0016, so a code that signed only the id opened the gate again for
    # whoever held the cancelled one; a fresh random value per pass ties a code to the pass it
    # was issued for.
    qr_nonce: Mapped[str] = mapped_column(String(32), default=new_qr_nonce)
    # A recurring pass's weekdays ("mon,tue,wed,thu,fri") and daily hours ("08:00", "12:00";
    # "24:00" ends at midnight) in community.timezone, within its window. NULL: any day / all
    # day (controllers.pass_hours).
    weekdays: Mapped[str | None] = mapped_column(String(27), default=None)
    hours_from: Mapped[str | None] = mapped_column(String(5), default=None)
    hours_to: Mapped[str | None] = mapped_column(String(5), default=None)

    @property
    def walk_in(self) -> bool:
        """A pass without a plate: QR code at a pedestrian gate only."""
        return self.plate is None

    def grant(self) -> dict[str, Any]:
        """What the pass grants, as its audit entries record it (pass.create, pass.delete):
        once the pass is deleted, the log is all that says who was let in and for how long,
        and on which days and hours."""
        return {"plate": self.plate, "walk_in": self.walk_in,
                "host_household_id": self.host_household_id,
                "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat(), "max_uses": self.max_uses,
                "weekdays": self.weekdays, "hours_from": self.hours_from,
                "hours_to": self.hours_to}


class PlateListEntry(TimestampMixin, Base):
    __tablename__ = "plate_lists"
    __table_args__ = (CheckConstraint("kind IN ('allow', 'block')", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plate: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")

    def listing(self) -> dict[str, Any]:
        """What the entry was, as list.delete records it: once it is removed, the log is all
        that says which list the plate left and why it had been put there."""
        return {"list": self.kind, "listed_reason": self.reason, "listed_by": self.created_by,
                "listed_at": self.created_at.isoformat()}


class Presence(Base):
    """A vehicle currently inside: written on an allowed entry, removed on an exit."""

    __tablename__ = "presence"

    plate: Mapped[str] = mapped_column(String(16), primary_key=True)
    zone_id: Mapped[str | None] = mapped_column(String(32), default=None)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL"), default=None, index=True
    )
    pass_id: Mapped[int | None] = mapped_column(
        ForeignKey("visitor_passes.id", ondelete="SET NULL"), default=None
    )
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    passage_id: Mapped[int | None] = mapped_column(default=None)
