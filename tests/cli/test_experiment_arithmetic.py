"""Interval arithmetic of `factory_sim.experiments`, against cases computed by hand."""

from __future__ import annotations

import math

import pytest

from factory_sim.experiments import (
    figures,
    interval,
    paired_difference,
    paired_differences,
    replication_seeds,
    summarise,
    t975,
)


def test_interval_of_a_hand_computed_sample():
    # 10, 12, 14, 16: mean 13, s² = (9+1+1+9)/3 = 20/3, se = s/2, t(0.975, 3) = 3.182.
    result = interval([10, 12, 14, 16])
    assert result.mean == 13
    assert result.half_width == pytest.approx(3.182 * math.sqrt(20 / 3) / 2)
    assert (result.low, result.high) == pytest.approx((13 - 4.1079, 13 + 4.1079), abs=1e-3)
    assert result.n == 4


def test_interval_leaves_out_undefined_values_and_needs_two_for_a_width():
    assert interval([None, 5.0, None]).as_dict() == {
        "mean": 5.0, "half_width": None, "low": None, "high": None, "n": 1}
    assert interval([None, None]).mean is None
    assert interval([7.0, 7.0, 7.0]).half_width == 0.0


def test_t_quantiles_from_the_table_and_between_its_points():
    assert t975(1) == 12.706 and t975(9) == 2.262 and t975(30) == 2.042
    assert 2.021 < t975(35) < 2.042
    assert t975(60) == pytest.approx(2.000)
    assert t975(10_000) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError, match="degree of freedom"):
        t975(0)


def test_paired_difference_removes_the_common_noise():
    # Large seed-to-seed spread, but B is always exactly 2 above A.
    a = [10.0, 30.0, 20.0, 50.0]
    b = [12.0, 32.0, 22.0, 52.0]
    unpaired = interval(b).mean - interval(a).mean
    paired = paired_difference(a, b)
    assert paired.mean == unpaired == 2.0
    assert paired.half_width == 0.0 and paired.excludes_zero
    assert interval(a).half_width > 10
    # Pairs with an undefined side are left out, not misaligned.
    assert paired_difference([1.0, None, 3.0], [2.0, 5.0, 5.0]).as_dict()["mean"] == 1.5
    with pytest.raises(ValueError, match="paired"):
        paired_difference([1.0], [1.0, 2.0])


def test_every_numeric_figure_of_a_report_is_summarised():
    reps = [{"oee": 0.5, "lead_time_s": {"mean": 3600.0, "count": 10}, "name": "x", "ok": True,
             "mttr_s": None},
            {"oee": 0.7, "lead_time_s": {"mean": 7200.0, "count": 12}, "name": "x", "ok": True,
             "mttr_s": 60.0}]
    assert figures(reps[0]) == {"oee": 0.5, "lead_time_s.mean": 3600.0,
                                "lead_time_s.count": 10, "mttr_s": None}
    summary = summarise(reps)
    assert set(summary) == {"oee", "lead_time_s.mean", "lead_time_s.count", "mttr_s"}
    assert summary["oee"].mean == pytest.approx(0.6)
    assert summary["mttr_s"].n == 1
    diff = paired_differences(reps[:1], reps[1:])
    assert diff["lead_time_s.mean"].mean == 3600.0
    assert diff["mttr_s"].n == 0


def test_replication_seeds_are_consecutive_from_the_base():
    assert replication_seeds(2026, 3) == [2026, 2027, 2028]
    with pytest.raises(ValueError, match="at least one"):
        replication_seeds(1, 0)
