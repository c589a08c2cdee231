"""A car let out that was never recorded inside moves the count only when the count holds
cars nobody recorded (audit L6)."""

from __future__ import annotations

import pytest

from controllers.occupancy import apply_unrecorded_exit
from controllers.policy import ZoneOccupancy


@pytest.mark.parametrize(
    ("occupied", "recorded_inside", "expected"),
    [
        (3, 3, 3),  # never counted in: the count already matches the cars inside
        (0, 0, 0),  # ...and is not pushed below zero, with no alarm on anyone
        (2, 3, 2),  # a count below the cars inside (corrected down) is not lowered further
        (5, 3, 4),  # an admin's count with two cars from before parkgate: one of them left
    ],
)
def test_an_unrecorded_exit_leaves_the_cars_recorded_inside_counted(
    occupied: int, recorded_inside: int, expected: int
) -> None:
    change = apply_unrecorded_exit(ZoneOccupancy("A", 40, occupied), recorded_inside)
    assert change.occupancy.occupied == expected
    assert change.alarm is None
