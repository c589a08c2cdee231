"""CSV cells that a spreadsheet shows as text instead of running them as a formula.

The property office opens every export in Excel or WPS, which take a cell starting with
``=``, ``+``, ``-`` or ``@`` (and a tab or carriage return before one) as a formula:
``=HYPERLINK(...)`` or a DDE ``=cmd|...`` in a zone id from the config or a name typed into
the console would run on the office computer when the file is opened.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: object) -> object:
    """Text that a spreadsheet would read as a formula, behind an apostrophe (shown as typed,
    not evaluated); anything else as given, so a count stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
