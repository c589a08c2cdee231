"""Guidance holds outlive a restart: written to a ``HoldStore`` off the callers' threads.

Holds change on request threads, the MQTT thread, camera threads and the event loop (a car
leaving). None of them should wait for the database, least of all during an outage, so a
change only marks the book dirty; one writer thread stores the book's active holds (the
whole set, a handful of rows) and retries while the database is down. A crash loses at most
the changes of the last moments; a clean stop writes the last state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from controllers.guidance import Hold
from controllers.ports import HoldStore
from errors import StoreUnavailableError

logger = logging.getLogger(__name__)


class HoldKeeper:
    def __init__(
        self,
        store: HoldStore,
        snapshot: Callable[[], tuple[Hold, ...]],
        *,
        retry_s: float = 5.0,
    ) -> None:
        self._store = store
        self._snapshot = snapshot
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._changes = 0  # bumped on every change; ``_saved`` is the count last written
        self._saved = 0
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def load(self) -> list[Hold]:
        """The holds stored by the last run; none when the database cannot say."""
        try:
            return self._store.load()
        except Exception as err:  # holds are a convenience: parking starts without them
            logger.warning("guidance holds were not restored: %s", err)
            return []

    def changed(self) -> None:
        """The hold book changed (any thread; never waits for the database)."""
        with self._lock:
            self._changes += 1
        self._dirty.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="guidance-holds", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the writer and store the last state if it is not stored yet (blocking)."""
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self.unsaved():
            self.write()

    def unsaved(self) -> bool:
        with self._lock:
            return self._saved != self._changes

    def write(self) -> bool:
        """Store the book's active holds now; False (logged) when that failed."""
        with self._lock:
            changes = self._changes  # read before the snapshot: a later change stays unsaved
        holds = self._snapshot()
        try:
            self._store.replace(holds)
        except StoreUnavailableError as err:
            # Once per outage at WARNING: retried every few seconds until it is over.
            logger.log(logging.DEBUG if self._failing else logging.WARNING,
                       "guidance holds not stored, retrying every %.0f s: %s",
                       self._retry_s, err)
            self._failing = True
            return False
        except Exception:
            # A bug or a schema not migrated yet: the traceback once, not every retry.
            if self._failing:
                logger.debug("guidance holds still not stored", exc_info=True)
            else:
                logger.exception("guidance holds not stored, retrying every %.0f s",
                                 self._retry_s)
            self._failing = True
            return False
        if self._failing:
            logger.info("guidance holds stored again (%d active)", len(holds))
        self._failing = False
        with self._lock:
            self._saved = max(self._saved, changes)
        return True

    def _run(self) -> None:
        while True:
            self._dirty.wait()
            if self._stop.is_set():
                return  # stop() writes what is left
            self._dirty.clear()
            if not self.write():
                self._dirty.set()
                self._stop.wait(self._retry_s)
