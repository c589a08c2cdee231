"""scripts/install.sh: what it installs and when it leaves the virtualenv alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

FAKE_PIP = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/../pip-calls"
"""


def checkout(tmp_path: Path) -> Path:
    """A copy of the script and the requirement files, with a virtualenv whose pip only
    records what it was asked (and an apt-get that does nothing, for a box without the font)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "install.sh", tmp_path / "scripts" / "install.sh")
    for name in ("requirements.txt", "requirements-nodeps.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "pip"):
        (bin_dir / name).write_text(FAKE_PIP, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "apt-get").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (tools / "apt-get").chmod(0o755)
    return tmp_path


def install(where: Path, *args: str) -> int:
    """How many pip commands this run of install.sh gave."""
    calls = where / ".venv" / "pip-calls"
    before = len(calls.read_text().splitlines()) if calls.exists() else 0
    env = {**os.environ, "PATH": f"{where / 'tools'}:{os.environ['PATH']}"}
    subprocess.run(["bash", str(where / "scripts" / "install.sh"), *args], check=True,
                   env=env, capture_output=True, timeout=60)
    return len(calls.read_text().splitlines()) - before if calls.exists() else 0


def test_run_after_test_does_not_reinstall_and_a_changed_requirement_does(
    tmp_path: Path,
) -> None:
    """The README's two quick-start commands: scripts/test.sh installs with --dev, then
    scripts/run.sh installed again (pip on the network) and made the next test.sh do the same."""
    where = checkout(tmp_path)
    assert install(where, "--dev") > 0
    assert install(where) == 0  # run.sh after test.sh
    assert install(where, "--dev") == 0  # and test.sh again
    with (where / "requirements.txt").open("a", encoding="utf-8") as file:
        file.write("# a new pin\n")
    assert install(where) > 0
    assert install(where) == 0
    assert install(where, "--dev") > 0
