"""Grammar-constrained best-path CTC decoding for plates.

Greedy CTC decoding takes the arg-max symbol of every frame on its own, so nothing stops it
from reading a digit where GA 36-2018 wants the issuing letter, a sixth or ninth character,
or a non-province in front. :class:`GrammarCtcDecoder` instead finds the single most
probable CTC path (one symbol or filler per frame, repeats collapsed, a filler needed between
two equal characters) whose collapsed text is a plate of one of the layouts in
:data:`vision.plate_grammar.PLATE_LAYOUTS`. When the greedy text is a plate it is also the
constrained answer (the greedy path is the best path of all), so the decoder only changes
readings the grammar rejects.

The layouts are merged into a prefix tree of character classes, layered by the number of
characters read (every layout has a fixed length). The search is a dynamic programme over
that depth (at most 8 steps), each step vectorised over the tree's nodes and all frames: a
character's best segment ending at each frame is one cumulative maximum along time. With
T = 40 frames (a 320 px wide line) and the 72 plate symbols, a crop costs about 0.65 ms
(timeit, best of 7 × 200 runs on random softmax rows, one core of a 2-core machine that
another job was loading; about 1 ms at T = 80). The recogniser model itself takes ~15 ms.

The decoder picks characters; it never inflates them. Each character's confidence is the
model's raw probability of that symbol at the first frame of its segment (the frame where
CTC emits it, as the greedy decoder reports), so text forced into a plate shape (a caption,
a shop sign) keeps near-zero characters and is rejected downstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.plate_grammar import PLATE_LAYOUTS, PROVINCES

# Probabilities that underflowed to zero are raised to this, so log sums stay finite.
_FLOOR = 1e-30


@dataclass(frozen=True, slots=True)
class _Depth:
    """The search nodes for the ``d``-th character of a plate.

    The layouts are merged into a prefix tree of character classes (``P L S S …``); every
    tree vertex at this depth owns one node per symbol its class allows. Nodes are stored
    flat and grouped by vertex so per-vertex maxima are one ``reduceat``.
    """

    symbols: np.ndarray  # (N,) symbol index of each node
    vertex: np.ndarray  # (N,) vertex (local to this depth) of each node
    offsets: np.ndarray  # (V,) first node of each vertex
    parent: np.ndarray  # (V,) vertex one depth up (0 at depth 0: the root)
    # (N,) the node of the parent vertex with the same symbol, or the parent depth's node
    # count (a padding row) when there is none: needed for the CTC repeat rule.
    same: np.ndarray
    accepting: np.ndarray  # (V,) bool: the prefix is a whole plate layout
    province_first: np.ndarray  # (V,) bool: the plate starts with a province


def _build_tree(symbols: str) -> list[_Depth]:
    """Prefix tree of the grammar's layouts, one :class:`_Depth` per character position."""
    index = {c: i for i, c in enumerate(symbols)}
    missing = {c for _, layout in PLATE_LAYOUTS for chars in layout for c in chars} - set(index)
    if missing:
        raise ValueError(f"decoder symbols lack plate characters {sorted(missing)}")
    layouts = [layout for _, layout in PLATE_LAYOUTS]
    longest = max(len(layout) for layout in layouts)
    depths: list[_Depth] = []
    prev_vertices: list[tuple[str, ...]] = [()]
    prev_nodes: dict[tuple[tuple[str, ...], int], int] = {}
    for d in range(1, longest + 1):
        vertices = sorted({tuple(layout[:d]) for layout in layouts if len(layout) >= d})
        syms: list[int] = []
        vertex: list[int] = []
        offsets: list[int] = []
        same: list[int] = []
        nodes: dict[tuple[tuple[str, ...], int], int] = {}
        for v, prefix in enumerate(vertices):
            offsets.append(len(syms))
            for s in sorted(index[c] for c in prefix[-1]):
                nodes[(prefix, s)] = len(syms)
                same.append(prev_nodes.get((prefix[:-1], s), len(prev_nodes)))
                syms.append(s)
                vertex.append(v)
        depths.append(
            _Depth(
                symbols=np.array(syms, dtype=np.int64),
                vertex=np.array(vertex, dtype=np.int64),
                offsets=np.array(offsets, dtype=np.int64),
                parent=np.array([prev_vertices.index(p[:-1]) for p in vertices], dtype=np.int64),
                same=np.array(same, dtype=np.int64),
                accepting=np.array([any(p == tuple(lay) for lay in layouts) for p in vertices]),
                province_first=np.array([set(p[0]) <= set(PROVINCES) for p in vertices]),
            )
        )
        prev_vertices, prev_nodes = vertices, nodes
    return depths


@dataclass(frozen=True, slots=True)
class _Layer:
    """Scores of one depth, kept for the trace-back. Frames are the last axis."""

    start: np.ndarray  # (N, T): best log-prob of frames 0..a-1 with the node's char from a
    end: np.ndarray  # (N, T): best log-prob of frames 0..b with the node's char ending at b
    best1: np.ndarray  # (V, T): best node of each vertex ending at b
    best2: np.ndarray  # (V, T): the runner-up (equal to best1 on a tie)
    ready: np.ndarray  # (V, T): best log-prob of frames 0..a-1, last char ended by a-2


class GrammarCtcDecoder:
    """Most probable CTC path whose text is a valid plate (see the module docstring).

    ``symbols`` are the plate characters in the order of the probability columns given to
    :meth:`decode`. ``lead_floor``: a plate may start with 使 or a digit (embassy), but the
    recogniser exempts the first character from its per-character floor because province
    probabilities spread over look-alikes. That reason does not hold for 使, so such a
    reading is taken only when its first character reaches ``lead_floor``; otherwise any
    six-digit number (a timestamp, a phone number) could become a confident ``使123456``.
    """

    def __init__(self, symbols: str, *, lead_floor: float) -> None:
        self.symbols = symbols
        self.lead_floor = lead_floor
        self._depths = _build_tree(symbols)

    def decode(self, probs: np.ndarray, filler: np.ndarray) -> list[tuple[int, int]] | None:
        """Best plate path as (symbol index, emitting frame) per character, or None.

        ``probs`` is (T, S): the probability of each plate symbol per frame; ``filler`` is
        (T,): the probability of emitting no character there (CTC blank or separator dot).
        None when the line is too short to hold any plate.
        """
        if probs.ndim != 2 or probs.shape[1] != len(self.symbols):
            raise ValueError(f"expected probs of shape (T, {len(self.symbols)}), got {probs.shape}")
        if filler.shape != probs.shape[:1]:
            raise ValueError(f"expected filler of shape ({probs.shape[0]},), got {filler.shape}")
        n_frames = probs.shape[0]
        # cum[s, t]: log-probability of emitting s on frames 0..t-1; cum_f the same for fillers.
        cum = np.zeros((probs.shape[1], n_frames + 1), dtype=np.float64)
        np.cumsum(np.log(np.clip(probs.T, _FLOOR, None), dtype=np.float64), axis=1, out=cum[:, 1:])
        cum_f = np.zeros(n_frames + 1, dtype=np.float64)
        np.cumsum(np.log(np.clip(filler, _FLOOR, None), dtype=np.float64), out=cum_f[1:])
        pad = np.full((1, n_frames), -np.inf, dtype=np.float64)
        # Depth 0, the root: nothing read, only fillers before frame a.
        layer = _Layer(pad, pad, pad, pad, cum_f[None, :n_frames])
        layers: list[_Layer] = []
        for depth in self._depths:
            layer = _advance(depth, layer, cum, cum_f)
            layers.append(layer)
        return self._trace(layers, cum, cum_f, probs)

    def _trace(
        self, layers: list[_Layer], cum: np.ndarray, cum_f: np.ndarray, probs: np.ndarray
    ) -> list[tuple[int, int]] | None:
        """Take the best whole plate (fillers after its last char) and walk back."""
        finals: list[tuple[float, int, int, int, bool]] = []  # score, depth, vertex, end
        for d, (depth, layer) in enumerate(zip(self._depths, layers, strict=True)):
            if not depth.accepting.any():
                continue
            vertices = np.flatnonzero(depth.accepting)
            tail = layer.best1[vertices] - cum_f[1:] + cum_f[-1]
            ends = tail.argmax(axis=1)
            for v, b, score in zip(vertices, ends, tail[np.arange(len(ends)), ends], strict=True):
                if np.isfinite(score):
                    finals.append((float(score), d, int(v), int(b), bool(depth.province_first[v])))
        finals.sort(reverse=True)
        for _, d, v, b, province_first in finals:
            path = self._walk_back(layers, cum, cum_f, d, v, b, exclude=-1)
            if province_first or probs[path[0][1], path[0][0]] >= self.lead_floor:
                return path
        return None

    def _walk_back(
        self,
        layers: list[_Layer],
        cum: np.ndarray,
        cum_f: np.ndarray,
        d: int,
        v: int,
        b: int,
        exclude: int,
    ) -> list[tuple[int, int]]:
        """Recover the path ending at frame b in vertex v of depth d, as (symbol, frame)."""
        path: list[tuple[int, int]] = []
        while d >= 0:
            depth, layer = self._depths[d], layers[d]
            lo = int(depth.offsets[v])
            hi = int(depth.offsets[v + 1]) if v + 1 < len(depth.offsets) else len(depth.symbols)
            scores = layer.end[lo:hi, b].copy()
            # The next character starts at b+1: it may not be the same symbol (CTC merges).
            scores[depth.symbols[lo:hi] == exclude] = -np.inf
            n = lo + int(np.argmax(scores))
            s = int(depth.symbols[n])
            a = int(np.argmax(layer.start[n, : b + 1] - cum[s, : b + 1]))
            path.append((s, a))
            if d == 0:
                break
            parent = int(depth.parent[v])
            prev = layers[d - 1]
            adjacent = -np.inf
            if a >= 1:
                same = int(depth.same[n])
                taken = prev.end[same, a - 1] >= prev.best1[parent, a - 1]
                adjacent = prev.best2[parent, a - 1] if taken else prev.best1[parent, a - 1]
            if adjacent >= prev.ready[parent, a]:
                b, exclude = a - 1, s
            else:
                # Fillers between: the previous character ended at the best b <= a-2.
                b, exclude = int(np.argmax(prev.best1[parent, : a - 1] - cum_f[1:a])), -1
            d, v = d - 1, parent
        return path[::-1]


def _advance(depth: _Depth, prev: _Layer, cum: np.ndarray, cum_f: np.ndarray) -> _Layer:
    """Scores for the next character from those of the previous one."""
    n_frames = cum_f.shape[0] - 1
    parent = depth.parent[depth.vertex]  # parent vertex of each node
    # The previous character may end right at a-1 unless it is this node's symbol (CTC
    # would merge the two): then only its vertex's runner-up may end there.
    best1 = np.take(prev.best1, parent, axis=0)
    adjacent = np.take(prev.best2, parent, axis=0)
    np.copyto(adjacent, best1, where=np.take(prev.end, depth.same, axis=0) < best1)
    start = np.take(prev.ready, parent, axis=0)
    np.maximum(start[:, 1:], adjacent[:, :-1], out=start[:, 1:])
    c = np.take(cum, depth.symbols, axis=0)  # (N, T+1)
    # The node's character on frames a..b: start[a] + cum[b+1] - cum[a], for the best a <= b.
    # One spare row of -inf lets the next depth look up "no such node" without a branch.
    end = np.full((len(depth.symbols) + 1, n_frames), -np.inf, dtype=cum.dtype)
    body = end[:-1]
    np.subtract(start, c[:, :-1], out=body)
    np.maximum.accumulate(body, axis=1, out=body)
    body += c[:, 1:]
    top = np.maximum.reduceat(body, depth.offsets, axis=0)
    is_top = body >= np.take(top, depth.vertex, axis=0)
    ties = np.add.reduceat(is_top, depth.offsets, axis=0) > 1
    runner_up = np.maximum.reduceat(np.where(is_top, -np.inf, body), depth.offsets, axis=0)
    # Where two nodes share the top score the runner-up equals it, whichever is excluded.
    np.copyto(runner_up, top, where=ties)
    return _Layer(start, end, top, runner_up, _ready(top, cum_f))


def _ready(best1: np.ndarray, cum_f: np.ndarray) -> np.ndarray:
    """(V, T): best log-prob of frames 0..a-1 when the last character ended at b <= a-2.

    At least one filler then separates it from a character starting at a; this is the only
    way to read a repeated character such as the two 1s of ``11``.
    """
    n_frames = best1.shape[1]
    ready = np.full_like(best1, -np.inf)
    if n_frames > 2:
        # best1[b] plus fillers on frames b+1..a-1 = best1[b] - cum_f[b+1] + cum_f[a].
        run = np.maximum.accumulate(best1[:, :-2] - cum_f[None, 1 : n_frames - 1], axis=1)
        ready[:, 2:] = run + cum_f[None, 2:n_frames]
    return ready
