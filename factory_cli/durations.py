"""Durations on the command line: the scenario files' units, plus years.

A year is 365 calendar days (not 250 working days): the shift calendar of the scenario
decides which of those days are worked, exactly as for any other duration.

>>> duration_option("90m"), duration_option("1y") / 86400
(5400.0, 365.0)
"""

from __future__ import annotations

import re

from factory_cli.errors import CliError
from factory_sim.durations import parse_duration

YEAR_S = 365 * 86400.0
_YEARS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*y\s*$")


def duration_option(text: str, option: str = "--duration") -> float:
    """Seconds in "45s", "90m", "8h", "5d", "2w" or "1y"; CliError naming `option` if not."""
    years = _YEARS.match(text)
    try:
        seconds = float(years.group(1)) * YEAR_S if years else parse_duration(text)
    except ValueError:
        raise CliError(f"{option}: expected a duration like 90m, 8h, 5d or 1y, got {text!r}"
                       ) from None
    if seconds <= 0:
        raise CliError(f"{option}: expected a duration longer than zero, got {text!r}")
    return seconds
