"""Chinese motor-vehicle plate grammar (GA 36-2018), as pure string rules.

A plate is a province character, an issuing-authority letter and a serial. Serials never use
the letters I or O (they would be confused with 1 and 0), so an OCR ``O``/``I`` after the
second character can only be a ``0``/``1``. PP-OCR prints the separator dot (``皖A·YL375``);
the canonical form stored and compared everywhere in parkgate has no dot.

This module has no numpy/OpenCV dependency so controllers and the API may use it too.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

PROVINCES = "京津沪渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
# Authority letters and serial letters: A–Z without I and O.
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
ENDINGS = "学挂港澳使领警"
# Every character that can appear in a canonical plate; recognisers restrict decoding to it.
PLATE_ALPHABET = PROVINCES + LETTERS + DIGITS + ENDINGS

# Separators and look-alikes OCR engines emit between the authority letter and the serial;
# 。 is the full stop a Chinese input method types for ".".
_SEPARATORS = re.compile(r"[\s·•・‧∙.。\-_—–:：]")

# Characters a paste carries that nobody sees (WeChat, Excel and web pages put them around
# and inside copied text): soft hyphen, Mongolian vowel separator, zero-width space and
# joiners, left-to-right/right-to-left marks, word joiner, byte-order mark. Other control and
# format characters (a NUL, a right-to-left override that shows the serial backwards) are
# kept, so the grammar refuses the text instead of storing what the person did not see.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060\ufeff]")

# Traditional forms of the province and ending characters (a traditional-Chinese input
# method, a resident from Hong Kong or Taiwan): each has exactly one simplified form.
_SIMPLIFIED = str.maketrans({
    "滬": "沪", "晉": "晋", "遼": "辽", "蘇": "苏", "閩": "闽", "贛": "赣", "魯": "鲁",
    "粵": "粤", "瓊": "琼", "貴": "贵", "雲": "云", "陝": "陕", "寧": "宁",
    "學": "学", "掛": "挂", "領": "领",
})

_SERIAL = LETTERS + DIGITS


class PlateKind(StrEnum):
    """Plate families of GA 36-2018 that parkgate recognises."""

    ORDINARY = "ordinary"  # blue small car or yellow large vehicle, 7 characters
    NEW_ENERGY_SMALL = "new_energy_small"  # green gradient, 8 chars, D/F first in the serial
    NEW_ENERGY_LARGE = "new_energy_large"  # yellow-green, 8 chars, D/F last
    COACH = "coach"  # 学: driving-school car, yellow
    TRAILER = "trailer"  # 挂: yellow
    POLICE = "police"  # 警: white
    HONG_KONG = "hong_kong"  # 粤Z…港: black
    MACAU = "macau"  # 粤Z…澳: black
    EMBASSY = "embassy"  # 使: black
    CONSULATE = "consulate"  # 领: black
    # Large vehicle's rear plate (also farm vehicles) on two rows, yellow: the same 7
    # characters as an ordinary plate, so only the image tells it apart (double_row_kind).
    DOUBLE_ROW = "double_row"


Layout = tuple[str, ...]
Layouts = tuple[tuple[PlateKind, Layout], ...]


# Every plate layout as the characters allowed at each position. This table is the one
# source of truth: the regexes below and the recogniser's grammar-constrained CTC decoder
# (vision/plate_ctc.py) are both built from it. Ordered from most to least specific; a kind
# may have several layouts (an embassy's 使 comes first or last).
PLATE_LAYOUTS: Layouts = (
    (PlateKind.NEW_ENERGY_SMALL, (PROVINCES, LETTERS, "DF", _SERIAL, *[DIGITS] * 4)),
    (PlateKind.NEW_ENERGY_LARGE, (PROVINCES, LETTERS, *[DIGITS] * 5, "DF")),
    (PlateKind.ORDINARY, (PROVINCES, LETTERS, *[_SERIAL] * 5)),
    (PlateKind.COACH, (PROVINCES, LETTERS, *[_SERIAL] * 4, "学")),
    (PlateKind.TRAILER, (PROVINCES, LETTERS, *[_SERIAL] * 4, "挂")),
    (PlateKind.POLICE, (PROVINCES, LETTERS, *[_SERIAL] * 4, "警")),
    (PlateKind.HONG_KONG, ("粤", "Z", *[_SERIAL] * 4, "港")),
    (PlateKind.MACAU, ("粤", "Z", *[_SERIAL] * 4, "澳")),
    (PlateKind.CONSULATE, (PROVINCES, LETTERS, *[DIGITS] * 4, "领")),
    (PlateKind.EMBASSY, ("使", *[DIGITS] * 6)),
    (PlateKind.EMBASSY, (*[DIGITS] * 6, "使")),
)

# The rows of a double-row plate (GA 36-2018, 440×220 mm): the province and authority letter
# on top, five serial characters below, the last of which may be 挂 (trailer), 学 (coach
# motorcycle) or 警 (police motorcycle, white). Each row is decoded on its own with these.
DOUBLE_ROW_TOP: Layouts = ((PlateKind.DOUBLE_ROW, (PROVINCES, LETTERS)),)
DOUBLE_ROW_BOTTOM: Layouts = (
    (PlateKind.DOUBLE_ROW, (*[_SERIAL] * 5,)),
    (PlateKind.TRAILER, (*[_SERIAL] * 4, "挂")),
    (PlateKind.COACH, (*[_SERIAL] * 4, "学")),
    (PlateKind.POLICE, (*[_SERIAL] * 4, "警")),
)

Patterns = tuple[tuple[PlateKind, re.Pattern[str]], ...]


def _patterns(layouts: Layouts) -> Patterns:
    """Each layout as a regex, matched against the whole canonical text."""
    return tuple(
        (kind, re.compile("".join(f"[{re.escape(chars)}]" for chars in layout)))
        for kind, layout in layouts
    )


def _first_kind(patterns: Patterns, text: str) -> PlateKind | None:
    for kind, pattern in patterns:
        if pattern.fullmatch(text):
            return kind
    return None


_PATTERNS = _patterns(PLATE_LAYOUTS)

# The colour each family is issued in; ORDINARY is blue or yellow, decided by the image.
KIND_COLORS: dict[PlateKind, str] = {
    PlateKind.NEW_ENERGY_SMALL: "green",
    PlateKind.NEW_ENERGY_LARGE: "green",
    PlateKind.COACH: "yellow",
    PlateKind.TRAILER: "yellow",
    PlateKind.POLICE: "white",
    PlateKind.HONG_KONG: "black",
    PlateKind.MACAU: "black",
    PlateKind.EMBASSY: "black",
    PlateKind.CONSULATE: "black",
    PlateKind.DOUBLE_ROW: "yellow",
}

# The two rows joined, as a double-row plate's text is read (top row first).
_DOUBLE_ROW_PATTERNS = _patterns(tuple(
    (kind, top + bottom) for _, top in DOUBLE_ROW_TOP for kind, bottom in DOUBLE_ROW_BOTTOM
))


def strip_separators(text: str) -> str:
    """``text`` without the dots, spaces and dashes written between a plate's characters
    (``"B·7M2"`` → ``"B7M2"``); nothing else changes, so part of a plate stays that part."""
    return _SEPARATORS.sub("", text)


def clean_plate_text(text: str) -> str:
    """Strip separators, upper-case, and map O→0, I→1 in the serial (after the 2nd char).

    Does not validate: use :func:`normalize_plate` for that.
    """
    compact = _SEPARATORS.sub("", text).upper()
    if len(compact) <= 2:
        return compact
    serial = compact[2:].replace("O", "0").replace("I", "1")
    return compact[:2] + serial


def fold_typed_plate(text: str) -> str:
    """Text a person typed, pasted or imported as a plate, in the characters the grammar
    reads: full-width letters, digits and dots folded (NFKC: ``闽Ａ·１２３４５``), invisible
    paste characters dropped, traditional province and ending characters simplified
    (``閩`` → ``闽``), trimmed and upper-cased. Separators and O/I stay for
    :func:`normalize_plate`; nothing is validated."""
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return folded.translate(_SIMPLIFIED).strip().upper()


def normalize_typed_plate(text: str) -> str | None:
    """The canonical plate for what a person typed anywhere (a registration, a pass, a list,
    a guard's typed or corrected plate, an imported file, a hold), or None when it is not a
    plate. Every entry point uses this one rule, so each spelling of a car is the car."""
    return normalize_plate(fold_typed_plate(text))


def fold_plate_part(text: str) -> str:
    """Part of a plate typed into a search box, as canonical plates spell it: folded as
    :func:`fold_typed_plate`, separators dropped, and O/I read as 0/1 wherever they are,
    since no canonical plate holds the letters O or I."""
    return strip_separators(fold_typed_plate(text)).replace("O", "0").replace("I", "1")


def plate_kind(text: str) -> PlateKind | None:
    """Return the plate family of a canonical (dot-free) plate, or None if it is not a plate."""
    return _first_kind(_PATTERNS, text)


def double_row_kind(text: str) -> PlateKind | None:
    """The family of a canonical plate read from a double-row plate (top row and bottom row
    joined), or None when no double-row plate carries that text: DOUBLE_ROW for a serial of
    five, TRAILER / COACH / POLICE when it ends in 挂 / 学 / 警."""
    return _first_kind(_DOUBLE_ROW_PATTERNS, text)


def normalize_plate(text: str) -> str | None:
    """Canonical plate for OCR or user text, or None when the text is not a plate.

    ``"皖A·YL375"`` → ``"皖AYL375"``; ``"京A·1O0OI"`` → ``"京A10001"``; timestamps, overlay
    captions such as ``"车牌号码：苏A12345"`` and anything of the wrong length return None:
    the whole text must be a plate, never just contain one.
    """
    if not text:
        return None
    candidate = clean_plate_text(text)
    return candidate if plate_kind(candidate) is not None else None


def is_valid_plate(text: str) -> bool:
    """True when ``text`` is already a canonical GA 36-2018 plate (no dot, upper case)."""
    return plate_kind(text) is not None


def expected_color(text: str) -> str | None:
    """Colour a plate of this family must have, or None when the family allows several."""
    kind = plate_kind(text)
    return None if kind is None else KIND_COLORS.get(kind)
