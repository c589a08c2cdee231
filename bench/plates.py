"""Benchmark plate reading on labelled photos, against a plain PP-OCRv4 baseline.

    python -m bench.plates DATA_DIR [--limit N] [--engine onnxruntime|paddle]

DATA_DIR/labels.csv has columns ``file, plate`` and optionally ``kind`` (full|crop),
``n_plates`` and ``source_repo``. Timing is per image with decoding included, on one thread.
The baseline is the whole photo through the PP-OCRv4 detector (≤ 960 px) and recogniser,
keeping the highest-scoring text that is a plate. Progress goes to stderr; the last line of
stdout is one JSON object with the figures.

It also reports what a gate would do with each single-plate photo, every labelled plate being
registered: ``opens`` when the first read matches its own plate (look-alikes, and a province
the reader was unsure of, as in ``controllers.plate_match``), ``wrong_car`` when it matches
another registered plate. The baseline reports no per-character confidences, so only the
look-alike rule applies to it.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import ValidationError

from controllers.plate_match import match_plate
from settings import AccessConfig
from vision.images import decode_image
from vision.plate_config import PlateRecognitionConfig
from vision.plate_engines import create_engine
from vision.plate_grammar import normalize_plate
from vision.plate_recognizer import LocalisingPlateRecognizer

logger = logging.getLogger("bench.plates")

# Each read: the plate text and the reader's confidence in its province character.
Reader = Callable[[bytes, str], list[tuple[str, float]]]
PROVINCE_UNSURE_BELOW = AccessConfig.model_fields["fuzzy_province_unsure_below"].default


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    plate: str
    kind: str
    n_plates: int
    source: str


@dataclass(frozen=True, slots=True)
class Result:
    sample: Sample
    reads: list[tuple[str, float]]
    ms: float

    @property
    def texts(self) -> list[str]:
        return [text for text, _ in self.reads]

    @property
    def exact(self) -> bool:
        if self.sample.n_plates > 1:
            return self.sample.plate in self.texts
        return bool(self.texts) and self.texts[0] == self.sample.plate

    @property
    def char_accuracy(self) -> float:
        texts = self.texts if self.sample.n_plates > 1 else self.texts[:1]
        if not texts:
            return 0.0
        label = self.sample.plate
        return max(max(0.0, 1 - _levenshtein(t, label) / len(label)) for t in texts)


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def load_samples(data_dir: Path, limit: int | None) -> list[Sample]:
    labels = data_dir / "labels.csv"
    with labels.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    samples = []
    for row in rows:
        source = row.get("source_repo") or ""
        source = "easypr" if "easypr" in source.lower() or "easypr" in row["file"] else "ccpd"
        samples.append(
            Sample(
                path=data_dir / row["file"],
                plate=row["plate"],
                kind=(row.get("kind") or "full").strip() or "full",
                n_plates=int(row.get("n_plates") or 1),
                source=source,
            )
        )
    if limit is not None:
        # Keep the mix of kinds when limiting: take every k-th sample.
        step = max(1, len(samples) // limit)
        samples = samples[::step][:limit]
    return samples


def run(
    samples: list[Sample], reader: Reader, label: str, clock: Callable[[], float]
) -> list[Result]:
    results = []
    if samples:
        # One untimed read first: onnxruntime and paddle allocate and optimise on first run.
        reader(samples[0].path.read_bytes(), samples[0].kind)
    for k, sample in enumerate(samples, start=1):
        data = sample.path.read_bytes()
        start = clock()
        reads = reader(data, sample.kind)
        ms = (clock() - start) * 1000
        results.append(Result(sample, reads, ms))
        if k % 25 == 0 or k == len(samples):
            done = results[-25:]
            logger.info(
                "%s: %d/%d, exact in last %d: %d",
                label,
                k,
                len(samples),
                len(done),
                sum(r.exact for r in done),
            )
        if not results[-1].exact:
            logger.debug("%s miss %s: %s read %s", label, sample.path.name, sample.plate,
                         results[-1].texts)
    return results


def summarise(results: list[Result]) -> dict[str, float | int]:
    if not results:
        return {"n": 0, "exact": 0.0, "char": 0.0, "p50_ms": 0.0, "p95_ms": 0.0}
    ms = [r.ms for r in results]
    return {
        "n": len(results),
        "exact": round(sum(r.exact for r in results) / len(results), 4),
        "char": round(statistics.fmean(r.char_accuracy for r in results), 4),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
    }


def ours(config: PlateRecognitionConfig) -> Reader:
    engine = create_engine(config)
    # The fallback detector loads lazily; load it now so no timed image pays for it.
    engine.detect(np.zeros((64, 64, 3), np.uint8))
    recognizer = LocalisingPlateRecognizer(config, engine)

    def read(data: bytes, kind: str) -> list[tuple[str, float]]:
        image = decode_image(data)
        if kind == "crop":
            one = recognizer.read_crop(image)
            reads = [] if one is None else [one]
        else:
            reads = recognizer.read(image)
        return [(r.text, r.char_confidences[0] if r.char_confidences else 1.0) for r in reads]

    return read


def baseline(threads: int) -> Reader:
    """Plain PP-OCRv4 on the whole photo: detector at ≤ 960 px, recogniser, plate regex."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(
        use_cls=False,
        det_limit_type="max",
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
    )

    def read(data: bytes, kind: str) -> list[tuple[str, float]]:
        image = decode_image(data)
        h, w = image.shape[:2]
        scale = min(1.0, 960 / max(h, w))
        if scale < 1.0:
            image = cv2.resize(image, (round(w * scale), round(h * scale)))
        result, _ = engine(image, use_det=kind != "crop", use_cls=False, use_rec=True)
        scored: list[tuple[float, str]] = []
        for item in result or []:
            text, score = (item[1], item[2]) if kind != "crop" else (item[0], item[1])
            plate = normalize_plate(str(text))
            if plate is not None:
                scored.append((float(score), plate))
        return [(p, 1.0) for _, p in sorted(scored, reverse=True)]

    return read


def gate_outcomes(results: list[Result]) -> dict[str, float | int]:
    """Single-plate photos with every labelled plate registered: how often the first read
    opens for its own car, and how often for another registered car."""
    single = [r for r in results if r.sample.kind != "crop" and r.sample.n_plates == 1]
    registered = sorted({r.sample.plate for r in single})
    opens = wrong = 0
    for r in single:
        if not r.reads:
            continue
        text, province = r.reads[0]
        match = match_plate(text, registered, max_distance=1,
                            province_tolerance=province < PROVINCE_UNSURE_BELOW)
        if match is not None:
            opens += match.plate == r.sample.plate
            wrong += match.plate != r.sample.plate
    n = max(1, len(single))
    return {"n": len(single), "registered": len(registered),
            "opens": round(opens / n, 4), "wrong_car": round(wrong / n, 4)}


def priority_split(results: list[Result], provinces: str) -> dict[str, float | int]:
    """Full photos split by whether their plate is from a priority province: exact reads of
    each, and how many plates from elsewhere were misread with a priority province."""
    full = [r for r in results if r.sample.kind != "crop"]
    local = [r for r in full if r.sample.plate[0] in provinces]
    elsewhere = [r for r in full if r.sample.plate[0] not in provinces]
    turned = sum(
        not r.exact and bool(r.texts) and r.texts[0][0] in provinces for r in elsewhere
    )
    return {
        "local_n": len(local),
        "local_exact": round(sum(r.exact for r in local) / max(1, len(local)), 4),
        "elsewhere_n": len(elsewhere),
        "elsewhere_exact": round(sum(r.exact for r in elsewhere) / max(1, len(elsewhere)), 4),
        "elsewhere_read_as_local": turned,
    }


def priority_line(split: dict[str, float | int], provinces: str) -> str:
    return (
        f"priority {provinces}: its {split['local_n']} plates {split['local_exact']:.1%} exact; "
        f"{split['elsewhere_n']} from elsewhere {split['elsewhere_exact']:.1%}, "
        f"{split['elsewhere_read_as_local']} read as {provinces}"
    )


def _groups(results: list[Result]) -> dict[str, list[Result]]:
    full = [r for r in results if r.sample.kind != "crop"]
    return {
        "full": full,
        "full_single": [r for r in full if r.sample.n_plates == 1],
        "crop": [r for r in results if r.sample.kind == "crop"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plates", description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--engine", choices=["onnxruntime", "paddle"], default="onnxruntime")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline run")
    parser.add_argument("--source", choices=["easypr", "ccpd"], default=None)
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time per image as wall-clock (default) or this thread's CPU time, which other "
        "load on the machine does not inflate",
    )
    parser.add_argument(
        "--priority-provinces",
        default="",
        help="a site's own province character(s), as plates.priority_provinces; the report "
        "then splits accuracy into plates from there and from elsewhere",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every miss")
    args = parser.parse_args(argv)
    try:
        config = PlateRecognitionConfig(
            engine=args.engine, threads=1, priority_provinces=args.priority_provinces
        )
    except ValidationError as err:
        parser.error(f"--priority-provinces: {err.errors()[0]['msg']}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    # paddle lowers the root logger to WARNING when imported: pin our own level.
    logger.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for noisy in ("vision", "RapidOCR", "OrtInferSession", "ppocr"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    cv2.setNumThreads(1)
    samples = load_samples(args.data_dir, args.limit)
    if args.source:
        samples = [s for s in samples if s.kind == "crop" or s.source == args.source]
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    mine = run(samples, ours(config), f"parkgate/{args.engine}", clock)
    groups = {name: summarise(rs) for name, rs in _groups(mine).items()}
    by_source = {
        src: summarise([r for r in _groups(mine)["full"] if r.sample.source == src])
        for src in sorted({s.source for s in samples if s.kind != "crop"})
    }
    gate = gate_outcomes(mine)
    base_gate: dict[str, float | int] | None = None
    report: dict[str, object] = {**groups, "gate": gate}
    if not args.no_baseline:
        base = run([s for s in samples if s.kind != "crop"], baseline(1), "baseline", clock)
        base_full = summarise(base)
        report["baseline"] = base_full
        report["baseline_gate"] = base_gate = gate_outcomes(base)
        report["baseline_by_source"] = {
            src: summarise([r for r in base if r.sample.source == src])
            for src in sorted({r.sample.source for r in base})
        }
        full = groups["full"]
        report["ratios"] = {
            "speed_p50": round(base_full["p50_ms"] / max(full["p50_ms"], 1e-9), 2),
            "speed_p95": round(base_full["p95_ms"] / max(full["p95_ms"], 1e-9), 2),
            "exact": round(full["exact"] / max(base_full["exact"], 1e-9), 3),
            "char": round(full["char"] / max(base_full["char"], 1e-9), 3),
        }
    report["by_source"] = by_source
    report["clock"] = args.clock
    if args.priority_provinces:
        report["priority"] = {"provinces": args.priority_provinces,
                              **priority_split(mine, args.priority_provinces)}
    print(f"{'set':<14}{'n':>5}{'exact':>9}{'char':>9}{'p50 ms':>9}{'p95 ms':>9}")
    rows = {**groups, **{f"full:{k}": v for k, v in by_source.items()}}
    if "baseline" in report:
        rows["baseline"] = report["baseline"]  # type: ignore[assignment]
    for name, s in rows.items():
        print(
            f"{name:<14}{s['n']:>5}{s['exact']:>9.1%}{s['char']:>9.1%}"
            f"{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}"
        )
    line = (f"gate ({gate['n']} single-plate photos, {gate['registered']} plates registered): "
            f"opens for its car {gate['opens']:.1%}, for another car {gate['wrong_car']:.1%}")
    if base_gate is not None:
        line += f"; baseline {base_gate['opens']:.1%} / {base_gate['wrong_car']:.1%}"
    print(line)
    if args.priority_provinces:
        print(priority_line(priority_split(mine, args.priority_provinces),
                            args.priority_provinces))
    if "ratios" in report:
        print("vs baseline:", report["ratios"])
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
