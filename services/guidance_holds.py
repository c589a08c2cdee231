"""Guidance holds outlive a restart: written to a ``HoldStore`` off the callers' threads.

Holds change on request threads, the MQTT thread, camera threads and the event loop (a car
leaving). None of them should wait for the database, least of all during an outage, so a
change only marks the book dirty; one writer thread stores the book's active holds (the
whole set, a handful of rows) and retries while the database is down. A crash loses at most
the changes of the last moments; a clean stop writes the last state.

Each write replaces every stored row, so nothing is written before the holds stored by the
last run are taken back: when the database is down at start, the writer keeps trying to read
them (at the write retry cadence) and merges them into the book before its first write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from controllers.guidance import Hold
from controllers.ports import HoldStore
from errors import StoreUnavailableError

logger = logging.getLogger(__name__)

# Takes the stored holds into the live book; returns how many it took back.
Merge = Callable[[list[Hold]], int]


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
        # Set while the stored holds are still to be taken back; the writer and stop() may
        # both try, and the stored holds must be merged once.
        self._restore_lock = threading.Lock()
        self._merge: Merge | None = None
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def restore(self, merge: Merge) -> bool:
        """Hand the holds stored by the last run to ``merge``; False when the database cannot
        say yet (logged): the writer then retries before it writes anything."""
        with self._restore_lock:
            self._merge = merge
            return self._take_back(late=False)

    def restore_pending(self) -> bool:
        return self._merge is not None

    def changed(self) -> None:
        """The hold book changed (any thread; never waits for the database)."""
        with self._lock:
            self._changes += 1
        self._dirty.set()

    def start(self) -> None:
        self._stop.clear()
        if self.restore_pending():
            self._dirty.set()  # the writer keeps trying to take the stored holds back
        self._thread = threading.Thread(target=self._run, name="guidance-holds", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the writer and store the last state if it is not stored yet (blocking).

        Stored holds not taken back yet are merged first; if the database still does not
        answer, the stored rows are left as they are rather than replaced by the book."""
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if not (self.restore_pending() or self.unsaved()):
            return
        if not self.write() and self.restore_pending():
            logger.warning(
                "stopped before the database answered: the guidance holds stored by the last "
                "run are left as they were, the %d made since are not stored",
                len(self._snapshot()),
            )

    def unsaved(self) -> bool:
        with self._lock:
            return self._saved != self._changes

    def write(self) -> bool:
        """Store the book's active holds now; False (logged) when that failed.

        Stored holds not taken back yet are merged into the book first (False while the
        database cannot say), so a write never drops them."""
        with self._restore_lock:
            if not self._take_back(late=True):
                return False
        with self._lock:
            changes = self._changes  # read before the snapshot: a later change stays unsaved
        holds = self._snapshot()
        try:
            self._store.replace(holds)
        except Exception as err:
            self._failed("guidance holds not stored", err)
            return False
        if self._failing:
            logger.info("guidance holds stored again (%d active)", len(holds))
        self._failing = False
        with self._lock:
            self._saved = max(self._saved, changes)
        return True

    def _take_back(self, *, late: bool) -> bool:
        """Load and merge the stored holds if that is still to do (under ``_restore_lock``)."""
        merge = self._merge
        if merge is None:
            return True
        try:
            stored = self._store.load()
        except Exception as err:  # holds are a convenience: parking runs without them
            self._failed("guidance holds not restored yet, nothing stored until they are", err)
            return False
        taken = merge(stored)
        self._merge = None
        self._failing = False
        if late:
            logger.info(
                "guidance holds restored once the database answered: %d of %d stored taken "
                "back, %d active now",
                taken, len(stored), len(self._snapshot()),
            )
            self.changed()  # store the merged set: released ones go, those made since stay
        elif taken:
            logger.info("restored %d guidance holds (of %d stored)", taken, len(stored))
        return True

    def _failed(self, what: str, err: Exception) -> None:
        if isinstance(err, StoreUnavailableError):
            # Once per outage at WARNING: retried every few seconds until it is over.
            logger.log(logging.DEBUG if self._failing else logging.WARNING,
                       "%s, retrying every %.0f s: %s", what, self._retry_s, err)
        elif self._failing:
            logger.debug("%s (still)", what, exc_info=True)
        else:
            # A bug or a schema not migrated yet: the traceback once, not every retry.
            logger.exception("%s, retrying every %.0f s", what, self._retry_s)
        self._failing = True

    def _run(self) -> None:
        while True:
            self._dirty.wait()
            if self._stop.is_set():
                return  # stop() writes what is left
            self._dirty.clear()
            if not self.write():
                self._dirty.set()
                self._stop.wait(self._retry_s)
