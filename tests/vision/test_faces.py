"""FaceEngine on real photos: enrolment errors, same person matches, another person refused."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from errors import InvalidInputError
from tests.conftest import SHARED_DATA
from vision.face_config import FaceRecognitionConfig
from vision.face_matcher import FaceMatcher
from vision.face_types import MatchReason
from vision.faces import FaceEngine

FACES = SHARED_DATA / "faces"

OBAMA = "ag_barack_obama/examples__knn_examples__train__obama__obama.jpg"
OBAMA_2 = "ag_barack_obama/examples__knn_examples__train__obama__obama2.jpg"
BIDEN = "ag_joe_biden/examples__knn_examples__train__biden__biden.jpg"
BIDEN_2 = "ag_joe_biden/examples__knn_examples__train__biden__biden2.jpg"
ALEX = "ag_alex_lacamoire/examples__knn_examples__train__alex_lacamoire__img1.jpg"
KIT = "ag_kit_harington/examples__knn_examples__train__kit_harington__john1.jpeg"
ROSE = "ag_rose_leslie/examples__knn_examples__train__rose_leslie__img1.jpg"


def load(relative: str) -> np.ndarray:
    path: Path = FACES / relative
    if not path.is_file():
        pytest.skip(f"real face photos not found at {FACES} (see shared/data/README.md)")
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine(FaceRecognitionConfig())


def test_no_face_in_plain_image(engine: FaceEngine) -> None:
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    image = cv2.merge([gradient, gradient[::-1], np.full_like(gradient, 90)])
    with pytest.raises(InvalidInputError, match="no face"):
        engine.embed_single_face(image)


def test_several_faces_refused(engine: FaceEngine) -> None:
    left, right = load(OBAMA), load(BIDEN)
    height = min(left.shape[0], right.shape[0])
    side_by_side = np.hstack([
        cv2.resize(left, (int(left.shape[1] * height / left.shape[0]), height)),
        cv2.resize(right, (int(right.shape[1] * height / right.shape[0]), height)),
    ])
    with pytest.raises(InvalidInputError, match="2 faces"):
        engine.embed_single_face(side_by_side)


def test_tiny_face_refused() -> None:
    strict = FaceEngine(FaceRecognitionConfig(enrol_min_face_px=400))
    with pytest.raises(InvalidInputError, match="too small"):
        strict.embed_single_face(load(OBAMA))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((100, 100), np.uint8), np.zeros((100, 100, 3), np.float32), np.zeros((8, 8, 3))],
)
def test_malformed_image_refused(engine: FaceEngine, bad: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        engine.embed_single_face(bad)


def test_embedding_is_128_float32(engine: FaceEngine) -> None:
    detection = engine.embed_single_face(load(OBAMA))
    assert detection.embedding.shape == (128,) and detection.embedding.dtype == np.float32
    assert detection.size_px >= 80
    assert detection.landmarks is not None and set(detection.landmarks) == {
        "left_eye", "right_eye", "nose_tip",
    }


def test_same_person_matches_other_person_refused(engine: FaceEngine) -> None:
    config = engine.config
    matcher = FaceMatcher(config.threshold, config.margin)
    for identity_id, photo in enumerate((OBAMA, BIDEN, ALEX), start=1):
        matcher.add(identity_id, engine.embed_single_face(load(photo)).embedding)

    # Probes use gate settings (no mirroring by default), like frames at the gate.
    obama = engine.detect(load(OBAMA_2), max_faces=1)[0]
    match = matcher.match(obama.embedding)
    assert match.identity_id == 1 and match.accepted, match

    biden = engine.detect(load(BIDEN_2), max_faces=1)[0]
    assert matcher.match(biden.embedding).identity_id == 2

    for stranger in (KIT, ROSE):
        detection = engine.detect(load(stranger), max_faces=1)[0]
        refused = matcher.match(detection.embedding)
        assert not refused.accepted, (stranger, refused)
        assert refused.reason in (MatchReason.ABOVE_THRESHOLD, MatchReason.AMBIGUOUS)


def test_detect_and_locate_agree(engine: FaceEngine) -> None:
    image = load(OBAMA)
    boxes = engine.locate(image)
    detections = engine.detect(image)
    assert len(boxes) == len(detections) == 1
    assert boxes[0] == detections[0].box
    again = engine.embed(image, boxes[0])
    np.testing.assert_allclose(again.embedding, detections[0].embedding, atol=1e-5)
