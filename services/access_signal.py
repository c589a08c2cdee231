"""Telling a running controller, from another process, that who may pass has changed.

The API and the console set an event in the controller's own process; a command run beside
it (``main.py import-residents``) cannot. It touches a file in the data directory instead,
which the controller's offline loop looks at on every wake (a stat, every
``offline_retry_s``): the snapshot the gates decide from during a database outage then
follows an import within seconds, not at the next ``offline_refresh_s`` (30 s), a window in
which an outage would have refused the new cars and kept using the old spaces.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def signal_path(data_dir: Path) -> Path:
    return data_dir / "journal" / "access-changed"


def tell_running_controller(data_dir: Path) -> bool:
    """Touch the signal file; False (logged) when it cannot be written, e.g. the command run
    as another user than the service: the controller then sees the change at its next
    scheduled refresh, as before."""
    path = signal_path(data_dir)
    if not path.parent.is_dir():
        return False  # no controller ever ran here; a directory made by root would lock it out
    try:
        path.touch()
    except OSError as err:
        logger.warning("could not tell a running controller at once (%s): it takes the change "
                       "into its offline snapshot at its next refresh", err)
        return False
    return True


class AccessSignalWatch:
    """Whether the signal file changed since the last look (its first look only records)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = signal_path(data_dir)
        self._seen = self._stamp()

    def _stamp(self) -> int | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns

    def changed(self) -> bool:
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        return stamp is not None
