"""Camera bays on real PKLot UFPR05 frames: calibrate on one day, measure on others."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from errors import ConfigError, InvalidInputError
from vision.space_config import BayPolygonConfig, CameraBaysConfig, build_monitor, load_bays
from vision.space_dataset import common_bays, find_empty_reference, labelled_frames
from vision.spaces import (
    Bay,
    BayClassifier,
    BayMonitor,
    BayState,
    FrameSizeError,
    camera_readings,
    parse_pklot_xml,
)

UFPR05 = Path("/work/shared/data/parking/ufpr05")
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

needs_data = pytest.mark.skipif(
    not (UFPR05 / "sequence1" / "bounding_boxes").is_dir(),
    reason=f"PKLot UFPR05 frames not found at {UFPR05} (see /work/shared/data/README.md)",
)


@pytest.fixture(scope="module")
def frames_by_seq() -> dict[str, list]:
    return {
        s: labelled_frames([UFPR05 / s])
        for s in ("sequence0", "sequence1", "sequence2", "sequence3")
    }


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    path = find_empty_reference([UFPR05 / "sequence1"])
    assert path is not None
    image = cv2.imread(str(path))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def classifier(frames_by_seq: dict[str, list], reference: np.ndarray) -> BayClassifier:
    calib = frames_by_seq["sequence1"]
    clf = BayClassifier(common_bays(calib), 1280, 720)
    clf.calibrate([f.read() for f in calib], [f.occupied for f in calib], reference)
    return clf


# --- PKLot XML --------------------------------------------------------------------------------

_XML = b"""<parking id="t">
  <space id="1" occupied="1">
    <rotatedRect><center x="100" y="100"/><size w="40" h="80"/><angle d="0"/></rotatedRect>
    <contour><point x="80" y="60"/><point x="120" y="60"/><point x="120" y="140"/>
      <point x="80" y="140"/></contour>
  </space>
  <space id="2">
    <rotatedRect><center x="200" y="100"/><size w="40" h="80"/><angle d="0"/></rotatedRect>
  </space>
</parking>"""


def test_pklot_xml_contour_and_rotated_rect_fallback() -> None:
    ann = parse_pklot_xml(_XML)
    assert [b.id for b in ann.bays] == ["1", "2"]
    assert ann.bays[0].polygon == ((80, 60), (120, 60), (120, 140), (80, 140))
    xs = sorted(x for x, _ in ann.bays[1].polygon)
    assert xs[0] == pytest.approx(180) and xs[-1] == pytest.approx(220)
    assert ann.occupied == (True, None)
    assert not ann.labelled


@pytest.mark.parametrize(
    "data",
    [
        b"<parking><space id='1'>",  # truncated
        b"<parking></parking>",  # no spaces
        b"<parking><space occupied='1'><contour/></space></parking>",  # no id
        b"<parking><space id='1'><contour><point x='1' y='1'/></contour></space></parking>",
        b"<parking><space id='1'><contour><point x='a' y='1'/><point x='2' y='2'/>"
        b"<point x='3' y='1'/></contour></space></parking>",
    ],
)
def test_pklot_xml_malformed_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInputError):
        parse_pklot_xml(data)


def test_a_camera_left_at_another_size_is_said_at_the_start_of_the_run_not_every_frame(
    classifier: BayClassifier, reference: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    """Every rejected frame was a WARNING: a camera re-set to another resolution wrote one
    every ``every_s`` (~17,000 a day at 5 s), burying everything else in the log."""
    monitor = BayMonitor(classifier, name="lot-east")
    wrong = np.zeros((360, 640, 3), np.uint8)
    caplog.set_level(logging.INFO, logger="vision.spaces")
    for second in range(250):
        with pytest.raises(FrameSizeError):
            monitor.update(wrong, T0 + timedelta(seconds=second))
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m.split(" (")[1].split(",")[0] for m in said] == [
        "1 in a row", "2 in a row", "3 in a row", "4 in a row", "5 in a row", "100 in a row",
        "200 in a row"]
    assert monitor.rejected_frames == 250  # every one still counted
    caplog.clear()
    monitor.update(reference, T0 + timedelta(seconds=300))
    assert [r.getMessage() for r in caplog.records] == [
        "bay camera lot-east: bay frames read again after 250 rejected"]
    caplog.clear()
    with pytest.raises(FrameSizeError):
        monitor.update(wrong, T0 + timedelta(seconds=305))
    assert "(1 in a row, 251 so far)" in caplog.records[0].getMessage()


@needs_data
def test_pklot_real_file_has_40_bays_and_labels() -> None:
    ann = parse_pklot_xml(UFPR05 / "sequence3" / "bounding_boxes" / "2013-03-19_07_25_01.xml")
    assert len(ann.bays) == 40 and ann.labelled
    assert sum(bool(o) for o in ann.occupied) == 24


# --- classifier on real frames ----------------------------------------------------------------


@needs_data
@pytest.mark.parametrize(("sequence", "bound"), [("sequence2", 0.97), ("sequence3", 0.97)])
def test_calibrated_on_one_day_classifies_another(
    classifier: BayClassifier, frames_by_seq: dict[str, list], sequence: str, bound: float
) -> None:
    # Measured with bench.spaces: sequence1 -> sequence2 0.990, -> sequence3 0.990.
    frames = frames_by_seq[sequence]
    pred = np.concatenate([classifier.predict(f.read()) for f in frames])
    truth = np.concatenate([np.asarray(f.occupied) for f in frames])
    assert float(np.mean(pred == truth)) >= bound
    assert truth.sum() > 0 and float(np.mean(pred[truth])) >= 0.9  # recall of occupied


@needs_data
def test_all_free_shadow_day_stays_mostly_free(
    classifier: BayClassifier, frames_by_seq: dict[str, list]
) -> None:
    # sequence0 is a Sunday with no car, including the 17:55 long-shadow frame. Measured 5
    # false alarms in 200 bays.
    frames = frames_by_seq["sequence0"]
    false_alarms = sum(int(classifier.predict(f.read()).sum()) for f in frames)
    assert false_alarms <= 10


@needs_data
def test_features_are_fast_enough(classifier: BayClassifier, reference: np.ndarray) -> None:
    classifier.predict_proba(reference)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        classifier.predict_proba(reference)
        times.append(time.perf_counter() - start)
    # Target 30 ms on one core; the bound leaves room for a loaded test machine.
    assert sorted(times)[2] < 0.1


@needs_data
def test_save_load_roundtrip(
    classifier: BayClassifier, reference: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "bays.npz"
    classifier.save(path)
    loaded = BayClassifier.load(path)
    assert loaded.bays == classifier.bays and loaded.features == classifier.features
    np.testing.assert_allclose(loaded.predict_proba(reference), classifier.predict_proba(reference))


def test_load_garbage_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a model")
    with pytest.raises(InvalidInputError):
        BayClassifier.load(path)


@needs_data
def test_calibration_needs_both_classes(
    frames_by_seq: dict[str, list], reference: np.ndarray
) -> None:
    free_only = frames_by_seq["sequence0"][:2]
    clf = BayClassifier(common_bays(free_only), 1280, 720)
    with pytest.raises(ValueError, match="both free and occupied"):
        clf.calibrate([f.read() for f in free_only], [f.occupied for f in free_only], reference)


# --- monitor -----------------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((360, 640, 3), np.uint8),  # wrong size
        np.zeros((720, 1280), np.uint8),  # grey
        np.zeros((720, 1280, 3), np.float32),  # wrong dtype
    ],
)
def test_wrong_frame_rejected_counted_and_state_kept(
    classifier: BayClassifier, reference: np.ndarray, bad: np.ndarray
) -> None:
    monitor = BayMonitor(classifier)
    before = monitor.update(reference, T0)
    with pytest.raises(FrameSizeError, match=r"1280x720|HxWx3|uint8"):
        monitor.update(bad, T0 + timedelta(seconds=5))
    assert monitor.rejected_frames == 1
    after = monitor.update(reference, T0 + timedelta(seconds=10))
    assert [b.state for b in after.bays] == [b.state for b in before.bays]
    assert isinstance(FrameSizeError("x"), InvalidInputError)


@needs_data
def test_many_bays_flipping_at_once_marks_frame_unreliable(
    classifier: BayClassifier, frames_by_seq: dict[str, list]
) -> None:
    empty = [f.read() for f in frames_by_seq["sequence0"][:2]]
    busy = frames_by_seq["sequence3"][-1]  # 24 of 40 bays occupied
    monitor = BayMonitor(classifier, max_flip_fraction=0.25)
    for i, image in enumerate(empty):
        assert monitor.update(image, T0 + timedelta(seconds=5 * i)).reliable
    result = monitor.update(busy.read(), T0 + timedelta(seconds=10))
    assert not result.reliable and result.flipped >= 20
    assert result.observed_at == T0 + timedelta(seconds=5)  # the last reliable frame
    assert all(b.state is BayState.FREE for b in result.bays)  # the frame was not used
    assert monitor.unreliable_frames == 1


def _probe_monitor(**kwargs: object) -> BayMonitor:
    """A monitor over a 4-bay classifier fed probabilities directly (no image needed)."""
    square = ((0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0))
    bays = [Bay(str(i), tuple((x + 30 * i, y) for x, y in square)) for i in range(4)]
    clf = BayClassifier(bays, 160, 40, scale=1.0)
    return BayMonitor(clf, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("probabilities", "expected"),
    [
        # k-of-n: one stray frame does not flip a bay, two of three do.
        ([0.1, 0.9, 0.1], "free"),
        ([0.1, 0.9, 0.9], "occupied"),
        ([0.9, 0.1, 0.9], "occupied"),
        ([0.9, 0.1, 0.1], "free"),
        # hysteresis (margin 0.1): 0.55 is not enough to leave "free", 0.45 not to leave
        # "occupied".
        ([0.1, 0.55, 0.55], "free"),
        ([0.9, 0.45, 0.45], "occupied"),
        ([0.9, 0.35, 0.35], "free"),
    ],
)
def test_monitor_k_of_n_with_hysteresis(probabilities: list[float], expected: str) -> None:
    monitor = _probe_monitor(window=3, min_agree=2, margin=0.1, max_flip_fraction=1.0)
    result = None
    for i, p in enumerate(probabilities):
        result = monitor.observe([p, 0.0, 0.0, 0.0], T0 + timedelta(seconds=i))
    assert result is not None and result.bays[0].state == expected


def test_monitor_rebases_after_many_unreliable_frames_or_a_gap() -> None:
    monitor = _probe_monitor(max_flip_fraction=0.25, rebase_after=3, rebase_gap_s=60)
    monitor.observe([0.0] * 4, T0)
    flags = [monitor.observe([1.0] * 4, T0 + timedelta(seconds=i)).reliable for i in (1, 2, 3)]
    assert flags == [False, False, True]
    assert all(b.state is BayState.OCCUPIED for b in monitor.observe([1.0] * 4, T0).bays)
    # After a 10-minute outage the scene is re-read, not judged against stale state.
    later = monitor.observe([0.0] * 4, T0 + timedelta(minutes=10))
    assert later.reliable and all(b.state is BayState.FREE for b in later.bays)


@pytest.mark.parametrize("probs", [[0.1, 0.2], [0.1, float("nan"), 0.1, 0.1]])
def test_monitor_refuses_bad_probability_vectors(probs: list[float]) -> None:
    monitor = _probe_monitor()
    with pytest.raises(InvalidInputError):
        monitor.observe(probs, T0)
    assert monitor.rejected_frames == 1 and monitor.frames == 0


def test_camera_readings_map_bays_to_spaces_and_skip_unknown() -> None:
    monitor = _probe_monitor(max_flip_fraction=1.0)
    result = monitor.observe([0.9, 0.1, 0.9, 0.1], T0)
    readings = camera_readings(result, {"0": "A-001"}, camera_id="cam")
    assert [(r.space_id, r.occupied) for r in readings] == [
        ("A-001", True),
        ("1", False),
        ("2", True),
        ("3", False),
    ]
    assert all(r.at == T0 and r.camera_id == "cam" for r in readings)


# --- config --------------------------------------------------------------------------------


def _config(**overrides: object) -> dict:
    base: dict = {
        "id": "lot-east",
        "source": "rtsp://10.0.0.21/stream2",
        "frame_width": 1280,
        "frame_height": 720,
        "bays_xml": str(UFPR05 / "sequence0" / "bounding_boxes" / "2013-02-24_10_05_04.xml"),
        "reference_image": "/nonexistent/empty.jpg",
        "model_path": "/nonexistent/model.npz",
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    "overrides",
    [
        {"bays": [{"id": "1", "points": [[0, 0], [1, 0], [1, 1]]}]},  # both bay sources
        {"bays_xml": None},  # neither
        {"colour": "red"},  # unknown key
        {"smoothing": {"window": 2, "min_agree": 3}},
        {"features": ["wheel_count"]},
        {"max_flip_fraction": 0},
    ],
)
def test_camera_config_refuses_bad_settings(overrides: dict) -> None:
    with pytest.raises(ValidationError):
        CameraBaysConfig(**_config(**overrides))


def test_camera_config_inline_bays() -> None:
    cfg = CameraBaysConfig(
        **_config(bays_xml=None, bays=[BayPolygonConfig(id="7", points=[(0, 0), (9, 0), (9, 9)])])
    )
    assert load_bays(cfg) == (Bay("7", ((0, 0), (9, 0), (9, 9))),)


def test_build_monitor_without_model_is_config_error() -> None:
    with pytest.raises(ConfigError):
        build_monitor(CameraBaysConfig(**_config()))


@needs_data
def test_build_monitor_checks_bays_and_size(classifier: BayClassifier, tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    classifier.save(path)
    monitor = build_monitor(CameraBaysConfig(**_config(model_path=str(path))))
    assert len(monitor.classifier.bays) == 40
    with pytest.raises(ConfigError, match="other bays"):
        build_monitor(
            CameraBaysConfig(
                **_config(
                    model_path=str(path),
                    bays_xml=None,
                    bays=[BayPolygonConfig(id="1", points=[(0, 0), (9, 0), (9, 9)])],
                )
            )
        )
    with pytest.raises(ConfigError, match="1280"):
        build_monitor(CameraBaysConfig(**_config(model_path=str(path), frame_width=640)))
