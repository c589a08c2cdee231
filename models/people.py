"""Households, residents and console users."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, Session, mapped_column, validates

from models.base import NEVER_REUSED_IDS, Base, TimestampMixin


class Household(TimestampMixin, Base):
    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("building", "unit", name="building_unit"),
        CheckConstraint("spaces >= 0", name="spaces_non_negative"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    # Spaces the household may occupy at once (一位多车: more cars than spaces).
    spaces: Mapped[int] = mapped_column(default=1)
    note: Mapped[str] = mapped_column(String(500), default="")

    @property
    def label(self) -> str:
        """「3栋 1201」: how the console names a household (live rows, the offline snapshot)."""
        return f"{self.building} {self.unit}"


# Labels are stored NFKC-folded (api/schemas.py), so full-width digits are ASCII by now.
_DIGIT_RUNS = re.compile(r"([0-9]+)")

# A label cut at its digit runs: text, number, text, … (always text first, "" if the label
# starts with a digit), so two keys hold the same type at each place and compare.
NaturalKey = tuple[str | int, ...]


def natural_key(label: str) -> NaturalKey:
    """``label`` ordered as people read it: runs of digits as numbers ("3栋" before "10栋",
    "201" before "1201", "2单元301" before "10单元101"), the text between by code point."""
    return tuple(int(part) if i % 2 else part
                 for i, part in enumerate(_DIGIT_RUNS.split(label)))


def flat_order(building: str, unit: str) -> tuple[NaturalKey, str, NaturalKey, str]:
    """How the office lists flats: by building, then unit, each in natural order. The labels
    themselves break ties ("03栋" and "3栋" are two buildings), keeping a building's flats
    together."""
    return natural_key(building), building, natural_key(unit), unit


def households_in_order(session: Session) -> list[Household]:
    """Every household in ``flat_order``: the households table and every picker of flats.
    Sorted here, not in SQL: neither database compares digit runs as numbers, and the two
    order text differently (PostgreSQL by its collation, SQLite by code point). A community's
    flats are a few thousand rows, and these lists show all of them."""
    return sorted(session.scalars(select(Household)),
                  key=lambda h: flat_order(h.building, h.unit))


class Resident(TimestampMixin, Base):
    __tablename__ = "residents"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    # PIPL: separate, recorded consent before any face template is stored.
    face_consent_at: Mapped[datetime | None] = mapped_column(default=None)
    face_consent_by: Mapped[str | None] = mapped_column(String(64), default=None)
    pin_hash: Mapped[str | None] = mapped_column(String(255), default=None)


def username_key(username: str) -> str:
    """What makes two usernames the same account: width (NFKC) and case folded, so "GUARD1",
    "ｇｕａｒｄ１" and "guard1" are one name a person could not tell apart on the users page."""
    return unicodedata.normalize("NFKC", username).lower()


def _key_from_username(context: DefaultExecutionContext) -> str:
    # Also fills in inserts that bypass the ORM object (Core, scripts).
    return username_key(context.get_current_parameters()["username"])


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'guard')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # Unique, so two admins creating "guard1" and "GUARD1" at once cannot both succeed: the
    # database refuses the second insert. Folded in Python rather than an index on
    # lower(username), whose SQLite version folds ASCII only ("Élise" next to "élise").
    # Lower-casing may lengthen a name ("İ" becomes two characters), hence 128.
    username_key: Mapped[str] = mapped_column(
        String(128), unique=True, default=_key_from_username
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    # Counts the account's deactivations, reactivations and role changes (services/users.py
    # set_active, set_role).
    # Every session and token carries it inside its password stamp (services/passwords.py), so
    # one issued before a deactivation stays refused after the account is reactivated, for
    # someone else perhaps, as one issued before a password reset does.
    sessions_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    @validates("username")
    def _keep_key(self, _: str, username: str) -> str:
        self.username_key = username_key(username)
        return username
