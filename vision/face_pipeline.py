"""One window of pedestrian-gate frames → one ``FaceGateResult``.

Recognition runs on ``frames_window`` frames spread evenly over the window (embedding every
frame would cost ~60 ms each); an identity must be accepted in ``frames_required`` of them with
no other identity accepted; only then is liveness checked on all frames, tracking the face
from the first sampled frame that showed that person. The gate opens only when both hold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from errors import ConfigError
from vision.face_config import FaceRecognitionConfig
from vision.face_matcher import FaceMatcher, FaceVoter
from vision.face_types import FaceGateResult, FaceMatch, GateReason, LivenessVerdict
from vision.faces import FaceEngine
from vision.liveness import LivenessChecker
from vision.types import BoundingBox

logger = logging.getLogger(__name__)

# A second face at least this fraction of the largest face's area makes a frame ambiguous:
# two people at the gate, and we cannot tell who is walking through.
SECOND_FACE_AREA_RATIO = 0.5


def sample_indices(n_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``n_frames`` (all of them if fewer)."""
    if n_frames <= count:
        return list(range(n_frames))
    return sorted({round(x) for x in np.linspace(0, n_frames - 1, count)})


class FacePipeline:
    """Detect → embed → 1:N match → vote over frames → liveness, for one window of frames."""

    def __init__(
        self,
        engine: FaceEngine,
        matcher: FaceMatcher,
        liveness: LivenessChecker,
        config: FaceRecognitionConfig | None = None,
        *,
        allow_without_liveness: bool = False,
    ) -> None:
        self.config = config or engine.config
        if liveness.config.mode == "off" and not allow_without_liveness:
            # A gate that opens on a face alone opens for a printed photo.
            raise ConfigError(
                "face entry needs liveness: liveness.mode 'off' is only for benchmarks"
            )
        self.engine = engine
        self.matcher = matcher
        self.liveness = liveness

    @classmethod
    def from_config(cls, config: FaceRecognitionConfig) -> FacePipeline:
        """Build an engine, an empty matcher and a liveness checker from one config."""
        return cls(
            FaceEngine(config),
            FaceMatcher.from_config(config),
            LivenessChecker(config.liveness),
            config,
        )

    def process(
        self,
        frames: Sequence[np.ndarray],
        depth: Sequence[np.ndarray | None] | None = None,
    ) -> FaceGateResult:
        """Judge one ~1 s window of BGR frames (and optional aligned depth maps)."""
        config = self.config
        if not frames:
            return FaceGateResult(None, float("inf"), None, GateReason.NO_FACE)
        sampled = sample_indices(len(frames), config.frames_window)
        voter = FaceVoter(min(config.frames_required, len(sampled)), len(sampled))
        boxes: list[BoundingBox | None] = [None] * len(frames)
        matches: dict[int, FaceMatch] = {}
        saw_face = saw_small = saw_several = False
        for index in sampled:
            found = self.engine.locate(frames[index])
            saw_face |= bool(found)
            usable = [b for b in found if min(b.width, b.height) >= config.min_face_px]
            saw_small |= bool(found) and not usable
            if len(usable) > 1 and usable[1].area >= SECOND_FACE_AREA_RATIO * usable[0].area:
                saw_several = True
                voter.update(None)
                continue
            if not usable:
                voter.update(None)
                continue
            boxes[index] = usable[0]
            match = self.matcher.match(self.engine.embed(frames[index], usable[0]).embedding)
            matches[index] = match
            voter.update(match)
        vote = voter.result()
        frames_matched = vote.votes
        if not saw_face:
            # The detector's scale sees no face under ~min_face_px, so a person standing too
            # far back looks like nobody: one frame searched finer tells them to step closer
            # instead of to face the camera. Only on this refusal path, one frame.
            middle = frames[sampled[len(sampled) // 2]]
            saw_small = any(
                min(b.width, b.height) < config.min_face_px
                for b in self.engine.locate_too_small(middle)
            )
        if vote.identity_id is None:
            reason = self._refusal_reason(
                matches, vote.conflict, vote.votes, saw_face, saw_small, saw_several
            )
            best = min((m.distance for m in matches.values()), default=float("inf"))
            return FaceGateResult(
                None, best, None, reason, frames_matched=frames_matched, frames_seen=len(sampled)
            )
        identity = vote.identity_id
        own = {i: m for i, m in matches.items() if m.identity_id == identity}
        first = min(own)
        # Liveness tracks the person from the first sampled frame that showed them; boxes of
        # other people are hidden so the checker cannot seed on them.
        live_boxes = [boxes[i] if i in own else None for i in range(len(frames))]
        verdict: LivenessVerdict = self.liveness.check(
            list(frames[first:]), live_boxes[first:], None if depth is None else depth[first:]
        )
        distance = float(np.median([m.distance for m in own.values() if m.accepted]))
        if verdict.live is True:
            logger.info("face gate: identity %s open (d=%.3f)", identity, distance)
            return FaceGateResult(
                identity,
                distance,
                verdict,
                GateReason.OPEN,
                frames_matched=frames_matched,
                frames_seen=len(sampled),
            )
        reason = GateReason.LIVENESS_CHALLENGE if verdict.live is None else GateReason.SPOOF
        logger.info(
            "face gate: identity %s recognised but liveness %s (%s, score %.4f)",
            identity,
            verdict.live,
            verdict.reason,
            verdict.score,
        )
        return FaceGateResult(
            None,
            distance,
            verdict,
            reason,
            frames_matched=frames_matched,
            frames_seen=len(sampled),
        )

    @staticmethod
    def _refusal_reason(
        matches: dict[int, FaceMatch],
        conflict: bool,
        votes: int,
        saw_face: bool,
        saw_small: bool,
        saw_several: bool,
    ) -> GateReason:
        if conflict:
            return GateReason.CONFLICT
        if votes > 0:
            return GateReason.NOT_STABLE
        if matches:
            return GateReason.NOT_RECOGNISED
        if saw_several:
            return GateReason.SEVERAL_FACES
        if saw_small:
            return GateReason.FACE_TOO_SMALL
        return GateReason.NO_FACE if not saw_face else GateReason.NOT_RECOGNISED
