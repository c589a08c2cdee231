"""The plate recogniser on real photos from /work/shared/data/plates, plus its contracts."""

from __future__ import annotations

import csv
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from errors import InvalidInputError, RecognitionError, UnsupportedMediaError
from vision.images import decode_image
from vision.plate_config import PlateRecognitionConfig, PlateVotingConfig
from vision.plate_engines import CtcPlateDecoder, TextLine
from vision.plate_grammar import PLATE_ALPHABET, PROVINCES
from vision.plate_recognizer import (
    LocalisingPlateRecognizer,
    PlateRecognizer,
    blur_metric,
    create_plate_recognizer,
    noise_sigma,
    white_point,
)
from vision.plate_simulated import ScriptedPlateRecognizer
from vision.types import BoundingBox, PlateColor, PlateRead

DATA = Path("/work/shared/data/plates")

# A fixed sample across both sources, colours and kinds (blue, yellow, green new-energy,
# a steep side view, a night shot with a timestamp overlay).
FULL_SAMPLE = [
    "full/ccpd_000.jpg",
    "full/ccpd_018.jpg",
    "full/easypr_006.jpg",
    "full/easypr_009.jpg",
    "full/easypr_144.jpg",
    "full/easypr_211.jpg",
]
NIGHT_OR_GLARE = {"full/easypr_009.jpg", "full/easypr_211.jpg"}
CROP_SAMPLE = ["crops/lprnet_000.jpg", "crops/lprnet_004.jpg", "crops/lprnet_005.jpg"]


def _require_photos() -> None:
    if not (DATA / "labels.csv").is_file():
        pytest.skip(f"real plate photos not found at {DATA} (shared data set absent)")


def _labels() -> dict[str, dict[str, str]]:
    _require_photos()
    with (DATA / "labels.csv").open(encoding="utf-8", newline="") as fh:
        return {row["file"]: row for row in csv.DictReader(fh)}


def _image(name: str) -> np.ndarray:
    """A photo of the shared data set (the test is skipped where the set is absent)."""
    _require_photos()
    return decode_image((DATA / name).read_bytes())


@pytest.fixture(scope="module")
def labels() -> dict[str, dict[str, str]]:
    return _labels()


@pytest.fixture(scope="module")
def recognizer() -> LocalisingPlateRecognizer:
    made = create_plate_recognizer(PlateRecognitionConfig())
    assert isinstance(made, LocalisingPlateRecognizer)
    return made


@pytest.mark.parametrize("name", FULL_SAMPLE)
def test_reads_real_photos(
    name: str, labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    reads = recognizer.read(_image(name))
    assert reads, f"no plate read in {name}"
    best = reads[0]
    assert best.text == labels[name]["plate"]
    assert len(best.char_confidences) == len(best.text)
    assert best.confidence >= 0.75
    assert best.box is not None
    # Colour is judged from the plate's tint; at night or in glare it may stay UNKNOWN.
    if name not in NIGHT_OR_GLARE:
        assert best.color == PlateColor(labels[name]["color"])


@pytest.mark.parametrize("name", CROP_SAMPLE)
def test_reads_tight_crops(
    name: str, labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    read = recognizer.read_crop(_image(name))
    assert read is not None and read.text == labels[name]["plate"]


def test_several_plates_ranked_by_lane_not_score(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # A bus close to the camera (bottom left, large plate) and a car further back (right,
    # small plate, which the localiser finds first). The bus is the vehicle at the gate.
    name = "full/easypr_101.jpg"
    reads = recognizer.read(_image(name))
    assert [r.text for r in reads][:1] == [labels[name]["plate"]]
    assert len(reads) == 2


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buffer = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    assert ok
    return decode_image(buffer.tobytes())


@pytest.mark.parametrize("quality", [None, 60])
def test_every_car_in_a_busy_frame_is_reported_the_lane_car_first(
    quality: int | None, recognizer: LocalisingPlateRecognizer
) -> None:
    # Three cars side by side in traffic. Recompressed, the car at the frame's edge used to
    # go unread: the search stopped after one confident plate and skipped strong proposals
    # that sat worse in the lane than it.
    image = _image("full/easypr_005.jpg")
    if quality is not None:
        image = _jpeg(image, quality)
    texts = [r.text for r in recognizer.read(image)]
    assert len(texts) == 3 and "冀FA3215" in texts
    # The small plate behind: its province is a coin toss between 豫 and 湘 as the photo is.
    assert any(t[1:] == "AT1203" for t in texts)
    assert texts[0] == "湘AMV062"  # the car in the middle, where the default lane anchor is


def test_overlay_text_is_never_a_plate(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # Night shot with a camera caption and timestamp burnt in at the top left.
    name = "full/easypr_009.jpg"
    image = _image(name)
    caption_only = image[:60, :320].copy()
    assert recognizer.read(caption_only) == []
    # With the caption in the frame: the car's plate and nothing else.
    assert [r.text for r in recognizer.read(image)] == [labels[name]["plate"]]


def test_region_of_interest(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    name = "full/ccpd_000.jpg"
    image = _image(name)
    x1, y1, x2, y2 = (float(v) for v in labels[name]["bbox"].split(","))
    region = BoundingBox(x1 - 150, y1 - 100, x2 + 150, y2 + 100)
    reads = recognizer.read(image, region)
    assert reads and reads[0].text == labels[name]["plate"]
    box = reads[0].box
    assert box is not None
    # The box is reported in full-frame coordinates, inside the region.
    assert region.x1 <= box.x1 < box.x2 <= region.x2
    assert region.y1 <= box.y1 < box.y2 <= region.y2
    assert abs((box.x1 + box.x2) / 2 - (x1 + x2) / 2) < 30
    # A region above the car holds no plate.
    assert recognizer.read(image, BoundingBox(0, 0, image.shape[1], 200)) == []


@pytest.mark.parametrize("name", ["full/easypr_024.jpg", "full/easypr_032.jpg"])
def test_small_frames_are_enlarged_and_boxes_stay_in_frame_coordinates(
    name: str, labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # 704x576 and 640x480 photos: smaller than the working size, so they are enlarged before
    # localising; the plate must be read and its box reported in the photo's own pixels.
    image = _image(name)
    assert max(image.shape[:2]) < recognizer.config.working_max_side
    reads = recognizer.read(image)
    assert reads and reads[0].text == labels[name]["plate"]
    box = reads[0].box
    assert box is not None
    x1, y1, x2, y2 = (float(v) for v in labels[name]["bbox"].split(","))
    assert 0 <= box.x1 < box.x2 <= image.shape[1] and 0 <= box.y1 < box.y2 <= image.shape[0]
    assert abs((box.x1 + box.x2) / 2 - (x1 + x2) / 2) < 0.25 * (x2 - x1)
    assert abs((box.y1 + box.y2) / 2 - (y1 + y2) / 2) < (y2 - y1)


def test_minimum_plate_width_counts_frame_pixels_not_enlarged_ones(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    name = "full/easypr_032.jpg"
    image = _image(name)
    (read,) = recognizer.read(image)[:1]
    assert read.box is not None
    width = read.box.x2 - read.box.x1  # in the photo's pixels
    # Enlarged ~1.25x the plate is wider than this minimum, in the photo it is not.
    assert create_plate_recognizer(
        PlateRecognitionConfig(min_plate_width_px=int(width * 1.2), use_detector_fallback=False)
    ).read(image) == []
    assert create_plate_recognizer(
        PlateRecognitionConfig(min_plate_width_px=int(width * 0.8), use_detector_fallback=False)
    ).read(image)


def test_minimum_plate_width(labels: dict[str, dict[str, str]]) -> None:
    image = _image("full/ccpd_000.jpg")
    config = PlateRecognitionConfig(
        min_plate_width_px=400, use_detector_fallback=False, contrast_retry=False
    )
    assert create_plate_recognizer(config).read(image) == []


def test_dark_frame_is_read_after_contrast_normalisation(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    name = "full/ccpd_000.jpg"
    dark = (_image(name).astype(np.float32) * 0.15).astype(np.uint8)
    reads = recognizer.read(dark)
    assert reads and reads[0].text == labels[name]["plate"]


def _with_noise(image: np.ndarray, sd: float, seed: int) -> np.ndarray:
    noisy = image + np.random.default_rng(seed).normal(0.0, sd, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["full/easypr_129.jpg", "full/easypr_138.jpg"])
@pytest.mark.parametrize("seed", [1, 2])
def test_noisy_frame_still_reads(
    name: str, seed: int, labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # Sensor noise of sd 12 per channel turns these small plates' M and J into other
    # letters (or nothing); the frame is smoothed in proportion to its measured noise.
    reads = recognizer.read(_with_noise(_image(name), 12.0, seed))
    assert reads and reads[0].text == labels[name]["plate"]


@pytest.mark.parametrize("sd", [6.0, 12.0, 20.0])
def test_noise_estimate_follows_added_noise(sd: float) -> None:
    image = _image("full/ccpd_000.jpg")
    assert noise_sigma(image) < 1.0
    # Grey averages three independent channels: sd * |(0.299, 0.587, 0.114)| = 0.67 sd.
    measured = noise_sigma(_with_noise(image, sd, 0))
    assert measured == pytest.approx(0.67 * sd, rel=0.2)


def test_clean_real_photos_are_not_smoothed(recognizer: LocalisingPlateRecognizer) -> None:
    # Every sample photo measures well under the threshold that starts smoothing.
    threshold = recognizer.config.noise_smoothing_above
    for name in FULL_SAMPLE:
        assert noise_sigma(_image(name)) < 0.8 * threshold, name


@pytest.mark.parametrize(
    "name", ["full/easypr_009.jpg", "full/easypr_064.jpg", "full/easypr_160.jpg"]
)
@pytest.mark.parametrize("exposure", [0.25, 0.35])
def test_underexposed_frame_still_reads(
    name: str,
    exposure: float,
    labels: dict[str, dict[str, str]],
    recognizer: LocalisingPlateRecognizer,
) -> None:
    # A night shot, a blue and a yellow-lit plate at a quarter to a third of their exposure:
    # the plate sits in a few dozen grey levels until the frame's white point is restored.
    dark = (_image(name).astype(np.float32) * exposure).astype(np.uint8)
    reads = recognizer.read(dark)
    assert reads and reads[0].text == labels[name]["plate"]


def test_only_underexposed_frames_get_a_gain(recognizer: LocalisingPlateRecognizer) -> None:
    threshold = recognizer.config.exposure_gain_below
    for name in FULL_SAMPLE:
        image = _image(name)
        # Night shots included: a lit plate or lamp keeps their white point high.
        assert white_point(image) >= threshold, name
        assert white_point((image * 0.35).astype(np.uint8)) < threshold, name


@pytest.mark.parametrize(
    "name", ["full/easypr_006.jpg", "full/easypr_122.jpg", "full/ccpd_025.jpg"]
)
def test_blurred_frame_still_reads(
    name: str, labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # Defocus of sigma 1.5 px merges these plates' strokes until the frame is sharpened.
    blurred = cv2.GaussianBlur(_image(name), (0, 0), 1.5)
    reads = recognizer.read(blurred)
    assert reads and reads[0].text == labels[name]["plate"]


def test_softness_measure_tells_blur_from_a_busy_scene(
    recognizer: LocalisingPlateRecognizer,
) -> None:
    threshold = recognizer.config.sharpen_blur_above
    for name in FULL_SAMPLE:
        image = _image(name)
        assert blur_metric(image) < threshold, name
        # Measured on the same scene, so only the optics changed.
        assert blur_metric(cv2.GaussianBlur(image, (0, 0), 2.0)) >= threshold, name
        assert blur_metric(image) < blur_metric(cv2.GaussianBlur(image, (0, 0), 1.0))


def test_concurrent_reads_agree(recognizer: LocalisingPlateRecognizer) -> None:
    images = [_image(n) for n in FULL_SAMPLE[:3]] * 2
    with ThreadPoolExecutor(max_workers=3) as pool:
        texts = list(pool.map(lambda im: [r.text for r in recognizer.read(im)], images))
    assert texts[:3] == texts[3:]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((100, 100), dtype=np.uint8),  # grey
        np.zeros((100, 100, 3), dtype=np.float32),
        np.zeros((100, 100, 4), dtype=np.uint8),
        np.zeros((4, 100, 3), dtype=np.uint8),
        b"\xff\xd8\xff not an array",
    ],
)
def test_bad_input_is_a_clear_error(bad: object, recognizer: LocalisingPlateRecognizer) -> None:
    with pytest.raises(InvalidInputError):
        recognizer.read(bad)  # type: ignore[arg-type]


def test_region_outside_image(recognizer: LocalisingPlateRecognizer) -> None:
    with pytest.raises(InvalidInputError, match="outside"):
        recognizer.read(np.zeros((100, 100, 3), np.uint8), BoundingBox(500, 500, 600, 600))


def test_non_image_bytes_are_refused_before_reading() -> None:
    with pytest.raises(UnsupportedMediaError):
        decode_image(b"GIF89a...")


class _FakeEngine:
    """Replays raw recogniser lines, to pin the grammar and confidence gates."""

    name = "fake"

    def __init__(self, line: TextLine) -> None:
        self.line = line

    def recognize(self, crops: list[np.ndarray]) -> list[TextLine]:
        return [self.line for _ in crops]

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        return [np.array([[10, 10], [110, 10], [110, 40], [10, 40]], np.float32)]


@pytest.mark.parametrize(
    ("text", "confs", "expected"),
    [
        ("皖AYL375", [0.99] * 7, "皖AYL375"),
        ("车牌号码苏A12345", [0.99] * 11, None),  # caption containing a plate
        ("20131101", [0.99] * 8, None),  # timestamp digits
        # An unsure province is allowed (look-alike provinces share its probability)...
        ("皖AYL375", [0.1] + [0.99] * 6, "皖AYL375"),
        # ...an unsure 使 is not: six confident digits must not become an embassy plate.
        ("使123456", [0.1] + [0.99] * 6, None),
        ("使123456", [0.95] + [0.99] * 6, "使123456"),
        ("皖AYL375", [0.99] * 6 + [0.05], None),  # one character forced into the alphabet
        ("皖AYL375", [0.6] * 7, None),  # too unsure overall
        ("皖AD39970", [0.99] * 8, "皖AD39970"),
    ],
)
def test_read_gates(text: str, confs: list[float], expected: str | None) -> None:
    engine = _FakeEngine(TextLine(text, tuple(confs)))
    # The fake detector's quad is fixed in pixels: keep the frame at its own size.
    config = PlateRecognitionConfig(contrast_retry=False, upscale_small_frames=False)
    recognizer = LocalisingPlateRecognizer(config, engine, use_localiser=False)
    reads = recognizer.read(np.full((120, 200, 3), 128, np.uint8))
    assert [r.text for r in reads] == ([] if expected is None else [expected])
    if expected == "皖AD39970":
        assert reads[0].color is PlateColor.GREEN  # new-energy family implies the colour


class _StagedEngine(_FakeEngine):
    """Reads ``early`` for every crop until the text detector has run, ``late`` after it;
    counts its calls."""

    def __init__(self, early: TextLine, late: TextLine) -> None:
        super().__init__(early)
        self.late = late
        self.recognize_calls = 0
        self.detect_calls = 0

    def recognize(self, crops: list[np.ndarray]) -> list[TextLine]:
        self.recognize_calls += 1
        return [self.late if self.detect_calls else self.line for _ in crops]

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        self.detect_calls += 1
        return super().detect(image)


def test_a_sure_first_read_runs_no_retry() -> None:
    image = _image("full/ccpd_000.jpg")
    sure = TextLine("皖AYL375", (0.99,) * 7)
    calls = []
    for retry in (True, False):
        engine = _StagedEngine(sure, sure)
        config = PlateRecognitionConfig(contrast_retry=retry)
        assert [r.text for r in LocalisingPlateRecognizer(config, engine).read(image)] == [
            "皖AYL375"
        ]
        assert engine.detect_calls == 0
        calls.append(engine.recognize_calls)
    # The contrast-normalised pass never ran: as many recogniser calls as without it.
    assert calls[0] == calls[1] >= 1


def test_unsure_reads_from_several_stages_keep_the_surest_province() -> None:
    # Every stage reads the plate with an unsure province; the detector stage's is the
    # least unsure, so it wins over the first stage's read.
    image = _image("full/ccpd_000.jpg")
    early = TextLine("鄂AYL375", (0.05, *(0.99,) * 6))
    late = TextLine("皖AYL375", (0.15, *(0.99,) * 6))
    engine = _StagedEngine(early, late)
    reads = LocalisingPlateRecognizer(PlateRecognitionConfig(), engine).read(image)
    assert engine.detect_calls == 1
    assert reads[0].text == "皖AYL375"


class _SecondLookEngine(_FakeEngine):
    """Reads ``first`` for the first crop and ``second`` for any later one; keeps the crops."""

    def __init__(self, first: TextLine, second: TextLine) -> None:
        super().__init__(first)
        self.second = second
        self.crops: list[np.ndarray] = []

    def recognize(self, crops: list[np.ndarray]) -> list[TextLine]:
        lines = [self.line if not self.crops else self.second for _ in crops]
        self.crops.extend(crops)
        return lines


def _second_look(first: TextLine, second: TextLine) -> tuple[list[PlateRead], _SecondLookEngine]:
    engine = _SecondLookEngine(first, second)
    config = PlateRecognitionConfig(contrast_retry=False, upscale_small_frames=False)
    recognizer = LocalisingPlateRecognizer(config, engine, use_localiser=False)
    return recognizer.read(np.full((120, 200, 3), 128, np.uint8)), engine


SERIAL = (0.99,) * 6


def test_an_unsure_province_is_read_again_from_a_crop_reaching_further_left() -> None:
    reads, engine = _second_look(TextLine("皖AGU801", (0.3, *SERIAL)),
                                 TextLine("川AGU801", (0.94, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8)))
    assert [(r.text, r.char_confidences) for r in reads] == [("川AGU801", (0.94, *SERIAL))]
    assert reads[0].confidence == pytest.approx((0.94 + 6 * 0.99) / 7)
    assert len(engine.crops) == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Sure already: no second look.
        (TextLine("皖AGU801", (0.95, *SERIAL)), TextLine("川AGU801", (0.99, *SERIAL))),
        # The second look reads another serial: it saw something else.
        (TextLine("皖AGU801", (0.3, *SERIAL)), TextLine("川AGU807", (0.99, *SERIAL))),
        # Surer, but not sure.
        (TextLine("皖AGU801", (0.3, *SERIAL)), TextLine("川AGU801", (0.45, *SERIAL))),
        # Sure, but less sure than the first reading...
        (TextLine("皖AGU801", (0.8, *SERIAL)), TextLine("川AGU801", (0.7, *SERIAL))),
        # ...or hardly surer: a coin toss either way.
        (TextLine("皖AGU801", (0.51, *SERIAL)), TextLine("川AGU801", (0.55, *SERIAL))),
        # The same province, surer: unchanged, confidence too, so that the later stages
        # (contrast, detector) still get their look at a frame whose province is unsure.
        (TextLine("皖AGU801", (0.03, *SERIAL)), TextLine("皖AGU801", (0.99, *SERIAL))),
    ],
)
def test_the_second_look_changes_only_an_unsure_province_to_another_sure_one(
    first: TextLine, second: TextLine
) -> None:
    reads, engine = _second_look(first, second)
    assert [(r.text, r.char_confidences) for r in reads] == [
        ("皖AGU801", first.char_confidences)]
    assert len(engine.crops) == (1 if first.char_confidences[0] >= 0.9 else 2)


def test_a_province_cut_by_the_localisers_box_is_read_whole(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # A small Sichuan plate whose box ends inside 川: read from that crop it was 皖 (the
    # model's most common province) at 0.69.
    read = recognizer.read(_image("full/easypr_020.jpg"))[0]
    assert read.text == labels["full/easypr_020.jpg"]["plate"] == "川AGU801"
    assert read.char_confidences[0] >= 0.5


def _ctc_rows(
    text: str, *, faint: dict[int, str] | None = None, strength: float = 0.3
) -> np.ndarray:
    """(1, T, classes) CTC output reading ``text``, one confident frame and one blank per
    character; ``faint`` puts a second symbol at ``strength`` under the character at that
    index (which then keeps 0.95 - strength)."""
    table = ["blank", *PLATE_ALPHABET, "院", ":"]
    probs = np.full((2 * len(text) + 2, len(table)), 1e-6)
    probs[:, 0] = 1.0
    for k, ch in enumerate(text):
        row = probs[2 * k + 1]
        row[0] = 0.05
        row[table.index(ch)] = 0.95
        if faint and k in faint:
            row[table.index(ch)] = 0.95 - strength
            row[table.index(faint[k])] = strength
    return probs[None] / probs.sum(axis=1, keepdims=True)[None]


class _CtcEngine(_FakeEngine):
    """Decodes fixed CTC output with the real decoder, whatever the crop."""

    def __init__(self, probs: np.ndarray) -> None:
        table = ["blank", *PLATE_ALPHABET, "院", ":"]
        super().__init__(CtcPlateDecoder(table).decode(probs)[0])


@pytest.mark.parametrize(
    ("probs", "expected"),
    [
        (_ctc_rows("皖AYL375"), "皖AYL375"),
        # A letter read where the province belongs (greedy AAYL375 is no plate): the
        # grammar takes the likeliest province there, at its own probability of 0.3.
        (_ctc_rows("AAYL375", faint={0: "皖"}), "皖AYL375"),
        # A digit where the issuing letter belongs: B is taken, sure or not, because only a
        # letter may stand there and 8 is what B looks like (its probability counts)...
        (_ctc_rows("皖8YL375", faint={1: "B"}), "皖BYL375"),
        (_ctc_rows("皖8YL375", faint={1: "B"}, strength=0.1), "皖BYL375"),
        # ...and a 0 there is D or Q, whichever the model gave more itself.
        (_ctc_rows("皖006417", faint={1: "Q"}, strength=0.05), "皖Q06417"),
        # A digit no letter looks like is no such evidence: the read is dropped.
        (_ctc_rows("皖3YL375", faint={1: "B"}, strength=0.1), None),
        # A timestamp is all plate characters but no plate: whatever the grammar forces
        # into it scores near zero, so nothing is read.
        (_ctc_rows("12:30:45"), None),
        (_ctc_rows("123456"), None),
        (_ctc_rows("20131101"), None),
    ],
)
def test_grammar_decoded_reads_pass_the_same_gates(probs: np.ndarray, expected: str | None) -> None:
    config = PlateRecognitionConfig(contrast_retry=False, upscale_small_frames=False)
    recognizer = LocalisingPlateRecognizer(config, _CtcEngine(probs), use_localiser=False)
    reads = recognizer.read(np.full((120, 200, 3), 128, np.uint8))
    assert [r.text for r in reads] == ([] if expected is None else [expected])


def test_paddle_engine_missing_is_a_clear_error() -> None:
    if importlib.util.find_spec("paddleocr") is not None:
        pytest.skip("paddleocr is installed here; the missing-engine error cannot be shown")
    with pytest.raises(RecognitionError, match=r"requirements-paddle\.txt"):
        create_plate_recognizer(PlateRecognitionConfig(engine="paddle"))


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecognitionError, match="not found"):
        create_plate_recognizer(PlateRecognitionConfig(model_dir=tmp_path))


def test_config_contract() -> None:
    with pytest.raises(ValidationError):
        PlateRecognitionConfig(unknown_key=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="accept_confidence"):
        PlateRecognitionConfig(min_confidence=0.9, accept_confidence=0.8)
    with pytest.raises(ValidationError):
        PlateRecognitionConfig(engine="tesseract")  # type: ignore[arg-type]
    for model in (PlateRecognitionConfig, PlateVotingConfig):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
    with pytest.raises(ValidationError):
        PlateVotingConfig(window=3)  # type: ignore[call-arg]


def test_scripted_recognizer_is_a_plate_recognizer() -> None:
    scripted: PlateRecognizer = ScriptedPlateRecognizer([["皖A·12345"], []], fail_every=3)
    frame = np.zeros((10, 10, 3), np.uint8)
    first = scripted.read(frame)
    assert [r.text for r in first] == ["皖A12345"]
    assert isinstance(first[0], PlateRead)
    assert scripted.read(frame) == []
    with pytest.raises(RecognitionError):
        scripted.read(frame)
    with pytest.raises(ValueError, match="not a valid plate"):
        ScriptedPlateRecognizer([["hello"]])


def test_decoded_photo_roundtrip_matches_cv2(labels: dict[str, dict[str, str]]) -> None:
    # The benchmark and the API decode with decode_image; it must agree with cv2.imread.
    name = FULL_SAMPLE[0]
    assert np.array_equal(_image(name), cv2.imread(str(DATA / name)))


def test_a_site_priority_province_settles_an_unsure_province(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # A small 川 plate, recompressed, whose province the model reads as 皖 (its most common
    # training province); a community in Sichuan sets 川 and gets its resident's plate right.
    unsure, elsewhere = "full/easypr_032.jpg", "full/easypr_173.jpg"
    assert labels[unsure]["plate"] == "川R35779"
    assert recognizer.read(_jpeg(_image(unsure), 60))[0].text == "皖R35779"
    local = create_plate_recognizer(PlateRecognitionConfig(priority_provinces="川"))
    (read,) = local.read(_jpeg(_image(unsure), 60))
    assert read.text == "川R35779"
    assert read.char_confidences[0] < 0.5  # the passage still shows the province was unsure
    # A visitor from Guangdong, read clearly, is not turned into a local plate.
    assert local.read(_image(elsewhere))[0].text == labels[elsewhere]["plate"] == "粤B0K999"


@pytest.mark.parametrize(
    ("value", "message"),
    [("A", "not a province"), ("川X", "not a province"), (PROVINCES, "every province")],
)
def test_priority_provinces_must_be_province_characters(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PlateRecognitionConfig(priority_provinces=value)


def test_priority_share_sets_the_odds_of_the_local_province() -> None:
    assert PlateRecognitionConfig().province_weights() == {}
    (odds,) = PlateRecognitionConfig(priority_provinces="闽").province_weights().values()
    assert odds == pytest.approx(0.8 / 0.2 * 30)
    both = PlateRecognitionConfig(priority_provinces="川渝", priority_share=0.5).province_weights()
    assert both == pytest.approx({"川": 14.5, "渝": 14.5})


def test_a_steep_side_view_is_read_once_its_characters_stand_upright(
    labels: dict[str, dict[str, str]], recognizer: LocalisingPlateRecognizer
) -> None:
    # A plate at ~45 degrees from a low side camera, heavily compressed: the corner fit fails
    # and the rectified crop leans, which the recogniser cannot read until it is deslanted.
    name = "full/easypr_006.jpg"
    ok, jpeg = cv2.imencode(".jpg", _image(name), [int(cv2.IMWRITE_JPEG_QUALITY), 25])
    assert ok
    frame = decode_image(jpeg.tobytes())
    reads = recognizer.read(frame)
    assert reads and reads[0].text == labels[name]["plate"] == "川A019W2"
    without = create_plate_recognizer(PlateRecognitionConfig(unshear_gain=0.0)).read(frame)
    assert [r.text for r in without] != ["川A019W2"]
