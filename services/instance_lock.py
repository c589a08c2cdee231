"""One controller per data directory.

Two controllers on one data directory (a second ``main.py serve`` started by hand beside the
systemd one, a demo started in the production folder) would both drive the gates' journal, the
city feed's spool and the snapshots: each rewrites files the other is appending to. And a
restore over a running controller swaps its database under it. So ``serve`` and ``demo`` hold
an exclusive ``flock`` on ``<data_dir>/parkgate.lock`` for as long as they run (the kernel
drops it when the process ends, however it ends: no stale lock after a crash or a power cut),
and ``restore`` refuses while it is held. Commands that are made to run beside the controller
(backup, enrol-faces, create-user, reports) do not take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from errors import ConflictError

LOCK_FILE = "parkgate.lock"


class InstanceLock:
    """The data directory's lock, held by the running controller."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, *, otherwise: str = ", or give this one a data_dir of its own") -> None:
        """Take the lock for this process, or raise ConflictError naming the holder and what
        to do (stop it first, ``otherwise``…)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise ConflictError(
                f"another parkgate is running on {self.path.parent}{holder}: stop it first "
                f"(systemctl stop parkgate){otherwise}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock


def refuse_if_running(data_dir: Path, doing: str) -> None:
    """Raise ConflictError when a controller holds ``data_dir``'s lock (``doing``: what is
    refused, for the message); the lock is taken for a moment and given back."""
    if not (data_dir / LOCK_FILE).exists():
        return
    probe = InstanceLock(data_dir)
    try:
        # Only "stop it": a data_dir of its own, the advice to a second controller, would
        # restore the backup where no controller reads it.
        probe.acquire(otherwise="")
    except ConflictError as err:
        raise ConflictError(f"{doing} refused: {err}") from None
    probe.release()


def _holder(fd: int) -> str:
    """`` (pid N)`` as the holder wrote it, or nothing when it cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text:
            return f" (pid {int(text)})"
    return ""
