"""Cheap per-bay image features, computed for all bays of a frame at once.

Why this shape: one camera watches ~40 bays and we want ≤ 30 ms per 1280×720 frame on one
core. Instead of cropping and masking each bay in a Python loop, every bay's pixels are
precomputed once (``BayGeometry``) as flat indices into a downscaled region of interest, sorted
by bay, so each statistic is one gather plus one ``np.add.reduceat`` for all bays.

Features compare the frame with an *empty reference* frame of the same camera, because a bay's
own texture (paint lines, a drain, a kerb) is then cancelled out, and because ratios and
correlations to the reference survive daylight changes better than absolute grey levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

FEATURE_NAMES: tuple[str, ...] = (
    "grey_std",  # texture: a car body + windows + shadow under it is far from uniform asphalt
    "grey_cv",  # grey std / mean: the same, less sensitive to exposure
    "edge_density",  # fraction of Canny edge pixels
    "edge_gain",  # edge density minus the reference's (removes painted lines, kerbs)
    "new_edges",  # edge pixels with no reference edge nearby: edges a car brings
    "log_lap_var",  # log variance of the Laplacian (fine detail)
    "log_lap_ratio",  # the same relative to the reference
    "sat_mean",  # colour: asphalt is grey, many cars are not
    "sat_std",
    "sat_gain",  # saturation mean minus the reference's
    "abs_diff",  # mean |grey - gain·reference| / reference mean, after a global exposure gain
    "hist_dist",  # Bhattacharyya distance between exposure-matched grey histograms
    "ref_corr",  # Pearson correlation of the bay's pixels with the reference (1 = unchanged)
    "std_ratio",  # log(grey std / reference grey std)
    "log_ratio_std",  # std of log(frame / reference): a smooth shadow scales a bay uniformly
    "chroma_diff",  # mean change of (b, r) chromaticity: shadows keep hue, cars rarely do
)

_HIST_BINS = 16
_CANNY_LOW = 50
_CANNY_HIGH = 130


@dataclass(frozen=True, slots=True)
class BayGeometry:
    """Where each bay's pixels are, in a downscaled region of interest of a fixed frame size.

    ``index`` holds flat pixel indices into the ROI, grouped by bay (``starts`` marks where
    each bay's run begins); a pixel shared by two overlapping bays appears in both runs.
    """

    frame_width: int
    frame_height: int
    scale: float
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 in the *scaled* image
    index: np.ndarray = field(repr=False)
    starts: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)

    @property
    def n_bays(self) -> int:
        return int(self.starts.shape[0])

    @classmethod
    def from_polygons(
        cls,
        polygons: Sequence[np.ndarray],
        frame_width: int,
        frame_height: int,
        *,
        scale: float = 0.5,
        min_pixels: int = 16,
    ) -> BayGeometry:
        """Rasterise bay polygons (full-resolution pixel coordinates, Nx2) once."""
        if not polygons:
            raise ValueError("BayGeometry needs at least one bay polygon")
        if not 0.1 <= scale <= 1.0:
            raise ValueError(f"scale must be in [0.1, 1], got {scale}")
        sw = max(1, round(frame_width * scale))
        sh = max(1, round(frame_height * scale))
        scaled = [np.asarray(p, dtype=np.float64).reshape(-1, 2) * scale for p in polygons]
        allpts = np.concatenate(scaled)
        x0 = int(np.clip(np.floor(allpts[:, 0].min()), 0, sw - 1))
        y0 = int(np.clip(np.floor(allpts[:, 1].min()), 0, sh - 1))
        x1 = int(np.clip(np.ceil(allpts[:, 0].max()) + 1, x0 + 1, sw))
        y1 = int(np.clip(np.ceil(allpts[:, 1].max()) + 1, y0 + 1, sh))
        rw, rh = x1 - x0, y1 - y0
        runs: list[np.ndarray] = []
        for i, pts in enumerate(scaled):
            mask = np.zeros((rh, rw), dtype=np.uint8)
            shifted = np.round(pts - (x0, y0)).astype(np.int32)
            cv2.fillPoly(mask, [shifted], (1,))
            flat = np.flatnonzero(mask.ravel())
            if flat.size < min_pixels:
                raise ValueError(
                    f"bay #{i} covers {flat.size} pixels at scale {scale} (need ≥ {min_pixels}); "
                    "is the polygon inside the frame?"
                )
            runs.append(flat)
        counts = np.array([r.size for r in runs], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        return cls(
            frame_width=frame_width,
            frame_height=frame_height,
            scale=scale,
            roi=(x0, y0, x1, y1),
            index=np.concatenate(runs).astype(np.intp),
            starts=starts,
            counts=counts,
        )


@dataclass(frozen=True, slots=True)
class _Planes:
    """Per-frame maps gathered at the bays' pixels (1-D, grouped by bay)."""

    grey: np.ndarray
    edges: np.ndarray
    lap: np.ndarray
    sat: np.ndarray
    chroma: np.ndarray  # (2, n) b/(b+g+r), r/(b+g+r)
    grey_roi: np.ndarray  # the whole ROI, for the global exposure gain
    edges_roi: np.ndarray


def _planes(image: np.ndarray, geometry: BayGeometry) -> _Planes:
    if geometry.scale != 1.0:
        sw = round(geometry.frame_width * geometry.scale)
        sh = round(geometry.frame_height * geometry.scale)
        image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = geometry.roi
    roi = image[y0:y1, x0:x1]
    grey = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY)
    hsv_sat = cv2.cvtColor(roi, cv2.COLOR_BGR2HSV)[:, :, 1]
    edges = cv2.Canny(grey, _CANNY_LOW, _CANNY_HIGH)
    lap = cv2.Laplacian(grey, cv2.CV_16S, ksize=3)
    idx = geometry.index
    bgr = roi.reshape(-1, 3)[idx].astype(np.float32)
    total = bgr.sum(axis=1) + 3.0
    chroma = np.stack(((bgr[:, 0] + 1.0) / total, (bgr[:, 2] + 1.0) / total))
    return _Planes(
        grey=grey.ravel()[idx].astype(np.float32),
        edges=(edges.ravel()[idx] > 0).astype(np.float32),
        lap=lap.ravel()[idx].astype(np.float32),
        sat=hsv_sat.ravel()[idx].astype(np.float32),
        chroma=chroma,
        grey_roi=grey,
        edges_roi=edges,
    )


def _bay_sum(values: np.ndarray, geometry: BayGeometry) -> np.ndarray:
    return np.add.reduceat(values, geometry.starts).astype(np.float64)


def _bay_mean_std(values: np.ndarray, geometry: BayGeometry) -> tuple[np.ndarray, np.ndarray]:
    n = geometry.counts
    mean = _bay_sum(values, geometry) / n
    sq = _bay_sum(values * values, geometry) / n
    return mean, np.sqrt(np.maximum(sq - mean * mean, 0.0))


def _grey_hist(grey: np.ndarray, geometry: BayGeometry, gain: float) -> np.ndarray:
    bins = np.clip((grey * (_HIST_BINS / 256.0 / gain)).astype(np.intp), 0, _HIST_BINS - 1)
    bay_of = np.repeat(np.arange(geometry.n_bays), geometry.counts)
    hist = np.bincount(bay_of * _HIST_BINS + bins, minlength=geometry.n_bays * _HIST_BINS)
    hist = hist.reshape(geometry.n_bays, _HIST_BINS).astype(np.float64)
    return hist / geometry.counts[:, None]


@dataclass(frozen=True, slots=True)
class EmptyReference:
    """What every bay looks like when free, measured once on an all-free frame."""

    geometry: BayGeometry = field(repr=False)
    grey: np.ndarray = field(repr=False)  # gathered grey values, float32
    log_grey: np.ndarray = field(repr=False)
    chroma: np.ndarray = field(repr=False)
    grey_mean: np.ndarray = field(repr=False)
    grey_std: np.ndarray = field(repr=False)
    grey_median: float
    edge_density: np.ndarray = field(repr=False)
    edge_near: np.ndarray = field(repr=False)  # reference edges dilated, gathered, 0/1
    log_lap_var: np.ndarray = field(repr=False)
    sat_mean: np.ndarray = field(repr=False)
    hist: np.ndarray = field(repr=False)

    @classmethod
    def from_image(cls, image: np.ndarray, geometry: BayGeometry) -> EmptyReference:
        check_frame(image, geometry)
        p = _planes(image, geometry)
        mean, std = _bay_mean_std(p.grey, geometry)
        _, lap_std = _bay_mean_std(p.lap, geometry)
        # A car's edges that fall on a reference line still count as "old"; dilating by a few
        # pixels forgives the jitter of JPEG, wind and a camera that is re-aimed slightly.
        near = cv2.dilate(p.edges_roi, np.ones((5, 5), np.uint8)).ravel()[geometry.index] > 0
        return cls(
            geometry=geometry,
            grey=p.grey,
            log_grey=np.log1p(p.grey),
            chroma=p.chroma,
            grey_mean=mean,
            grey_std=std,
            grey_median=float(np.median(p.grey_roi)),
            edge_density=_bay_sum(p.edges, geometry) / geometry.counts,
            edge_near=near.astype(np.float32),
            log_lap_var=np.log1p(lap_std**2),
            sat_mean=_bay_sum(p.sat, geometry) / geometry.counts,
            hist=_grey_hist(p.grey, geometry, 1.0),
        )


def check_frame(image: np.ndarray, geometry: BayGeometry) -> None:
    """Raise ``ValueError`` naming expected vs actual when a frame does not fit the geometry."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"expected a BGR image HxWx3, got shape {shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    h, w = image.shape[:2]
    if (w, h) != (geometry.frame_width, geometry.frame_height):
        raise ValueError(
            f"frame is {w}x{h} but the bays were calibrated for "
            f"{geometry.frame_width}x{geometry.frame_height}"
        )


def bay_features(image: np.ndarray, reference: EmptyReference) -> np.ndarray:
    """Return an (n_bays, len(FEATURE_NAMES)) float64 matrix for one BGR frame."""
    geometry = reference.geometry
    check_frame(image, geometry)
    p = _planes(image, geometry)
    n = geometry.counts
    mean, std = _bay_mean_std(p.grey, geometry)
    edge_density = _bay_sum(p.edges, geometry) / n
    new_edges = _bay_sum(p.edges * (1.0 - reference.edge_near), geometry) / n
    _, lap_std = _bay_mean_std(p.lap, geometry)
    log_lap_var = np.log1p(lap_std**2)
    sat_mean, sat_std = _bay_mean_std(p.sat, geometry)

    # A global exposure gain (ROI median vs the reference's) so that a brighter or darker day
    # does not read as "different from empty" everywhere at once.
    gain = max(float(np.median(p.grey_roi)), 1.0) / max(reference.grey_median, 1.0)
    ref = reference.grey
    abs_diff = (
        _bay_sum(np.abs(p.grey - gain * ref), geometry) / n / (gain * reference.grey_mean + 1)
    )
    hist = _grey_hist(p.grey, geometry, gain)
    bc = np.sum(np.sqrt(hist * reference.hist), axis=1)
    hist_dist = np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))
    cov = _bay_sum(p.grey * ref, geometry) / n - mean * reference.grey_mean
    ref_corr = cov / (std * reference.grey_std + 1e-6)

    _, log_ratio_std = _bay_mean_std(np.log1p(p.grey) - reference.log_grey, geometry)
    dchroma = np.abs(p.chroma - reference.chroma).sum(axis=0)
    chroma_diff = _bay_sum(dchroma, geometry) / n
    return np.column_stack(
        (
            std,
            std / (mean + 1.0),
            edge_density,
            edge_density - reference.edge_density,
            new_edges,
            log_lap_var,
            log_lap_var - reference.log_lap_var,
            sat_mean,
            sat_std,
            sat_mean - reference.sat_mean,
            abs_diff,
            hist_dist,
            np.clip(ref_corr, -1.0, 1.0),
            np.log((std + 1.0) / (reference.grey_std + 1.0)),
            log_ratio_std,
            chroma_diff,
        )
    )
