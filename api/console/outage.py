"""The booth page during a database outage: what still works, and what waits for the database.

The gates keep deciding from the offline snapshot and every passage waits in the journal. A
guard still needs the gate strip then (a visitor, or a resident whose plate was misread, at a
closed barrier), the passages as they come and the alarms, and none of that needs the
database: /console is rendered from the journal and the barriers' live states, under a banner
saying the database is away and how much waits to be written. What needs it (the review
queue and its visitor passes, history, admin pages) says so instead of failing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.console.rendering import MAX_LIVE_ROWS, gate_names, page_user, render, services_of
from controllers.ports import ADMISSION_UNDONE, JournalEntry
from errors import NotFoundError
from services.container import Services

router = APIRouter(prefix="/console", include_in_schema=False)

JournalId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$", description="A journal id.")]


def journal_row(services: Services, entry: JournalEntry) -> dict[str, Any]:
    """A journalled passage as the live table's row template reads a stored one: no id (it
    has none until written; the row carries its journal id) and no snapshot link (that
    reads the passage row). An allowed car whose barrier did not open and that the gates
    still hold uncounted is flagged ``admission_undone`` as its stored row would be, so
    the row offers the guard's open naming it by its journal id."""
    record, decision = entry.record, entry.record.decision
    flags = list(decision.flags)
    if services.runtime.journalled_admission_undone(entry):
        flags.append(ADMISSION_UNDONE)
    return {
        "id": None,
        "journal_id": record.journal_id,
        "at": record.sighting.at.isoformat(),
        "gate_id": record.gate_id,
        "plate": record.sighting.plate,
        "confidence": record.sighting.confidence,
        "plate_kind": record.sighting.kind,
        "matched_plate": decision.matched_plate,
        "decision": str(decision.verdict),
        "reason": str(decision.reason),
        "flags": flags,
        "details": record.details,  # who typed a typed plate (the row's badge)
        "household_id": decision.household_id,
        "pass_id": decision.pass_id,
        "has_snapshot": False,
        "barrier_outcome": entry.barrier_outcome,
        "resolution": None,
        "resolved_plate": None,
        "resolved_by": None,
        "resolve_reason": None,
        "resolved_household_id": None,
        "resolved_pass_id": None,
    }


def journal_labels(services: Services) -> dict[int, str]:
    """「3栋 1201」 for the rows from the journal, from the offline snapshot: the households
    table cannot be read, and a guard needs the flat to call the host about a visitor or to
    recognise a resident's car (a household the snapshot does not name stays "#12")."""
    return dict(services.runtime.offline_household_labels())


def degraded_parts(services: Services, rows: int) -> dict[str, Any]:
    """What /console shows while the database is down, in place of what it reads there."""
    entries = services.runtime.journalled_passages()
    return {
        "database_down": True,
        "passages": [journal_row(services, e) for e in reversed(entries[-rows:])],  # newest first
        "waiting_passages": len(entries),
        "waiting_actions": services.audit_backlog(),
        "review": [],
        "alarms": [],
        "households": [],
        "hh_labels": journal_labels(services),
    }


@router.get("/fragments/journal", response_class=HTMLResponse)
def journalled_passages_fragment(
    request: Request, limit: Annotated[int, Query(ge=1, le=MAX_LIVE_ROWS)] = MAX_LIVE_ROWS
) -> Response:
    """The passages still waiting in the journal, newest first, as the live rows from the
    journal: what a booth's catch-up reads beside the stored rows. A page whose stream was
    cut during an outage missed their ``passage_offline`` events, and they are not in the
    database until written back. Read from the journal alone, so it answers while the
    database is down."""
    user = page_user(request, during_outage=True)
    if isinstance(user, Response):
        return Response(status_code=401)
    services = services_of(request)
    entries = services.runtime.journalled_passages()
    return render(request, "fragments/passage_rows.html",
                  {"passages": [journal_row(services, e) for e in reversed(entries[-limit:])],
                   "gate_names": gate_names(services), "hh_labels": journal_labels(services)},
                  user, refresh_session=False)


@router.get("/fragments/journal/{journal_id}", response_class=HTMLResponse)
def journalled_passage_fragment(request: Request, journal_id: JournalId) -> Response:
    """One live row for a passage decided offline (the ``passage_offline`` event), read from
    the journal; 404 once it is written (its ``passage`` event brings the stored row)."""
    user = page_user(request, during_outage=True)
    if isinstance(user, Response):
        return Response(status_code=401)
    services = services_of(request)
    entry = next((e for e in services.runtime.journalled_passages()
                  if e.record.journal_id == journal_id), None)
    if entry is None:
        raise NotFoundError(f"no passage {journal_id} waiting in the journal")
    return render(request, "fragments/passage_row.html",
                  {"p": journal_row(services, entry), "gate_names": gate_names(services),
                   "hh_labels": journal_labels(services)},
                  user, refresh_session=False)
