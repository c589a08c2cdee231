"""Finding PKLot-style labelled frames on disk (for calibration, the bench and tests).

A *sequence* directory holds ``frames/<stem>.{jpg,png}`` and ``bounding_boxes/<stem>.xml``;
a *dataset* directory holds ``sequence*/`` directories. Either may be passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from errors import InvalidInputError
from vision.spaces import Bay, parse_pklot_xml

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    image_path: Path
    xml_path: Path
    bays: tuple[Bay, ...]
    occupied: tuple[bool, ...]

    @property
    def name(self) -> str:
        return f"{self.image_path.parent.parent.name}/{self.image_path.stem}"

    def read(self) -> np.ndarray:
        image = cv2.imread(str(self.image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise InvalidInputError(f"cannot decode {self.image_path}")
        return image


def sequence_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand dataset directories into their ``sequence*`` directories, keeping order."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / "frames").is_dir() and (path / "bounding_boxes").is_dir():
            out.append(path)
            continue
        found = sorted(p for p in path.glob("*") if (p / "frames").is_dir())
        if not found:
            raise InvalidInputError(f"{path} holds neither frames/+bounding_boxes/ nor sequences")
        out.extend(found)
    return out


def labelled_frames(paths: Iterable[str | Path]) -> list[LabelledFrame]:
    """All frames with a fully labelled XML of the same stem, in time (name) order."""
    frames: list[LabelledFrame] = []
    for seq in sequence_dirs(paths):
        for image_path in sorted((seq / "frames").iterdir()):
            if image_path.suffix.lower() not in _IMAGE_SUFFIXES:
                continue
            xml_path = seq / "bounding_boxes" / f"{image_path.stem}.xml"
            if not xml_path.is_file():
                continue
            ann = parse_pklot_xml(xml_path)
            if not ann.labelled:
                continue
            occupied = tuple(bool(o) for o in ann.occupied)
            frames.append(LabelledFrame(image_path, xml_path, ann.bays, occupied))
    return frames


def common_bays(frames: Sequence[LabelledFrame]) -> tuple[Bay, ...]:
    """The bays every frame shares; ``InvalidInputError`` if the layouts differ."""
    if not frames:
        raise InvalidInputError("no labelled frames found")
    first = frames[0].bays
    for f in frames[1:]:
        if f.bays != first:
            raise InvalidInputError(
                f"{f.xml_path} has a different bay layout from {frames[0].xml_path}"
            )
    return first


def find_empty_reference(paths: Iterable[str | Path]) -> Path | None:
    """An ``empty_reference*`` image in a given directory or one of its parents."""
    for raw in paths:
        for directory in (Path(raw), *Path(raw).resolve().parents[:2]):
            hits = sorted(
                p for p in directory.glob("empty_reference*") if p.suffix.lower() in _IMAGE_SUFFIXES
            )
            if hits:
                return hits[0]
    return None
