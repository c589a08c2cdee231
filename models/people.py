"""Households, residents and console users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class Household(TimestampMixin, Base):
    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("building", "unit", name="building_unit"),
        CheckConstraint("spaces >= 0", name="spaces_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    # Spaces the household may occupy at once (一位多车: more cars than spaces).
    spaces: Mapped[int] = mapped_column(default=1)
    note: Mapped[str] = mapped_column(String(500), default="")


class Resident(TimestampMixin, Base):
    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    # PIPL: separate, recorded consent before any face template is stored.
    face_consent_at: Mapped[datetime | None] = mapped_column(default=None)
    face_consent_by: Mapped[str | None] = mapped_column(String(64), default=None)
    pin_hash: Mapped[str | None] = mapped_column(String(255), default=None)


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'guard')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
