"""1:N face matching over every enrolled template, and voting over frames.

All templates live in one float32 matrix with precomputed squared norms, so a search is one
matrix-vector product: ``d² = ||t||² + ||q||² − 2·t·q`` (100k templates in a few ms). Writers
build new arrays and swap them in under a lock; readers take a snapshot reference, so a
search never sees a half-updated gallery and never blocks on enrolment.

Lookalike-aware decision (``neighbour_ratio``): every template also stores its distance to the
nearest template of ANY OTHER enrolled identity (its "neighbour distance"), precomputed at
enrolment. A probe is accepted only if its best distance is also below ``neighbour_ratio`` times
the neighbour distance of the template it matched: a resident who has a lookalike among the
residents gets a stricter, per-template threshold, since a stranger resembling both is likely.
Costs (2 cores, bench.faces): a match pays one array lookup more (100k templates: ~4 ms as
before). ``add`` of m templates costs one (m × N) product (~3 ms at 10k, ~40 ms at 100k);
``remove`` recomputes only the templates whose nearest other identity was the removed one
(usually a handful, each O(N): ~1.5 ms at 10k, ~20 ms at 100k); ``replace_all`` computes all
N² distances in blocks of 256 rows (~0.9 s at 10k templates, ~70 s at 100k: at start-up and
when faces imported by another process are reloaded; ``neighbour_ratio=None`` skips it).
``add`` and ``remove`` hold the write lock meanwhile; ``build`` holds none and ``install``
holds it only to assign the gallery it built. Readers never wait.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vision.face_config import DEFAULT_NEIGHBOUR_RATIO, FaceRecognitionConfig
from vision.face_types import EMBEDDING_DIM, FaceMatch, MatchReason, as_embedding


@dataclass(frozen=True, slots=True)
class _Gallery:
    """An immutable snapshot of all templates (replaced, never mutated)."""

    templates: np.ndarray  # (N, 128) float32, C-contiguous
    sq_norms: np.ndarray  # (N,) float32
    identity_ids: np.ndarray  # (N,) int64
    # Distance from each template to the nearest template of another identity (inf if none)
    # and that identity (-1 if none). Only maintained when the matcher uses neighbour_ratio.
    neighbour: np.ndarray  # (N,) float32
    neighbour_ids: np.ndarray  # (N,) int64

    @classmethod
    def empty(cls) -> _Gallery:
        return cls(
            np.empty((0, EMBEDDING_DIM), np.float32),
            np.empty((0,), np.float32),
            np.empty((0,), np.int64),
            np.empty((0,), np.float32),
            np.empty((0,), np.int64),
        )


# Rows per block when computing distances between many templates: 512 x 100k float32 = 200 MB.
_BLOCK_ROWS = 512


def _nearest_other(
    rows: np.ndarray,
    row_sq: np.ndarray,
    row_ids: np.ndarray,
    templates: np.ndarray,
    sq_norms: np.ndarray,
    identity_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each row: distance to the nearest template of a different identity, and its id.

    Per block of rows the squared distances are built in place (the row's own norm is added
    after the arg-min: it does not change it), and only the row's own identity's few columns
    are masked, found through the templates sorted by identity: ~2x faster than broadcasting
    a full distance and a full identity mask per block (20k templates: 4.0 s -> 2.1 s).
    """
    dist = np.full((rows.shape[0],), np.inf, np.float32)
    nearest = np.full((rows.shape[0],), -1, np.int64)
    if templates.shape[0] == 0:
        return dist, nearest
    order = np.argsort(identity_ids, kind="stable")
    sorted_ids = identity_ids[order]
    for start in range(0, rows.shape[0], _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, rows.shape[0])
        block_ids = row_ids[start:stop]
        partial = rows[start:stop] @ templates.T
        partial *= -2.0
        partial += sq_norms[None, :]
        lo = np.searchsorted(sorted_ids, block_ids, "left")
        counts = np.searchsorted(sorted_ids, block_ids, "right") - lo
        total = int(counts.sum())
        if total:
            own_rows = np.repeat(np.arange(stop - start), counts)
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            partial[own_rows, order[np.repeat(lo, counts) + offsets]] = np.inf
        best = np.argmin(partial, axis=1)
        best_sq = partial[np.arange(best.size), best] + row_sq[start:stop]
        finite = np.isfinite(best_sq)
        dist[start:stop] = np.where(finite, np.sqrt(np.maximum(best_sq, 0.0)), np.inf)
        nearest[start:stop] = np.where(finite, identity_ids[best], -1)
    return dist, nearest


def _as_matrix(embeddings: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != EMBEDDING_DIM or matrix.shape[0] == 0:
        raise ValueError(
            f"embeddings must be (n>=1, {EMBEDDING_DIM}), got shape {np.shape(embeddings)}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("embeddings contain NaN or infinite values")
    return np.ascontiguousarray(matrix)


class FaceMatcher:
    """Thread-safe 1:N matcher with several templates per identity.

    A probe is accepted only when its best template is closer than ``threshold`` AND the best
    template of any *other* identity is at least ``margin`` further away: with one photo per
    resident, lookalikes are the main way a stranger gets in, and the margin refuses them.
    With ``neighbour_ratio`` set, the best distance must also be below ``neighbour_ratio`` times
    the matched template's distance to its nearest other enrolled identity (see module doc).
    """

    def __init__(
        self,
        threshold: float,
        margin: float,
        neighbour_ratio: float | None = DEFAULT_NEIGHBOUR_RATIO,
    ) -> None:
        if not 0.0 < threshold < 2.0:
            raise ValueError(f"threshold must be in (0, 2), got {threshold}")
        if margin < 0.0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if neighbour_ratio is not None and not neighbour_ratio > 0.0:
            raise ValueError(f"neighbour_ratio must be > 0 or None, got {neighbour_ratio}")
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.neighbour_ratio = None if neighbour_ratio is None else float(neighbour_ratio)
        self._gallery = _Gallery.empty()
        self._write_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: FaceRecognitionConfig) -> FaceMatcher:
        """The matcher for a face configuration (threshold, margin and neighbour ratio)."""
        return cls(config.threshold, config.margin, config.neighbour_ratio)

    @property
    def _tracks_neighbours(self) -> bool:
        return self.neighbour_ratio is not None

    # -- enrolment -------------------------------------------------------------------------
    def add(self, identity_id: int, embeddings: np.ndarray | Sequence[np.ndarray]) -> None:
        """Add one or more templates (``(128,)`` or ``(n, 128)``) to ``identity_id``.

        With ``neighbour_ratio``: one (n × N) distance product updates the neighbour distances
        of the new templates and of every existing one.
        """
        matrix = _as_matrix(embeddings)
        ids = np.full((matrix.shape[0],), int(identity_id), np.int64)
        norms = np.einsum("ij,ij->i", matrix, matrix).astype(np.float32)
        with self._write_lock:
            old = self._gallery
            neighbour = np.full((matrix.shape[0],), np.inf, np.float32)
            neighbour_ids = np.full((matrix.shape[0],), -1, np.int64)
            old_neighbour, old_neighbour_ids = old.neighbour, old.neighbour_ids
            if self._tracks_neighbours and old.identity_ids.size:
                # One (n × N) product serves both directions (n = photos of one person).
                sq = norms[:, None] + old.sq_norms[None, :] - 2.0 * (matrix @ old.templates.T)
                sq[:, old.identity_ids == int(identity_id)] = np.inf
                dist = np.sqrt(np.maximum(sq, 0.0))
                nearest = np.argmin(dist, axis=1)
                neighbour = dist[np.arange(nearest.size), nearest].astype(np.float32)
                neighbour_ids = np.where(
                    np.isfinite(neighbour), old.identity_ids[nearest], -1
                ).astype(np.int64)
                # The new templates may be the nearest other identity of existing ones.
                back = dist.min(axis=0)
                closer = back < old_neighbour
                old_neighbour = np.where(closer, back, old_neighbour).astype(np.float32)
                old_neighbour_ids = np.where(closer, int(identity_id), old_neighbour_ids)
            self._gallery = _Gallery(
                np.ascontiguousarray(np.concatenate([old.templates, matrix])),
                np.concatenate([old.sq_norms, norms]),
                np.concatenate([old.identity_ids, ids]),
                np.concatenate([old_neighbour, neighbour]),
                np.concatenate([old_neighbour_ids, neighbour_ids]),
            )

    def remove(self, identity_id: int) -> int:
        """Drop every template of ``identity_id``; return how many were removed.

        With ``neighbour_ratio``: only templates whose nearest other identity was the removed
        one get their neighbour distance recomputed (each O(N)).
        """
        with self._write_lock:
            old = self._gallery
            keep = old.identity_ids != int(identity_id)
            removed = int(keep.size - np.count_nonzero(keep))
            if removed:
                templates = np.ascontiguousarray(old.templates[keep])
                sq_norms, ids = old.sq_norms[keep], old.identity_ids[keep]
                neighbour, neighbour_ids = old.neighbour[keep], old.neighbour_ids[keep]
                stale = np.flatnonzero(neighbour_ids == int(identity_id))
                if self._tracks_neighbours and stale.size:
                    neighbour, neighbour_ids = neighbour.copy(), neighbour_ids.copy()
                    neighbour[stale], neighbour_ids[stale] = _nearest_other(
                        templates[stale], sq_norms[stale], ids[stale], templates, sq_norms, ids
                    )
                self._gallery = _Gallery(templates, sq_norms, ids, neighbour, neighbour_ids)
            return removed

    def replace_all(self, items: Iterable[tuple[int, np.ndarray]]) -> None:
        """Load the whole gallery at once (start-up from the database) in one swap.

        With ``neighbour_ratio`` this computes all N² template distances in blocks (O(N²)).
        """
        self.install(self.build(items))

    def install(self, gallery: _Gallery) -> None:
        """Swap in a gallery made by ``build``: a reference assignment, so a reload that
        took seconds to build holds the write lock (and any caller's own lock) for none."""
        with self._write_lock:
            self._gallery = gallery

    def build(self, items: Iterable[tuple[int, np.ndarray]]) -> _Gallery:
        """A whole gallery for ``install``, built without touching the live one or its lock.

        With ``neighbour_ratio`` this computes all N² template distances in blocks (O(N²)).
        """
        mats: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        for identity_id, embeddings in items:
            matrix = _as_matrix(embeddings)
            mats.append(matrix)
            ids.append(np.full((matrix.shape[0],), int(identity_id), np.int64))
        if not mats:
            gallery = _Gallery.empty()
        else:
            templates = np.ascontiguousarray(np.concatenate(mats))
            sq_norms = np.einsum("ij,ij->i", templates, templates).astype(np.float32)
            all_ids = np.concatenate(ids)
            if self._tracks_neighbours:
                neighbour, neighbour_ids = _nearest_other(
                    templates, sq_norms, all_ids, templates, sq_norms, all_ids
                )
            else:
                neighbour = np.full((all_ids.size,), np.inf, np.float32)
                neighbour_ids = np.full((all_ids.size,), -1, np.int64)
            gallery = _Gallery(templates, sq_norms, all_ids, neighbour, neighbour_ids)
        return gallery

    @property
    def template_count(self) -> int:
        return int(self._gallery.identity_ids.size)

    @property
    def identity_count(self) -> int:
        return int(np.unique(self._gallery.identity_ids).size)

    def __contains__(self, identity_id: object) -> bool:
        if not isinstance(identity_id, int):
            return False
        return bool(np.any(self._gallery.identity_ids == identity_id))

    def neighbour_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """Each template's distance to its nearest other identity (inf if untracked or none)
        and the template's identity, in ``distances`` order (a snapshot)."""
        gallery = self._gallery
        return gallery.neighbour, gallery.identity_ids

    # -- search ----------------------------------------------------------------------------
    def distances(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Euclidean distance to every template and the template's identity (a snapshot)."""
        dist, ids, _ = self._search(embedding)
        return dist, ids

    def _search(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        query = as_embedding(embedding, name="probe embedding")
        gallery = self._gallery
        if gallery.identity_ids.size == 0:
            return np.empty((0,), np.float32), gallery.identity_ids, gallery.neighbour
        sq = gallery.sq_norms + np.float32(query @ query) - 2.0 * (gallery.templates @ query)
        # Rounding can push identical vectors slightly below zero.
        dist = np.sqrt(np.maximum(sq, 0.0, out=sq))
        return dist, gallery.identity_ids, gallery.neighbour

    def match(self, embedding: np.ndarray) -> FaceMatch:
        """Search all templates for one probe embedding."""
        dist, ids, neighbour = self._search(embedding)
        if dist.size == 0:
            return FaceMatch(None, math.inf, math.inf, False, MatchReason.NO_TEMPLATES)
        best_index = int(np.argmin(dist))
        best_id = int(ids[best_index])
        best = float(dist[best_index])
        others = dist[ids != best_id]
        second = float(others.min()) if others.size else math.inf
        second = max(second, best)  # float32 ties
        accepted = bool(accept_rule(
            best, second, float(neighbour[best_index]),
            self.threshold, self.margin, self.neighbour_ratio,
        ))
        if best >= self.threshold:
            reason = MatchReason.ABOVE_THRESHOLD
        elif not accepted:
            # Too close to another identity: the second-best one (margin) or the matched
            # resident's nearest lookalike among the residents (neighbour ratio).
            reason = MatchReason.AMBIGUOUS
        else:
            reason = MatchReason.ACCEPTED
        return FaceMatch(best_id, best, second, accepted, reason)


def accept_rule(
    best: np.ndarray | float,
    second: np.ndarray | float,
    neighbour: np.ndarray | float,
    threshold: float,
    margin: float,
    neighbour_ratio: float | None,
) -> np.ndarray | bool:
    """The acceptance rule of ``FaceMatcher.match``, vectorised for benchmarks.

    ``best``/``second``: distance to the best and second-best identity; ``neighbour``: the
    matched template's distance to its nearest other enrolled identity (inf if none).
    """
    accepted = (best < threshold) & (second - best >= margin)
    if neighbour_ratio is not None:
        accepted = accepted & (best < neighbour_ratio * neighbour)
    return accepted


@dataclass(frozen=True, slots=True)
class VoteResult:
    """The voter's state after one frame: ``identity_id`` is set once the vote holds."""

    identity_id: int | None
    votes: int
    frames: int
    conflict: bool


class FaceVoter:
    """Accept an identity only when it was accepted in ``required`` of the last ``window`` frames.

    If a different identity was also accepted within the window, nobody is accepted: two
    residents in a crowd must not open the gate for the wrong one.
    """

    def __init__(self, required: int, window: int) -> None:
        if required < 1 or window < required:
            raise ValueError(f"need 1 <= required <= window, got {required} of {window}")
        self.required = required
        self.window = window
        self._recent: deque[int | None] = deque(maxlen=window)

    def reset(self) -> None:
        self._recent.clear()

    def update(self, match: FaceMatch | None) -> VoteResult:
        """Add one frame (``None`` = no usable face in that frame) and return the vote."""
        self._recent.append(match.identity_id if match is not None and match.accepted else None)
        return self.result()

    def result(self) -> VoteResult:
        counts: dict[int, int] = {}
        for identity_id in self._recent:
            if identity_id is not None:
                counts[identity_id] = counts.get(identity_id, 0) + 1
        if not counts:
            return VoteResult(None, 0, len(self._recent), False)
        best_id, votes = max(counts.items(), key=lambda item: item[1])
        conflict = len(counts) > 1
        accepted = votes >= self.required and not conflict
        return VoteResult(best_id if accepted else None, votes, len(self._recent), conflict)


def vote(matches: Sequence[FaceMatch | None], required: int, window: int) -> VoteResult:
    """Run a fresh voter over per-frame matches; return the first vote that holds, else the last."""
    voter = FaceVoter(required, window)
    result = VoteResult(None, 0, 0, False)
    for match in matches:
        result = voter.update(match)
        if result.identity_id is not None:
            return result
    return result
