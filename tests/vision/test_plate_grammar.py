import pytest

from vision.plate_grammar import (
    KIND_COLORS,
    PlateKind,
    clean_plate_text,
    double_row_kind,
    expected_color,
    fold_plate_part,
    is_valid_plate,
    normalize_plate,
    normalize_typed_plate,
    plate_kind,
)
from vision.types import PlateColor, PlateRead


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("皖A·YL375", "皖AYL375"),  # PP-OCR separator dot
        ("皖AYL375", "皖AYL375"),
        ("京a 12345", "京A12345"),  # spaces, lower case
        ("京A·1O0OI", "京A10001"),  # O→0, I→1 in the serial
        ("沪A-D12345", "沪AD12345"),  # small new-energy, 8 chars
        ("粤B12345F", "粤B12345F"),  # large new-energy, D/F last
        ("渝B3587学", "渝B3587学"),  # driving school
        ("鲁A1234挂", "鲁A1234挂"),
        ("苏A0001警", "苏A0001警"),
        ("粤Z1234港", "粤Z1234港"),
        ("粤Z123A澳", "粤Z123A澳"),
        ("使123456", "使123456"),
        ("京A1234领", "京A1234领"),
        # Not plates.
        ("", None),
        ("2014-05-12 08:31:07", None),  # timestamp overlay
        ("车牌号码：苏A12345", None),  # caption that contains a plate
        ("苏A1234", None),  # too short
        ("苏A1234567", None),  # too long
        ("AA12345", None),  # no province
        ("苏112345", None),  # authority must be a letter
        ("苏I12345", None),  # I is never an authority letter
        ("沪AX12345", None),  # 8 chars but not D/F
        ("沪AD1234A", None),  # small new-energy ends in 4 digits
        ("粤Z1234学", "粤Z1234学"),  # 学 is valid for any authority
    ],
)
def test_normalize_plate(text: str, expected: str | None) -> None:
    assert normalize_plate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # What people type and paste (every entry point: tests/api/test_plate_typing_walk.py).
        ("闽Ａ１２３４５", "闽A12345"),  # full-width, from a Chinese input method
        ("闽ａｄ１２３４５", "闽AD12345"),
        ("闽A。12345", "闽A12345"),  # the input method's full stop for the dot
        ("闽A12345\u200b", "闽A12345"),  # zero-width space pasted from WeChat
        ("\ufeff闽A\u200d12345\u2060", "闽A12345"),  # BOM, zero-width joiner, word joiner
        ("闽A12345\r\n", "闽A12345"),
        ("閩A12345", "闽A12345"),  # traditional province (繁体)
        ("粵B·12345", "粤B12345"),
        ("閩A1234學", "闽A1234学"),
        ("闽A1234掛", "闽A1234挂"),
        ("京A1234領", "京A1234领"),
        # Still not plates.
        ("闽A\u202e12345", None),  # a right-to-left override is not dropped
        ("闽A\x0012345", None),
        ("\u200b", None),
        ("13800138000", None),
    ],
)
def test_normalize_typed_plate(text: str, expected: str | None) -> None:
    assert normalize_typed_plate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a·10", "A10"),
        ("Ａ１０", "A10"),
        ("AIO3", "A103"),  # no canonical plate holds O or I: they are 0 and 1 anywhere
        ("10345\u200b", "10345"),
        ("閩a", "闽A"),
    ],
)
def test_fold_plate_part(text: str, expected: str) -> None:
    assert fold_plate_part(text) == expected


@pytest.mark.parametrize(
    ("text", "kind", "color"),
    [
        ("皖AYL375", PlateKind.ORDINARY, None),
        ("皖AD39970", PlateKind.NEW_ENERGY_SMALL, "green"),
        ("皖AF39970", PlateKind.NEW_ENERGY_SMALL, "green"),
        ("粤B12345D", PlateKind.NEW_ENERGY_LARGE, "green"),
        ("渝B3587学", PlateKind.COACH, "yellow"),
        ("苏A0001警", PlateKind.POLICE, "white"),
        ("粤Z1234港", PlateKind.HONG_KONG, "black"),
        ("使123456", PlateKind.EMBASSY, "black"),
        ("123456使", PlateKind.EMBASSY, "black"),
        ("not a plate", None, None),
    ],
)
def test_kind_and_colour(text: str, kind: PlateKind | None, color: str | None) -> None:
    assert plate_kind(text) == kind
    assert expected_color(text) == color
    assert is_valid_plate(text) == (kind is not None)


def test_is_valid_plate_wants_canonical_text() -> None:
    assert not is_valid_plate("皖A·YL375")
    assert not is_valid_plate("京A1O001")
    assert is_valid_plate(clean_plate_text("京A1O001"))


@pytest.mark.parametrize(
    ("text", "kind", "color"),
    [
        ("冀A12345", PlateKind.DOUBLE_ROW, "yellow"),  # a truck's rear plate
        ("鲁B3K5T8", PlateKind.DOUBLE_ROW, "yellow"),  # letters in the serial
        ("鲁B1234挂", PlateKind.TRAILER, "yellow"),
        ("京A1234学", PlateKind.COACH, "yellow"),  # a driving school's motorcycle
        ("苏A0001警", PlateKind.POLICE, "white"),
        ("粤Z1234港", None, None),  # Hong Kong plates are single-row
        ("皖AD12345", None, None),  # new-energy plates are single-row, 8 characters
        ("使123456", None, None),
        ("冀A1234", None, None),  # a bottom row of five, not four
        ("冀12345", None, None),  # no authority letter
        ("冀AO1234", None, None),  # no O in a canonical serial
    ],
)
def test_double_row_kind(text: str, kind: PlateKind | None, color: str | None) -> None:
    assert double_row_kind(text) == kind
    assert (KIND_COLORS[kind] if kind is not None else None) == color


def test_a_double_row_read_reports_its_kind() -> None:
    truck = PlateRead("冀A12345", 0.9, PlateColor.YELLOW, None, (0.9,) * 7, double_row=True)
    assert truck.kind is PlateKind.DOUBLE_ROW
    # The same characters on one row are an ordinary (blue or yellow) plate.
    assert PlateRead("冀A12345", 0.9).kind is PlateKind.ORDINARY
    assert PlateRead("鲁B1234挂", 0.9, double_row=True).kind is PlateKind.TRAILER
    with pytest.raises(ValueError, match="two rows"):
        PlateRead("皖AD12345", 0.9, double_row=True)
