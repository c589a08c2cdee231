"""Parking guidance holds kept in the database, so a restart does not forget them.

The ``HoldBook`` (controllers/guidance.py) stays the truth while the process runs;
``ParkingService`` writes its active holds here after changes and reads them back on start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from controllers.guidance import Hold
from models.base import Base
from models.db import outage_as_unavailable, transaction


class GuidanceHold(Base):
    __tablename__ = "guidance_holds"

    # One car per space and one space per car, as in the HoldBook.
    space_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), unique=True)
    held_until: Mapped[datetime]


class SqlHoldStore:
    """``controllers.ports.HoldStore`` on the application's database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def load(self) -> list[Hold]:
        with outage_as_unavailable(), self._sessions() as session:
            rows = session.scalars(select(GuidanceHold).order_by(GuidanceHold.space_id))
            return [Hold(r.space_id, r.holder, r.held_until) for r in rows]

    def replace(self, holds: Sequence[Hold]) -> None:
        # The whole set each time: a handful of rows, and no write order to get wrong
        # between the threads that change holds.
        with outage_as_unavailable(), transaction(self._sessions) as session:
            session.execute(delete(GuidanceHold))
            session.add_all(
                GuidanceHold(space_id=h.space_id, holder=h.holder, held_until=h.until)
                for h in holds
            )
