"""Configuration of face entry: recognition operating point and liveness.

The defaults are the operating point measured by ``python -m bench.faces`` (gate simulation on
the LFW subset in data/faces) and ``python -m bench.liveness``; see the numbers quoted on each
field. The library default of 0.6 is deliberately not used: at 0.6 a stranger matches some
resident most of the time when each resident has one enrolment photo.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Liveness cues, chosen in config: "parallax" needs only an RGB camera; "depth" needs a depth
# camera delivering one depth array per frame; "parallax+depth" requires both to pass.
LivenessMode = Literal["parallax", "depth", "parallax+depth", "off"]

# Also FaceMatcher's default, so a matcher built from threshold and margin alone applies the
# shipped rule. Chosen with threshold 0.50 / margin 0.08 on the TUNE half of bench.faces.
DEFAULT_NEIGHBOUR_RATIO = 0.92


class LivenessConfig(BaseModel):
    """Passive liveness over a ~1 s window of frames (see vision/liveness.py)."""

    model_config = ConfigDict(extra="forbid")

    mode: LivenessMode = Field(
        default="parallax",
        title="Liveness mode",
        description=(
            "parallax: a photo or screen moves as one plane, a real head does not (RGB only; "
            "does NOT stop a replayed video of the resident moving their head). depth: a depth "
            "camera sees a flat surface (stops photos, screens and videos). parallax+depth: "
            "both must pass. off: no liveness — only for bench work, refused at the gate."
        ),
    )
    min_frames: int = Field(
        default=15,
        ge=3,
        title="Minimum frames",
        description="Fewer frames with a face than this gives 'too few frames' (a challenge).",
    )
    max_frames: int = Field(
        default=45,
        ge=3,
        title="Maximum frames",
        description="Longer windows are subsampled evenly to this many frames to bound cost.",
    )
    min_face_px: int = Field(
        default=48,
        ge=16,
        title="Minimum face size for liveness (px)",
        description="Below this the parallax signal is under the tracking noise: a challenge.",
    )
    corners: int = Field(
        default=150,
        ge=20,
        le=1000,
        title="Tracked corners",
        description="Corners seeded in the face box (extended upward) and tracked by LK.",
    )
    highpass_sigma: float = Field(
        default=3.0,
        gt=0.0,
        title="High-pass sigma (px)",
        description="Image minus a Gaussian blur of this sigma: removes glare and light drift.",
    )
    forward_backward_px: float = Field(
        default=0.7,
        gt=0.0,
        title="Forward-backward limit (px)",
        description="A track whose backward flow misses its start by more is dropped.",
    )
    ransac_tolerance: float = Field(
        default=0.015,
        gt=0.0,
        title="RANSAC tolerance (fraction of face width)",
        description="Inlier tolerance of the per-frame homography from the window's first frame.",
    )
    min_tracks: int = Field(
        default=20,
        ge=8,
        title="Minimum surviving tracks",
        description="Below this many tracked corners in a frame, that frame is not scored.",
    )
    decisive_motion: float = Field(
        default=2.5, gt=0.0, title="Motion needed to call a face flat (x threshold)",
        description=(
            "A low parallax score rejects the face as flat only if the face's non-translational "
            "motion (fraction of face width) exceeds this multiple of the parallax threshold: "
            "on the real clip a turning head produced parallax >= 0.4x its motion, so with "
            "less motion a live face could look flat too. Below it the verdict is None "
            "(ask the person to turn the head)."
        ),
    )
    parallax_threshold: float = Field(
        default=0.035, gt=0.0, title="Parallax threshold, large faces",
        description="Live when max-over-frames median homography residual / face width exceeds "
        "this, for faces at least `small_face_px` wide (bench.liveness: flats <= 0.013, "
        "real windows of a turning head >= 0.039 at 90 px).",
    )
    parallax_threshold_small: float = Field(
        default=0.06, gt=0.0, title="Parallax threshold, small faces",
        description="Same for faces narrower than `small_face_px`: tracking is noisier there "
        "(bench.liveness: flats up to 0.041, feasibility study up to 0.042). The gate's "
        "min_face_px (80) keeps such faces from reaching liveness at all.",
    )
    small_face_px: int = Field(
        default=80, ge=16, title="Small face width (px)",
        description="Faces narrower than this use `parallax_threshold_small`.",
    )
    blink: bool = Field(
        default=False,
        title="Blink cue",
        description=(
            "Report eye-aspect-ratio blinks as an extra cue. Needs dlib's 68-point landmark "
            "model, whose iBUG 300-W training data is licensed for non-commercial use only; "
            "off by default. Never decisive: flats produce EAR dips too."
        ),
    )
    depth_min_relief_mm: float = Field(
        default=15.0,
        gt=0.0,
        title="Minimum depth relief (mm)",
        description=(
            "Depth modes: the face region's depth must deviate from its best-fit plane by at "
            "least this (robust spread); a photo or screen is within a few mm of a plane."
        ),
    )


class FaceRecognitionConfig(BaseModel):
    """Face recognition at the pedestrian gate and at enrolment."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(
        default=0.48,
        gt=0.0,
        lt=1.0,
        title="Match threshold (Euclidean distance)",
        description=(
            "Accept only a best distance below this. bench.faces (LFW subset, one enrolment "
            "photo, single frame), held-out TEST half, with margin 0.08 and neighbour ratio "
            "0.92: 0.48 → 26.4% residents refused, 0.47% strangers accepted; 0.50 (the point "
            "chosen on the tune half) → 20.4% / 0.72%. parkgate ships 0.48 because a stranger "
            "at the gate costs more than a resident using the PIN; 0.48 was read off the test "
            "half, so treat its figure as optimistic. Never 0.6."
        ),
    )
    margin: float = Field(
        default=0.08,
        ge=0.0,
        lt=1.0,
        title="Margin to the second identity",
        description="The best identity must beat the second-best identity by at least this: "
        "lookalikes are how strangers get in (0.48 without margin: 3.0% strangers accepted).",
    )
    neighbour_ratio: float | None = Field(
        default=DEFAULT_NEIGHBOUR_RATIO,
        gt=0.0,
        le=2.0,
        title="Neighbour ratio (lookalike-aware threshold)",
        description=(
            "Also require best distance < ratio x the matched template's distance to its "
            "nearest OTHER enrolled identity (precomputed at enrolment): a resident with a "
            "lookalike among the residents gets a stricter threshold. None switches it off. "
            "See bench.faces (tune/test split of the people) for the measured effect and "
            "FaceMatcher for the add/remove/load costs."
        ),
    )
    embedder: Literal["onnxruntime", "dlib"] = Field(
        default="onnxruntime",
        title="Embedding engine",
        description=(
            "The same dlib ResNet weights either way (embeddings equal to ~1e-6, so stored "
            "templates stay valid when switching). onnxruntime: ~3.5 ms per face here; dlib: "
            "dlib-bin's own CPU code, built without BLAS, ~60-75 ms per face."
        ),
    )
    min_face_px: int = Field(
        default=80,
        ge=20,
        title="Minimum face size at the gate (px)",
        description="Faces with a smaller box side are ignored at the gate (too unreliable).",
    )
    enrol_min_face_px: int = Field(
        default=80,
        ge=20,
        title="Minimum face size at enrolment (px)",
        description="An enrolment photo with a smaller face is refused with a clear message.",
    )
    upsample: int = Field(
        default=0,
        ge=0,
        le=2,
        title="HOG upsampling",
        description="Times the HOG detector upsamples the image. 0 finds faces from ~80 px "
        "(a gate camera sees ~100-200 px faces); 1 finds ~40 px faces at ~4x the cost.",
    )
    enrol_jitters: int = Field(
        default=1,
        ge=1,
        le=100,
        title="Enrolment jitters",
        description="Random re-crops averaged per enrolment embedding (face_recognition's "
        "num_jitters); gate frames always use 1 for speed.",
    )
    enrol_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        title="Enrolment CPU priority (nice)",
        description="Added to the nice value of the one thread that embeds enrolment photos "
        "(Linux: that thread only), so a busy box runs the gates' work first. "
        "bench.face_enrol_contention, an admin enrolling 12 MP photos beside a gate, gate p95 "
        "over its p95 with no enrolment: on a quiet box x1.10 at 0 and x1.09 at 10 in one run, "
        "x1.45 and x0.94 in another; on a box loaded by other jobs x1.69 at 0, x1.55 at 5, "
        "x1.20 at 10, x1.27 at 19 (enrolments then 25% slower at 10). 0 keeps normal "
        "priority.",
    )
    max_pending_enrolments: int = Field(
        default=4,
        ge=1,
        le=100,
        title="Enrolments waiting at most",
        description="Enrolment requests queued or running at once; one more is refused with "
        "HTTP 503 and Retry-After (each waiting request holds its photos in memory).",
    )
    reload_check_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        title="Check for imported faces every (s)",
        description="How often the running controller asks the database whether face "
        "templates were added or deleted by another process (main.py enrol-faces, a row "
        "deleted by hand): one aggregate query, and a reload of every template on a worker "
        "thread only when they changed. Faces imported work at the gates within this time "
        "plus the reload (about 1 s at 10,000 templates, growing with their square).",
    )
    mirror_enrolment: bool = Field(
        default=True, title="Mirror-average enrolment embeddings",
        description="Average each enrolment embedding with that of the mirrored photo "
        "(costs one more pass at enrolment only; fewer residents refused).",
    )
    mirror_probes: bool = Field(
        default=False, title="Mirror-average gate embeddings",
        description="Same at the gate: a few points fewer refused residents in bench.faces, "
        "but doubles embedding time per face (~60 ms more).",
    )
    frames_required: int = Field(
        default=3,
        ge=1,
        title="Frames required",
        description="An identity is accepted when matched in this many frames of the window.",
    )
    frames_window: int = Field(
        default=5,
        ge=1,
        title="Voting window (frames)",
        description="Number of recent frames considered by the voter.",
    )
    store_photos: bool = Field(
        default=False,
        title="Store enrolment photos",
        description="Always false: parkgate keeps the face embedding only, never the "
        "enrolment photo (PIPL data minimisation); true is refused at start.",
    )
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig,
        title="Liveness",
        description="Passive liveness settings; the gate never opens on a face without it.",
    )

    @model_validator(mode="after")
    def _verify(self) -> FaceRecognitionConfig:
        verify_voting_window(self)
        verify_not_library_default(self)
        if self.store_photos:
            # Refused rather than ignored: a site that asked for photos must not believe it has
            # them (e.g. to re-enrol with a later model), and none are kept to leak or delete.
            raise ValueError(
                "faces.store_photos: true is not supported: parkgate stores face embeddings "
                "only, never enrolment photos (PIPL data minimisation); re-enrolment needs "
                "new photos"
            )
        return self


def verify_voting_window(config: FaceRecognitionConfig) -> None:
    if config.frames_required > config.frames_window:
        raise ValueError(
            f"frames_required ({config.frames_required}) exceeds frames_window "
            f"({config.frames_window})"
        )


def verify_not_library_default(config: FaceRecognitionConfig) -> None:
    # 0.6 is face_recognition's default; measured: ~89% of strangers match someone at a gate.
    if config.threshold >= 0.55:
        raise ValueError(
            f"face threshold {config.threshold} is too lax for a gate (>= 0.55 lets most "
            "strangers match a resident); see bench.faces"
        )
