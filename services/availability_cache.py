"""Precomputed bodies and ETags for the public availability endpoints, and a per-IP limiter.

The public board is read far more often than it changes (every phone in the queue polls it),
so its JSON is built once per change, not once per request. Changes are seen synchronously:
a SQLAlchemy session hook marks the cache stale when a transaction that touched a zone
commits, so a read right after a correction never sees the old count. A short ``max_age_s``
also bounds staleness for writers outside this process.

While the database cannot be read, the last counts read are served marked ``stale`` with the
time they were read (``as_of``), and the database is asked again every ``retry_s`` in the
background, never by each request; with nothing read since start the caller gets
``StoreUnavailableError`` (503). One warning per outage, not one traceback per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from errors import StoreUnavailableError
from models.access_store import availability
from models.db import outage_as_unavailable
from models.site import OccupancySample, Zone

logger = logging.getLogger(__name__)

_FLAG = "parkgate_zones_changed"


@dataclass(frozen=True, slots=True)
class CachedBody:
    """A response body ready to send, its ETag and the data it was rendered from."""

    body: bytes
    etag: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ZoneSnapshot:
    generation: int
    built_at: float  # monotonic seconds
    data: dict[str, Any]
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def stale(self) -> bool:
        """The database could not be read: these are the last counts read, at ``read_at``."""
        return bool(self.data.get("stale"))


def _weakly(method: Callable[..., None]) -> Callable[..., None]:
    """``method``, called as long as its object lives; afterwards a call does nothing."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> None:
        bound = ref()
        if bound is not None:
            bound(*args)

    return call


def make_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match header against our strong ETag."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class AvailabilityCache:
    """Zone availability (``models.access_store.availability``) as a ready JSON body."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_age_s: float = 2.0,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        # Called (in the committing thread) after a transaction that touched a zone commits:
        # whoever announced the change may have done so before its commit, and a reader that
        # looked at once saw the old count.
        self._on_commit = on_commit
        self._max_age_s = max_age_s
        self._retry_s = retry_s
        self._clock = clock
        # Set while the database cannot be read: since when (monotonic), next try, and the
        # stale snapshot made from the last good one (built once per outage).
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._stale: tuple[ZoneSnapshot, ZoneSnapshot] | None = None
        self._entry: ZoneSnapshot | None = None
        self._rendered: tuple[ZoneSnapshot, CachedBody] | None = None
        self._inflight: asyncio.Future[ZoneSnapshot] | None = None
        self._lock = threading.Lock()
        self.generation = 0
        self.rebuilds = 0
        # Hooks that reach this cache weakly. SQLAlchemy keeps a sessionmaker's listeners in a
        # class-level WeakKeyDictionary keyed by the sessionmaker's own Session subclass; a
        # bound method there leads back to that key (cache -> sessions -> its class), so the
        # entry never went, and with it this cache, its parking service, their sessionmaker
        # and database engine stayed in memory after the services were dropped.
        self._hooks = {
            "after_flush": _weakly(self._after_flush),
            "after_commit": _weakly(self._after_commit),
            "after_rollback": _weakly(self._after_rollback),
        }
        for name, hook in self._hooks.items():
            event.listen(sessions, name, hook)

    def close(self) -> None:
        for name, hook in self._hooks.items():
            event.remove(self._sessions, name, hook)

    def _after_flush(self, session: Session, _context: Any) -> None:
        # new/dirty still hold the pre-flush state here (SQLAlchemy documents this).
        if any(
            isinstance(obj, (Zone, OccupancySample))
            for obj in chain(session.new, session.dirty, session.deleted)
        ):
            session.info[_FLAG] = True

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_FLAG, False):
            self.invalidate()
            if self._on_commit is not None:
                self._on_commit()

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(_FLAG, None)

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1

    def _valid(self, entry: ZoneSnapshot | None) -> bool:
        return (
            entry is not None
            and entry.generation == self.generation
            and self._clock() - entry.built_at < self._max_age_s
        )

    def peek(self) -> ZoneSnapshot | None:
        """The current snapshot if still valid (no database access), else None."""
        entry = self._entry
        return entry if self._valid(entry) else None

    def snapshot(self) -> ZoneSnapshot:
        """The valid snapshot, re-read from the database (one query) when stale; during an
        outage the last one marked stale (``StoreUnavailableError`` if there is none).

        For threads (boards, guidance); the event loop uses ``current``.
        """
        entry = self._entry
        if entry is not None and self._valid(entry):
            return entry
        if self._down_since is not None and self._clock() < self._retry_at:
            return self._stale_copy()
        try:
            snap = self._read()
        except StoreUnavailableError as err:
            self._went_down(err)
            return self._stale_copy()
        self._came_back()
        return snap

    def _read(self) -> ZoneSnapshot:
        # Read the generation before the query: a commit racing with it leaves the entry stale.
        generation = self.generation
        with outage_as_unavailable(), self._sessions() as session:
            data = availability(session)
        entry = ZoneSnapshot(generation, self._clock(), data)
        with self._lock:
            if self._entry is None or generation >= self._entry.generation:
                self._entry = entry
            self.rebuilds += 1
        return entry

    def _went_down(self, err: StoreUnavailableError) -> None:
        now = self._clock()
        self._retry_at = now + self._retry_s
        if self._down_since is not None:
            return
        self._down_since = now
        entry = self._entry
        if entry is None:
            logger.warning("availability: %s; no count read since start, so the public "
                           "endpoint answers 503 until it answers", err)
        else:
            logger.warning("availability: %s; serving the counts read at %s marked stale, "
                           "retrying every %.0f s", err,
                           entry.read_at.isoformat(timespec="seconds"), self._retry_s)

    def _came_back(self) -> None:
        if self._down_since is not None:
            logger.info("availability: the database answers again after %.0f s",
                        self._clock() - self._down_since)
            self._down_since = None
            self._stale = None

    def _stale_copy(self) -> ZoneSnapshot:
        """The last good snapshot marked stale (one object per outage, so its rendered body
        and ETag stay the same while it lasts)."""
        entry = self._entry
        if entry is None:
            raise StoreUnavailableError(
                "availability is unknown: the database is unavailable and has not been read "
                "since start"
            )
        kept = self._stale
        if kept is not None and kept[0] is entry:
            return kept[1]
        stale = ZoneSnapshot(
            entry.generation, entry.built_at,
            {**entry.data, "stale": True, "as_of": entry.read_at.isoformat()},
            entry.read_at,
        )
        self._stale = (entry, stale)
        return stale

    async def current(self) -> ZoneSnapshot:
        """The snapshot for a request, with at most one database read in flight.

        A snapshot that is merely old (nothing committed since) is served while one refresh
        runs in the background; after a commit, callers wait for a snapshot that includes it.
        Without this, every connection that found the entry stale at the same moment would
        run the same query (measured as p99 spikes every ``max_age_s`` at 1,000 req/s).
        """
        entry = self._entry
        if entry is not None and self._valid(entry):
            return entry
        if self._down_since is not None:
            # An outage: answer at once from what was read, and let one background read
            # per ``retry_s`` find out whether it is over.
            if self._clock() >= self._retry_at:
                self._refresh()
            return self._stale_copy()
        needed = self.generation
        if entry is not None and entry.generation == needed:
            self._refresh()
            return entry
        while True:
            try:
                snap = await asyncio.shield(self._refresh())
            except StoreUnavailableError:
                return self._stale_copy()
            if snap.generation >= needed:
                return snap

    def _refresh(self) -> asyncio.Future[ZoneSnapshot]:
        task = self._inflight
        if task is None or task.done():
            task = asyncio.ensure_future(asyncio.to_thread(self._read))
            task.add_done_callback(self._refreshed)
            self._inflight = task
        return task

    def _refreshed(self, task: asyncio.Future[ZoneSnapshot]) -> None:
        if task.cancelled():
            return
        err = task.exception()
        if err is None:
            self._came_back()
        elif isinstance(err, StoreUnavailableError):
            self._went_down(err)
        else:
            logger.error("availability refresh failed", exc_info=err)

    def body(
        self, render: Callable[[dict[str, Any]], bytes], snap: ZoneSnapshot | None = None
    ) -> CachedBody:
        """A snapshot (default: the current one) rendered by ``render``, once per snapshot."""
        snap = snap or self.snapshot()
        rendered = self._rendered
        if rendered is not None and rendered[0] is snap:
            return rendered[1]
        body = render(snap.data)
        cached = CachedBody(body, make_etag(body), snap.data)
        self._rendered = (snap, cached)
        return cached


class TokenBucketLimiter:
    """Per-key token buckets: ``rate_per_s`` sustained, ``burst`` at once.

    ``take`` returns 0 when the request may go ahead, otherwise the seconds until a token is
    available (for Retry-After). Memory is bounded by ``max_clients``: when exceeded, buckets
    that have refilled completely (idle clients) are dropped, then the oldest.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"need rate_per_s > 0 and burst ≥ 1, got {rate_per_s}/{burst}")
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()
        self.limited = 0

    def take(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self.max_clients:
                    self._evict(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            self.limited += 1
            return (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        full = [
            k for k, (t, last) in self._buckets.items()
            if t + (now - last) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        while len(self._buckets) > self.max_clients:
            del self._buckets[next(iter(self._buckets))]  # dicts keep insertion order


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
