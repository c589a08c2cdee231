"""搬离's confirmation in English names the flat's 车位数 as the households table does
(Spaces), not as a count of spaces: "(1 spaces)" read wrong for most flats, which have one."""

from __future__ import annotations

from api.console.i18n import translate


def test_the_english_intro_reads_for_a_flat_with_one_space() -> None:
    intro = translate("en", "mo.intro", id=2, label="5栋 302", spaces=1)
    assert intro.startswith("Household #2 5栋 302 (spaces: 1) moves out"), intro
    assert translate("zh", "mo.intro", id=2, label="5栋 302", spaces=1).startswith(
        "住户 #2 5栋 302（车位数 1）搬离")
