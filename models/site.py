"""Gates and zones, mirrored from the configuration, with each zone's live count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, utcnow


class Zone(Base):
    __tablename__ = "zones"
    __table_args__ = (
        CheckConstraint("occupied >= 0", name="occupied_non_negative"),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    capacity: Mapped[int]
    occupied: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set while the configuration no longer names the zone (merged into another, renamed):
    # the row stays, as passages, samples and reports name it, but availability, corrections
    # and counting leave it alone (services/site.py).
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


def configured_zones(session: Session) -> list[Zone]:
    """The zones the configuration names now, by id: a retired one is not offered, corrected
    or listed (its row stays for the history that names it)."""
    return list(session.scalars(
        select(Zone).where(Zone.retired_at.is_(None)).order_by(Zone.id)))


class ZonePeriod(Base):
    """A span during which the configuration named the zone: reports list a zone only on the
    days one of its spans touches. A zone with no span at all has not been through a start
    since migration 0017 (or was written by hand) and is listed every day, as before."""

    __tablename__ = "zone_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"), index=True)
    # None: configured from before the history began (the zones a database started with).
    since: Mapped[datetime | None] = mapped_column(default=None)
    until: Mapped[datetime | None] = mapped_column(default=None)  # None: still configured


class Gate(Base):
    __tablename__ = "gates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    zone_id: Mapped[str | None] = mapped_column(
        ForeignKey("zones.id", ondelete="SET NULL"), default=None
    )


class OccupancySample(Base):
    """One row per change of a zone's count: the history behind occupancy reports."""

    __tablename__ = "occupancy_samples"
    __table_args__ = (
        # A zone's count at a moment and over a day (the reports): on zone_id alone every
        # sample of the zone's history was read and sorted, about a second a query with a
        # year of them, dozens of times for the month report (bench/scale.py).
        Index("ix_occupancy_samples_zone_at", "zone_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    zone_id: Mapped[str] = mapped_column(String(32))
    occupied: Mapped[int]
    capacity: Mapped[int]
