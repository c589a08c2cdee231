"""A guard reads the numbers in a household's note masked however they were typed: a Chinese
keyboard left in full-width mode (１３８－００１３－８０００, spaced with U+3000) and Word or
Excel's dash (138–0013–8000) as much as 138-0013-8000 (tests/api/test_resident_phone_reveal.py)."""

from __future__ import annotations

from typing import Any

import pytest

NOTES = [
    ("业主 １３８－００１３－８０００ 轮椅", "业主 １３８****８０００ 轮椅"),
    ("业主 138\u30000013\u30008000 轮椅", "业主 138****8000 轮椅"),
    ("业主 138–0013–8000，家属 139—0013—9000", "业主 138****8000，家属 139****9000"),
    ("业主 138.0013.8000 / １３８．００１３．８０００", "业主 138****8000 / １３８****８０００"),
    ("3栋1202 车 闽A12345", "3栋1202 车 闽A12345"),  # a flat and a plate are no phones
]


@pytest.mark.parametrize(("note", "guard_reads"), NOTES)
def test_a_guard_reads_a_number_typed_full_width_or_dashed_masked(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
    note: str, guard_reads: str,
) -> None:
    made = client.post("/api/v1/households", json={"building": "3栋", "unit": "1202",
                                                   "note": note}, headers=admin_headers)
    assert made.status_code == 201, made.text
    flat = made.json()["id"]
    seen = client.get(f"/api/v1/households/{flat}", headers=guard_headers).json()
    assert seen["note"] == guard_reads
    office = client.get(f"/api/v1/households/{flat}", headers=admin_headers).json()
    assert office["note"] == note
