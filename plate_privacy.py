"""Plates outside the database: masked (闽A1***5) unless the operator asks for them whole.

A plate names a car and so its owner (personal information under PIPL). The database drops it
after ``retention.passage_days``; the log lines and MQTT messages that carried it are kept
elsewhere, for as long as journald or the city platform keeps them. So they say ``闽A1***5``
by default: enough to tell two cars apart on a screen and to find the passage by its id,
which every line names. ``log_full_plates: true`` logs them whole (``mqtt.publish_plates`` does
the same for the city feed).
"""

from __future__ import annotations

_full_plates_in_log = False


def mask_plate(plate: str | None) -> str | None:
    """闽A12345 → 闽A1***5, 闽AD12345 → 闽AD****5; a short text keeps only its first character."""
    if not plate:
        return None
    if len(plate) <= 4:
        return plate[:1] + "*" * (len(plate) - 1)
    return plate[:3] + "*" * (len(plate) - 4) + plate[-1]


def log_full_plates(on: bool) -> None:
    """Set once at start from the configuration (``log_full_plates``)."""
    global _full_plates_in_log
    _full_plates_in_log = on


def plate_for_log(plate: str | None) -> str | None:
    """The plate as a log line may carry it."""
    return plate if _full_plates_in_log else mask_plate(plate)
