"""Double-row plates (GA 36-2018 440×220: trucks' and buses' rear plates, trailers) read by
the real recogniser, as crops and in gate scenes, from rendered plates: there are no real
photos of double-row plates in the project's data."""

from __future__ import annotations

import random
from typing import Any

import cv2
import numpy as np
import pytest

from vision.plate_grammar import PlateKind
from vision.plate_localiser import find_plate_candidates, find_white_double_rows
from vision.plate_recognizer import LocalisingPlateRecognizer
from vision.plate_render import render_gate_scene, render_plate
from vision.types import PlateColor
from vision.voting import vote

# Several provinces, letters and digits in the serial, repeated digits, trailers.
PLATES = ["冀A12345", "鲁B1234挂", "粤S3K5T8", "川AD1199", "苏E0567挂", "黑C77701", "豫P2G09挂",
          "京H55806"]


def _kind(text: str) -> PlateKind:
    return PlateKind.TRAILER if text.endswith("挂") else PlateKind.DOUBLE_ROW


def _as_photographed(plate: np.ndarray, rng: np.random.Generator, width: int) -> np.ndarray:
    """The plate at ``width`` px, seen slightly from the side and above, with sensor noise."""
    h, w = plate.shape[:2]
    scale = width / w
    small = cv2.resize(plate, (width, round(h * scale)), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    pad = round(0.15 * sw)
    canvas = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                value=(50, 50, 50))
    src = np.array([[pad, pad], [pad + sw, pad], [pad + sw, pad + sh], [pad, pad + sh]],
                   np.float32)
    dst = (src + rng.uniform(-0.05, 0.05, (4, 2)) * [sw, sh]).astype(np.float32)
    warped = cv2.warpPerspective(canvas, cv2.getPerspectiveTransform(src, dst),
                                 canvas.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    noisy = warped + rng.normal(0.0, 5.0, warped.shape)
    x1, y1 = dst.min(axis=0).astype(int)
    x2, y2 = np.ceil(dst.max(axis=0)).astype(int)
    return np.clip(noisy, 0, 255).astype(np.uint8)[y1:y2, x1:x2]


@pytest.mark.parametrize("text", PLATES)
def test_double_row_crops_read_exactly(text: str, plate_recognizer: Any) -> None:
    rng = np.random.default_rng(PLATES.index(text))
    for width in (120, 220):
        crop = _as_photographed(render_plate(text, double_row=True), rng, width)
        read = plate_recognizer.read_crop(crop)
        assert read is not None and read.text == text, (width, read)
        assert read.double_row and read.kind is _kind(text)
        assert read.color is PlateColor.YELLOW
        assert len(read.char_confidences) == 7


@pytest.mark.parametrize("text", PLATES)
def test_double_row_plates_in_gate_scenes_read_exactly(text: str,
                                                       plate_recognizer: Any) -> None:
    rng = random.Random(f"scene {text}")
    plate = render_plate(text, double_row=True)
    for approach in (0.4, 1.0):
        reads = plate_recognizer.read(render_gate_scene(plate, rng, approach=approach))
        assert reads and reads[0].text == text, (approach, reads)
        assert reads[0].double_row and reads[0].kind is _kind(text)
        assert reads[0].color is PlateColor.YELLOW


@pytest.mark.parametrize(("text", "color"), [("冀A12345", PlateColor.YELLOW),
                                             ("沪B7M261", PlateColor.BLUE),
                                             ("鲁B1234挂", PlateColor.YELLOW)])
def test_a_single_row_plate_is_still_read_as_one_row(text: str, color: PlateColor,
                                                     plate_recognizer: Any) -> None:
    rng = random.Random(f"single {text}")
    scene = render_gate_scene(render_plate(text, color), rng, approach=0.8)
    assert not any(c.double_row for c in find_plate_candidates(scene))
    reads = plate_recognizer.read(scene)
    assert reads and reads[0].text == text
    assert not reads[0].double_row
    crop = plate_recognizer.read_crop(render_plate(text, color, px_per_mm=0.4))
    assert crop is not None and crop.text == text and not crop.double_row


def test_a_double_row_plate_is_proposed_whole(plate_recognizer: Any) -> None:
    """The edge mask closes the bottom row alone into a plate-shaped blob; the yellow
    plate must outrank it, or it hides the whole plate as an overlapping proposal."""
    rng = random.Random(3)
    for text in PLATES[:4]:
        scene = render_gate_scene(render_plate(text, double_row=True), rng)
        first = find_plate_candidates(scene)[0]
        assert first.double_row and first.color is PlateColor.YELLOW
        w = np.linalg.norm(first.quad[1] - first.quad[0])
        h = np.linalg.norm(first.quad[3] - first.quad[0])
        assert 1.6 < w / h < 2.6


@pytest.mark.parametrize("text", PLATES)
def test_double_row_plates_found_only_by_the_text_detector_read_exactly(
    text: str, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no localiser proposal (a plate its colour masks miss: dirt, odd light), the
    text detector finds each row as a line of its own; the two are read as one plate."""
    monkeypatch.setattr("vision.plate_recognizer.find_plate_candidates",
                        lambda *args, **kwargs: [])
    rng = random.Random(f"detector {text}")
    plate = render_plate(text, double_row=True)
    for approach in (0.4, 1.0):
        scene = render_gate_scene(plate, rng, approach=approach)
        reads = plate_recognizer.read(scene)
        assert reads and reads[0].text == text, (approach, reads)
        assert reads[0].double_row and reads[0].kind is _kind(text)
        assert reads[0].color is PlateColor.YELLOW
        box = reads[0].box
        # The box spans both rows: a 2:1 plate, not its bottom row alone.
        assert box is not None and 1.5 < box.width / box.height < 2.6


def test_a_single_row_plate_found_by_the_text_detector_still_reads_as_one_row(
    plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vision.plate_recognizer.find_plate_candidates",
                        lambda *args, **kwargs: [])
    rng = random.Random("detector single")
    for text, color in (("沪B7M261", PlateColor.BLUE), ("冀A12345", PlateColor.YELLOW)):
        reads = plate_recognizer.read(render_gate_scene(render_plate(text, color), rng))
        assert reads and reads[0].text == text and not reads[0].double_row


POLICE_PLATES = ["京A1234警", "粤B3K5T警", "川C0G91警", "苏E7M26警"]
# Dark, grey, red and blue cars: the plate stands out from the body. On a white or silver
# car it merges with the body in the white mask (see the test after this one).
_CARS = [(40, 40, 40), (150, 150, 155), (40, 40, 160), (150, 90, 30)]


@pytest.mark.parametrize(("text", "car"), list(zip(POLICE_PLATES, _CARS, strict=True)))
def test_white_double_row_plates_in_gate_scenes_are_proposed_and_read(
    text: str, car: tuple[int, int, int], plate_recognizer: Any
) -> None:
    """A police motorcycle's white two-row plate, read from the frame by the localiser's
    white search, not only by the slow text-detector fallback (turned off here)."""
    recognizer = LocalisingPlateRecognizer(
        plate_recognizer.config.model_copy(update={"use_detector_fallback": False}),
        plate_recognizer.engine,
    )
    rng = random.Random(f"police {text}")
    plate = render_plate(text, double_row=True)
    for approach in (0.4, 1.0):
        scene = render_gate_scene(plate, rng, approach=approach, car_colour=car)
        found = find_white_double_rows(scene)
        assert found and found[0].double_row and found[0].color is PlateColor.WHITE
        reads = recognizer.read(scene)
        assert reads and reads[0].text == text, (approach, reads)
        assert reads[0].double_row and reads[0].kind is PlateKind.POLICE
        assert reads[0].color is PlateColor.WHITE


def test_a_white_double_row_plate_on_a_white_car_is_left_to_the_text_detector(
    plate_recognizer: Any
) -> None:
    rng = random.Random("police on a white car")
    scene = render_gate_scene(render_plate("京A1234警", double_row=True), rng,
                              car_colour=(235, 235, 235))
    assert find_white_double_rows(scene) == []
    reads = plate_recognizer.read(scene)
    assert reads and reads[0].text == "京A1234警" and reads[0].kind is PlateKind.POLICE


@pytest.mark.parametrize(("text", "color", "double_row"),
                         [("沪B7M261", PlateColor.BLUE, False),
                          ("京A1234警", PlateColor.WHITE, False),
                          ("冀A12345", PlateColor.YELLOW, True)])
def test_the_white_search_proposes_no_other_plate(text: str, color: PlateColor,
                                                  double_row: bool) -> None:
    rng = random.Random(f"not white two rows {text}")
    for approach in (0.4, 1.0):
        plate = render_plate(text, color, double_row=double_row)
        assert find_white_double_rows(render_gate_scene(plate, rng, approach=approach)) == []


def test_a_frame_read_surely_never_pays_for_the_white_search(
    plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("white search run for a frame already read")

    monkeypatch.setattr("vision.plate_recognizer.find_white_double_rows", refuse)
    rng = random.Random("sure")
    for text, color, double_row in (("沪B7M261", PlateColor.BLUE, False),
                                    ("冀A1234挂", PlateColor.YELLOW, True)):
        scene = render_gate_scene(render_plate(text, color, double_row=double_row), rng)
        reads = plate_recognizer.read(scene)
        assert reads and reads[0].text == text


def test_frames_of_a_truck_vote_into_its_plate(plate_recognizer: Any) -> None:
    rng = random.Random(11)
    plate = render_plate("苏E0567挂", double_row=True)
    reads = []
    for approach in (0.3, 0.6, 0.9):
        found = plate_recognizer.read(render_gate_scene(plate, rng, approach=approach))
        assert found
        reads.append(found[0])
    text, confidence = vote(reads)
    assert text == "苏E0567挂" and confidence > 0.8
