"""Match a read plate against registered plates, tolerating OCR look-alikes. Pure Python.

A weighted edit distance: swapping one look-alike character (0/D/Q, 8/B, 2/Z, 5/S, 1/7/T,
6/G, …) costs 1, any other substitution, insertion or deletion costs 2. So the default
``max_distance=1`` accepts exactly one look-alike swap and never an arbitrary different
character — the barrier must not open for a neighbour's plate that differs in one digit.
With ``province_tolerance`` a different first (province) character costs nothing: the
province is the character OCR misreads most (浙/湘, 鄂/粤), and a community rarely registers
two cars whose plates differ only there; if it does, the match is ambiguous and refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LOOKALIKE_GROUPS: tuple[str, ...] = (
    "0DQOU",
    "8B",
    "2Z",
    "5S",
    "17TIL",
    "6G",
    "4A",
    "EF",
    "CG",
    "MN",
    "HN",
    "KX",
    "VY",
)
_LOOKALIKES: frozenset[tuple[str, str]] = frozenset(
    (a, b) for group in LOOKALIKE_GROUPS for a in group for b in group if a != b
)

LOOKALIKE_COST = 1
EDIT_COST = 2
_SEPARATORS = str.maketrans("", "", " ·•・-.:：")


@dataclass(frozen=True, slots=True)
class PlateMatch:
    """The registered plate a read was matched to, and how far apart they were."""

    plate: str
    distance: int
    exact: bool


def canonical(text: str) -> str:
    """Upper-case, separators removed, and O→0, I→1 after the second character."""
    compact = text.translate(_SEPARATORS).upper()
    return compact[:2] + compact[2:].replace("O", "0").replace("I", "1")


def _substitution_cost(a: str, b: str, position: int, province_tolerance: bool) -> int:
    if a == b:
        return 0
    if position == 0 and province_tolerance:
        return 0
    return LOOKALIKE_COST if (a, b) in _LOOKALIKES else EDIT_COST


def plate_distance(
    read: str, registered: str, *, province_tolerance: bool = False, limit: int | None = None
) -> int:
    """Weighted edit distance between two canonical plates (see the module docstring).

    With ``limit``, returns ``limit + 1`` as soon as the distance must exceed it.
    """
    if limit is not None and abs(len(read) - len(registered)) * EDIT_COST > limit:
        return limit + 1
    previous = [j * EDIT_COST for j in range(len(registered) + 1)]
    for i, a in enumerate(read, start=1):
        current = [i * EDIT_COST] + [0] * len(registered)
        for j, b in enumerate(registered, start=1):
            # Province tolerance applies only when both strings are at their first character.
            position = 0 if i == 1 and j == 1 else max(i, j)
            current[j] = min(
                previous[j] + EDIT_COST,
                current[j - 1] + EDIT_COST,
                previous[j - 1] + _substitution_cost(a, b, position, province_tolerance),
            )
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def match_plate(
    read: str,
    registered: Iterable[str],
    *,
    max_distance: int = 1,
    province_tolerance: bool = False,
) -> PlateMatch | None:
    """Closest registered plate within ``max_distance``, or None.

    An exact match always wins. When two registered plates are equally close (after
    preferring the one whose province agrees), the read is ambiguous and None is returned so
    a guard decides instead of the matcher guessing.
    """
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")
    wanted = canonical(read)
    if not wanted:
        return None
    best: tuple[int, int] | None = None
    # Keyed by canonical form so one plate registered twice in two spellings is not ambiguous.
    best_plates: dict[str, str] = {}
    for plate in registered:
        candidate = canonical(plate)
        if candidate == wanted:
            return PlateMatch(plate=plate, distance=0, exact=True)
        distance = plate_distance(
            wanted, candidate, province_tolerance=province_tolerance, limit=max_distance
        )
        if distance > max_distance:
            continue
        province_differs = int(candidate[:1] != wanted[:1])
        key = (distance, province_differs)
        if best is None or key < best:
            best, best_plates = key, {candidate: plate}
        elif key == best:
            best_plates.setdefault(candidate, plate)
    if best is None or len(best_plates) != 1:
        return None
    (matched,) = best_plates.values()
    return PlateMatch(plate=matched, distance=best[0], exact=False)
