"""Durations on the command line, and the one-line errors for bad ones."""

from __future__ import annotations

import pytest

from factory_cli.durations import duration_option
from factory_cli.errors import CliError


@pytest.mark.parametrize(("text", "seconds"), [
    ("90m", 5400.0), ("8h", 28800.0), ("5d", 432000.0), ("2w", 1209600.0),
    ("1y", 365 * 86400.0), ("0.5y", 182.5 * 86400.0), ("45s", 45.0), ("30", 30.0),
])
def test_units(text, seconds):
    assert duration_option(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "h", "1.2.3h", "y"])
def test_bad_durations_name_the_option(text):
    with pytest.raises(CliError, match=r"^--until: expected a duration like 90m, 8h, 5d or 1y"):
        duration_option(text, "--until")


@pytest.mark.parametrize("text", ["0h", "-3d", " -1"])
def test_zero_and_negative_are_refused(text):
    with pytest.raises(CliError, match=r"^--until: expected a duration longer than zero"):
        duration_option(text, "--until")


def test_an_absurd_duration_is_refused_with_its_limit():
    assert duration_option("10y") == 10 * 365 * 86400.0
    with pytest.raises(CliError, match=r"^--duration: expected at most 10y .*'11y'"):
        duration_option("11y")
