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
# some business cards): a date written 2026.12.01 is masked with it, as a dashed one is,
# which costs a guard a date and not a resident their number.
_NUMBER_IN_TEXT = re.compile(r"\+?\d(?:[ \u3000\-\uff0d\u2010-\u2015.\uff0e]?\d){6,}")


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
    return _NUMBER_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)
