"""The dlib face ResNet on onnxruntime gives dlib's own embeddings, from the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from errors import RecognitionError
from tests.vision.test_faces import BIDEN, OBAMA, load
from vision.face_config import FaceRecognitionConfig
from vision.face_embedder import OnnxFaceEmbedder, dlib_model_path, shared_embedder
from vision.faces import FaceEngine


@pytest.fixture(scope="module")
def dlib_encoder() -> object:
    import face_recognition.api as fr_api

    return fr_api.face_encoder


def synthetic_chip(seed: int) -> np.ndarray:
    """A smooth, face-sized pattern: the network must agree on any input, not only faces."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:150, 0:150].astype(np.float32)
    channels = [
        127 + 120 * np.sin(xx / rng.uniform(5, 30) + rng.uniform(0, 6))
        * np.cos(yy / rng.uniform(5, 30))
        for _ in range(3)
    ]
    return np.clip(np.stack(channels, axis=2), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_dlib_on_any_chip(dlib_encoder: object, seed: int) -> None:
    chip = synthetic_chip(seed)
    expected = np.array(dlib_encoder.compute_face_descriptor(chip))  # type: ignore[attr-defined]
    got = shared_embedder().embed_chips(chip)[0]
    assert got.shape == (128,)
    assert np.abs(got - expected).max() < 1e-4


def test_batch_equals_single_chips() -> None:
    chips = np.stack([synthetic_chip(3), synthetic_chip(4)])
    batch = shared_embedder().embed_chips(chips)
    singles = np.concatenate([shared_embedder().embed_chips(c) for c in chips])
    assert np.abs(batch - singles).max() < 1e-5


def test_engines_give_the_same_embedding_on_a_real_photo() -> None:
    photo = load(OBAMA)
    onnx = FaceEngine(FaceRecognitionConfig(embedder="onnxruntime")).embed_single_face(photo)
    dlib = FaceEngine(FaceRecognitionConfig(embedder="dlib")).embed_single_face(photo)
    assert np.abs(onnx.embedding - dlib.embedding).max() < 1e-4
    # ...and a different person stays far away (the network is not returning a constant).
    other = FaceEngine(FaceRecognitionConfig()).embed_single_face(load(BIDEN))
    assert np.linalg.norm(other.embedding - onnx.embedding) > 0.6


def test_jittered_enrolment_stays_close_to_the_plain_embedding() -> None:
    photo = load(OBAMA)
    plain = FaceEngine(FaceRecognitionConfig(enrol_jitters=1)).embed_single_face(photo)
    jittered = FaceEngine(FaceRecognitionConfig(enrol_jitters=8)).embed_single_face(photo)
    distance = float(np.linalg.norm(plain.embedding - jittered.embedding))
    assert 0.0 < distance < 0.15


def test_wrong_chip_size_is_refused() -> None:
    with pytest.raises(RecognitionError, match="150x150"):
        shared_embedder().embed_chips(np.zeros((100, 100, 3), np.uint8))


def test_a_file_that_is_not_the_network_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(RecognitionError, match="not a dlib face-recognition network"):
        OnnxFaceEmbedder(junk)
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(dlib_model_path().read_bytes()[: 3_000_000])
    with pytest.raises(RecognitionError, match="unexpected network layout"):
        OnnxFaceEmbedder(truncated)
    with pytest.raises(RecognitionError, match="cannot read"):
        OnnxFaceEmbedder(tmp_path / "missing.dat")
