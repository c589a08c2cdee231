"""1:N face matching over every enrolled template, and voting over frames.

All templates live in one float32 matrix with precomputed squared norms, so a search is one
matrix-vector product: ``d² = ||t||² + ||q||² − 2·t·q`` (100k templates in a few ms). Writers
build new arrays and swap them in under a lock; readers take a snapshot reference, so a
search never sees a half-updated gallery and never blocks on enrolment.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vision.face_types import EMBEDDING_DIM, FaceMatch, MatchReason, as_embedding


@dataclass(frozen=True, slots=True)
class _Gallery:
    """An immutable snapshot of all templates (replaced, never mutated)."""

    templates: np.ndarray  # (N, 128) float32, C-contiguous
    sq_norms: np.ndarray  # (N,) float32
    identity_ids: np.ndarray  # (N,) int64

    @classmethod
    def empty(cls) -> _Gallery:
        return cls(
            np.empty((0, EMBEDDING_DIM), np.float32),
            np.empty((0,), np.float32),
            np.empty((0,), np.int64),
        )


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
    """

    def __init__(self, threshold: float, margin: float) -> None:
        if not 0.0 < threshold < 2.0:
            raise ValueError(f"threshold must be in (0, 2), got {threshold}")
        if margin < 0.0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.threshold = float(threshold)
        self.margin = float(margin)
        self._gallery = _Gallery.empty()
        self._write_lock = threading.Lock()

    # -- enrolment -------------------------------------------------------------------------
    def add(self, identity_id: int, embeddings: np.ndarray | Sequence[np.ndarray]) -> None:
        """Add one or more templates (``(128,)`` or ``(n, 128)``) to ``identity_id``."""
        matrix = _as_matrix(embeddings)
        ids = np.full((matrix.shape[0],), int(identity_id), np.int64)
        norms = np.einsum("ij,ij->i", matrix, matrix).astype(np.float32)
        with self._write_lock:
            old = self._gallery
            self._gallery = _Gallery(
                np.ascontiguousarray(np.concatenate([old.templates, matrix])),
                np.concatenate([old.sq_norms, norms]),
                np.concatenate([old.identity_ids, ids]),
            )

    def remove(self, identity_id: int) -> int:
        """Drop every template of ``identity_id``; return how many were removed."""
        with self._write_lock:
            old = self._gallery
            keep = old.identity_ids != int(identity_id)
            removed = int(keep.size - np.count_nonzero(keep))
            if removed:
                self._gallery = _Gallery(
                    np.ascontiguousarray(old.templates[keep]),
                    old.sq_norms[keep],
                    old.identity_ids[keep],
                )
            return removed

    def replace_all(self, items: Iterable[tuple[int, np.ndarray]]) -> None:
        """Load the whole gallery at once (start-up from the database) in one swap."""
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
            gallery = _Gallery(
                templates,
                np.einsum("ij,ij->i", templates, templates).astype(np.float32),
                np.concatenate(ids),
            )
        with self._write_lock:
            self._gallery = gallery

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

    # -- search ----------------------------------------------------------------------------
    def distances(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Euclidean distance to every template and the template's identity (a snapshot)."""
        query = as_embedding(embedding, name="probe embedding")
        gallery = self._gallery
        if gallery.identity_ids.size == 0:
            return np.empty((0,), np.float32), gallery.identity_ids
        sq = gallery.sq_norms + np.float32(query @ query) - 2.0 * (gallery.templates @ query)
        # Rounding can push identical vectors slightly below zero.
        return np.sqrt(np.maximum(sq, 0.0, out=sq)), gallery.identity_ids

    def match(self, embedding: np.ndarray) -> FaceMatch:
        """Search all templates for one probe embedding."""
        dist, ids = self.distances(embedding)
        if dist.size == 0:
            return FaceMatch(None, math.inf, math.inf, False, MatchReason.NO_TEMPLATES)
        best_index = int(np.argmin(dist))
        best_id = int(ids[best_index])
        best = float(dist[best_index])
        others = dist[ids != best_id]
        second = float(others.min()) if others.size else math.inf
        second = max(second, best)  # float32 ties
        if best >= self.threshold:
            reason = MatchReason.ABOVE_THRESHOLD
        elif second - best < self.margin:
            reason = MatchReason.AMBIGUOUS
        else:
            reason = MatchReason.ACCEPTED
        accepted = reason is MatchReason.ACCEPTED
        return FaceMatch(best_id, best, second, accepted, reason)


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
