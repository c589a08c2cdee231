"""FacePipeline end to end on the real clip: the enrolled performer opens, his flat replay and
a stranger do not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.liveness import make_flat_replay, read_video
from errors import ConfigError
from tests.conftest import SHARED_DATA
from vision.face_config import FaceRecognitionConfig, LivenessConfig
from vision.face_matcher import FaceMatcher
from vision.face_pipeline import FacePipeline, sample_indices
from vision.face_types import GateReason
from vision.liveness import LivenessChecker

VIDEO_DIR = SHARED_DATA / "face_video"
OBAMA = SHARED_DATA / "faces/ag_barack_obama/examples__knn_examples__train__obama__obama.jpg"
LIN_ID, OBAMA_ID = 11, 22
WINDOW_START = 147  # Lin-Manuel Miranda, medium shot, turning his head


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    video = VIDEO_DIR / "short_hamilton_clip.mp4"
    if not video.is_file() or not OBAMA.is_file():
        pytest.skip(f"face video or photos not found under {SHARED_DATA} (see README.md)")
    return read_video(video, stop=WINDOW_START + 30)


@pytest.fixture(scope="module")
def pipeline(clip: list[np.ndarray]) -> FacePipeline:
    pipeline = FacePipeline.from_config(FaceRecognitionConfig())
    lin = cv2.imread(str(VIDEO_DIR / "lin-manuel-miranda.png"))
    pipeline.matcher.add(LIN_ID, pipeline.engine.embed_single_face(lin).embedding)
    obama = cv2.imread(str(OBAMA))
    pipeline.matcher.add(OBAMA_ID, pipeline.engine.embed_single_face(obama).embedding)
    return pipeline


def test_enrolled_live_face_opens(pipeline: FacePipeline, clip: list[np.ndarray]) -> None:
    result = pipeline.process(clip[WINDOW_START : WINDOW_START + 30])
    assert result.open and result.identity_id == LIN_ID, result
    assert result.liveness is not None and result.liveness.live is True
    assert result.distance < pipeline.config.threshold
    assert result.frames_matched >= pipeline.config.frames_required


def test_flat_replay_of_enrolled_face_does_not_open(
    pipeline: FacePipeline, clip: list[np.ndarray]
) -> None:
    window = clip[WINDOW_START : WINDOW_START + 30]
    box = pipeline.engine.locate(window[0])[0]
    flat = make_flat_replay(window[0], box, clip[40], np.random.default_rng(5), sway_deg=15)
    result = pipeline.process(flat.frames)
    assert not result.open and result.identity_id is None, result
    if result.liveness is not None:  # recognised: then liveness must be what refused it
        assert result.reason in (GateReason.SPOOF, GateReason.LIVENESS_CHALLENGE)
        assert result.liveness.live is not True


def test_stranger_not_recognised(pipeline: FacePipeline, clip: list[np.ndarray]) -> None:
    config = pipeline.config
    only_obama = FaceMatcher(config.threshold, config.margin)
    obama = cv2.imread(str(OBAMA))
    only_obama.add(OBAMA_ID, pipeline.engine.embed_single_face(obama).embedding)
    strangers_gate = FacePipeline(pipeline.engine, only_obama, pipeline.liveness, config)
    result = strangers_gate.process(clip[WINDOW_START : WINDOW_START + 30])
    assert not result.open and result.reason is GateReason.NOT_RECOGNISED, result
    assert result.liveness is None  # liveness is not even run for nobody


def test_no_face(pipeline: FacePipeline) -> None:
    blank = [np.full((240, 320, 3), 120, np.uint8)] * 10
    assert pipeline.process(blank).reason is GateReason.NO_FACE
    assert pipeline.process([]).reason is GateReason.NO_FACE


@pytest.mark.parametrize(
    ("n", "count", "expected"),
    [(30, 5, [0, 7, 14, 22, 29]), (3, 5, [0, 1, 2]), (1, 5, [0])],
)
def test_sample_indices(n: int, count: int, expected: list[int]) -> None:
    assert sample_indices(n, count) == expected


def test_pipeline_refuses_to_run_without_liveness(pipeline: FacePipeline) -> None:
    off = LivenessChecker(LivenessConfig(mode="off"))
    with pytest.raises(ConfigError, match="liveness"):
        FacePipeline(pipeline.engine, pipeline.matcher, off, pipeline.config)
    FacePipeline(pipeline.engine, pipeline.matcher, off, allow_without_liveness=True)
