"""The API's port is bound before anything starts: a port another program holds is one line
and exit code 2, and no gate, database or city link was touched (found walking an install:
uvicorn bound only after start-up, so the barriers were connected and the city feed had been
told "online" when it gave up with exit code 3)."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.server import _why, listen_socket
from errors import ConfigError
from tests.conftest import ROOT
from tests.test_crash_recovery import write_config


def run_main(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def taken_port() -> Iterator[tuple[socket.socket, int]]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    yield holder, holder.getsockname()[1]
    holder.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("command", "port_from"), [
    ("serve", "--port"), ("demo", "--port"), ("serve", "settings"), ("demo", "settings"),
])
def test_a_taken_port_stops_the_start_before_anything_is_opened(
    tmp_path: Path, taken_port: tuple[socket.socket, int], command: str, port_from: str
) -> None:
    """Also when the port comes from the settings' ``api.port``: the demo used to listen on
    8000 whatever the configuration said."""
    _, port = taken_port
    database = tmp_path / "data" / "parkgate.db"
    if port_from == "settings":
        config = write_config(tmp_path, f"sqlite:///{database}", api={"port": port})
        done = run_main(config, command)
    else:
        config = write_config(tmp_path, f"sqlite:///{database}")
        done = run_main(config, command, "--port", str(port))
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use by another program" in errors[0]
    assert "set api.port (or --port)" in errors[0]
    assert "Traceback" not in done.stderr
    # Refused before start-up: no database was created, no barrier started.
    assert not database.exists()
    assert "barrier" not in done.stderr


def test_listen_socket_names_the_setting_for_each_cause(
    taken_port: tuple[socket.socket, int],
) -> None:
    _, port = taken_port
    with pytest.raises(ConfigError, match=r"in use by another program .* set api\.port"):
        listen_socket("127.0.0.1", port)
    with pytest.raises(ConfigError, match=r"192\.0\.2\.1 is not an address of this machine"):
        listen_socket("192.0.2.1", 8000)  # TEST-NET-1: never a local address
    with pytest.raises(ConfigError, match=r"'no-such-host\.invalid' is not a known host name"):
        listen_socket("no-such-host.invalid", 8000)
    free = listen_socket("127.0.0.1", 0)
    try:
        assert free.getsockname()[0] == "127.0.0.1"
    finally:
        free.close()


@pytest.mark.parametrize(
    ("err", "says"),
    [
        (OSError(errno.EACCES, "Permission denied"), "ports below 1024 need root"),
        (OSError(errno.EADDRINUSE, "Address in use"), "in use by another program"),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign"), "is not an address of this machine"),
        (socket.gaierror(-2, "Name or service not known"), "is not a known host name"),
        (OSError(errno.ENOBUFS, "No buffer space available"), "No buffer space available"),
    ],
)
def test_each_bind_failure_reads_as_what_to_do(err: OSError, says: str) -> None:
    assert says in _why(err, "10.1.2.3", 80)
