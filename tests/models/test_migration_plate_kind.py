"""Migration 0018 on a database in use: the passages stored before it keep every field and say
no plate kind (NULL: the frames are gone), and the passages after it keep the read's kind."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from controllers.ports import PassageRecord
from controllers.values import AccessDecision, Direction, Reason, Sighting, Verdict
from models.access_store import SqlAccessStore, passage_to_dict
from models.db import create_db_engine, make_session_factory, migrate
from models.events import Passage
from tests.models.migration_steps import upgrade_to


def test_passages_before_the_migration_have_no_kind_and_new_ones_keep_it(
    database_url: str,
) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_to(engine, "0017")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO passages (at, gate_id, direction, plate, confidence, plate_color, "
                "match_distance, decision, reason, credential, flags, barrier_outcome, details) "
                "VALUES ('2026-11-20 02:00:00', 'main-in', 'in', '冀A1234挂', 0.9, 'yellow', "
                "0, 'review', 'unknown_plate', 'plate', '[]', 'not_driven', '{}')"
            ))

        migrate(engine)

        sessions = make_session_factory(engine)
        with sessions() as session:
            older = session.scalars(select(Passage)).one()
            before = passage_to_dict(older)
        assert (before["plate"], before["plate_color"], before["plate_kind"]) == (
            "冀A1234挂", "yellow", None)

        sighting = Sighting("main-in", datetime(2026, 12, 1, 1, tzinfo=UTC), "冀A1234挂", 0.9,
                            color="yellow", kind="trailer")
        record = PassageRecord("main-in", Direction.IN, None, sighting,
                               AccessDecision(Verdict.REVIEW, Reason.UNKNOWN_PLATE), None)
        with SqlAccessStore(sessions).unit() as unit:
            new_id = unit.record_passage(record)
        with sessions() as session:
            stored = session.get(Passage, new_id)
            assert stored is not None and stored.plate_kind == "trailer"
    finally:
        engine.dispose()
