"""Durations as people write them: `--window 7d` in, `1d 9h 52m` out.

A bare number is refused: `--window 7` once meant seven seconds where a reader
meant seven days, so every window names its unit.
"""

from __future__ import annotations

import re

UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
EXAMPLES = "7d, 1w, 12h, 30m or 90s"
LONGEST = 366 * 86_400  # Mixpanel's longest conversion window; a longer one overflowed the date range
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*$")


def parse_window(text: str) -> int:
    """`7d`, `1w`, `12h`, `30m` or `90s` to whole seconds; ValueError says what is expected."""
    match = _DURATION.match(text)
    if not match:
        hint = f" (seconds? write {text.strip()}s)" if text.strip().isdigit() else ""
        raise ValueError(f"expected a number with a unit, such as {EXAMPLES}; got {text!r}{hint}")
    seconds = int(float(match.group(1)) * UNITS[match.group(2)])
    if seconds <= 0:
        raise ValueError(f"must be at least one second, got {text!r}")
    if seconds > LONGEST:
        raise ValueError(f"must be at most 366d, got {text!r}")
    return seconds


def format_duration(seconds: float | None) -> str:
    """`1d 9h 52m`: the two or three largest units, seconds only under an hour; '' for None."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}s".replace(".0s", "s") if seconds < 10 and whole != seconds else f"{whole}s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        amount, whole = divmod(whole, UNITS[unit])
        if amount and not (unit == "s" and parts and parts[0][-1] in "dh"):
            parts.append(f"{amount}{unit}")
    return " ".join(parts)
