"""Durations as people write them in scenario files and on the command line.

>>> parse_duration("90m"), parse_duration("8h"), parse_duration("5d"), parse_duration(30)
(5400.0, 28800.0, 432000.0, 30.0)

A year is 365 calendar days; the shift calendar decides which of them are worked.
"""

from __future__ import annotations

import math
import re

UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
         "y": 365 * 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w|y)?\s*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration like "45s", "90m", "8h", "5d", "2w", "1y"; a bare number is seconds."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like 90m, 8h or 5d, got {text!r}")
    if isinstance(text, int | float):
        if not math.isfinite(text) if isinstance(text, float) else text > 2**53:
            raise ValueError(f"expected a finite duration, got {text!r}")
        if text < 0:
            raise ValueError(f"expected a positive duration, got {text!r}")
        return float(text)
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"expected a duration like 90m, 8h or 5d, got {text!r}")
    value, unit = match.groups()
    seconds = float(value) * UNITS[unit or "s"]
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {text!r}")
    return seconds
