"""Drawn plates: layout, colours, font discovery, and that the real recogniser reads them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vision.plate_grammar import is_valid_plate
from vision.plate_localiser import crop_color
from vision.plate_render import (
    FONT_ENV,
    FontNotFoundError,
    find_cjk_font,
    plate_color_for,
    random_plate,
    render_gate_scene,
    render_plate,
)
from vision.types import PlateColor


@pytest.mark.parametrize(
    ("text", "requested", "color", "size", "ink_dark"),
    [
        ("沪B7M261", None, PlateColor.BLUE, (140, 440), False),
        ("沪C52088", PlateColor.YELLOW, PlateColor.YELLOW, (140, 440), True),
        ("沪AD12345", None, PlateColor.GREEN, (140, 480), True),
        ("沪AD12345", PlateColor.BLUE, PlateColor.GREEN, (140, 480), True),  # family wins
        ("京A1234学", None, PlateColor.YELLOW, (140, 440), True),
    ],
)
def test_plate_colours_and_size(
    text: str, requested: PlateColor | None, color: PlateColor, size: tuple[int, int],
    ink_dark: bool,
) -> None:
    assert plate_color_for(text, requested) is color
    plate = render_plate(text, requested)
    assert plate.shape == (*size, 3) and plate.dtype == np.uint8
    assert crop_color(plate) is color
    # The characters' rows: white ink on blue is bright, black ink on yellow/green is dark.
    band = plate[40:100, 20:-20].astype(int).sum(axis=2)
    extreme = band.min() if ink_dark else band.max()
    assert (extreme < 150) if ink_dark else (extreme > 600)


def test_plate_has_the_separator_dot_between_second_and_third_character() -> None:
    plate = render_plate("沪B7M261", PlateColor.BLUE)
    # 440 mm layout: 2nd character ends at 15.5+45+12+45 = 117.5 mm, dot centre at 134.5 mm.
    dot = plate[68:73, 132:137].astype(int)
    assert dot.min() > 200  # white on the blue gap
    assert plate[68:73, 122:126, 0].astype(int).max() > 120  # blue background beside it


@pytest.mark.parametrize(
    ("text", "requested", "color"),
    [
        ("冀A12345", None, PlateColor.YELLOW),  # two-row ordinary plates are trucks' rear plates
        ("鲁B1234挂", None, PlateColor.YELLOW),
        ("苏A0001警", None, PlateColor.WHITE),
        ("鲁B1234挂", PlateColor.BLUE, PlateColor.YELLOW),  # the family decides
    ],
)
def test_double_row_plate_layout(text: str, requested: PlateColor | None,
                                 color: PlateColor) -> None:
    plate = render_plate(text, requested, double_row=True)
    assert plate.shape == (220, 440, 3) and plate.dtype == np.uint8
    assert crop_color(plate) is color
    ink = plate.astype(int).sum(axis=2) < 150
    rows = ink[:, 20:-20].mean(axis=1)
    # GA 36-2018: top row 15-75 mm, bare strip 75-95 mm, bottom row 95-205 mm.
    assert rows[20:70].max() > 0.1 and rows[100:200].min() > 0.05
    assert rows[80:90].max() < 0.01
    # The top row's two characters sit either side of the centre, the bottom row spans
    # the plate.
    top_cols = np.flatnonzero(ink[20:70, 20:-20].any(axis=0)) + 20
    bottom_cols = np.flatnonzero(ink[100:200, 20:-20].any(axis=0)) + 20
    assert top_cols.min() > 100 and top_cols.max() < 340
    assert bottom_cols.min() < 40 and bottom_cols.max() > 400


@pytest.mark.parametrize("text", ["皖AD12345", "粤Z1234港", "使123456"])
def test_plates_never_issued_on_two_rows_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="two rows"):
        render_plate(text, double_row=True)


def test_double_row_plate_in_a_gate_scene() -> None:
    plate = render_plate("鲁B1234挂", double_row=True)
    scene = render_gate_scene(plate, random.Random(7))
    assert scene.shape == (540, 960, 3)
    yellow = (scene[..., 2] > 180) & (scene[..., 1] > 130) & (scene[..., 0] < 90)
    ys, xs = np.nonzero(yellow[:, 200:])  # the barrier post is yellow too, at the left
    assert 1.6 < (xs.max() - xs.min()) / (ys.max() - ys.min()) < 2.6


def test_invalid_text_is_refused() -> None:
    with pytest.raises(ValueError):
        render_plate("not a plate")


def test_random_plates_are_valid() -> None:
    rng = random.Random(3)
    plates = [random_plate(rng, k) for k in ("ordinary", "new_energy") * 50]
    assert all(is_valid_plate(p) for p in plates)
    assert {len(p) for p in plates} == {7, 8}


def test_font_env_override_and_missing_font(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "missing.ttc"))
    with pytest.raises(FontNotFoundError, match=FONT_ENV):
        find_cjk_font()
    monkeypatch.delenv(FONT_ENV)
    with pytest.raises(FontNotFoundError, match="apt-get install fonts-wqy-zenhei"):
        find_cjk_font(candidates=(str(tmp_path / "nope.ttc"),))
    assert find_cjk_font().is_file()  # fonts-wqy-zenhei is a project requirement


def test_scene_is_reproducible_from_its_seed() -> None:
    plate = render_plate("沪B7M261")
    a = render_gate_scene(plate, random.Random(5))
    b = render_gate_scene(plate, random.Random(5))
    assert a.shape == (540, 960, 3) and np.array_equal(a, b)
    assert render_gate_scene(None, random.Random(5)).shape == (540, 960, 3)


def test_gate_scene_noise_is_on_every_colour_channel() -> None:
    # cv2.randn given a bare number as the deviation fills the first channel only: the
    # scene's sensor noise was on blue alone (min/max of the channels' spread ~0.4). The
    # guard-house wall is one flat colour before the noise; quality 100 keeps most of it.
    spreads = []
    for seed in range(4):
        frame = render_gate_scene(None, random.Random(seed), quality=100)
        wall = frame[20 : int(frame.shape[0] * 0.30) - 20, 300:700].reshape(-1, 3)
        spreads.append(wall.astype(float).std(axis=0))
    per_channel = np.mean(spreads, axis=0)
    assert per_channel.min() > 0.7 * per_channel.max(), per_channel


def test_recogniser_reads_drawn_plates(plate_recognizer: Any) -> None:
    rng = random.Random(2026)
    exact = 0
    misses = []
    for i in range(10):
        kind = "new_energy" if i % 3 == 1 else "ordinary"
        text = random_plate(rng, kind)
        color = PlateColor.YELLOW if i % 3 == 2 else PlateColor.BLUE
        scene = render_gate_scene(render_plate(text, color), rng, approach=rng.random())
        reads = plate_recognizer.read(scene)
        got = reads[0].text if reads else None
        exact += got == text
        if got != text:
            misses.append((text, got))
    assert exact >= 8, misses
