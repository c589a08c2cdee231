"""Vote plate reads over several frames into one :class:`Sighting` per vehicle and gate.

A camera sees the same car in many frames; opening the barrier once needs one decision per
vehicle. Per gate, reads are gathered into a *track*; the track emits a sighting as soon as
``min_reads`` frames read a plate, or when its window of ``window_seconds`` closes with at
least one read. Characters are voted position by position, weighted by their confidences, so
three frames reading 皖A12345 / 皖A1Z345 / 皖A12345 give 皖A12345. A read too different from
the track's plate starts a new vehicle. After a plate is emitted, the same plate is not
emitted again at that gate until it has been out of sight for ``cooldown_seconds``.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controllers.values import Sighting
from vision.plate_config import PlateVotingConfig
from vision.plate_grammar import PlateKind, double_row_kind, is_valid_plate, plate_kind
from vision.types import PlateRead

# Reads differing from the track's plate in more than this many positions are another car.
_SAME_VEHICLE_MAX_DIFF = 2


@dataclass
class _Track:
    started: datetime
    last_seen: datetime
    frames: int = 0
    reads: list[PlateRead] = field(default_factory=list)

    def plate(self) -> str | None:
        return vote(self.reads)[0] if self.reads else None


@dataclass
class _GateState:
    track: _Track | None = None
    # Emitted plate → last time it was seen, for the cooldown.
    recent: dict[str, datetime] = field(default_factory=dict)


def _differences(a: str, b: str) -> int:
    if len(a) != len(b):
        # An 8-character green plate read as 7 is usually a dropped character; compare the
        # shared prefix and count the missing tail.
        shorter, longer = sorted((a, b), key=len)
        return (
            sum(x != y for x, y in zip(shorter, longer, strict=False)) + len(longer) - len(shorter)
        )
    return sum(x != y for x, y in zip(a, b, strict=True))


def vote(reads: list[PlateRead]) -> tuple[str, float]:
    """Per-character confidence-weighted vote; returns (plate, confidence in [0, 1])."""
    plate, confidence, _ = vote_with_province(reads)
    return plate, confidence


def vote_with_province(reads: list[PlateRead]) -> tuple[str, float, float]:
    """:func:`vote`, plus the support for the voted province character in [0, 1].

    Reads of the most supported length vote; if the voted string is not a valid plate (mixed
    families), the single most confident read wins instead.
    """
    if not reads:
        raise ValueError("vote() needs at least one read")
    weight_by_length: defaultdict[int, float] = defaultdict(float)
    for r in reads:
        weight_by_length[len(r.text)] += r.confidence
    length = max(weight_by_length, key=lambda n: (weight_by_length[n], n))
    same = [r for r in reads if len(r.text) == length]
    chars: list[str] = []
    agreement: list[float] = []
    for i in range(length):
        weights: defaultdict[str, float] = defaultdict(float)
        for r in same:
            c = r.char_confidences[i] if r.char_confidences else r.confidence
            weights[r.text[i]] += c
        winner = max(weights, key=lambda ch: weights[ch])
        chars.append(winner)
        # Share of all reads (of any length) backing this character, times its confidence.
        agreement.append(weights[winner] / len(reads))
    text = "".join(chars)
    if is_valid_plate(text):
        province = agreement[0] if agreement else 0.0
        return text, _unit(sum(agreement) / length), _unit(province)
    best = max(reads, key=lambda r: r.confidence)
    support = sum(1 for r in reads if r.text == best.text) / len(reads)
    province = best.char_confidences[0] if best.char_confidences else best.confidence
    return best.text, _unit(best.confidence * support), _unit(province * support)


def voted_kind(plate: str, reads: list[PlateRead]) -> PlateKind | None:
    """The family of the voted ``plate``: its text decides (挂 is a trailer whatever the
    frames' own kinds said), and only whether the plate sat on two rows comes from the
    frames, since only the image tells a two-row plate from a one-row one with the same text.

    Frames that disagree (one read 冀A1234挂, two 冀A12345 on two rows) must not give a
    kind the stored plate contradicts, so the frames' own kinds are not voted. Two rows when
    more than half the reads that are plates say so (a tie keeps the text's kind); a text
    never issued on two rows (a green plate) keeps its own kind; None when it is no plate.
    """
    plates = [r for r in reads if r.kind is not None]
    if 2 * sum(r.double_row for r in plates) > len(plates):
        kind = double_row_kind(plate)
        if kind is not None:
            return kind
    return plate_kind(plate)


def _unit(value: float) -> float:
    return max(0.0, min(1.0, value))


class PlateVoter:
    """Turns per-frame plate reads into one sighting per vehicle, per gate. Thread-safe."""

    def __init__(
        self,
        *,
        window_seconds: float = 3.0,
        min_reads: int = 3,
        cooldown_seconds: float = 30.0,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        if min_reads < 1:
            raise ValueError(f"min_reads must be >= 1, got {min_reads}")
        if cooldown_seconds < 0:
            raise ValueError(f"cooldown_seconds must be >= 0, got {cooldown_seconds}")
        self.window = timedelta(seconds=window_seconds)
        self.min_reads = min_reads
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self._gates: defaultdict[str, _GateState] = defaultdict(_GateState)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: PlateVotingConfig) -> PlateVoter:
        return cls(
            window_seconds=config.window_seconds,
            min_reads=config.min_reads,
            cooldown_seconds=config.cooldown_seconds,
        )

    def add(self, gate_id: str, reads: list[PlateRead], at: datetime) -> Sighting | None:
        """Record one frame's reads (best first, as the recogniser ranks them).

        Returns a sighting when a vehicle's plate is decided: at ``min_reads`` reads, when
        its window closes, or when a different car replaces it (then the previous car's
        sighting is returned and the new read starts the next track).
        """
        if not gate_id:
            raise ValueError("gate_id must not be empty")
        with self._lock:
            state = self._gates[gate_id]
            self._forget_old(state, at)
            read = reads[0] if reads else None
            emitted: Sighting | None = None
            if state.track is not None and at - state.track.started > self.window:
                emitted = self._close(gate_id, state)
            if read is not None:
                recent = self._recent_match(state, read.text)
                if recent is not None:
                    # The car already let through is still in view: keep its cooldown alive
                    # and do not let its (mis)reads start another vehicle.
                    state.recent[recent] = at
                    return emitted
            track = state.track
            if track is not None and read is not None and track.reads:
                current = track.plate()
                if current is not None and _differences(current, read.text) > (
                    _SAME_VEHICLE_MAX_DIFF
                ):
                    emitted = self._close(gate_id, state)
                    track = None
            if track is None:
                track = state.track = _Track(started=at, last_seen=at)
            track.frames += 1
            if read is None:
                return emitted
            if not track.reads:
                # The window runs from the first read, not from empty frames before the car.
                track.started = at
            track.reads.append(read)
            track.last_seen = at
            if len(track.reads) >= self.min_reads and emitted is None:
                return self._close(gate_id, state)
            return emitted

    def flush(self, gate_id: str, at: datetime) -> Sighting | None:
        """Close the gate's open track now (e.g. the loop detector says the car left).

        Returns its sighting — with ``plate=None`` when frames were seen but none read a
        plate, so the controller can call a guard — or None when nothing was pending.
        """
        with self._lock:
            state = self._gates[gate_id]
            if state.track is None:
                return None
            if not state.track.reads:
                track, state.track = state.track, None
                return Sighting(
                    gate_id=gate_id, at=at, plate=None, confidence=0.0, frames=track.frames
                )
            return self._close(gate_id, state)

    def _close(self, gate_id: str, state: _GateState) -> Sighting | None:
        track, state.track = state.track, None
        if track is None or not track.reads:
            return None
        plate, confidence, province = vote_with_province(track.reads)
        if self._recent_match(state, plate) is not None:
            return None
        state.recent[plate] = track.last_seen
        colors = Counter(str(r.color) for r in track.reads)
        kind = voted_kind(plate, track.reads)
        return Sighting(
            gate_id=gate_id,
            at=track.last_seen,
            plate=plate,
            confidence=confidence,
            color=colors.most_common(1)[0][0],
            kind=None if kind is None else str(kind),
            frames=max(1, track.frames),
            reads=len(track.reads),
            province_confidence=province,
        )

    def _recent_match(self, state: _GateState, plate: str) -> str | None:
        """The recently emitted plate this text belongs to (allowing misreads), if any."""
        if plate in state.recent:
            return plate
        for recent in state.recent:
            if _differences(recent, plate) <= _SAME_VEHICLE_MAX_DIFF:
                return recent
        return None

    def _forget_old(self, state: _GateState, at: datetime) -> None:
        for plate, seen in list(state.recent.items()):
            if at - seen > self.cooldown:
                del state.recent[plate]
