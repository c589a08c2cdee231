"""One controller per data directory: a second ``serve`` on it and a ``restore`` over it are
refused with one line naming the running one; a backup beside it works; a killed controller
leaves no lock behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from errors import ConflictError
from services.instance_lock import InstanceLock, refuse_if_running
from tests.conftest import ROOT
from tests.live_server import free_port
from tests.test_crash_recovery import controller, write_config


def run_main(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--config", str(config), *args],
        capture_output=True, text=True, timeout=120,
    )


def test_a_second_holder_is_refused_with_the_first_one_s_pid(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire()
    with pytest.raises(ConflictError, match=r"another parkgate is running on .* \(pid \d+\)"):
        InstanceLock(tmp_path).acquire()
    with pytest.raises(ConflictError, match="restoring x refused"):
        refuse_if_running(tmp_path, "restoring x")
    first.release()
    refuse_if_running(tmp_path, "restoring x")  # free again
    second = InstanceLock(tmp_path)
    second.acquire()
    second.release()


def test_a_refused_restore_is_told_only_to_stop_the_controller(tmp_path: Path) -> None:
    """A second controller may take a data_dir of its own; a restore told so would put the
    backup where no controller reads it."""
    running = InstanceLock(tmp_path)
    running.acquire()
    try:
        with pytest.raises(ConflictError) as refused:
            refuse_if_running(tmp_path, "restoring /var/backups/parkgate/parkgate-x")
    finally:
        running.release()
    assert str(refused.value) == (
        f"restoring /var/backups/parkgate/parkgate-x refused: another parkgate is running on "
        f"{tmp_path} (pid {os.getpid()}): stop it first (systemctl stop parkgate)")


@pytest.mark.timeout(300)
def test_a_second_controller_and_a_restore_are_refused_while_one_runs(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'parkgate.db'}")
    with controller(config, free_port()) as running:
        again = run_main(config, "serve", "--port", str(free_port()))
        assert again.returncode == 2, again.stderr[-2000:]
        assert f"another parkgate is running on {tmp_path / 'data'} (pid {running.pid})" in \
            again.stderr

        # A backup is made beside the running controller; putting it back is not.
        backup = tmp_path / "backup"
        made = run_main(config, "backup", str(backup))
        assert made.returncode == 0, made.stderr[-2000:]
        restore = run_main(config, "restore", str(backup), "--replace")
        assert restore.returncode == 2, restore.stderr[-2000:]
        assert "refused: another parkgate is running" in restore.stderr
        assert "Traceback" not in restore.stderr + again.stderr
        assert running.poll() is None  # the running one never noticed
    # Killed (the block's end): the kernel dropped its lock with it, nothing stale is left.
    refuse_if_running(tmp_path / "data", "restoring")
