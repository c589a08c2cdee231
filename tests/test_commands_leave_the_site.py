"""Commands run beside the controller leave its zones and gates alone.

The admin guide has the office run ``create-user`` (the first admin, or another one when every
admin forgot the password), ``import-residents`` and ``enrol-faces`` at the controller's shell,
where the controller's configuration is often not given: the built-in demo community then
retired the live zones (their counts dropped to 0) and put the demo's zones A and B into the
reports.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

import main
from models.db import transaction
from models.site import Gate, Zone
from tests.api.test_resident_import import FIRST, csv_bytes
from tests.conftest import add_user
from tests.test_enrol_folder import _run_against

COMMUNITY = {
    "name": "haijing-garden",
    "zones": [{"id": "P1", "name": "地下一层", "capacity": 120}],
    "gates": [{"id": "north-in", "name": "北门入口", "kind": "vehicle", "direction": "in",
               "zone": "P1"}],
}


def site_of(services: Any) -> tuple[dict[str, Any], set[str]]:
    with services.sessions() as session:
        zones = {z.id: (z.occupied, z.retired_at) for z in session.scalars(select(Zone))}
        gates = set(session.scalars(select(Gate.id)))
    return zones, gates


@pytest.mark.parametrize("command", ["create-user", "import-residents", "enrol-faces"])
def test_a_command_without_the_controllers_config_leaves_its_zones_as_they_are(
    app_factory: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    client = app_factory(community=COMMUNITY)
    services = client.app.state.services
    add_user(client, "admin", "admin")
    with transaction(services.sessions) as session:
        zone = session.get(Zone, "P1")
        assert zone is not None
        zone.occupied = 7  # cars parked there now
    before = site_of(services)
    _run_against(services, monkeypatch)  # the database and data_dir, no configuration file
    if command == "create-user":
        monkeypatch.setattr(main.sys, "stdin", io.StringIO("Gate-Wf-0519\n"))
        argv = ["create-user", "--username", "admin2", "--role", "admin", "--password-stdin"]
    elif command == "import-residents":
        path = tmp_path / "住户名单.csv"
        path.write_bytes(csv_bytes(FIRST))
        argv = ["import-residents", str(path), "--operator", "admin"]
    else:
        (tmp_path / "照片目录" / "王奶奶").mkdir(parents=True)  # no such resident: one failure
        argv = ["enrol-faces", str(tmp_path / "照片目录"), "--operator", "admin"]
    main.main(argv)
    assert site_of(services) == before, command
    assert before[0] == {"P1": (7, None)} and before[1] == {"north-in"}
