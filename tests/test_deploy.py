"""The systemd units in deploy/ are valid and start parkgate with options it accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from main import build_parser
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted(DEPLOY.glob("parkgate*.service")) + sorted(DEPLOY.glob("parkgate*.timer"))


def exec_start(unit: Path) -> list[str]:
    lines = [line for line in unit.read_text(encoding="utf-8").splitlines()
             if line.startswith("ExecStart=")]
    assert len(lines) == 1, unit.name
    return shlex.split(lines[0].removeprefix("ExecStart="))


@pytest.mark.parametrize("unit", sorted(DEPLOY.glob("*.service")), ids=lambda p: p.name)
def test_each_service_runs_a_parkgate_command_with_options_it_accepts(unit: Path) -> None:
    argv = exec_start(unit)
    assert argv[:2] == ["/opt/parkgate/.venv/bin/python", "main.py"]
    args = build_parser().parse_args(argv[2:])  # exits (SystemExit) on an unknown option
    assert args.command in {"serve", "backup"}


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in UNITS:  # as installed: the checkout where the units expect it
        text = unit.read_text(encoding="utf-8").replace("/opt/parkgate", str(ROOT))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run([analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys too, and only warns: any warning is a mistake here.
    assert (done.returncode, done.stderr.strip()) == (0, "")


@pytest.mark.parametrize("unit", sorted(DEPLOY.glob("*.service")), ids=lambda p: p.name)
def test_every_writable_path_of_a_unit_is_there_when_it_starts(unit: Path) -> None:
    """systemd refuses to start a unit whose ReadWritePaths= does not exist (226/NAMESPACE):
    each is created by the unit itself (StateDirectory=) or by the README's install steps."""
    lines = unit.read_text(encoding="utf-8").splitlines()
    created = {f"/var/lib/{name}" for line in lines if line.startswith("StateDirectory=")
               for name in line.removeprefix("StateDirectory=").split()}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in lines:
        if line.startswith("ReadWritePaths="):
            for path in line.removeprefix("ReadWritePaths=").split():
                made = path in created or f"-g parkgate -m 700 {path}`" in readme
                assert path.startswith("-") or made, (unit.name, path)
