"""The 住户与车辆 page's flats, a page at a time, found by what the office types.

Drawn whole, a 2,000-flat community's page (3,200 residents, 2,500 cars, each row with its
edit form) was 10 MB of HTML that Chromium took minutes to lay out: the office could not use
it. Now it shows ``PAGE_FLATS`` flats with their residents and cars, and a search finds a flat
by its building and unit, a resident's name or a car's plate, as the office is asked ("3栋
1201", "王芳", "闽A12345").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from api.schemas import search_label, search_plate
from models.people import Household, Resident
from models.vehicles import Vehicle

PAGE_FLATS = 50


@dataclass(frozen=True, slots=True)
class FlatsPage:
    households: list[Household]
    residents: list[Resident]
    vehicles: list[Vehicle]
    found: int  # flats matching the search (all of them without one)
    page: int
    pages: int
    query: str
    # Every flat's residents by flat id, not only the page's: the form adding a car picks
    # its driver among the chosen flat's residents, any flat.
    members: dict[int, list[Resident]]


def flats_page(
    households: Sequence[Household], residents: Sequence[Resident],
    vehicles: Sequence[Vehicle], query: str, page: int,
) -> FlatsPage:
    """Page ``page`` (from 1; past the last: the last) of the flats ``query`` finds, in the
    order given (``households_in_order``), with their residents and cars."""
    query = query.strip()
    members: dict[int, list[Resident]] = {}
    for resident in residents:
        members.setdefault(resident.household_id, []).append(resident)
    cars: dict[int, list[Vehicle]] = {}
    for vehicle in vehicles:
        cars.setdefault(vehicle.household_id, []).append(vehicle)
    if query:
        finds = _finder(query)
        matching = [h for h in households
                    if finds(h, members.get(h.id, ()), cars.get(h.id, ()))]
    else:
        matching = list(households)
    pages = max(1, math.ceil(len(matching) / PAGE_FLATS))
    page = min(max(page, 1), pages)
    shown = matching[(page - 1) * PAGE_FLATS: page * PAGE_FLATS]
    return FlatsPage(
        households=shown,
        residents=[r for h in shown for r in members.get(h.id, ())],
        vehicles=[v for h in shown for v in cars.get(h.id, ())],
        found=len(matching), page=page, pages=pages, query=query, members=members,
    )


Finder = Callable[[Household, Sequence[Resident], Sequence[Vehicle]], bool]


def _finder(query: str) -> Finder:
    label = search_label(query).casefold()
    # "3栋1201" as well as "3栋 1201": people type the flat run together.
    joined = label.replace(" ", "")
    plate = search_plate(query)

    def finds(household: Household, residents: Sequence[Resident],
              vehicles: Sequence[Vehicle]) -> bool:
        flat = search_label(f"{household.building} {household.unit}").casefold()
        return (label in flat or joined in flat.replace(" ", "")
                or any(query in r.name for r in residents)
                or (bool(plate) and any(plate in v.plate for v in vehicles)))

    return finds
