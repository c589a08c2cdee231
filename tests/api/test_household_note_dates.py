"""A guard reads the dates and times in a household's note as the office wrote them, and its
phone numbers still masked (services/phone_privacy.py). Dates spelt with dots or dashes are
runs of 7 digits or more as much as numbers are: 2026.12.01 was shown as 202****2.01, and a
guard lost the day the flat's renovation starts."""

from __future__ import annotations

from typing import Any

# note as the office wrote it -> as a guard reads it
NOTES = {
    # dates and times: as written
    "2026.12.01 08:30 搬家": "2026.12.01 08:30 搬家",
    "装修 2026-12-01 至 2026-12-05": "装修 2026-12-01 至 2026-12-05",
    "12-01-2026 交房": "12-01-2026 交房",
    "01.12.2026 交房": "01.12.2026 交房",
    "２０２６．１２．０１ 到期": "２０２６．１２．０１ 到期",
    "２０２６－１２－０５ 到期": "２０２６－１２－０５ 到期",
    "施工 2026.12.01-2026.12.05 08.30-17.30": "施工 2026.12.01-2026.12.05 08.30-17.30",
    "2026–12–01 8点来人": "2026–12–01 8点来人",
    # numbers: masked in every spelling, also beside a date
    "业主 138-0013-8000，家属 139.0013.9000": "业主 138****8000，家属 139****9000",
    "业主 １３８－００１３－８０００ 轮椅": "业主 １３８****８０００ 轮椅",
    "业主 138\u30000013\u30008000": "业主 138****8000",
    "业主 198-1205-1234、13800138000": "业主 198****1234、138****8000",
    "+86 138 0013 8000": "+86****8000",
    "物业 0591-87654321": "物业 059****4321",
    "2026.12.01 起 13800138000": "2026.12.01 起 138****8000",
    # a date run together with a number is masked with it: a lost date, not a shown number
    "2026.12.01 13800138000": "202****8000",
    # eight digits without separators may be a local landline as much as a date
    "20261201 到期": "202****1201 到期",
    # not a date: no 13th month, no year 1026
    "2026-13-01、1026-12-01": "202****3-01、102****2-01",
}


def test_a_guard_reads_dates_in_a_note_and_numbers_masked(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    flats = {}
    for unit, note in enumerate(NOTES, start=1201):
        made = client.post(
            "/api/v1/households",
            json={"building": "3栋", "unit": str(unit), "note": note},
            headers=admin_headers,
        )
        assert made.status_code == 201, made.text
        flats[note] = made.json()["id"]

    guard_reads = {
        note: client.get(f"/api/v1/households/{flat}", headers=guard_headers).json()["note"]
        for note, flat in flats.items()
    }
    office_reads = {
        note: client.get(f"/api/v1/households/{flat}", headers=admin_headers).json()["note"]
        for note, flat in flats.items()
    }
    assert guard_reads == NOTES
    assert office_reads == {note: note for note in NOTES}  # the office reads them whole
