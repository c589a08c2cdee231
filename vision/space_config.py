"""Configuration of a camera that watches parking bays, and building its monitor from it.

Meant to be nested in the project settings, e.g. ``spaces.cameras: list[CameraBaysConfig]``::

    cameras:
      - id: lot-east
        source: rtsp://10.0.0.21/stream2
        frame_width: 1280
        frame_height: 720
        bays_xml: /etc/parkgate/lot-east/bays.xml          # PKLot XML, or "bays:" below
        bay_spaces: {"1": "A-001", "2": "A-002"}           # bay id -> community space id
        reference_image: /etc/parkgate/lot-east/empty.jpg
        model_path: /var/lib/parkgate/lot-east.npz         # from bench/spaces --save-model
        smoothing: {window: 3, min_agree: 2, margin: 0.1}
        max_flip_fraction: 0.25
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from errors import ConfigError, InvalidInputError
from vision.space_features import FEATURE_NAMES
from vision.spaces import DEFAULT_FEATURES, Bay, BayClassifier, BayMonitor, parse_pklot_xml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BayPolygonConfig(_Strict):
    id: str = Field(description="Bay id, unique within the camera.", min_length=1)
    points: list[tuple[float, float]] = Field(
        description="Polygon corners in full-frame pixels, in order.", min_length=3
    )


class SmoothingConfig(_Strict):
    window: int = Field(3, description="Frames of votes kept per bay (the n of k-of-n).", ge=1)
    min_agree: int = Field(2, description="Votes needed to change a bay (the k).", ge=1)
    margin: float = Field(
        0.1, description="Hysteresis around the threshold when leaving a state.", ge=0, lt=0.5
    )

    @model_validator(mode="after")
    def verify_k_of_n(self) -> SmoothingConfig:
        if self.min_agree > self.window:
            raise ValueError(f"min_agree {self.min_agree} exceeds window {self.window}")
        return self


class CameraBaysConfig(_Strict):
    id: str = Field(description="Camera id, used in logs and camera readings.", min_length=1)
    source: str = Field(description="Frame source: RTSP/HTTP URL, device index or file.")
    frame_width: int = Field(description="Width of the frames the bays were drawn on.", gt=0)
    frame_height: int = Field(description="Height of the frames the bays were drawn on.", gt=0)
    bays_xml: Path | None = Field(None, description="PKLot-style XML with the bay polygons.")
    bays: list[BayPolygonConfig] | None = Field(
        None, description="Bay polygons given inline instead of bays_xml."
    )
    bay_spaces: dict[str, str] = Field(
        default_factory=dict,
        description="Bay id -> community space id; bays not listed use their own id.",
    )
    reference_image: Path = Field(description="An all-free frame from this camera.")
    model_path: Path = Field(description="Calibrated BayClassifier (.npz) for this camera.")
    features: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FEATURES),
        description=f"Features used when calibrating; any of {', '.join(FEATURE_NAMES)}.",
    )
    every_s: float = Field(5.0, description="Seconds between analysed frames.", gt=0)
    smoothing: SmoothingConfig = Field(
        default_factory=SmoothingConfig, description="Per-bay smoothing over frames."
    )
    max_flip_fraction: float = Field(
        0.25,
        description="A frame where more bays than this flip at once is unreliable.",
        gt=0,
        le=1,
    )
    rebase_after: int = Field(
        30, description="Unreliable frames in a row after which the scene is re-based.", ge=1
    )
    rebase_gap_s: float | None = Field(
        300.0, description="A gap between frames longer than this re-bases the bays.", gt=0
    )

    @model_validator(mode="after")
    def verify_one_bay_source(self) -> CameraBaysConfig:
        if (self.bays_xml is None) == (self.bays is None):
            raise ValueError(f"camera {self.id}: give exactly one of bays_xml or bays")
        if self.bays is not None:
            ids = [b.id for b in self.bays]
            if len(set(ids)) != len(ids):
                raise ValueError(f"camera {self.id}: bay ids repeat")
        unknown = [f for f in self.features if f not in FEATURE_NAMES]
        if unknown:
            raise ValueError(f"camera {self.id}: unknown features {unknown}")
        return self


def load_bays(config: CameraBaysConfig) -> tuple[Bay, ...]:
    """The camera's bays from its XML or inline polygons (``ConfigError`` if unreadable)."""
    if config.bays is not None:
        return tuple(Bay(b.id, tuple(b.points)) for b in config.bays)
    assert config.bays_xml is not None  # verify_one_bay_source
    try:
        return parse_pklot_xml(config.bays_xml).bays
    except InvalidInputError as err:
        raise ConfigError(f"camera {config.id}: {err}") from err


def build_monitor(config: CameraBaysConfig) -> BayMonitor:
    """Load the camera's model and check it matches the configured bays and frame size."""
    try:
        classifier = BayClassifier.load(config.model_path)
    except InvalidInputError as err:
        raise ConfigError(f"camera {config.id}: {err}") from err
    bays = load_bays(config)
    if classifier.bays != bays:
        raise ConfigError(f"camera {config.id}: model was calibrated on other bays; recalibrate")
    if classifier.frame_size != (config.frame_width, config.frame_height):
        raise ConfigError(
            f"camera {config.id}: model is for {classifier.frame_size}, config says "
            f"{config.frame_width}x{config.frame_height}"
        )
    s = config.smoothing
    return BayMonitor(
        classifier,
        window=s.window,
        min_agree=s.min_agree,
        margin=s.margin,
        max_flip_fraction=config.max_flip_fraction,
        rebase_after=config.rebase_after,
        rebase_gap_s=config.rebase_gap_s,
        name=config.id,
    )
