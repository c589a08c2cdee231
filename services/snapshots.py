"""Passage snapshots on disk, written atomically, deleted after the retention period (PIPL)."""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import datetime
from pathlib import Path

from errors import NotFoundError

logger = logging.getLogger(__name__)


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def save(self, gate_id: str, at: datetime, jpeg: bytes) -> str:
        """Write the snapshot and return its path relative to the store's root."""
        relative = Path(at.strftime("%Y/%m/%d")) / (
            f"{at.strftime('%H%M%S')}-{gate_id}-{secrets.token_hex(4)}.jpg"
        )
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(jpeg)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return relative.as_posix()

    def path(self, relative: str) -> Path:
        candidate = (self.root / relative).resolve()
        # A stored path can never point outside the snapshot folder.
        if self.root not in candidate.parents or not candidate.is_file():
            raise NotFoundError("snapshot not found (deleted by retention or never taken)")
        return candidate

    def purge_older_than(self, days: int, *, now: float | None = None) -> int:
        cutoff = (now if now is not None else time.time()) - days * 86400
        removed = 0
        for file in self.root.rglob("*.jpg"):
            if file.stat().st_mtime < cutoff:
                file.unlink(missing_ok=True)
                removed += 1
        if removed:
            logger.info("retention removed %d snapshots older than %d days", removed, days)
        return removed
