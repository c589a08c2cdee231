"""Bench the camera bay classifier: calibrate on some days, evaluate on others.

    python -m bench.spaces --calibrate DATA/ufpr05/sequence1 --evaluate DATA/ufpr05/sequence2
    python -m bench.spaces --calibrate DATA/ufpr05/sequence1 DATA/ufpr05/sequence3 \
        --evaluate DATA/ufpr05/sequence0 DATA/ufpr05/sequence2 --acpds DATA/acpds_crops

Each DIR is a PKLot-style sequence (``frames/`` + ``bounding_boxes/``) or a directory of such
sequences. Progress goes to stderr; the last stdout line is one JSON object.

``--acpds`` adds a cross-camera check on ACPDS bay crops (a second camera, no empty reference
and no full frames): only reference-free features can be computed there, so it reports (a) the
UFPR05-fitted reference-free model applied as is, and (b) the same features re-calibrated on
ACPDS with leave-one-source-image-out — the honest measure of "calibrate per camera".
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np

from vision.space_dataset import (
    LabelledFrame,
    common_bays,
    find_empty_reference,
    labelled_frames,
)
from vision.space_features import FEATURE_NAMES, BayGeometry, EmptyReference, bay_features
from vision.spaces import DEFAULT_FEATURES, Bay, BayClassifier, BayMonitor, fit_logistic

logger = logging.getLogger("bench.spaces")

# Features that need no empty reference: the only ones that can be computed on bare crops.
REFERENCE_FREE = ("grey_std", "grey_cv", "edge_density", "log_lap_var", "sat_mean", "sat_std")
_CROP_SIDE = 96


def _metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    return {
        "accuracy": round(float(np.mean(pred == truth)), 4),
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": int(np.sum(~pred & ~truth)),
    }


def evaluate(
    clf: BayClassifier, frames: Sequence[LabelledFrame], repeat: int = 3
) -> dict[str, object]:
    preds, truths, times, per_frame, probs = [], [], [], [], []
    for lf in frames:
        image = lf.read()
        start = time.perf_counter()
        for _ in range(repeat):
            p = clf.predict_proba(image)
        times.append((time.perf_counter() - start) * 1000 / repeat)
        pred = p >= clf.threshold
        truth = np.asarray(lf.occupied)
        preds.append(pred)
        truths.append(truth)
        probs.append(p)
        errors = int(np.sum(pred != truth))
        per_frame.append(
            {
                "frame": lf.name,
                "occupied": int(truth.sum()),
                "predicted": int(pred.sum()),
                "errors": errors,
            }
        )
        logger.info(
            "%s: %d occupied, %d predicted, %d wrong", lf.name, truth.sum(), pred.sum(), errors
        )
    pred_all, truth_all = np.concatenate(preds), np.concatenate(truths)
    free_err = [abs(int((~p).sum()) - int((~t).sum())) for p, t in zip(preds, truths, strict=True)]
    out: dict[str, object] = {**_metrics(pred_all, truth_all)}
    out.update(
        frames=len(frames),
        bays=int(truth_all.size),
        free_count_mae=round(float(np.mean(free_err)), 3),
        ms_per_frame=round(statistics.median(times), 2),
        per_frame=per_frame,
    )
    # The monitor over the evaluation frames in order, as if they were consecutive frames a
    # second apart. They are really minutes apart, so this shows which frames the flip rule
    # would refuse (real arrivals can trip it here), not the smoothing.
    monitor = BayMonitor(clf)
    t0 = datetime(2000, 1, 1)
    flagged = []
    for i, (lf, p) in enumerate(zip(frames, probs, strict=True)):
        if i and lf.image_path.parent != frames[i - 1].image_path.parent:
            monitor = BayMonitor(clf)  # a new day: a new monitor
        result = monitor.observe(p, t0 + timedelta(seconds=i))
        if not result.reliable:
            flagged.append(lf.name)
    out["unreliable_frames"] = flagged
    return out


def _crop_features(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    image = cv2.resize(image, (_CROP_SIDE, _CROP_SIDE), interpolation=cv2.INTER_AREA)
    s = _CROP_SIDE - 1
    geometry = BayGeometry.from_polygons(
        [np.array([[0, 0], [s, 0], [s, s], [0, s]])], _CROP_SIDE, _CROP_SIDE, scale=1.0
    )
    # The crop stands in as its own reference: reference-relative columns are meaningless and
    # are not used; the reference-free ones are what they are.
    row = bay_features(image, EmptyReference.from_image(image, geometry))[0]
    return row[[FEATURE_NAMES.index(f) for f in REFERENCE_FREE]]


def _fit_predict(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray) -> np.ndarray:
    mu, sd = xtr.mean(axis=0), xtr.std(axis=0) + 1e-9
    w, b = fit_logistic((xtr - mu) / sd, ytr)
    return ((xte - mu) / sd) @ w + b > 0


def cross_camera(acpds: Path, calib: Sequence[LabelledFrame], bays: Sequence[Bay]) -> dict:
    paths = sorted(acpds.glob("occupied/*.jpg")) + sorted(acpds.glob("vacant/*.jpg"))
    x = np.stack([_crop_features(p) for p in paths])
    y = np.array([p.parent.name == "occupied" for p in paths])
    groups = np.array([p.name.split("_roi")[0] for p in paths])
    logger.info("ACPDS: %d crops from %d source images", len(paths), len(set(groups)))

    # (a) thresholds from UFPR05 (reference-free features of the calibration bays) as is.
    ufpr = BayClassifier(bays, 1280, 720, features=REFERENCE_FREE)
    images = [lf.read() for lf in calib]
    ufpr.set_reference(images[0])  # unused by these features; required by features_of
    xs = [ufpr.features_of(image) for image in images]
    ys = [np.asarray(lf.occupied) for lf in calib]
    transfer = _metrics(_fit_predict(np.concatenate(xs), np.concatenate(ys), x), y)

    # (b) calibrated on this camera, leave one source image out.
    pred = np.zeros_like(y)
    for g in sorted(set(groups)):
        test = groups == g
        pred[test] = _fit_predict(x[~test], y[~test], x[test])
    return {
        "crops": len(y),
        "features": list(REFERENCE_FREE),
        "ufpr05_model_as_is": transfer,
        "recalibrated_leave_one_image_out": _metrics(pred, y),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", nargs="+", required=True, help="sequence or dataset dirs")
    parser.add_argument("--evaluate", nargs="+", required=True, help="sequence or dataset dirs")
    parser.add_argument("--reference", help="empty reference frame (default: empty_reference*)")
    parser.add_argument("--features", nargs="+", default=list(DEFAULT_FEATURES))
    parser.add_argument("--save-model", help="write the calibrated model (.npz) here")
    parser.add_argument("--acpds", help="ACPDS crops dir (occupied/, vacant/) for cross-camera")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats per frame")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = one core)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")

    calib = labelled_frames(args.calibrate)
    evals = labelled_frames(args.evaluate)
    bays = common_bays([*calib, *evals])
    reference = Path(args.reference) if args.reference else find_empty_reference(args.calibrate)
    if reference is None:
        parser.error("no --reference given and no empty_reference* image found near --calibrate")
    ref_image = cv2.imread(str(reference), cv2.IMREAD_COLOR)
    if ref_image is None:
        parser.error(f"cannot read reference {reference}")
    height, width = ref_image.shape[:2]
    logger.info(
        "calibrating on %d frames, evaluating on %d; reference %s",
        len(calib),
        len(evals),
        reference,
    )

    clf = BayClassifier(bays, width, height, features=args.features)
    report = clf.calibrate([lf.read() for lf in calib], [lf.occupied for lf in calib], ref_image)
    if args.save_model:
        clf.save(args.save_model)
    result: dict[str, object] = {
        "calibrate": [str(p) for p in args.calibrate],
        "evaluate": [str(p) for p in args.evaluate],
        "features": list(clf.features),
        "calibration": {
            "frames": len(calib),
            "samples": report.samples,
            "occupied": report.occupied,
            "train_accuracy": round(report.train_accuracy, 4),
        },
    }
    overlap = {lf.image_path for lf in calib} & {lf.image_path for lf in evals}
    if overlap:
        logger.warning("%d evaluation frames were also calibrated on", len(overlap))
    result["overlap_frames"] = len(overlap)
    result.update(evaluate(clf, evals, repeat=args.repeat))
    if args.acpds:
        result["cross_camera_acpds"] = cross_camera(Path(args.acpds), calib, bays)
    per_frame = cast(list[dict[str, Any]], result.pop("per_frame"))  # evaluate()'s rows
    for row in per_frame:
        print(
            f"{row['frame']}: occupied {row['occupied']} predicted {row['predicted']} "
            f"errors {row['errors']}"
        )
    result["worst_frames"] = sorted(per_frame, key=lambda r: -r["errors"])[:3]
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
