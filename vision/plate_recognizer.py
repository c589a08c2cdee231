"""Read Chinese licence plates from camera frames.

Pipeline per frame (or per gate region of interest):

1. the localiser proposes plate-shaped regions (colour + edge morphology), each rectified by
   perspective into an upright crop at least 4× as wide as high;
2. PP-OCRv4 rec reads the crops, best proposal first, with decoding restricted to the plate
   alphabet; a read counts when it fits GA 36-2018 and is confident enough;
3. when no proposal gives a valid read, white double-row plates (police, 警; no white
   colour mask in step 1) are looked for, then steps 1–2 run again on a CLAHE
   contrast-normalised copy (night, IR, backlight);
4. only then the PP-OCRv4 text detector runs on the whole frame (≤ 960 px) and its boxes
   are read the same way, lane-best first (a narrower line centred on a wider one below it
   is first tried as the two rows of a double-row plate);
5. valid reads are ranked by where the car at the barrier stands (lane anchor, plate size),
   never by OCR score, since a parked car's plate can read more cleanly than the one at the
   barrier.

A yellow proposal of a double-row plate's shape whose ink lies in two rows (a truck's or a
trailer's rear plate) is cut between its rows and the rows set side by side as one line, read
as above into one 7-character plate with per-character confidences, so voting and matching
treat it like any other; when that gives no double-row plate, the proposal is read as one
line like the others.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from errors import InvalidInputError
from vision.images import to_grey
from vision.plate_config import PlateRecognitionConfig
from vision.plate_engines import PlateEngine, TextLine, create_engine
from vision.plate_geometry import (
    order_corners,
    quad_box,
    quad_size,
    rectify,
    stroke_shear,
    unshear,
)
from vision.plate_grammar import (
    KIND_COLORS,
    PROVINCES,
    double_row_kind,
    expected_color,
    normalize_plate,
)
from vision.plate_localiser import (
    PlateCandidate,
    crop_color,
    find_plate_candidates,
    find_white_double_rows,
)
from vision.plate_rows import join_rows, split_rows, stacked_quad, stacked_rows
from vision.types import BoundingBox, PlateColor, PlateRead

logger = logging.getLogger(__name__)

# Text-detector boxes outside this aspect range are not plates (one character, a caption).
_DET_MIN_ASPECT = 1.5
_DET_MAX_ASPECT = 9.0
_DETECTED_BATCH = 2
# Localiser score above which a proposal is worth a recogniser call after a confident read.
_STRONG_CANDIDATE = 0.7
# Characters leaning less than this (x shift per unit height) read fine as they are.
_MIN_SHEAR = 0.2
# A failed read this confident on average held text the model half-read: worth a retry.
# Crops of grilles, lamps and shadows read at a few percent and are not tried again.
_HALF_READ = 0.3
_RETRY_MIN_CHAR = 0.5
# A province read less surely than this gets a second look from a crop reaching further
# left (a fraction of the plate's width); another province read there counts only when it is
# this sure, and by this much surer than the first.
_PROVINCE_SURE = 0.9
_PROVINCE_REACH = 0.1
_PROVINCE_AGAIN_MIN = 0.5
_PROVINCE_AGAIN_MARGIN = 0.1
# Crops up to this wide per unit of height may be double-row plates (2:1; single-row plates
# are 3.1–3.4:1, and never get split).
_DOUBLE_ROW_MAX_ASPECT = 2.6


class PlateRecognizer(Protocol):
    """Reads plates in a BGR frame; returns valid plates only, best-first by lane ranking."""

    def read(self, image: np.ndarray, region: BoundingBox | None = None) -> list[PlateRead]: ...


@dataclass(frozen=True, slots=True)
class _Read:
    read: PlateRead
    quad: np.ndarray


def _check_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"expected a BGR image array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(
            f"expected a BGR uint8 HxWx3 image, got {image.dtype} with shape {image.shape}"
        )
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise InvalidInputError(f"image of {image.shape[1]}x{image.shape[0]} px is too small")
    return image


# Longer side over shorter side beyond which a frame (or the region read) is not a camera
# view: scaled to the working size its short side would vanish.
_MAX_FRAME_ASPECT = 40.0


def _check_proportions(image: np.ndarray) -> None:
    h, w = image.shape[:2]
    if max(h, w) > _MAX_FRAME_ASPECT * min(h, w):
        raise InvalidInputError(
            f"a {w}x{h} px image is not a camera frame (sides more than "
            f"{_MAX_FRAME_ASPECT:.0f}:1)"
        )


def _clip_region(region: BoundingBox, width: int, height: int) -> tuple[int, int, int, int]:
    x1 = max(0, math.floor(region.x1))
    y1 = max(0, math.floor(region.y1))
    x2 = min(width, math.ceil(region.x2))
    y2 = min(height, math.ceil(region.y2))
    if x2 - x1 < 8 or y2 - y1 < 8:
        raise InvalidInputError(f"region {region} lies outside the {width}x{height} image")
    return x1, y1, x2, y2


def normalise_contrast(image: np.ndarray) -> np.ndarray:
    """CLAHE on the lightness channel: lifts dim, IR-washed and backlit plates."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    lab[..., 0] = clahe.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


# Immerkaer's operator: the difference of two Laplacians, blind to flat areas and ramps.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
# The estimate looks at no more than this many pixels along the longest side.
_NOISE_SAMPLE_SIDE = 640
# Gaussian sigma (px) per unit of estimated noise sigma, and its bounds: at the noise of a
# cheap camera at high gain (sd 12 per channel, ~8 in grey) this gives ~0.7 px, enough to
# flatten speckle but well under a stroke's width.
_SMOOTHING_PER_NOISE = 0.09
_MIN_SMOOTHING = 0.5
_MAX_SMOOTHING = 1.2


def _strided_sample(grey: np.ndarray, side: int) -> np.ndarray:
    """Every k-th pixel so that no side is much over ``side``: strided, not resized, so that
    interpolation does not average away what is measured. Each axis has its own stride, so
    a long thin frame keeps all of its few rows."""
    step_y = max(1, grey.shape[0] // side)
    step_x = max(1, grey.shape[1] // side)
    return np.ascontiguousarray(grey[::step_y, ::step_x])


def _histogram_quantile(values: np.ndarray, fraction: float) -> int:
    """The uint8 level below which ``fraction`` of ``values`` lie, from a 256-bin histogram."""
    hist = np.cumsum(cv2.calcHist([values], [0], None, [256], [0, 256]).ravel())
    return int(np.searchsorted(hist, fraction * values.size))


def noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of the frame's white noise, in grey levels.

    The median absolute response of a Laplacian difference, scaled to a Gaussian's sigma
    (the median ignores the edges a scene is full of). Large frames are read with a
    stride rather than resized: interpolation would average the noise away before it is
    measured. ~1.5 ms on a 1160x720 frame.
    """
    sample = _strided_sample(to_grey(image), _NOISE_SAMPLE_SIDE)
    # The response of an integer kernel on uint8 is an integer: its median comes from a
    # 256-bin histogram (|response| saturates at 255, far above any median that matters).
    response = cv2.convertScaleAbs(cv2.filter2D(sample, cv2.CV_16S, _NOISE_KERNEL)[1:-1, 1:-1])
    median = float(_histogram_quantile(response, 0.5))
    # 0.6745: median |x| of a unit Gaussian; 6: the kernel's gain on white noise (sqrt 36).
    return median / 0.6745 / 6.0


# Grey level an underexposed frame's white point is brought to, and the largest gain used
# (past ~4x the 8-bit quantisation of a dark frame shows as banding, not detail).
_EXPOSURE_TARGET = 240.0
_MAX_GAIN = 4.0
_WHITE_SAMPLE_SIDE = 320
# Unsharp mask for soft frames: about the scale of a slight defocus, and a gain of 1.
_UNSHARP_SIGMA = 1.5
_UNSHARP_AMOUNT = 1.0
_BLUR_ROW_STEP = 8


def white_point(image: np.ndarray) -> int:
    """Grey level below which 99.9% of the frame lies (from a strided sample)."""
    return _histogram_quantile(_strided_sample(to_grey(image), _WHITE_SAMPLE_SIDE), 0.999)


def blur_metric(image: np.ndarray) -> float:
    """How soft the frame is, 0 (crisp) to 1 (flat): Crete-Roffet's re-blur measure.

    The frame is blurred again with a 9 px box along rows; a sharp frame loses much of its
    pixel-to-pixel variation to that, an already soft one little. The share it keeps is the
    measure, which depends on the optics rather than on how busy the scene is. Only every
    8th row is used (rows are blurred independently).
    """
    rows = np.ascontiguousarray(to_grey(image)[::_BLUR_ROW_STEP], dtype=np.float32)
    variation = np.abs(np.diff(rows, axis=1))
    reblurred = np.abs(np.diff(cv2.blur(rows, (9, 1)), axis=1))
    total = float(variation.sum())
    if total <= 0.0:
        return 1.0
    lost = float(np.maximum(variation - reblurred, 0.0).sum())
    return (total - lost) / total


def lane_score(box: BoundingBox, width: int, height: int, anchor: tuple[float, float]) -> float:
    """Larger and nearer the lane anchor (bottom-centre by default) ranks higher."""
    cx = (box.x1 + box.x2) / 2 / width
    cy = (box.y1 + box.y2) / 2 / height
    distance = math.hypot(cx - anchor[0], cy - anchor[1])
    return (box.width / width) * (1.5 - min(distance, 1.4))


class LocalisingPlateRecognizer:
    """The default :class:`PlateRecognizer`: localiser → PP-OCRv4 rec → detector fallback.

    Reads may run from several threads: onnxruntime sessions are thread-safe and the paddle
    engine serialises its own calls.
    """

    def __init__(
        self, config: PlateRecognitionConfig, engine: PlateEngine, *, use_localiser: bool = True
    ) -> None:
        self.config = config
        self.engine = engine
        self.use_localiser = use_localiser

    def read(self, image: np.ndarray, region: BoundingBox | None = None) -> list[PlateRead]:
        image = _check_image(image)
        height, width = image.shape[:2]
        x0, y0 = 0, 0
        if region is not None:
            x0, y0, x2, y2 = _clip_region(region, width, height)
            image = image[y0:y2, x0:x2]
        _check_proportions(image)
        roi_h, roi_w = image.shape[:2]
        image = self._condition(image)
        factor = self._upscale_factor(roi_w, roi_h)
        if factor > 1.0:
            enlarged = cv2.resize(
                image, (round(roi_w * factor), round(roi_h * factor)),
                interpolation=cv2.INTER_LINEAR,
            )
            reads = [_Read(_scale(r.read, 1.0 / factor), r.quad / factor)
                     for r in self._read_frame(enlarged, factor)]
        else:
            reads = self._read_frame(image)
        ranked = sorted(
            reads,
            key=lambda r: (
                lane_score(r.read.box, roi_w, roi_h, self.config.lane_anchor)
                if r.read.box is not None
                else 0.0
            ),
            reverse=True,
        )
        return [_shift(r.read, x0, y0) for r in ranked]

    def _condition(self, image: np.ndarray) -> np.ndarray:
        """Undo what the camera did to this frame, judged from the frame as it came.

        All three measures (~2 ms together) read the same grey copy of the input, so a
        frame smoothed for noise is never then judged soft and sharpened back; each fix
        runs only on frames that measure clearly outside what clean photos show.
        """
        grey = to_grey(image)
        noisy = self._is_noisy(grey)
        if noisy is not None:
            image = cv2.GaussianBlur(image, (0, 0), noisy)
        elif self._is_soft(grey):
            smooth = cv2.GaussianBlur(image, (0, 0), _UNSHARP_SIGMA)
            image = cv2.addWeighted(image, 1.0 + _UNSHARP_AMOUNT, smooth, -_UNSHARP_AMOUNT, 0)
        gain = self._exposure_gain(grey)
        if gain is not None:
            lut = np.clip(np.arange(256) * gain, 0, 255).astype(np.uint8)
            image = cv2.LUT(image, lut)
        return image

    def _is_noisy(self, grey: np.ndarray) -> float | None:
        """The Gaussian sigma to smooth a visibly noisy frame with, in proportion to its
        noise; None for a clean one.

        Sensor noise (dark scenes, high gain, cheap cameras) breaks the localiser's edge
        mask into speckle and turns thin strokes into other letters (Q -> R, M -> 1); a
        light Gaussian removes most of it while keeping strokes that are several pixels
        wide. Clean frames measure well below the threshold and are left untouched.
        """
        if self.config.noise_smoothing_above <= 0:
            return None
        sigma_noise = noise_sigma(grey)
        if sigma_noise < self.config.noise_smoothing_above:
            return None
        sigma = min(_MAX_SMOOTHING, max(_MIN_SMOOTHING, _SMOOTHING_PER_NOISE * sigma_noise))
        logger.debug("noise sigma %.1f: smoothing with sigma %.2f", sigma_noise, sigma)
        return sigma

    def _exposure_gain(self, grey: np.ndarray) -> float | None:
        """The gain that brings an underexposed frame's highlights to the top of the range;
        None for a frame exposed well enough.

        A frame whose brightest 0.1% stays under ``exposure_gain_below`` (dusk, a shaded
        gate, a camera whose auto-exposure lags) keeps its plate in a few dozen grey levels:
        the colour masks' value floors cut it out and the recogniser and text detector see
        faint strokes. A gain that maps that white point to 240 restores both; the
        brightest 0.1%, not the 99th percentile, sets it so that a lit plate in a dark
        night scene is not driven into saturation.
        """
        if self.config.exposure_gain_below <= 0:
            return None
        white = white_point(grey)
        if white >= self.config.exposure_gain_below:
            return None
        gain = _EXPOSURE_TARGET / max(white, _EXPOSURE_TARGET / _MAX_GAIN)
        logger.debug("white point %d: exposure gain %.2f", white, gain)
        return gain

    def _is_soft(self, grey: np.ndarray) -> bool:
        """Whether to unsharp-mask a frame: it measures soft (defocus, motion, a dirty
        window).

        Blur merges a plate's strokes (M -> 1, 6 -> G) and flattens the edge mask the
        localiser needs; an unsharp mask at about the blur's scale restores much of both.
        Crisp frames measure below the threshold and are left alone, since sharpening
        them only adds ringing the recogniser then reads.
        """
        threshold = self.config.sharpen_blur_above
        if threshold <= 0:
            return False
        softness = blur_metric(grey)
        logger.debug("softness %.2f", softness)
        return softness >= threshold

    def _upscale_factor(self, width: int, height: int) -> float:
        if not self.config.upscale_small_frames:
            return 1.0
        return min(3.0, max(1.0, self.config.working_max_side / max(width, height, 1)))

    def read_crop(self, crop: np.ndarray) -> PlateRead | None:
        """Read an image that is already one tight plate (e.g. from a camera's own detector)."""
        crop = _check_image(crop)
        h, w = crop.shape[:2]
        quad = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
        for attempt in (crop, normalise_contrast(crop)) if self.config.contrast_retry else (crop,):
            if w <= _DOUBLE_ROW_MAX_ASPECT * h:
                double = self._read_double_row(attempt, quad, pad=(0.0, 0.0))
                if double is not None:
                    return double.read
            reads = self._read_quads(attempt, [quad], [None], pad=(0.0, 0.0))
            if reads:
                return reads[0].read
        return None

    def _read_frame(self, image: np.ndarray, factor: float = 1.0) -> list[_Read]:
        """Cheapest first: proposals, proposals after CLAHE, then the text detector.

        A read whose province character is unsure is kept but does not end the search: a
        later stage often reads the same plate with a clear province, and wins then. When
        no stage is sure, the stage whose province is least unsure wins rather than the
        first: each stage sees the plate differently (contrast, crop) and the province is
        the character those differences decide.
        """
        stages: list[Callable[[], list[_Read]]] = []
        if self.use_localiser:
            stages.append(lambda: self._read_candidates(image, factor))
            stages.append(lambda: self._read_white_double_rows(image, factor))
            if self.config.contrast_retry:
                stages.append(
                    lambda: self._read_candidates(normalise_contrast(image), factor)
                )
        if self.config.use_detector_fallback:
            stages.append(lambda: self._read_detected(image, factor))
        tentative: list[_Read] = []
        for stage in stages:
            reads = stage()
            if any(self._province_sure(r) for r in reads):
                return reads
            if not tentative or _province_confidence(reads) > _province_confidence(tentative):
                tentative = reads
        return tentative

    def _province_sure(self, read: _Read) -> bool:
        confs = read.read.char_confidences
        return bool(confs) and confs[0] >= self.config.min_char_confidence

    def _read_candidates(self, image: np.ndarray, factor: float = 1.0) -> list[_Read]:
        """Read proposals most plate-like first until ``max_plates`` confident reads.

        Then the remaining strong proposals are still read: the first confident plate may
        belong to a car queueing behind, or parked, rather than the one at the barrier (the
        ranking by lane puts that one first), and a frame with several cars reports each
        of them. A weak proposal (a grille, a sign) costs no recogniser call once a plate is
        read, so a frame with one car is read as before.
        """
        candidates = [
            c
            for c in find_plate_candidates(image, max_side=self.config.working_max_side)
            # The minimum is in the camera frame's pixels, whatever the enlargement.
            if quad_size(c.quad)[0] >= self.config.min_plate_width_px * factor
        ][: self.config.max_candidates]
        reads: list[_Read] = []
        done = False
        for candidate in candidates:
            if done and candidate.score < _STRONG_CANDIDATE:
                continue
            double = (
                self._read_double_row(image, candidate.quad)
                if candidate.double_row else None
            )
            found = [double] if double is not None else self._read_quads(
                image, [candidate.quad], [candidate]
            )
            for r in found:
                if not any(_same_plate(r, other) for other in reads):
                    reads.append(r)
            confident = [r for r in reads if r.read.confidence >= self.config.accept_confidence]
            done = len(confident) >= self.config.max_plates
        return reads

    def _read_white_double_rows(self, image: np.ndarray, factor: float = 1.0) -> list[_Read]:
        """Read white double-row plates (police motorcycles), which only this search
        proposes whole; it runs after the usual proposals, so a frame they read surely
        never pays for it."""
        candidates = [
            c
            for c in find_white_double_rows(image, max_side=self.config.working_max_side)
            if quad_size(c.quad)[0] >= self.config.min_plate_width_px * factor
        ][: self.config.max_candidates]
        reads: list[_Read] = []
        for candidate in candidates:
            read = self._read_double_row(image, candidate.quad)
            if read is not None and not any(_same_plate(read, r) for r in reads):
                reads.append(read)
            confident = [r for r in reads if r.read.confidence >= self.config.accept_confidence]
            if len(confident) >= self.config.max_plates:
                break
        return reads

    def _read_detected(self, image: np.ndarray, factor: float = 1.0) -> list[_Read]:
        """Read the detector's text lines that could be plates, lane-best first.

        A frame holds many text lines (captions, signs, stickers); reading them in pairs and
        stopping at ``max_plates`` confident plates keeps the fallback affordable.
        """
        height, width = image.shape[:2]
        detected = [order_corners(q) for q in self.engine.detect(image)]
        reads, paired = self._read_stacked_rows(image, detected, factor)
        if sum(r.read.confidence >= self.config.accept_confidence for r in reads) >= (
            self.config.max_plates
        ):
            return reads
        scored: list[tuple[float, np.ndarray]] = []
        for i, ordered in enumerate(detected):
            if i in paired:
                continue
            w, h = quad_size(ordered)
            if h <= 0 or not _DET_MIN_ASPECT <= w / h <= _DET_MAX_ASPECT:
                continue
            box = quad_box(ordered, width, height)
            if box is None or w < self.config.min_plate_width_px * factor:
                continue
            scored.append((lane_score(box, width, height, self.config.lane_anchor), ordered))
        quads = [q for _, q in sorted(scored, key=lambda item: item[0], reverse=True)]
        for start in range(0, len(quads), _DETECTED_BATCH):
            batch = quads[start : start + _DETECTED_BATCH]
            for r in self._read_quads(image, batch, [None] * len(batch)):
                if not any(_same_plate(r, other) for other in reads):
                    reads.append(r)
            confident = [r for r in reads if r.read.confidence >= self.config.accept_confidence]
            if len(confident) >= self.config.max_plates:
                break
        return reads

    def _read_stacked_rows(
        self, image: np.ndarray, detected: list[np.ndarray], factor: float
    ) -> tuple[list[_Read], set[int]]:
        """Double-row plates among the detector's lines, and the lines they used.

        The detector finds each row of a double-row plate as a line of its own, neither of
        which is a plate; a narrower line sitting centred on a wider one is read as the two
        rows of one plate, the way a localiser proposal of two rows is, and counts only when
        it reads as a double-row plate. The lines of a pair that does not stay for the
        single-line reads.
        """
        reads: list[_Read] = []
        paired: set[int] = set()
        for t, b in stacked_rows(detected):
            quad = stacked_quad(detected[t], detected[b])
            if quad_size(quad)[0] < self.config.min_plate_width_px * factor:
                continue
            # The detector's own lines, not a cut of the quad around both: they hold each
            # row whole, where in a small plate the strip between the rows is often too
            # thin to cut at (60 rendered scenes, detector only: 59 read so, 56 cut).
            rows = [rectify(image, detected[i], min_aspect=0.0, pad_x=0.05, pad_y=0.10)
                    for i in (t, b)]
            read = self._read_rows(image, quad, *rows)
            if read is not None and not any(_same_plate(read, r) for r in reads):
                reads.append(read)
                paired.update((t, b))
        return reads, paired

    def _read_quads(
        self,
        image: np.ndarray,
        quads: list[np.ndarray],
        candidates: list[PlateCandidate | None],
        *,
        pad: tuple[float, float] = (0.05, 0.10),
    ) -> list[_Read]:
        if not quads:
            return []
        crops = [
            rectify(image, q, min_aspect=self.config.min_crop_aspect, pad_x=pad[0], pad_y=pad[1])
            for q in quads
        ]
        lines = self.engine.recognize(crops)
        height, width = image.shape[:2]
        reads: list[_Read] = []
        for quad, crop, line, cand in zip(quads, crops, lines, candidates, strict=True):
            box = quad_box(quad, width, height)
            read = self._to_read(line, crop, box, cand)
            if read is None and line.confidence >= _HALF_READ:
                read = self._read_unsheared(crop, box, cand)
            if read is None:
                continue
            if read.text[0] in PROVINCES and read.char_confidences[0] < _PROVINCE_SURE:
                read = self._read_province_again(image, quad, read, pad)
            reads.append(_Read(read, quad))
        return reads

    def _read_double_row(
        self,
        image: np.ndarray,
        quad: np.ndarray,
        *,
        pad: tuple[float, float] = (0.05, 0.10),
    ) -> _Read | None:
        """Read a double-row plate: cut between its rows, set them side by side as one line
        (:func:`vision.plate_rows.join_rows`), read that like a single-row plate, and keep
        it only when its text is a double-row plate (province and letter, then five serial
        characters, 挂/学/警 allowed last) sure enough. None otherwise, so the caller reads
        the quad as one line instead."""
        crop = rectify(image, quad, min_aspect=0.0, pad_x=pad[0], pad_y=pad[1])
        rows = split_rows(crop)
        if rows is None:
            return None
        return self._read_rows(image, quad, *rows)

    def _read_rows(
        self, image: np.ndarray, quad: np.ndarray, top: np.ndarray, bottom: np.ndarray
    ) -> _Read | None:
        """The rows of a double-row plate joined into one line and read, when they read
        as a double-row plate sure enough; ``quad`` is the whole plate's, for its box."""
        (line,) = self.engine.recognize([join_rows(top, bottom)])
        text, confs = line.text, line.char_confidences
        kind = double_row_kind(text)
        if kind is None or len(confs) != len(text) or not self._sure_enough(text, confs):
            return None
        height, width = image.shape[:2]
        read = PlateRead(
            text=text,
            confidence=min(1.0, max(0.0, float(np.mean(confs)))),
            color=PlateColor(KIND_COLORS[kind]),
            box=quad_box(quad, width, height),
            char_confidences=tuple(float(min(1.0, max(0.0, c))) for c in confs),
            double_row=True,
        )
        return _Read(read, quad)

    def _sure_enough(self, text: str, confs: tuple[float, ...]) -> bool:
        """The per-character floor and the mean floor every read must pass.

        A province is left out of the per-character floor: its probability spreads over
        look-alike provinces (浙/湘, 鄂/粤), so a true plate often scores low there. Any other
        first character (使, a digit of an embassy plate) is not, and the serial is where
        text forced into the plate alphabet shows.
        """
        floored = confs[1:] if text[0] in PROVINCES else confs
        if min(floored) < self.config.min_char_confidence:
            return False
        return float(np.mean(confs)) >= self.config.min_confidence

    def _read_province_again(
        self, image: np.ndarray, quad: np.ndarray, read: PlateRead, pad: tuple[float, float]
    ) -> PlateRead:
        """Read an unsure province again from a crop reaching further left.

        The localiser's box often ends inside the province character: its dense strokes
        break the plate's colour, and a half-cut 川 reads as 皖 (the model's most common
        province) or 浙 as 鄂. The serial must read the same; only the province may change,
        and only to another one read surely and clearly more surely than before. The same
        province read more surely changes nothing: its low confidence is what sends the
        frame on to the later stages (contrast, detector), which see the plate afresh and
        are right more often than a second crop of the same proposal.
        """
        tl, tr, br, bl = order_corners(quad)
        reaching = np.stack(
            [tl - (tr - tl) * _PROVINCE_REACH, tr, br, bl - (br - bl) * _PROVINCE_REACH]
        ).astype(np.float32)
        crop = rectify(image, reaching, min_aspect=self.config.min_crop_aspect,
                       pad_x=pad[0], pad_y=pad[1])
        (line,) = self.engine.recognize([crop])
        again = self._to_read(line, crop, read.box, None)
        if again is None or again.text[0] == read.text[0] or again.text[1:] != read.text[1:]:
            return read
        province = again.char_confidences[0]
        if (province < _PROVINCE_AGAIN_MIN
                or province < read.char_confidences[0] + _PROVINCE_AGAIN_MARGIN):
            return read
        confidences = (province, *read.char_confidences[1:])
        return replace(read, text=again.text, char_confidences=confidences,
                       confidence=float(np.mean(confidences)))

    def _read_unsheared(
        self, crop: np.ndarray, box: BoundingBox | None, candidate: PlateCandidate | None
    ) -> PlateRead | None:
        """Read a crop again with its characters stood upright, when they clearly lean.

        Only crops that gave no valid read but held text the model half-read get this, so a
        plate read as it is never changes and junk proposals cost nothing more; leaning
        characters come from plates seen steeply from the side.
        """
        if self.config.unshear_gain <= 0:
            return None
        shear, gain = stroke_shear(crop)
        if abs(shear) < _MIN_SHEAR or gain < self.config.unshear_gain:
            return None
        upright = unshear(crop, shear)
        (line,) = self.engine.recognize([upright])
        read = self._to_read(line, upright, box, candidate)
        # A second look at a crop that failed must be clearly sure of every character
        # after the province; a marginal one (W read as H at 0.3) is left to the later
        # stages, which see the plate afresh.
        if read is None or min(read.char_confidences[1:], default=0.0) < _RETRY_MIN_CHAR:
            return None
        return read

    def _to_read(
        self,
        line: TextLine,
        crop: np.ndarray,
        box: BoundingBox | None,
        candidate: PlateCandidate | None,
    ) -> PlateRead | None:
        for option in _readings(line):
            text = normalize_plate(option.text)
            if text is not None and len(text) == len(option.char_confidences):
                line = option
                break
        else:
            return None
        if not self._sure_enough(text, line.char_confidences):
            return None
        confidence = line.confidence
        color_name = expected_color(text)
        if color_name is not None:
            color = PlateColor(color_name)
        elif candidate is not None and candidate.color is not PlateColor.UNKNOWN:
            color = candidate.color
        else:
            color = crop_color(crop)
        return PlateRead(
            text=text,
            confidence=float(min(1.0, max(0.0, confidence))),
            color=color,
            box=box,
            char_confidences=tuple(float(min(1.0, max(0.0, c))) for c in line.char_confidences),
        )


# A character read this unsurely at either end of a line is more likely the plate frame, a
# screw or the bumper edge (read as 1, I, L, J) than part of the plate.
_EDGE_JUNK = 0.5


def _readings(line: TextLine) -> list[TextLine]:
    """The line as read, its province repairs, then with unsure end characters dropped."""
    options = [line, *line.alternatives]
    confs = line.char_confidences
    if len(confs) >= 8:
        if confs[-1] < _EDGE_JUNK:
            options.append(TextLine(line.text[:-1], confs[:-1]))
        if confs[0] < _EDGE_JUNK:
            options.append(TextLine(line.text[1:], confs[1:]))
    return options


def _province_confidence(reads: list[_Read]) -> float:
    return max((r.read.char_confidences[0] for r in reads if r.read.char_confidences), default=-1.0)


def _same_plate(a: _Read, b: _Read) -> bool:
    if a.read.text == b.read.text:
        return True
    if a.read.box is None or b.read.box is None:
        return False
    ix = min(a.read.box.x2, b.read.box.x2) - max(a.read.box.x1, b.read.box.x1)
    iy = min(a.read.box.y2, b.read.box.y2) - max(a.read.box.y1, b.read.box.y1)
    if ix <= 0 or iy <= 0:
        return False
    return ix * iy > 0.5 * min(a.read.box.area, b.read.box.area)


def _scale(read: PlateRead, factor: float) -> PlateRead:
    if read.box is None:
        return read
    b = read.box
    return replace(read, box=BoundingBox(b.x1 * factor, b.y1 * factor, b.x2 * factor,
                                         b.y2 * factor))


def _shift(read: PlateRead, dx: int, dy: int) -> PlateRead:
    if read.box is None or (dx == 0 and dy == 0):
        return read
    box = BoundingBox(read.box.x1 + dx, read.box.y1 + dy, read.box.x2 + dx, read.box.y2 + dy)
    return replace(read, box=box)


def create_plate_recognizer(config: PlateRecognitionConfig) -> PlateRecognizer:
    """Load the configured engine's models once and return the default recogniser."""
    return LocalisingPlateRecognizer(config, create_engine(config))
