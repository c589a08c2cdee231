"""``python main.py import-residents FILE --operator ADMIN [--dry-run]``: the console's 批量导入
from the controller's shell, for a file too big to click through or an office without a
browser at hand. Same checks and same all-or-nothing import (``services/resident_import.py``);
the operator must be an active admin account, as for ``enrol-faces``, since the audit log
names them. What a re-imported sheet changes on file (phone, 车位数, 备注) is listed a line
per change, phones masked (138****8000) since the log outlives the session. Exit codes:
0 imported (or a clean preview), 1 rows in error (listed, nothing imported), 2 bad input in
one line (no such file, not a table, no such admin).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from errors import InvalidInputError
from services.clock_watch import load_clock_floor
from services.enrol_folder import admin_operator
from services.phone_privacy import mask_phone
from services.resident_import_file import MAX_BYTES, too_large
from services.resident_import_updates import FieldChange

logger = logging.getLogger(__name__)

# Row errors (and changes) printed one a line; past this the rest are counted (the console
# lists them all).
SHOWN_ERRORS = 200
NOTE_SHOWN = 30


def _value(change: FieldChange, value: int | str | None) -> str:
    """One side of a change as the log line shows it: a phone masked (the log is kept and
    read by more people than the console's admins), a long note cut."""
    if value is None or value == "":
        return "(empty)"
    if change.field == "phone":
        return mask_phone(value)
    text = str(value)
    return text if len(text) <= NOTE_SHOWN else text[:NOTE_SHOWN] + "…"


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise too_large(size)
    return path.read_bytes()


def cmd_import_residents(args: argparse.Namespace) -> int:
    from models.db import make_session_factory
    from services.access_signal import tell_running_controller
    from services.database_start import data_dir_history, open_database, prepare_database
    from services.resident_import import run_import
    from settings import load_settings

    path = Path(args.file)
    data = _read(path)  # before the database: a wrong path is said at once
    settings = load_settings(args.config)
    load_clock_floor(settings.data_dir)  # the audit entries' time (wall_clock.py)
    # Opened as create-user opens it: refused over a data_dir whose database is missing.
    history = data_dir_history(settings.data_dir)
    engine = open_database(settings, history)
    try:
        sessions = make_session_factory(engine)
        prepare_database(engine, sessions, settings, history, site=False)
        with sessions() as session:
            operator = admin_operator(session, args.operator, doing="an import",
                                      nothing="Nothing imported")
        logger.info("reading %s (%d bytes)%s", path, len(data),
                    ": preview only" if args.dry_run else "")
        outcome = run_import(sessions, data, path.name, operator=operator,
                             dry_run=args.dry_run, progress=lambda line: logger.info("%s", line))
    finally:
        engine.dispose()
    plan = outcome.plan
    counts = plan.summary()
    logger.info(
        "%s: %d rows (%s, %s); households %d new, %d %s, %d unchanged; residents %d new, %d %s, "
        "%d unchanged; vehicles %d new, %d unchanged",
        "imported" if outcome.applied else "checked", counts["rows"], plan.table.encoding,
        plan.table.delimiter, counts["households"]["create"], counts["households"]["update"],
        "updated" if outcome.applied else "to update", counts["households"]["unchanged"],
        counts["residents"]["create"], counts["residents"]["update"],
        "updated" if outcome.applied else "to update", counts["residents"]["unchanged"],
        counts["vehicles"]["create"], counts["vehicles"]["existing"],
    )
    for change in plan.changes[:SHOWN_ERRORS]:
        logger.info("row %d: %s: %s %s -> %s", change.row, change.who, change.field,
                    _value(change, change.old), _value(change, change.new))
    if len(plan.changes) > SHOWN_ERRORS:
        logger.info("… and %d more changes", len(plan.changes) - SHOWN_ERRORS)
    if plan.households_not_in_file:
        logger.info("%d households on file are not in the file: left as they are (an import "
                    "never deletes)", plan.households_not_in_file)
    if plan.table.ignored:
        logger.warning("columns not recognised, not imported: %s", ", ".join(plan.table.ignored))
    for error in plan.errors[:SHOWN_ERRORS]:
        logger.warning("row %d: %s  [%s]", error.row, error.message, error.content)
    if len(plan.errors) > SHOWN_ERRORS:
        logger.warning("… and %d more rows in error", len(plan.errors) - SHOWN_ERRORS)
    if plan.errors:
        logger.error("%d rows in error; nothing imported: correct the file and run again",
                     len(plan.errors))
        return 1
    if outcome.applied and outcome.audit_id is None:
        logger.info("everything in the file is on file already: nothing written, no audit "
                    "entry")
    elif outcome.applied:
        # Online the gates read the tables at each decision; their outage snapshot is the
        # running controller's to retake, told through the data directory.
        tell_running_controller(settings.data_dir)
        logger.info("the gates admit the new plates and use the new spaces now (audit entry "
                    "%s)", outcome.audit_id)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import-residents",
        help="Import households, residents and vehicles from a CSV file (批量导入).",
    )
    parser.add_argument("file", help="CSV or tab-separated file: 楼栋,房号,姓名,电话,车牌,…")
    parser.add_argument("--dry-run", action="store_true",
                        help="Check the file and show what would be created and what on file "
                             "would be updated (phone, spaces, note); write nothing.")
    parser.add_argument(
        "--operator", required=True,
        help="Your console username, an active admin account: recorded in the audit log.",
    )
    parser.set_defaults(func=cmd_import_residents)
