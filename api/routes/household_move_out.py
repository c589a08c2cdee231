"""``POST /api/v1/households/{id}/move-out``: 搬离 in one step (services/household_move_out.py).

``dry_run=true`` (the default, as the import's) lists what would be removed and the
``expected`` fingerprint of that list; ``dry_run=false`` with that ``expected`` removes it
all in one transaction, or nothing (409) if the flat changed since. Admins only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, ServicesDep, SessionDep
from api.params import BodyId, PathId
from api.routes.admin import gates_told
from errors import InvalidInputError
from models.db import DATABASE_DOWN, empty_write_ahead_log
from services.assigned_spaces import AssignedSpace, owner_keys
from services.container import Services
from services.household_move_out import MoveOutPlan, move_out, plan_move_out

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["admin"])

# A flat's cars are a handful; a list longer than this is not a family's.
MAX_TICKED = 100


class MoveOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected: str | None = Field(
        None, max_length=64,
        description="The dry run's `expected`: what the admin confirmed. Required to remove.")
    remove_block_entries: list[BodyId] = Field(
        default_factory=list, max_length=MAX_TICKED,
        description="Block-list entries of the family's plates to remove too (ids from the "
                    "dry run's `block_entries`); kept otherwise: a guard put them there.")


def spaces_left(services: Services, plan: MoveOutPlan) -> tuple[AssignedSpace, ...]:
    """The configured spaces assigned to the flat or one of its residents: the move-out leaves
    them assigned to an id no longer on file, and only the configuration can re-point them."""
    if services.parking is None:
        return ()
    return services.parking.spaces_of(
        owner_keys(plan.household_id, (r.id for r in plan.residents)))


def spaces_json(spaces: tuple[AssignedSpace, ...]) -> list[dict[str, str | None]]:
    return [{"space_id": s.space_id, "zone": s.zone, "label": s.label or None,
             "assigned_to": s.assigned_to, "configured_in": s.configured_in, "todo": s.todo()}
            for s in spaces]


@contextmanager
def told_even_if_lost(services: Services) -> Iterator[None]:
    """A commit that fails at the connection may have been made: PostgreSQL committed and
    the connection died before its answer came back. The office is told 503, yet the family
    may be gone; the gates' snapshot is then retaken once the database answers instead of
    at the next scheduled refresh, or offline gates would let the family in meanwhile. A
    retake that finds nothing changed costs one read. The faces stay in the matcher: if the
    move-out did not happen they are the residents', and the face reload drops deleted
    templates on its own."""
    try:
        yield
    except DATABASE_DOWN:
        services.access_changed()
        raise


def forget_faces(services: Services, plan: MoveOutPlan) -> None:
    """After the commit: the live matcher drops the family's faces now, and a reload that
    read them before the commit is set aside (services/faces.py)."""
    if services.faces is not None:
        for resident in plan.residents:
            services.faces.forget(resident.id)


@router.post(
    "/households/{household_id}/move-out",
    responses={
        200: {"description": "The list (dry run), or what was removed (`removed` true)"},
        404: {"description": "No such household"},
        409: {"description": "The household changed since the dry run: nothing removed"},
        422: {"description": "No `expected` to remove with, or a block-list entry that is "
                             "not one of the family's plates"},
    },
)
def household_move_out(
    household_id: PathId, session: SessionDep, services: ServicesDep, user: AdminUser,
    body: MoveOutIn | None = None,
    dry_run: Annotated[bool, Query(description="true: list only, nothing removed")] = True,
) -> dict[str, Any]:
    """The family moves out: its residents (their face templates and PINs), cars, the
    visitor passes it issued and the allow-list entries of its plates go, then the flat.
    Block-list entries of its plates stay unless named in `remove_block_entries`. A car
    parked inside still leaves. Audited per item (reason 搬离) and as one
    household.move_out naming the flat and the counts; the gates' offline snapshot is
    retaken at once. `assigned_spaces` lists the configured spaces whose `assigned_to` names
    the flat or one of its residents: they stay reserved for that id, and `todo` says which
    configuration line to change once the flat's next household is registered."""
    wanted = body or MoveOutIn()
    if dry_run or wanted.expected is None:
        shown = plan_move_out(session, household_id)  # an unknown flat is a 404 either way
        if dry_run:
            return {"dry_run": True, "removed": False, **shown.to_json(),
                    "assigned_spaces": spaces_json(spaces_left(services, shown))}
        raise InvalidInputError(
            "give `expected` from a dry run (POST …/move-out?dry_run=true): it is what you "
            "confirm is removed"
        )
    plan = move_out(session, household_id, operator=user.name, expected=wanted.expected,
                    remove_blocks=wanted.remove_block_entries)
    with told_even_if_lost(services):
        gates_told(session, services)
    forget_faces(services, plan)
    # The family's embeddings, names and phones out of SQLite's write-ahead log at once, as
    # after a face deletion, not only by the hourly retention run (README, Privacy).
    empty_write_ahead_log(services.engine)
    ticked = sorted(set(wanted.remove_block_entries))
    logger.info("household %s (%s) moved out by %s: %s", household_id, plan.label, user.name,
                plan.counts(len(ticked)))
    return {"dry_run": False, "removed": True, **plan.to_json(),
            "removed_block_entries": ticked, "counts": plan.counts(len(ticked)),
            "assigned_spaces": spaces_json(spaces_left(services, plan))}
