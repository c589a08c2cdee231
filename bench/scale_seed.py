"""Seeding a parkgate database with a community's history, for ``bench.scale``.

A 2,000-household community with 2,500 registered cars: about 10,000 vehicle passages a day
at four vehicle gates (residents mostly, visitors with passes, unknown and misread plates sent
to a guard, a few blocked cars), pedestrian passages at two gates (face, PIN, QR), a zone-count
sample per counted car, the guards' audit trail (reviews resolved, gates opened by hand,
logins, alarms acknowledged) and the alarms themselves. Rows go in with bulk Core inserts in
time order (ids grow with time, as on a real controller), not through the API: a year is
millions of rows.

The older half of the history is stored as the hourly retention job leaves it
(services/passage_retention.py): passages anonymised, alarm messages cleared, passes that
ended deleted. So the database looks like one that has run for that long, and timing the
retention job times its steady hourly run, not a first catch-up.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.orm import Session, sessionmaker

from models.db import transaction
from models.events import Alarm, AuditEntry, Passage
from models.people import Household, Resident
from models.site import OccupancySample, Zone
from models.vehicles import PlateListEntry, Presence, Vehicle, VisitorPass
from services.passage_retention import ANONYMISED

logger = logging.getLogger("bench.scale")

HOUSEHOLDS = 2000
VEHICLES = 2500
VEHICLE_PASSAGES_PER_DAY = 10_000
PEDESTRIAN_PASSAGES_PER_DAY = 3_000
PASSES_PER_DAY = 60
ALARMS_PER_DAY = 30
LOGINS_PER_DAY = 12
HAND_OPENS_PER_DAY = 20
BLOCKED_PLATES = 40
CARS_INSIDE = 1200
CHUNK = 5000

# (gate, direction, zone); the bench's community (bench/scale.py) declares the same gates.
VEHICLE_GATES = (("east-in", "in", "A"), ("east-out", "out", "A"),
                 ("west-in", "in", "B"), ("west-out", "out", "B"))
PEDESTRIAN_GATES = (("ped-in", "in"), ("ped-out", "out"))
ZONES = (("A", "东区地库", 1600), ("B", "西区地面", 900))
GUARDS = ("guard1", "guard2", "guard3", "guard4")
ALARM_KINDS = ("blocked_plate", "hardware_fault", "anti_passback", "occupancy_below_zero",
               "login_guessing", "zone_full")
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
# A bulk insert takes its columns from the first row: every row names every column.
PASSAGE_DEFAULTS: dict[str, Any] = {
    "resolved_by": None, "resolved_at": None, "resolution": None, "resolved_plate": None,
    "anonymised_at": None, "admission": None, "journal_id": None,
}
ALARM_DEFAULTS: dict[str, Any] = {"acknowledged_by": None, "acknowledged_at": None}


def resident_plate(n: int) -> str:
    return f"沪{_LETTERS[n % 12]}{n * 37 % 100_000:05d}"


def visitor_plate(rng: random.Random) -> str:
    return f"{rng.choice('苏浙皖京粤')}{rng.choice(_LETTERS)}{rng.randrange(100_000):05d}"


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the timed operations need to know about the seeded history."""

    start: datetime
    end: datetime
    retention_days: int  # passages older than this are anonymised already
    passages: int
    rows: int  # every row inserted
    seconds: float
    resident_plates: tuple[str, ...]


class _Progress:
    def __init__(self, label: str, total: int) -> None:
        self._label, self._total = label, max(total, 1)
        self._started = self._last = time.monotonic()
        self.done = 0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= 5 or self.done >= self._total:
            self._last = now
            rate = self.done / max(now - self._started, 1e-9)
            logger.info("seeding %s: %d / %d (%.0f%%, %.0f rows/s)", self._label, self.done,
                        self._total, 100 * self.done / self._total, rate)


def _bulk(sessions: sessionmaker[Session], model: type[Any], rows: Iterator[dict[str, Any]],
          progress: _Progress | None = None) -> int:
    count = 0
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        # Core's executemany: the ORM's bulk insert splits rows by which values are None
        # and sent thousands of single-row statements.
        with transaction(sessions) as session:
            session.connection().execute(insert(model.__table__), chunk)
        if progress is not None:
            progress.add(len(chunk))
        chunk.clear()

    for row in rows:
        chunk.append(row)
        count += 1
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return count


def _people(sessions: sessionmaker[Session], rng: random.Random, at: datetime
            ) -> tuple[list[dict[str, Any]], list[str]]:
    households = [
        {"id": h + 1, "building": f"{h // 100 + 1}栋", "unit": f"{h % 100 + 101}",
         "spaces": 1 if h % 5 else 2, "created_at": at}
        for h in range(HOUSEHOLDS)
    ]
    residents = [
        {"id": r + 1, "household_id": r % HOUSEHOLDS + 1, "name": f"住户{r + 1}",
         "phone": f"138{r:08d}", "created_at": at}
        for r in range(int(HOUSEHOLDS * 1.6))
    ]
    vehicles = [
        {"id": v + 1, "plate": resident_plate(v), "plate_color": "blue",
         "household_id": v % HOUSEHOLDS + 1, "resident_id": v % len(residents) + 1,
         "created_at": at}
        for v in range(VEHICLES)
    ]
    blocked: list[dict[str, Any]] = [
        {"plate": visitor_plate(rng), "kind": "block", "reason": "欠费", "created_by": "admin",
         "created_at": at}
        for _ in range(BLOCKED_PLATES)
    ]
    _bulk(sessions, Household, iter(households))
    _bulk(sessions, Resident, iter(residents))
    _bulk(sessions, Vehicle, iter(vehicles))
    # Duplicate random plates would break plate_lists' unique constraint.
    unique = list({b["plate"]: b for b in blocked}.values())
    _bulk(sessions, PlateListEntry, iter(unique))
    return vehicles, [b["plate"] for b in unique]


def _day_moments(rng: random.Random, day: datetime, n: int) -> list[datetime]:
    """``n`` moments of one day, busiest at the morning and evening rush (local 07-09, 17-20
    in UTC+8 are 23-01 and 09-12 UTC), sorted."""
    seconds = []
    for _ in range(n):
        pick = rng.random()
        if pick < 0.3:
            s = rng.gauss(0.5 * 3600, 3600)  # 08:30 local
        elif pick < 0.6:
            s = rng.gauss(10.5 * 3600, 4000)  # 18:30 local
        else:
            s = rng.uniform(0, 86400)
        seconds.append(s % 86400)
    seconds.sort()
    return [day + timedelta(seconds=s) for s in seconds]


def seed(
    sessions: sessionmaker[Session], days: int, *, end: datetime | None = None,
    rng_seed: int = 7,
) -> Seeded:
    """``days`` days of history ending at ``end`` (now), into a migrated empty database."""
    started = time.monotonic()
    rng = random.Random(rng_seed)
    end = (end or datetime.now(UTC)).replace(microsecond=0)
    start = end - timedelta(days=days)
    retention_days = max(days // 2, 1) if days > 1 else 1
    cutoff = end - timedelta(days=retention_days)
    vehicles, blocked = _people(sessions, rng, start)
    plates = [v["plate"] for v in vehicles]
    household_of = {v["plate"]: v["household_id"] for v in vehicles}

    total_passages = days * (VEHICLE_PASSAGES_PER_DAY + PEDESTRIAN_PASSAGES_PER_DAY)
    progress = _Progress("passages", total_passages)
    samples: list[dict[str, Any]] = []
    alarms: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    occupied = {zone: cap // 2 for zone, _, cap in ZONES}
    rows = 0

    def passages() -> Iterator[dict[str, Any]]:
        passage_id = 0
        for d in range(days):
            day = start + timedelta(days=d)
            vehicle_moments = _day_moments(rng, day, VEHICLE_PASSAGES_PER_DAY)
            walker_moments = _day_moments(rng, day, PEDESTRIAN_PASSAGES_PER_DAY)
            merged = sorted([(t, True) for t in vehicle_moments]
                            + [(t, False) for t in walker_moments])
            for at, vehicle in merged:
                if at >= end:
                    return
                passage_id += 1
                row = (_vehicle_passage(rng, at, plates, household_of, blocked) if vehicle
                       else _pedestrian_passage(rng, at))
                row["id"] = passage_id
                _side_rows(rng, row, end, occupied, samples, alarms, audit)
                if at < cutoff:
                    _as_retained(row, cutoff)
                yield {**PASSAGE_DEFAULTS, **row}

    def drain(stream: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        # The side tables fill while passages stream; written in between, in big chunks.
        nonlocal rows
        for row in stream:
            yield row
            if len(samples) >= CHUNK * 4:
                rows += _bulk(sessions, OccupancySample, iter(samples))
                samples.clear()

    passage_count = _bulk(sessions, Passage, drain(passages()), progress)
    rows += passage_count + _bulk(sessions, OccupancySample, iter(samples))
    _extra_alarms_and_audit(rng, start, end, days, alarms, audit)
    for alarm in alarms:
        if alarm["at"] < cutoff:
            alarm["message"] = ""
    alarms.sort(key=lambda a: a["at"])
    audit.sort(key=lambda a: a["at"])
    rows += _bulk(sessions, Alarm, ({**ALARM_DEFAULTS, **a} for a in alarms))
    rows += _bulk(sessions, AuditEntry, iter(audit))
    rows += _passes(sessions, rng, plates, cutoff, end)
    rows += _presence_and_zones(sessions, rng, plates, household_of, end, occupied)
    rows += len(vehicles) + HOUSEHOLDS + int(HOUSEHOLDS * 1.6) + BLOCKED_PLATES
    _advance_sequences(sessions)
    seconds = time.monotonic() - started
    logger.info("seeded %d days: %d passages, %d rows in all, in %.0f s", days, passage_count,
                rows, seconds)
    return Seeded(start, end, retention_days, passage_count, rows, seconds, tuple(plates))


def _advance_sequences(sessions: sessionmaker[Session]) -> None:
    """PostgreSQL's id sequences past the ids given explicitly, so the app's own inserts
    (a car pushed to a gate) do not collide with the seeded rows."""
    with transaction(sessions) as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        for table in ("households", "residents", "vehicles", "passages"):
            session.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            ))


def _vehicle_passage(rng: random.Random, at: datetime, plates: list[str],
                     household_of: dict[str, int], blocked: list[str]) -> dict[str, Any]:
    gate, direction, zone = rng.choice(VEHICLE_GATES)
    pick = rng.random()
    plate: str | None
    matched: str | None = None
    household: int | None = None
    flags: list[str] = []
    if pick < 0.84:
        plate = rng.choice(plates)
        household = household_of[plate]
        decision = "allow"
        reason = "resident" if direction == "in" else "exit_known_inside"
        if rng.random() < 0.03:  # a one-character misread the fuzzy match put right
            matched, plate = plate, plate[:-1] + ("8" if plate[-1] != "8" else "3")
            flags.append("fuzzy_match")
    elif pick < 0.91:
        plate, decision, reason = visitor_plate(rng), "allow", "visitor_pass"
    elif pick < 0.965:
        plate, decision = visitor_plate(rng), "review"
        reason = "unknown_plate" if direction == "in" else "exit_not_inside"
    elif pick < 0.985:
        plate, decision, reason = rng.choice(plates), "review", "low_confidence"
    elif pick < 0.995:
        plate, decision, reason = None, "review", "no_plate"
    else:
        plate, decision, reason = rng.choice(blocked), "deny", "blocked"
    return {
        "at": at, "gate_id": gate, "direction": direction, "zone_id": zone, "plate": plate,
        "confidence": round(rng.uniform(0.82, 0.99), 4) if plate else 0.0,
        "plate_color": "blue" if plate else "unknown", "matched_plate": matched,
        "match_distance": 1 if matched else 0, "decision": decision, "reason": reason,
        "credential": "plate" if plate else "none", "flags": flags,
        "vehicle_id": None, "household_id": household, "resident_id": None, "pass_id": None,
        "snapshot_path": f"{at:%Y/%m/%d}/{gate}-{at:%H%M%S%f}.jpg",
        "barrier_outcome": "closed" if decision != "allow" else "open",
        "details": {"candidates": [{"plate": plate, "confidence": 0.95}]} if plate else {},
    }


def _pedestrian_passage(rng: random.Random, at: datetime) -> dict[str, Any]:
    gate, direction = rng.choice(PEDESTRIAN_GATES)
    pick = rng.random()
    decision, reason, credential = (
        ("allow", "face_resident", "face") if pick < 0.8
        else ("allow", "pin", "pin") if pick < 0.9
        else ("allow", "qr_pass", "qr") if pick < 0.95
        else ("review", "face_unknown", "face")
    )
    return {
        "at": at, "gate_id": gate, "direction": direction, "zone_id": None, "plate": None,
        "confidence": 0.0, "plate_color": "unknown", "matched_plate": None, "match_distance": 0,
        "decision": decision, "reason": reason, "credential": credential, "flags": [],
        "vehicle_id": None, "household_id": rng.randrange(1, HOUSEHOLDS + 1),
        "resident_id": None, "pass_id": None, "snapshot_path": None,
        "barrier_outcome": "closed" if decision != "allow" else "open", "details": {},
    }


def _side_rows(rng: random.Random, row: dict[str, Any], end: datetime, occupied: dict[str, int],
               samples: list[dict[str, Any]], alarms: list[dict[str, Any]],
               audit: list[dict[str, Any]]) -> None:
    """The zone sample, review resolution and alarm a passage brings with it."""
    at = row["at"]
    if row["decision"] == "review" and end - at > timedelta(minutes=3):
        # Guards deal with a car within a minute or two; the last few minutes' wait.
        guard = GUARDS[rng.randrange(len(GUARDS))]
        resolution = rng.choice(("allowed_once", "allowed_once", "denied", "visitor_pass"))
        resolved_at = at + timedelta(seconds=rng.randrange(10, 150))
        row.update(resolved_by=guard, resolved_at=resolved_at, resolution=resolution)
        if resolution != "denied":
            row["barrier_outcome"] = "open"
        audit.append({
            "at": resolved_at, "username": guard, "action": "passage.resolve",
            "target": f"passage:{row['id']}", "gate_id": row["gate_id"],
            "passage_id": row["id"], "reason": "业主电话确认",
            "details": {"resolution": resolution},
        })
    let_through = row["decision"] == "allow" or row.get("resolution") in (
        "allowed_once", "visitor_pass")
    zone = row["zone_id"]
    if zone is not None and let_through:
        capacity = dict((z, c) for z, _, c in ZONES)[zone]
        step = 1 if row["direction"] == "in" else -1
        occupied[zone] = min(max(occupied[zone] + step, 0), capacity)
        samples.append({"at": at, "zone_id": zone, "occupied": occupied[zone],
                        "capacity": capacity})
    if row["reason"] == "blocked":
        alarms.append({"at": at, "kind": "blocked_plate", "gate_id": row["gate_id"],
                       "zone_id": zone, "message": f"blocked plate {row['plate']}",
                       "passage_id": row["id"]})


def _as_retained(row: dict[str, Any], cutoff: datetime) -> None:
    row.update(plate=None, matched_plate=None, vehicle_id=None, household_id=None,
               resident_id=None, pass_id=None, snapshot_path=None, details={},
               flags=[*row["flags"], ANONYMISED], anonymised_at=cutoff)
    if row.get("resolved_by"):
        row["resolved_plate"] = None


def _extra_alarms_and_audit(rng: random.Random, start: datetime, end: datetime, days: int,
                            alarms: list[dict[str, Any]], audit: list[dict[str, Any]]) -> None:
    gates = [g for g, _, _ in VEHICLE_GATES]
    for d in range(days):
        day = start + timedelta(days=d)
        for at in _day_moments(rng, day, ALARMS_PER_DAY):
            if at < end:
                alarms.append({"at": at, "kind": rng.choice(ALARM_KINDS),
                               "gate_id": rng.choice(gates), "zone_id": None,
                               "message": "道闸未到位", "passage_id": None})
        for at in _day_moments(rng, day, HAND_OPENS_PER_DAY):
            if at < end:
                audit.append({"at": at, "username": rng.choice(GUARDS), "action": "gate.open",
                              "target": "", "gate_id": rng.choice(gates), "passage_id": None,
                              "reason": "送货车辆", "details": {}})
        for at in _day_moments(rng, day, LOGINS_PER_DAY):
            if at < end:
                audit.append({"at": at, "username": rng.choice(GUARDS), "action": "auth.login",
                              "target": "", "gate_id": None, "passage_id": None, "reason": "",
                              "details": {"via": "console"}})
    for alarm in alarms:
        # Guards acknowledge within minutes; the last hour's may still be open.
        if end - alarm["at"] > timedelta(hours=1):
            alarm["acknowledged_by"] = rng.choice(GUARDS)
            alarm["acknowledged_at"] = alarm["at"] + timedelta(minutes=rng.randrange(1, 10))
            audit.append({"at": alarm["acknowledged_at"], "username": alarm["acknowledged_by"],
                          "action": "alarm.ack", "target": "", "gate_id": alarm["gate_id"],
                          "passage_id": None, "reason": "", "details": {"kind": alarm["kind"]}})


def _passes(sessions: sessionmaker[Session], rng: random.Random, plates: list[str],
            cutoff: datetime, end: datetime) -> int:
    """Visitor passes of the days retention has not reached (older ones it deleted)."""
    def rows() -> Iterator[dict[str, Any]]:
        days = max(int((end - cutoff).total_seconds() // 86400), 1)
        for d in range(days + 2):
            day = cutoff + timedelta(days=d)
            for at in _day_moments(rng, day, PASSES_PER_DAY):
                yield {"plate": visitor_plate(rng), "host_household_id":
                       rng.randrange(1, HOUSEHOLDS + 1), "valid_from": at,
                       "valid_to": at + timedelta(hours=rng.choice((2, 4, 8, 24))),
                       "max_uses": rng.choice((None, 1, 2)), "uses": 0, "note": "",
                       "created_by": rng.choice(GUARDS), "created_at": at,
                       "qr_nonce": f"{rng.getrandbits(128):032x}"}
    return _bulk(sessions, VisitorPass, rows())


def _presence_and_zones(sessions: sessionmaker[Session], rng: random.Random, plates: list[str],
                        household_of: dict[str, int], end: datetime,
                        occupied: dict[str, int]) -> int:
    inside = rng.sample(plates, CARS_INSIDE)
    zone_ids = [z for z, _, _ in ZONES]
    rows = [{"plate": p, "zone_id": zone_ids[i % 2], "household_id": household_of[p],
             "pass_id": None, "entered_at": end - timedelta(minutes=rng.randrange(5, 3000)),
             "passage_id": None} for i, p in enumerate(inside)]
    _bulk(sessions, Presence, iter(rows))
    with transaction(sessions) as session:
        for zone, _, capacity in ZONES:
            count = sum(1 for r in rows if r["zone_id"] == zone)
            session.execute(update(Zone).where(Zone.id == zone).values(
                occupied=min(count, capacity), updated_at=end))
            occupied[zone] = count
    return len(rows)

