"""Experiments over replications: paired seeds, means with 95 % intervals, paired differences.

Pure arithmetic on KPI reports (the dicts of `KpiReport.as_dict()`); running the replications
is the caller's business. Every numeric figure of a report is summarised, found by walking the
report, so a KPI added to the model flows through without changes here.

Replication *i* of every scenario uses seed ``base + i``: the scenarios of one replication see
the same random numbers (common random numbers), so the difference of a KPI between two
scenarios is taken pair by pair, which removes most of the seed-to-seed noise from it.

>>> iv = interval([1.0, 2.0, 3.0])
>>> iv.mean, round(iv.half_width, 3), round(iv.low, 3)
(2.0, 2.484, -0.484)
>>> paired_difference([10.0, 12.0, 11.0], [11.0, 13.5, 12.0]).mean
1.1666666666666667
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

# Two-sided 95 % quantiles of Student's t (t_{0.975, df}) for df = 1..30, from any table.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
# Beyond 30, linear in 1/df between these tabulated points (error < 0.001).
_T975_LARGE = ((30, 2.042), (40, 2.021), (60, 2.000), (120, 1.980), (math.inf, 1.960))


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom (for a 95 % interval)."""
    if df < 1:
        raise ValueError(f"expected at least 1 degree of freedom, got {df}")
    if df <= 30:
        return _T975[df - 1]
    for (df0, t0), (df1, t1) in pairwise(_T975_LARGE):
        if df <= df1:
            x, x0, x1 = 1 / df, 1 / df0, 0.0 if math.isinf(df1) else 1 / df1
            return t1 + (t0 - t1) * (x - x1) / (x0 - x1)
    return 1.960


@dataclass(frozen=True)
class Interval:
    """Mean of `n` values and the half-width of its 95 % confidence interval.

    `half_width` is None with fewer than two values (no spread to estimate); `mean` is None
    with none (a KPI undefined in every replication, e.g. MTTR without failures).
    """

    mean: float | None
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    @property
    def excludes_zero(self) -> bool:
        """For a difference: is it beyond the noise (the interval does not contain 0)?"""
        return self.half_width is not None and abs(self.mean) > self.half_width

    def as_dict(self) -> dict:
        return {"mean": self.mean, "half_width": self.half_width, "low": self.low,
                "high": self.high, "n": self.n}


def interval(values: Iterable[float | None]) -> Interval:
    """Mean and Student-t 95 % interval of the defined values (None values are left out)."""
    sample = [float(v) for v in values if v is not None]
    n = len(sample)
    if n == 0:
        return Interval(None, None, 0)
    mean = math.fsum(sample) / n
    if n == 1:
        return Interval(mean, None, 1)
    variance = math.fsum((v - mean) ** 2 for v in sample) / (n - 1)
    return Interval(mean, t975(n - 1) * math.sqrt(variance / n), n)


def paired_difference(baseline: Sequence[float | None],
                      other: Sequence[float | None]) -> Interval:
    """Interval of `other[i] − baseline[i]` over the replications where both are defined."""
    if len(baseline) != len(other):
        raise ValueError(f"expected paired samples, got {len(baseline)} and {len(other)} values")
    return interval(None if a is None or b is None else b - a
                    for a, b in zip(baseline, other, strict=True))


def replication_seeds(base: int, replications: int) -> list[int]:
    """Seeds of replications 0..n-1: the same list for every scenario, so they pair up."""
    if replications < 1:
        raise ValueError(f"expected at least one replication, got {replications}")
    return [base + i for i in range(replications)]


def figures(section: Mapping, prefix: str = "") -> dict[str, float | None]:
    """Every numeric figure of a report section by dotted path ({"a": {"b": 1}} -> {"a.b": 1}).

    Numbers and None (an undefined KPI) are figures; text, flags and lists are not.
    """
    found: dict[str, float | None] = {}
    for key, value in section.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(figures(value, f"{path}."))
        elif value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            found[path] = value
    return found


def _columns(sections: Sequence[Mapping]) -> dict[str, list[float | None]]:
    """Each figure's values across `sections`, in order (None where a section lacks it)."""
    flat = [figures(section) for section in sections]
    paths = dict.fromkeys(path for f in flat for path in f)
    return {path: [f.get(path) for f in flat] for path in paths}


def summarise(sections: Sequence[Mapping]) -> dict[str, Interval]:
    """Interval of every figure over the replications' report sections (e.g. their plants)."""
    return {path: interval(values) for path, values in _columns(sections).items()}


def paired_differences(baseline: Sequence[Mapping],
                       other: Sequence[Mapping]) -> dict[str, Interval]:
    """Interval of the paired difference (other − baseline) of every figure both report."""
    base, oth = _columns(baseline), _columns(other)
    return {path: paired_difference(base[path], oth[path]) for path in base if path in oth}
