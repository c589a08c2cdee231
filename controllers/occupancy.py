"""Per-zone occupancy arithmetic: counting entries and exits without leaving [0, capacity].

A count that would go below zero or above capacity means the count has drifted from reality
(a missed read, a tailgater, a car that was inside before parkgate started): the value is
clamped and an alarm asks an admin to correct it, rather than showing impossible numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from controllers.policy import ZoneOccupancy
from controllers.values import Direction


@dataclass(frozen=True, slots=True)
class OccupancyChange:
    occupancy: ZoneOccupancy
    alarm: str | None = None


def apply_passage(current: ZoneOccupancy, direction: Direction) -> OccupancyChange:
    """The zone after one vehicle passed in ``direction``."""
    delta = 1 if direction is Direction.IN else -1
    wanted = current.occupied + delta
    if wanted < 0:
        return OccupancyChange(
            ZoneOccupancy(current.zone_id, current.capacity, 0), alarm="occupancy_below_zero"
        )
    if wanted > current.capacity:
        return OccupancyChange(
            ZoneOccupancy(current.zone_id, current.capacity, current.capacity),
            alarm="occupancy_over_capacity",
        )
    return OccupancyChange(ZoneOccupancy(current.zone_id, current.capacity, wanted))


def apply_unrecorded_exit(current: ZoneOccupancy, recorded_inside: int) -> OccupancyChange:
    """The zone after a car left that it has no record of inside (let out as a known car).

    Taken off the count only when the count holds more cars than are recorded inside (an
    admin's count that includes cars from before parkgate): otherwise this car was never
    counted in (its entry was missed or never recorded), and taking it off would put the count
    below the cars recorded inside, with the alarm landing on whichever of them leaves last."""
    if current.occupied > recorded_inside:
        return apply_passage(current, Direction.OUT)
    return OccupancyChange(current)


def move_by(current: ZoneOccupancy, moved: int) -> ZoneOccupancy:
    """The zone after a counted move is taken back (``-moved``) or given back (``moved``):
    a passage whose barrier did not open, then opened after all. Kept within [0, capacity]
    without an alarm: the move being undone was itself clamped and alarmed."""
    occupied = min(current.capacity, max(0, current.occupied + moved))
    return ZoneOccupancy(current.zone_id, current.capacity, occupied)


def correct(current: ZoneOccupancy, occupied: int) -> ZoneOccupancy:
    """An admin's correction; refuses values outside [0, capacity]."""
    if not 0 <= occupied <= current.capacity:
        raise ValueError(
            f"occupied must be between 0 and {current.capacity} for zone {current.zone_id}, "
            f"got {occupied}"
        )
    return ZoneOccupancy(current.zone_id, current.capacity, occupied)
