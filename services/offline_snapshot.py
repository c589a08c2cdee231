"""The gates' offline snapshot kept on local disk, next to the passage journal.

The snapshot (``controllers.ports.AccessSnapshot``) is what gates decide from while the
database is unreachable. In memory only, a restart during an outage would forget every
resident and send each car to a guard; kept here, a controller that starts while the database
is down decides as it did before the restart.

PIPL: what the decision reads is written, and that is plates and ids (vehicle, household,
resident and pass ids, a household's spaces and cars inside, pass windows and uses, whether a
plate is on the allow or block list); and, for the booth's rows of passages decided offline,
the building and unit (「3栋 1201」) of each household a permit names (a car's household, a
pass's host), which a guard needs to call the host about a visitor or to recognise a
resident's car while the households table cannot be read. No names, no phones, no household
notes, no list reasons, no PIN hashes, no face templates: PIN, QR and face entry need the
database (or a snapshot taken since start).

Size and write cost: the labels are one map by household id (``"households": {"12": "3栋
1201"}``), not a copy on every car and pass, so they grow with the households, not with the
plates or the passes: about 19 bytes a household, 38 KB on a 2,000-household community whose
3,000 plates take 430 KB: under a tenth more to write at each rewrite, and no rewrite of
their own (a household named or no longer named comes with a car or pass added or removed,
which rewrites the file anyway; only renaming a flat adds one).
``tests/test_offline_snapshot_households.py`` holds these bounds.

Written atomically (temporary file, fsync, rename) so a crash leaves the old file or the new
one. Rewritten when its content changes, and at least every ``max_unchanged_s`` so the time it
says it was taken stays close to the truth without wearing out an SD card every 30 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from controllers.pass_hours import pass_hours
from controllers.policy import ListEntry, PassPermit, Permits, VehiclePermit
from controllers.ports import AccessSnapshot
from controllers.schedule import WEEKDAYS, TimeWindow
from services.passage_journal import replace_durably

logger = logging.getLogger(__name__)

FORMAT = "parkgate.offline_snapshot/1"


def permits_to_json(permits: Permits) -> dict[str, Any]:
    vehicle = permits.vehicle
    data: dict[str, Any] = {"inside": permits.inside}
    if vehicle is not None:
        data["vehicle"] = {
            "vehicle_id": vehicle.vehicle_id,
            "household_id": vehicle.household_id,
            "household_spaces": vehicle.household_spaces,
            "household_cars_inside": vehicle.household_cars_inside,
            "resident_id": vehicle.resident_id,
        }
    if permits.passes:
        data["passes"] = [_pass_to_json(p) for p in permits.passes]
    if permits.list_entry is not None:
        data["list"] = permits.list_entry.kind  # the reason is free text: not kept on disk
    return data


def permits_from_json(plate: str, data: dict[str, Any]) -> Permits:
    vehicle = data.get("vehicle")
    return Permits(
        vehicle=VehiclePermit(plate=plate, **vehicle) if vehicle is not None else None,
        passes=tuple(_pass_from_json(plate, p) for p in data.get("passes", ())),
        list_entry=ListEntry(data["list"]) if data.get("list") is not None else None,
        inside=bool(data["inside"]),
    )


def _pass_to_json(p: PassPermit) -> dict[str, Any]:
    return {
        "pass_id": p.pass_id,
        "household_id": p.household_id,
        "valid_from": p.valid_from.isoformat(),
        "valid_to": p.valid_to.isoformat(),
        "max_uses": p.max_uses,
        "uses": p.uses,
        **_hours_to_json(p.hours),
    }


def _pass_from_json(plate: str | None, p: dict[str, Any]) -> PassPermit:
    """``plate`` None: a walk-in pass (the file's ``walk_in_passes``)."""
    return PassPermit(
        pass_id=p["pass_id"],
        plate=plate,
        household_id=p["household_id"],
        valid_from=datetime.fromisoformat(p["valid_from"]),
        valid_to=datetime.fromisoformat(p["valid_to"]),
        max_uses=p["max_uses"],
        uses=p["uses"],
        # A recurring pass keeps its weekdays and hours offline: no 3 am entry.
        hours=pass_hours(p.get("weekdays"), p.get("hours_from"), p.get("hours_to")),
    )


def _hours_to_json(hours: TimeWindow | None) -> dict[str, Any]:
    """A pass's weekdays and hours as the pass stores them; nothing for any day, any time."""
    if hours is None:
        return {}
    return {"weekdays": ",".join(day for i, day in enumerate(WEEKDAYS) if i in hours.days),
            "hours_from": _clock(hours.start_s), "hours_to": _clock(hours.end_s)}


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class FileAccessSnapshot:
    """Saves and loads the gates' offline snapshot as one JSON file."""

    def __init__(
        self,
        path: Path,
        *,
        max_unchanged_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._max_unchanged_s = max_unchanged_s
        self._clock = clock
        self._saved: tuple[str, float] | None = None  # content digest, when written

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, snapshot: AccessSnapshot) -> bool:
        """Write the snapshot unless the same content was written recently; True if written."""
        permits = {plate: permits_to_json(p) for plate, p in sorted(snapshot.permits.items())}
        walk_in = [_pass_to_json(p) for p in snapshot.walk_in_passes]
        # JSON keys are strings; a renamed flat is new content, written at once.
        households = {str(hid): label for hid, label in sorted(snapshot.household_labels.items())}
        digest = hashlib.blake2b(
            json.dumps([permits, walk_in, households], sort_keys=True).encode(), digest_size=16
        ).hexdigest()
        now = self._clock()
        if self._saved is not None and self._saved[0] == digest and (
            now - self._saved[1] < self._max_unchanged_s
        ):
            return False
        body = json.dumps(
            {"format": FORMAT, "taken_at": snapshot.taken_at.isoformat(), "permits": permits,
             # A file without this key (written before walk-in passes) holds none.
             "walk_in_passes": walk_in,
             # A file without this key (written before the labels) names no flat: the
             # booth's rows show "#12" as they did.
             "households": households},
            ensure_ascii=False, separators=(",", ":"),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(self.path, [body])  # mode 600: plates are personal information
        self._saved = (digest, now)
        return True

    def load(self) -> AccessSnapshot | None:
        """The snapshot last saved; None when there is none or it cannot be read (logged)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            return AccessSnapshot(
                taken_at=datetime.fromisoformat(data["taken_at"]),
                permits={
                    plate: permits_from_json(plate, p) for plate, p in data["permits"].items()
                },
                walk_in_passes=tuple(
                    _pass_from_json(None, p) for p in data.get("walk_in_passes", ())
                ),
                household_labels={
                    int(hid): str(label) for hid, label in data.get("households", {}).items()
                },
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.warning("offline snapshot %s unreadable, not used: %s", self.path, err)
            return None
