import ast
from pathlib import Path

import pytest

from controllers.plate_match import PlateMatch, match_plate, plate_distance

REGISTERED = ["皖A12345", "苏B8C200", "粤Z1234港", "沪AD12345", "京N57T10"]


@pytest.mark.parametrize(
    ("read", "kwargs", "expected"),
    [
        ("皖A12345", {}, PlateMatch("皖A12345", 0, True)),
        ("皖A·12345", {}, PlateMatch("皖A12345", 0, True)),  # dot and spacing ignored
        ("苏B8C2OO", {}, PlateMatch("苏B8C200", 0, True)),  # O in the serial is 0
        ("皖A1Z345", {}, PlateMatch("皖A12345", 1, False)),  # 2/Z
        ("苏BBC200", {}, PlateMatch("苏B8C200", 1, False)),  # 8/B
        ("沪AQ12345", {}, PlateMatch("沪AD12345", 1, False)),  # D/Q
        ("京N5TT10", {}, PlateMatch("京N57T10", 1, False)),  # 7/T
        ("皖A12346", {}, None),  # a different digit is another car
        ("皖A1Z34S", {}, None),  # two look-alikes exceed the default limit
        ("皖A1Z34S", {"max_distance": 2}, PlateMatch("皖A12345", 2, False)),
        ("皖A1234", {}, None),  # dropped character costs 2
        ("皖A1234", {"max_distance": 2}, PlateMatch("皖A12345", 2, False)),
        ("浙A12345", {}, None),  # province differs
        ("浙A12345", {"province_tolerance": True}, PlateMatch("皖A12345", 0, False)),
        ("浙A1Z345", {"province_tolerance": True}, PlateMatch("皖A12345", 1, False)),
        ("", {}, None),
    ],
)
def test_match_plate(read: str, kwargs: dict, expected: PlateMatch | None) -> None:
    assert match_plate(read, REGISTERED, **kwargs) == expected


def test_ambiguous_match_is_refused() -> None:
    # 皖A1Z345 is one look-alike away from both registered plates.
    assert match_plate("皖A1Z345", ["皖A12345", "皖A1Z3A5"]) is None
    # With province tolerance, at equal distance the plate whose province agrees wins...
    assert match_plate("苏A1Z345", ["皖A12345", "苏A12345"], province_tolerance=True) == (
        PlateMatch("苏A12345", 1, False)
    )
    # ...and two plates differing only in the misread province are ambiguous.
    assert match_plate("浙A12345", ["皖A12345", "苏A12345"], province_tolerance=True) is None
    # The same plate registered in two spellings is not ambiguous.
    assert match_plate("皖A1Z345", ["皖A12345", "皖A·12345"]) == PlateMatch("皖A12345", 1, False)


def test_exact_wins_over_near() -> None:
    assert match_plate("皖A1Z345", ["皖A12345", "皖A1Z345"]) == PlateMatch("皖A1Z345", 0, True)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("皖A12345", "皖A12345", 0),
        ("皖A12345", "皖A1Z345", 1),
        ("皖A12345", "皖A12346", 2),
        ("皖A12345", "皖A1234", 2),
        ("皖A12345", "", 14),
    ],
)
def test_plate_distance(a: str, b: str, distance: int) -> None:
    assert plate_distance(a, b) == distance
    assert plate_distance(b, a) == distance


def test_negative_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="max_distance"):
        match_plate("皖A12345", REGISTERED, max_distance=-1)


def test_module_is_pure_python() -> None:
    source = Path(__file__).parents[2] / "controllers" / "plate_match.py"
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"numpy", "cv2", "vision"}}
