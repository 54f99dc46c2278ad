"""The bounds of every count the command line accepts, stated once and in `--help`.

A typo (`--replications 99999999999`) must end in one line and exit code 2, not in a machine
that swaps: each bound is far above what a lesson or a study needs, and low enough that the
results of a whole experiment fit in a few hundred MB.
"""

from __future__ import annotations

from factory_cli.errors import CliError

MAX_REPLICATIONS = 1_000  # per scenario (or sweep value): intervals stop narrowing long before
MAX_JOBS = 64  # worker processes
MAX_SCENARIOS = 20  # scenarios in one `compare`
MAX_SWEEP_VALUES = 50  # values of one `sweep --vary`
MAX_RUNS = 4_000  # simulation runs in one command (scenarios or values × replications)
MAX_SEED = 2**64 - 1  # seeds are 0 .. 2^64 - 1 (a lab's per-student seeds use all 64 bits)


def bounded(option: str, value: int, low: int, high: int) -> int:
    """`value` if low <= value <= high, else a CliError naming `option` and the range."""
    if not low <= value <= high:
        raise CliError(f"{option}: expected {low:,} to {high:,}, got {value:,}")
    return value


def check_runs(what: str, count: int, replications: int) -> int:
    """Refuse an experiment of more than MAX_RUNS runs (`count` scenarios or values)."""
    total = count * replications
    if total > MAX_RUNS:
        raise CliError(f"{what}: {count:,} × {replications:,} replications = {total:,} runs; "
                       f"expected at most {MAX_RUNS:,} in one command (split the experiment)")
    return total
