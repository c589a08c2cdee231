"""How much of a resident's phone number a reader sees (PIPL: minimum necessary).

One rule for every place a number is shown short of whole: the import's log lines and what a
guard reads at the booth (the console, the JSON API) show the first 3 and last 4 characters
(138****8000). The office (admins) manages residents and reads numbers whole; a guard who must
call a host asks for that one number, and the asking is audited (api/routes/resident_phone.py).
"""

from __future__ import annotations

import re

# A number written in free text (a household's note: "业主 138-0013-8000 轮椅"): 7 digits or
# more, spaced or dashed as people write them. Plates (闽A12345) and unit numbers are shorter.
# Also as a Chinese keyboard in full-width mode writes them (１３８－００１３－８０００, spaced
# with U+3000) and as Word or Excel turn a hyphen into a dash (138–0013–8000): \d matches
# full-width digits, and those numbers were shown whole. Dotted too (138.0013.8000, as on
# some business cards).
_NUMBER_IN_TEXT = re.compile(r"\+?\d(?:[ \u3000\-\uff0d\u2010-\u2015.\uff0e]?\d){6,}")

# Dates and times spelt with dots or dashes are such runs too (2026.12.01 08.30, 12-01-2026),
# and a guard needs them (装修 2026-12-01 至 2026-12-05). A run is left as written only when
# all of it reads as dates and times: a year of 19xx or 20xx first or last, one separator
# within a date, months and days and hours in range. No mobile (3-4-4, 11 digits) or landline
# (0591-87654321) is spelt so, and a date beside a number (2026.12.01 13800138000) is
# masked with it: a lost date costs less than a shown number. 20261201 stays masked: eight
# digits without separators are as much a local landline.
_DATE_SEPARATOR = "[.\uff0e\\-\uff0d\u2010-\u2015]"
_DATE = re.compile(
    rf"(?:(?P<year>\d{{4}})(?P<sep>{_DATE_SEPARATOR})(?P<month>\d\d?)(?P=sep)(?P<day>\d\d?)"
    rf"|(?P<first>\d\d?)(?P<sep_last>{_DATE_SEPARATOR})(?P<second>\d\d?)(?P=sep_last)"
    r"(?P<year_last>\d{4}))"
    # the hour after it, as "2026.12.01 8点" or "2026.12.01 08.30"
    r"(?:[ \u3000](?P<hour>\d\d?)(?:[.\uff0e](?P<minute>\d\d))?)?(?!\d)"
)
_TIME = re.compile(r"(?P<hour>\d\d?)[.\uff0e](?P<minute>\d\d)(?!\d)")  # 08.30-17.30
_BETWEEN_DATES = frozenset(" \u3000-\uff0d\u2010\u2011\u2012\u2013\u2014\u2015")


def mask_phone(phone: int | str | None) -> str:
    """The first 3 and last 4 characters (138****8000); a number shorter than 8 is not a
    mobile number one could dial from a guess of 4 digits, and is shown as it is."""
    text = str(phone or "")
    return text if len(text) < 8 else f"{text[:3]}****{text[-4:]}"


def phone_as_shown(phone: str | None, *, whole: bool) -> str | None:
    """The number as a reader sees it: whole for the office, masked for anyone else."""
    if phone is None or whole:
        return phone
    return mask_phone(phone)


def mask_phones_in(text: str) -> str:
    """``text`` with every phone-like number in it masked as :func:`mask_phone` masks one:
    a household's note is free text the office (or 批量导入) may have put a number in."""
    return _NUMBER_IN_TEXT.sub(
        lambda m: m.group() if _dates_and_times(m.group()) else mask_phone(m.group()), text
    )


def _dates_and_times(run: str) -> bool:
    """Whether all of ``run`` reads as dates and times one after the other (see _DATE)."""
    at = 0
    while True:
        found = _DATE.match(run, at) or _TIME.match(run, at)
        if found is None or not _in_range(found):
            return False
        at = found.end()
        if at == len(run):
            return True
        if run[at] not in _BETWEEN_DATES:  # a dot after a date: 2026.12.01.5
            return False
        at += 1


def _in_range(found: re.Match[str]) -> bool:
    """A month, day, hour and minute a calendar and a clock have; a year of 19xx or 20xx."""
    named = {
        name: int(value)
        for name, value in found.groupdict().items()
        if value is not None and name not in ("sep", "sep_last")
    }
    if "year" in named:
        year, month, day = named["year"], named["month"], named["day"]
    elif "year_last" in named:  # 12-01-2026: the day or the month first, either reads
        year = named["year_last"]
        month, day = sorted((named["first"], named["second"]))
    else:
        year, month, day = 2000, 1, 1  # a time alone
    return (
        1900 <= year <= 2099
        and 1 <= month <= 12
        and 1 <= day <= 31
        and named.get("hour", 0) <= 24
        and named.get("minute", 0) <= 59
    )
