"""deploy/parkgate-cli: an office's command on a systemd install reaches the controller's
own database, as the service's user, with the service's configuration and secrets."""

from __future__ import annotations

import getpass
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

CLI = ROOT / "deploy" / "parkgate-cli"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="parkgate-cli runs as root (it reads a root-only file)"),
    pytest.mark.skipif(shutil.which("runuser") is None,
                       reason="runuser (util-linux) is not installed"),
]


def install(tmp_path: Path) -> dict[str, str]:
    """A configuration with its data directory, and an environment file that names the
    database as /etc/parkgate/parkgate.env does (quoted, after a comment)."""
    config = tmp_path / "parkgate.yaml"
    config.write_text(f"data_dir: {tmp_path / 'lib'}\n", encoding="utf-8")
    env_file = tmp_path / "parkgate.env"
    env_file.write_text(
        "# secrets of the service\n"
        "PARKGATE_SECRET_KEY=0123456789abcdef0123456789abcdef\n"
        f"  PARKGATE_DATABASE_URL=\"sqlite:///{tmp_path / 'controller.db'}\"\n",
        encoding="utf-8",
    )
    env_file.chmod(0o600)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PARKGATE_")}
    environ.update(PARKGATE_HOME=str(ROOT), PARKGATE_CONFIG=str(config),
                   PARKGATE_ENV_FILE=str(env_file), PARKGATE_USER=getpass.getuser())
    return environ


def test_create_user_through_the_wrapper_lands_in_the_controller_s_database(
    tmp_path: Path,
) -> None:
    """Typed as `python main.py create-user …`, the first admin went into the checkout's
    ./data/parkgate.db, which the controller (database URL in its root-only environment
    file) never reads: the office could not log in."""
    done = subprocess.run(
        [str(CLI), "create-user", "--username", "admin", "--role", "admin", "--password-stdin"],
        input="s3cret-pass-for-admin\n", text=True, capture_output=True, timeout=120,
        env=install(tmp_path), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "controller.db") as db:
        assert db.execute("SELECT username, role FROM users").fetchall() == [("admin", "admin")]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("argv", "said"),
    [([], "usage: sudo"), (["serve"], "systemctl start parkgate"),
     (["demo", "--port", "9000"], "systemctl start parkgate")],
)
def test_the_wrapper_refuses_what_the_service_does_itself_in_one_line(
    tmp_path: Path, argv: list[str], said: str
) -> None:
    done = subprocess.run([str(CLI), *argv], text=True, capture_output=True, timeout=30,
                          env=install(tmp_path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and said in done.stderr


def test_a_missing_configuration_is_one_line(tmp_path: Path) -> None:
    environ = install(tmp_path)
    environ["PARKGATE_CONFIG"] = str(tmp_path / "nowhere.yaml")
    done = subprocess.run([str(CLI), "create-user", "--username", "a", "--role", "admin"],
                          text=True, capture_output=True, timeout=30, env=environ)
    assert done.returncode == 2
    assert done.stderr == f"parkgate-cli: no configuration file {tmp_path / 'nowhere.yaml'} " \
        "(the service's PARKGATE_CONFIG)\n"
