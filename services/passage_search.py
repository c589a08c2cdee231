"""Finding past passages the way guards and the property office ask for them.

"When did 闽A12345 leave yesterday?", "did the van with …345 come in?", "the camera may have
misread it: anything like 闽A12845?". A plate is searched as typed, partial or whole, in the
plate read, the registered plate it matched and the plate a guard corrected it to. With
``similar`` a whole plate also finds reads one look-alike or one character away (the gate's
own fuzzy match, province tolerated), which is how a misread passage is found again.
"Which trailers came in this week?" is a plate kind (vision/plate_grammar.py PlateKind) over
days: (plate_kind, at) is indexed, so a rare kind is counted and paged off the index instead
of walking a year of passages (SQLite's plan scanned the table without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVarTuple

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from controllers.plate_match import EDIT_COST, canonical, plate_distance
from errors import InvalidInputError
from models.events import Passage
from vision.plate_grammar import PlateKind, normalize_plate

# A similar-plate search compares in Python: it reads at most this many passages of the
# window, newest first, and says so when the window holds more (narrow the dates).
SIMILAR_SCAN = 50_000


@dataclass(frozen=True, slots=True)
class PassageQuery:
    plate: str | None = None  # folded (api.schemas.search_plate); part of a plate
    similar: bool = False  # ``plate`` is whole: also find reads one misread away
    exact_plate: str | None = None  # the plate read, exactly (the API's original filter)
    gate_id: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    passage_id: int | None = None  # that one passage (an alarm's, from 报警记录)
    # As the reader told it; passages typed, unread or older than 0018 have none and are
    # never found by a kind.
    plate_kind: PlateKind | None = None


@dataclass(frozen=True, slots=True)
class PassageResults:
    rows: Sequence[Passage]
    total: int
    scan_capped: bool = False  # a similar search read only the newest SIMILAR_SCAN


def _window(query: PassageQuery) -> Select[Passage]:
    stmt = select(Passage)
    if query.passage_id is not None:
        stmt = stmt.where(Passage.id == query.passage_id)
    if query.exact_plate:
        stmt = stmt.where(Passage.plate == query.exact_plate)
    if query.gate_id:
        stmt = stmt.where(Passage.gate_id == query.gate_id)
    if query.decision:
        stmt = stmt.where(Passage.decision == query.decision)
    if query.plate_kind:
        stmt = stmt.where(Passage.plate_kind == query.plate_kind.value)
    if query.since:
        stmt = stmt.where(Passage.at >= query.since)
    if query.until:
        stmt = stmt.where(Passage.at < query.until)
    return stmt


Columns = TypeVarTuple("Columns")


def _newest_first(stmt: Select[*Columns]) -> Select[*Columns]:
    return stmt.order_by(Passage.at.desc(), Passage.id.desc())


def is_similar(wanted: str, plate: str) -> bool:
    """Whether ``plate`` is the wanted one (canonical) give or take one misread."""
    distance = plate_distance(canonical(plate), wanted, province_tolerance=True, limit=EDIT_COST)
    return distance <= EDIT_COST


def search_passages(
    session: Session, query: PassageQuery, *, limit: int, offset: int
) -> PassageResults:
    """Passages newest first, one page of them, and how many match in all."""
    stmt = _window(query)
    if query.plate and query.similar:
        wanted = normalize_plate(query.plate)
        if wanted is None:
            raise InvalidInputError(
                f"a similar-plate search needs a whole plate (e.g. 闽A12345), got {query.plate!r}"
            )
        # The plates only, each compared once: a page of a 50,000-passage window took ~5 s
        # of CPU (whole rows loaded, the same residents' plates compared again and again).
        scanned = session.execute(
            _newest_first(
                stmt.with_only_columns(
                    Passage.id, Passage.plate, Passage.matched_plate, Passage.resolved_plate
                ).where(Passage.plate.is_not(None))
            ).limit(SIMILAR_SCAN + 1)
        ).all()
        capped = len(scanned) > SIMILAR_SCAN
        target = canonical(wanted)
        similar: dict[str | None, bool] = {}

        def alike(plate: str | None) -> bool:
            if plate not in similar:
                similar[plate] = plate is not None and is_similar(target, plate)
            return similar[plate]

        found = [row.id for row in scanned[:SIMILAR_SCAN] if any(map(alike, row[1:]))]
        page = found[offset : offset + limit]
        rows = session.scalars(select(Passage).where(Passage.id.in_(page))).all() if page else []
        by_id = {p.id: p for p in rows}
        return PassageResults([by_id[i] for i in page], len(found), capped)
    if query.plate:
        stmt = stmt.where(
            or_(
                Passage.plate.contains(query.plate, autoescape=True),
                Passage.matched_plate.contains(query.plate, autoescape=True),
                Passage.resolved_plate.contains(query.plate, autoescape=True),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(_newest_first(stmt).limit(limit).offset(offset)).all()
    return PassageResults(rows, total)
