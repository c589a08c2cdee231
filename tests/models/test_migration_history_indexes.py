"""Migration 0011: the indexes a year of history needs (bench/scale.py) replace the ones on
passages.decision and occupancy_samples.zone_id, and audit_log.passage_id gets one; rows are
kept, and the way back restores the old indexes."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect, text

from models.db import alembic_config, create_db_engine, migrate

NEW = {
    "passages": ("ix_passages_decision_resolution_at", ["decision", "resolution", "at"]),
    "occupancy_samples": ("ix_occupancy_samples_zone_at", ["zone_id", "at"]),
    "audit_log": ("ix_audit_log_passage_id", ["passage_id"]),
}
OLD = {
    "passages": ("ix_passages_decision", ["decision"]),
    "occupancy_samples": ("ix_occupancy_samples_zone_id", ["zone_id"]),
}


def _indexes(engine: Engine, table: str) -> dict[str | None, list[str | None]]:
    """Each index's columns by its name (SQLAlchemy says None for an unnamed index or an
    expression column; these tables have neither)."""
    return {ix["name"]: list(ix["column_names"]) for ix in inspect(engine).get_indexes(table)}


def _to(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_upgrade_from_0010_builds_the_indexes_and_keeps_the_rows(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        _to(engine, "0010")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO passages (id, at, gate_id, direction, confidence, plate_color,"
                " match_distance, decision, reason, credential, flags, barrier_outcome,"
                " details) VALUES (1, '2026-01-01 00:00:00', 'main-in', 'in', 0.9, 'blue', 0,"
                " 'review', 'unknown_plate', 'plate', '[]', 'closed', '{}')"
            ))
            connection.execute(text(
                "INSERT INTO occupancy_samples (id, at, zone_id, occupied, capacity)"
                " VALUES (1, '2026-01-01 00:00:00', 'A', 3, 40)"
            ))
            connection.execute(text(
                "INSERT INTO audit_log (id, at, username, action, target, passage_id, reason,"
                " details) VALUES (1, '2026-01-01 00:01:00', 'guard1', 'passage.resolve',"
                " 'passage:1', 1, 'ok', '{}')"
            ))

        migrate(engine)

        for table, (name, columns) in NEW.items():
            assert _indexes(engine, table).get(name) == columns, table
        for table, (name, _) in OLD.items():
            assert name not in _indexes(engine, table), table
        with engine.connect() as connection:
            counts = [connection.scalar(text(f"SELECT count(*) FROM {t}")) for t in NEW]
        assert counts == [1, 1, 1]

        _to(engine, "0010", down=True)
        for table, (name, columns) in OLD.items():
            assert _indexes(engine, table).get(name) == columns, table
        for table, (name, _) in NEW.items():
            assert name not in _indexes(engine, table), table
        migrate(engine)  # and up again
        assert _indexes(engine, "audit_log").get("ix_audit_log_passage_id") == ["passage_id"]
    finally:
        engine.dispose()
