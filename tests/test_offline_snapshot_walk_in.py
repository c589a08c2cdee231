"""Walk-in passes (no plate) in the offline snapshot: kept apart from the plates (no gate's
plate lookup finds them), written to the file and read back, and their QR codes still open
the pedestrian gate during a database outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controllers.offline import OfflineAccess
from controllers.values import Reason, Verdict
from models.access_store import SqlAccessStore
from models.people import Household
from models.vehicles import VisitorPass
from services.credentials import qr_code
from services.offline_credentials import OfflineCredentials
from services.offline_snapshot import FileAccessSnapshot

KEY = "k" * 32


def test_walk_in_passes_round_trip_and_open_by_qr_offline(sessions: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with sessions.begin() as session:
        household = Household(building="9栋", unit="101")
        session.add(household)
        session.flush()
        for plate in (None, "粤B88888"):
            session.add(
                VisitorPass(
                    plate=plate,
                    host_household_id=household.id,
                    valid_from=now - timedelta(hours=1),
                    valid_to=now + timedelta(hours=2),
                    max_uses=1,
                    weekdays="mon,tue,wed,thu,fri,sat,sun",
                )
            )
    with sessions() as session:
        walk_in = session.query(VisitorPass).filter(VisitorPass.plate.is_(None)).one()
        walk_in_id, nonce = walk_in.id, walk_in.qr_nonce

    snapshot = SqlAccessStore(sessions).snapshot(now)
    assert [p.pass_id for p in snapshot.walk_in_passes] == [walk_in_id]
    assert snapshot.walk_in_passes[0].plate is None
    assert set(snapshot.permits) == {"粤B88888"}  # no None key for a gate to look up

    file = FileAccessSnapshot(tmp_path / "offline_snapshot.json")
    assert file.save(snapshot)
    loaded = file.load()
    assert loaded is not None
    assert loaded.walk_in_passes == snapshot.walk_in_passes
    assert loaded.permits == snapshot.permits

    gates = OfflineAccess()
    gates.load(loaded)
    stranger = gates.permits("粤B99999")
    assert stranger is not None and stranger.passes == ()

    credentials = OfflineCredentials(KEY)
    passes = [p for permits in loaded.permits.values() for p in permits.passes]
    credentials.load(sessions, [*passes, *loaded.walk_in_passes], now)
    code = qr_code(KEY, walk_in_id, nonce)
    first = credentials.check_qr(code, now, UTC)
    assert (first.verdict, first.reason, first.pass_id) == (
        Verdict.ALLOW,
        Reason.QR_PASS,
        walk_in_id,
    )
    again = credentials.check_qr(code, now, UTC)  # max_uses 1, counted offline
    assert (again.verdict, again.reason) == (Verdict.DENY, Reason.PASS_USED_UP)


def test_a_file_written_before_walk_in_passes_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "offline_snapshot.json"
    path.write_text(
        json.dumps(
            {
                "format": "parkgate.offline_snapshot/1",
                "taken_at": "2026-11-30T01:00:00+00:00",
                "permits": {},
            }
        )
    )
    loaded = FileAccessSnapshot(path).load()
    assert loaded is not None and loaded.walk_in_passes == ()
