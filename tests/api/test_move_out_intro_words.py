"""搬离's pages in English count without plurals that read wrong for one: the flat's 车位数 as
the households table names it (spaces: 1, not "1 spaces"), and what went in brackets (not
"1 residents, 1 vehicles, 1 visitor passes")."""

from __future__ import annotations

from api.console.i18n import translate


def test_the_english_intro_reads_for_a_flat_with_one_space() -> None:
    intro = translate("en", "mo.intro", id=2, label="5栋 302", spaces=1)
    assert intro.startswith("Household #2 5栋 302 (spaces: 1) moves out"), intro
    assert translate("zh", "mo.intro", id=2, label="5栋 302", spaces=1).startswith(
        "住户 #2 5栋 302（车位数 1）搬离")


def test_the_english_done_notice_reads_for_one_of_each() -> None:
    done = translate("en", "mo.done", label="5栋 302", residents=1, vehicles=1, passes=1)
    assert done == ("5栋 302 has moved out: the household and its residents (1), vehicles (1) "
                    "and visitor passes (1) deleted."), done
