"""What a KPI report holds: ISO 22400-2 time elements and KPIs per cell and for the plant.

`factory_sim.kpi.KpiAccounting` fills these in from the model's events; `KpiReport.as_dict()`
is what `factory-sim run --format json` prints and `kpis.json` holds. A KPI that has nothing
to divide by is None, not 0.

>>> ratio(3.0, 4.0), ratio(1.0, 0.0)
(0.75, None)
>>> Distribution.of([1.0, 2.0, 3.0]).p50
2.0
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from factory_sim.states import TimeCategory


def ratio(numerator: float, denominator: float) -> float | None:
    """A KPI ratio, or None where it is undefined (nothing to divide by)."""
    return numerator / denominator if denominator > 0 else None


def product_of(*factors: float | None) -> float | None:
    """The product of KPI factors (availability × performance × quality), None if one is."""
    result = 1.0
    for factor in factors:
        if factor is None:
            return None
        result *= factor
    return result


@dataclass(frozen=True)
class Distribution:
    """Count, mean, median and 90th percentile of a sample (None when it is empty)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        array = np.fromiter(values, dtype=float)
        if array.size == 0:
            return cls(0, None, None, None)
        p50, p90 = np.percentile(array, [50, 90])
        return cls(int(array.size), float(array.mean()), float(p50), float(p90))


@dataclass(frozen=True)
class RepairTimes:
    """MTTR and its parts, in seconds: means over the failures repaired so far."""

    failures: int  # failures that occurred (FE), repaired or not
    repaired: int
    detection_s: float | None
    response_s: float | None
    repair_s: float | None
    mttr_s: float | None
    mtbf_producing_s: float | None  # producing time / failures: what `mtbf` draws on
    mtbf_operating_s: float | None  # ISO 22400: operating time / (failures + 1)

    @classmethod
    def of(cls, failures: int, repairs: list[tuple[float, float, float]],
           producing_s: float, operating_s: float, intervals: int) -> RepairTimes:
        """`repairs`: (detection, response, repair) seconds of each repaired failure."""

        def mean(index: int) -> float | None:
            return sum(r[index] for r in repairs) / len(repairs) if repairs else None

        mttr = sum(sum(r) for r in repairs) / len(repairs) if repairs else None
        return cls(failures, len(repairs), mean(0), mean(1), mean(2), mttr,
                   ratio(producing_s, failures), ratio(operating_s, intervals))


@dataclass(frozen=True)
class InformationQuality:
    """How fast and how truly the planner learns what happens on the shop floor.

    latency: time from a state change to the planner learning of it. unlearned_share: share
    of state changes the planner never learned of, among those up to the last change it did
    learn of (later ones may still be on their way). accuracy_*: 1 − Σ|reported − actual| /
    Σ actual over the shift reports filed; 1.0 where no reports are filed (a live cell).
    The plant's accuracy figures are means over every cell.
    """

    latency_s: Distribution
    unlearned_share: float | None
    shift_reports: int
    accuracy_good: float
    accuracy_scrap: float
    accuracy_downtime: float
    accuracy: float  # mean of the three


@dataclass(frozen=True)
class TimeElements:
    """ISO 22400-2 time elements of one work unit (or their sum over the plant), seconds."""

    total_s: float
    pot_s: float  # planned operation time
    pbt_s: float  # planned busy time
    apt_s: float  # actual production time
    setup_s: float  # ASUT
    delay_s: float  # ADET
    down_s: float  # ADOT
    planned_down_s: float  # PDOT

    @classmethod
    def of(cls, by_category: dict[TimeCategory, float]) -> TimeElements:
        total = sum(by_category.values())
        pot = total - by_category.get(TimeCategory.UNPLANNED, 0.0)
        planned_down = by_category.get(TimeCategory.PLANNED_DOWN, 0.0)
        return cls(
            total_s=total,
            pot_s=pot,
            pbt_s=pot - planned_down,
            apt_s=by_category.get(TimeCategory.PRODUCTION, 0.0),
            setup_s=by_category.get(TimeCategory.SETUP, 0.0),
            delay_s=by_category.get(TimeCategory.DELAY, 0.0),
            down_s=by_category.get(TimeCategory.DOWN, 0.0),
            planned_down_s=planned_down,
        )


@dataclass(frozen=True)
class CellKpis:
    cell: str
    state_times_s: dict[str, float]  # per Activity label; they add up to times.total_s
    times: TimeElements
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    produced: int  # PQ: every run, good, scrap or rework
    good: int  # GQ
    scrap: int
    rework: int
    planned_run_time_s: float  # Σ PRI over the parts produced
    throughput_per_h: float  # good parts per simulated hour
    energy_kwh: float
    energy_per_good_part_kwh: float | None
    repairs: RepairTimes
    information: InformationQuality


@dataclass(frozen=True)
class PlantKpis:
    times: TimeElements  # summed over the cells
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    orders_released: int
    orders_completed: int
    good_parts: int  # delivered in completed orders
    scrapped_parts: int  # scrapped while making the completed orders
    throughput_parts_per_h: float
    throughput_orders_per_h: float
    lead_time_s: Distribution  # order arrival → completion
    throughput_time_s: Distribution  # order release → completion
    wip_orders: float  # time-average of released, not yet completed orders
    wip_parts: float  # ... and of the parts they order
    on_time_in_full: float | None  # share of completed orders on time and complete
    on_time: float | None  # share of completed orders on time, whatever their quantity
    fill_rate: float | None  # good parts delivered / parts ordered, over completed orders
    energy_kwh: float
    energy_per_good_part_kwh: float | None
    repairs: RepairTimes
    information: InformationQuality
    # Connectivity's own failure mode (factory_sim.network): time the plant network was
    # down (summed over lines) and the outages that began, in the accounted span.
    network_outage_s: float = 0.0
    network_outages: int = 0


@dataclass(frozen=True)
class KpiReport:
    simulated_s: float
    plant: PlantKpis
    cells: list[CellKpis] = field(default_factory=list)

    def cell(self, cell_id: str) -> CellKpis:
        for cell in self.cells:
            if cell.cell == cell_id:
                return cell
        raise KeyError(cell_id)

    def as_dict(self) -> dict:
        """Plain dicts, lists and numbers (None for undefined KPIs), ready for json.dump."""
        return asdict(self)

