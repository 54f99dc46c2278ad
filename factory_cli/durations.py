"""Durations on the command line, in the scenario files' units, with errors naming the option.

>>> duration_option("90m"), duration_option("1y") / 86400
(5400.0, 365.0)
"""

from __future__ import annotations

from factory_cli.errors import CliError
from factory_sim.durations import parse_duration
from factory_sim.scenario import MAX_DURATION


def duration_option(text: str, option: str = "--duration") -> float:
    """Seconds in "45s", "90m", "8h", "5d", "2w" or "1y"; CliError naming `option` if not."""
    if text.strip().startswith("-"):
        raise CliError(f"{option}: expected a duration longer than zero, got {text!r}")
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise CliError(f"{option}: expected a duration like 90m, 8h, 5d or 1y, got {text!r}"
                       ) from None
    if seconds <= 0:
        raise CliError(f"{option}: expected a duration longer than zero, got {text!r}")
    if seconds > MAX_DURATION:
        raise CliError(f"{option}: expected at most 10y (the longest run the model accepts), "
                       f"got {text!r}")
    return seconds
