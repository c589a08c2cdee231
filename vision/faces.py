"""Face detection and 128-d embeddings: dlib's HOG detector and 5-point landmarks, and dlib's
face ResNet (on onnxruntime by default), with the model files ``face_recognition_models`` ships.

Only this module touches dlib for recognition: it takes BGR uint8 arrays and returns
``FaceDetection`` values. The 5-point landmark model used for alignment is CC0; the 68-point
model (non-commercial training data) is never loaded here.

face_recognition itself is not imported: its module keeps one detector and one predictor for
the whole process (and loads the 68-point model, the CNN detector and dlib's own ResNet as it is
imported, ~106 MB measured). Each ``FaceEngine`` builds its own instead, so the pedestrian gate
and enrolment each have an engine and never wait for each other.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from errors import InvalidInputError, RecognitionError
from vision.face_config import FaceRecognitionConfig
from vision.face_embedder import CHIP_PADDING, CHIP_SIZE, shared_embedder
from vision.face_types import FaceDetection
from vision.types import BoundingBox

logger = logging.getLogger(__name__)

# The most pixels an upsampled enrolment photo may have when it is searched again for a face too
# small to detect (a 4 MP photo at 2x: the 16 MP a phone photo costs at 1x).
_SMALL_FACE_SEARCH_PIXELS = 16_000_000


def _load_dlib() -> tuple[Any, Any]:
    """dlib and face_recognition_models (for the model files' paths), or RecognitionError."""
    try:
        import dlib
        import face_recognition_models
    except ImportError as err:  # pragma: no cover - depends on the install
        # face_recognition_models needs pkg_resources (setuptools<82) to find its files.
        raise RecognitionError(
            "dlib face models are not usable: install dlib-bin, face_recognition_models and "
            "setuptools<82 (see STACK.md)"
        ) from err
    return dlib, face_recognition_models


@cache
def _frontal_face_detector_bytes() -> bytes:
    """dlib's HOG face detector, serialised once per process: dlib builds it from its source
    text in ~0.37 s, a copy loads from these bytes in ~3 ms (measured). Only bytes this
    process made are ever unpickled."""
    dlib, _ = _load_dlib()
    return pickle.dumps(dlib.get_frontal_face_detector())


def check_bgr_image(image: np.ndarray, *, name: str = "image") -> None:
    """Raise ``InvalidInputError`` unless ``image`` is an HxWx3 uint8 array."""
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(f"{name} must be HxWx3 (BGR), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidInputError(f"{name} must be uint8, got {image.dtype}")
    if image.shape[0] < 16 or image.shape[1] < 16:
        raise InvalidInputError(f"{name} is too small ({image.shape[1]}x{image.shape[0]} px)")


class FaceEngine:
    """Detects faces (HOG) and computes embeddings. The first engine of a process takes ~1 s
    to build (the detector, the ONNX embedder), each further one ~2 ms, plus ~70 ms for its
    landmark model at its first embedding.

    Thread-safety: dlib's detector and shape predictor are not documented as safe for
    concurrent use of one instance, so one engine serves one thread at a time (its users hold
    a lock). Each engine owns its detector and 5-point predictor (15 MB once it has embedded a
    0.4 MP photo, measured by ``bench.face_enrol_contention``), so two engines run in two
    threads at once. The ONNX embedder is shared by every engine:
    onnxruntime's ``InferenceSession.run`` is safe to call from several threads, and a second
    session would cost ~48 MB.
    """

    def __init__(self, config: FaceRecognitionConfig | None = None) -> None:
        self.config = config or FaceRecognitionConfig()
        self._dlib, self._models = _load_dlib()
        self._detector = pickle.loads(_frontal_face_detector_bytes())  # a copy of its own
        self._predictor: Any = None  # see _shape
        # The same network either way; onnxruntime runs it ~20x faster than dlib-bin.
        self._embedder = shared_embedder() if self.config.embedder == "onnxruntime" else None
        self._encoder = (
            self._dlib.face_recognition_model_v1(self._models.face_recognition_model_location())
            if self._embedder is None else None
        )

    # -- low level ---------------------------------------------------------------------------
    @staticmethod
    def _rgb(image: np.ndarray) -> np.ndarray:
        check_bgr_image(image)
        # dlib wants contiguous RGB; a [..., ::-1] view is not contiguous.
        return np.ascontiguousarray(image[:, :, ::-1])

    def _rects(self, rgb: np.ndarray, upsample: int) -> list[Any]:
        try:
            return list(self._detector(rgb, upsample))
        except RuntimeError as err:
            raise RecognitionError(f"dlib face detection failed: {err}") from err

    @staticmethod
    def _box(rect: Any, width: int, height: int) -> BoundingBox | None:
        x1, y1 = max(rect.left(), 0), max(rect.top(), 0)
        x2, y2 = min(rect.right(), width), min(rect.bottom(), height)
        if x2 <= x1 or y2 <= y1:
            return None
        return BoundingBox(float(x1), float(y1), float(x2), float(y2))

    def _shape(self, rgb: np.ndarray, rect: Any) -> Any:
        """The 5-point landmarks of the face in ``rect``."""
        if self._predictor is None:  # the engine's users take turns: no race here
            self._predictor = self._dlib.shape_predictor(
                self._models.pose_predictor_five_point_model_location()
            )
        return self._predictor(rgb, rect)

    def _descriptor(self, rgb: np.ndarray, rect: Any, jitters: int) -> tuple[np.ndarray, Any]:
        try:
            shape = self._shape(rgb, rect)
            if self._embedder is None:
                assert self._encoder is not None  # built in __init__ when there is no embedder
                descriptor = self._encoder.compute_face_descriptor(rgb, shape, jitters)
                return np.asarray(descriptor, dtype=np.float32), shape
            # The chip dlib's compute_face_descriptor aligns internally (150 px, 0.25 padding),
            # and for jitters the same random re-crops it averages.
            dlib = self._dlib
            chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            chips = np.stack(dlib.jitter_image(chip, jitters)) if jitters > 1 else chip[None]
        except RuntimeError as err:
            raise RecognitionError(f"dlib face embedding failed: {err}") from err
        return self._embedder.embed_chips(chips).mean(axis=0).astype(np.float32), shape

    def _embed(
        self, rgb: np.ndarray, rect: Any, jitters: int, mirror: bool
    ) -> tuple[np.ndarray, Any]:
        """The embedding, averaged with the mirrored face's when ``mirror`` is set.

        Averaging with the mirror image cancels part of the pose and lighting asymmetry:
        measured in bench.faces it cut refused residents by several points at the same
        stranger rate, for one more network pass (~60 ms).
        """
        embedding, shape = self._descriptor(rgb, rect, jitters)
        if not mirror:
            return embedding, shape
        width = rgb.shape[1]
        flipped = np.ascontiguousarray(rgb[:, ::-1])
        flipped_rect = self._dlib.rectangle(
            width - 1 - rect.right(), rect.top(), width - 1 - rect.left(), rect.bottom()
        )
        mirrored, _ = self._descriptor(flipped, flipped_rect, jitters)
        return (embedding + mirrored) / 2.0, shape

    @staticmethod
    def _landmarks(shape: Any) -> dict[str, tuple[tuple[float, float], ...]]:
        # dlib's 5-point model: 0-1 right eye corners, 2-3 left eye corners, 4 nose base.
        points = [(float(p.x), float(p.y)) for p in shape.parts()]
        return {
            "right_eye": (points[0], points[1]),
            "left_eye": (points[2], points[3]),
            "nose_tip": (points[4],),
        }

    # -- public ------------------------------------------------------------------------------
    def release_buffers(self) -> None:
        """Free what dlib's detector keeps of the last image it scanned: its HOG pyramid, ~74 MB
        after a 12 MP photo (bench.face_enrol_contention), held until the next image. A fresh
        copy of the detector (~3 ms) holds none."""
        self._detector = pickle.loads(_frontal_face_detector_bytes())

    def locate(self, image: np.ndarray, *, upsample: int | None = None) -> list[BoundingBox]:
        """Face boxes only (no embedding), largest first."""
        rgb = self._rgb(image)
        up = self.config.upsample if upsample is None else upsample
        height, width = rgb.shape[:2]
        boxes = [b for r in self._rects(rgb, up) if (b := self._box(r, width, height))]
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    def locate_too_small(self, image: np.ndarray) -> list[BoundingBox]:
        """Faces the configured detector scale misses (under ~80 px at ``upsample: 0``), found
        one upsample step higher; none when the upsampled copy would pass 16 MP. For refusal
        paths only: telling "too small" from "no face" costs about four detections."""
        upsample = self._small_face_upsample(image)
        return [] if upsample is None else self.locate(image, upsample=upsample)

    def detect(
        self,
        image: np.ndarray,
        *,
        min_face_px: int | None = None,
        max_faces: int | None = None,
        jitters: int = 1,
    ) -> list[FaceDetection]:
        """Every face at least ``min_face_px`` (default: the gate minimum), largest first,
        each with its embedding and 5-point landmarks. ``max_faces`` embeds only the largest."""
        rgb = self._rgb(image)
        height, width = rgb.shape[:2]
        minimum = self.config.min_face_px if min_face_px is None else min_face_px
        found: list[tuple[BoundingBox, Any]] = []
        for rect in self._rects(rgb, self.config.upsample):
            box = self._box(rect, width, height)
            if box is not None and min(box.width, box.height) >= minimum:
                found.append((box, rect))
        found.sort(key=lambda item: item[0].area, reverse=True)
        if max_faces is not None:
            found = found[:max_faces]
        detections = []
        for box, rect in found:
            embedding, shape = self._embed(rgb, rect, jitters, self.config.mirror_probes)
            detections.append(FaceDetection(box, embedding, self._landmarks(shape)))
        return detections

    def embed(self, image: np.ndarray, box: BoundingBox) -> FaceDetection:
        """Embedding of the face in ``box`` (from ``locate``), with gate settings."""
        rgb = self._rgb(image)
        rect = self._dlib.rectangle(int(box.x1), int(box.y1), int(box.x2), int(box.y2))
        embedding, shape = self._embed(rgb, rect, 1, self.config.mirror_probes)
        return FaceDetection(box, embedding, self._landmarks(shape))

    def _faces_below_detection(self, rgb: np.ndarray) -> list[Any]:
        """Faces the detector's configured scale cannot see, looked for once more upsampled.

        At ``upsample: 0`` HOG finds no face under ~80 px, the enrolment minimum, so a photo
        with a small face would be told it has none ("use a well-lit, frontal photo") when
        the fix is to move closer. Only on this refusal path, and only on photos whose
        upsampled copy is no larger than a phone photo read at scale 1: the answer is a
        better refusal, not a bigger one.
        """
        upsample = self._small_face_upsample(rgb)
        return [] if upsample is None else self._rects(rgb, upsample)

    def _small_face_upsample(self, image: np.ndarray) -> int | None:
        """One upsample step above the configured one, or None when ``image`` upsampled so
        would pass ``_SMALL_FACE_SEARCH_PIXELS``."""
        upsample = self.config.upsample + 1
        if image.shape[0] * image.shape[1] * 4**upsample > _SMALL_FACE_SEARCH_PIXELS:
            return None
        return upsample

    def embed_single_face(self, image: np.ndarray) -> FaceDetection:
        """Enrolment: exactly one face of at least ``enrol_min_face_px``, or InvalidInputError.

        Any other face in the photo, even a small one in the background, refuses the photo:
        enrolling the wrong person is worse than asking for another photo.
        """
        rgb = self._rgb(image)
        height, width = rgb.shape[:2]
        rects = self._rects(rgb, self.config.upsample)
        if not rects:
            rects = self._faces_below_detection(rgb)
        if not rects:
            raise InvalidInputError(
                "no face found in the photo: use a well-lit, frontal photo of one person"
            )
        if len(rects) > 1:
            raise InvalidInputError(
                f"{len(rects)} faces found in the photo: it must show only the person enrolled"
            )
        box = self._box(rects[0], width, height)
        if box is None:
            raise InvalidInputError("the face lies outside the photo")
        size = min(box.width, box.height)
        if size < self.config.enrol_min_face_px:
            raise InvalidInputError(
                f"the face is too small ({size:.0f} px, need at least "
                f"{self.config.enrol_min_face_px} px): move closer or use a larger photo"
            )
        embedding, shape = self._embed(
            rgb, rects[0], self.config.enrol_jitters, self.config.mirror_enrolment
        )
        return FaceDetection(box, embedding, self._landmarks(shape))

    def embed_enrolment_photos(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Several enrolment photos of one person → an ``(n, 128)`` float32 template matrix."""
        if not images:
            raise InvalidInputError("at least one enrolment photo is needed")
        return np.stack([self.embed_single_face(image).embedding for image in images])


_default_engine: FaceEngine | None = None


def embed_single_face(image: np.ndarray, config: FaceRecognitionConfig | None = None) -> np.ndarray:
    """Enrolment helper: the 128-d float32 embedding of the only face in ``image``.

    Raises ``InvalidInputError`` for no face, several faces or a face that is too small.
    """
    global _default_engine
    if config is not None:
        return FaceEngine(config).embed_single_face(image).embedding
    if _default_engine is None:
        _default_engine = FaceEngine()
    return _default_engine.embed_single_face(image).embedding
