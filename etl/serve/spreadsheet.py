"""CSV cells a spreadsheet shows and never runs: OWASP's advice against CSV
injection, one rule for every CSV this project writes (exports and `--format csv`)."""

from __future__ import annotations

from decimal import Decimal

# A text cell starting with one of these is read as a formula: it gets a leading '
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object, text: str | None = None) -> str:
    """`text` (how the caller writes `value`; `str(value)` by default) as a safe cell.

    A number (int, float, Decimal; not a bool) is a number, never a formula: -5
    stays -5. Any other cell starting with = + - @ tab or CR gets a leading ',
    so the string "=1+1" is written '=1+1 and the string "-5" '-5.
    """
    if value is None:
        return ""
    text = str(value) if text is None else text
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return text
    return "'" + text if text.startswith(FORMULA_STARTS) else text
