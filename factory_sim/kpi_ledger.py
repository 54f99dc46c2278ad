"""What KPI accounting remembers about each cell, and the cell's KPIs and information
quality computed from it (`factory_sim.kpi.KpiAccounting` keeps one `CellLedger` per cell).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace

from factory_sim.kpi_report import (
    CellKpis,
    Distribution,
    InformationQuality,
    RepairTimes,
    TimeElements,
    product_of,
    ratio,
)
from factory_sim.states import Activity, TimeCategory


class CellLedger:
    """Everything KPI accounting remembers about one cell."""

    __slots__ = (
        "activity",
        "change_times",
        "energy_base_kwh",
        "energy_kwh",
        "failures",
        "good",
        "last_learned_at",
        "latencies",
        "planned_run_time_s",
        "power_kw",
        "repairs",
        "report_sums",
        "reports",
        "rework",
        "scrap",
        "since",
        "times",
    )

    def __init__(self) -> None:
        self.activity: Activity | None = None
        self.since = 0.0
        self.times: dict[Activity, float] = {}
        self.power_kw = 0.0
        self.energy_kwh = 0.0
        self.energy_base_kwh = 0.0  # the cell's energy meter when accounting (re)started
        self.good = self.scrap = self.rework = 0
        self.planned_run_time_s = 0.0
        self.failures = 0
        # alarm id -> (detection, response, repair) seconds of each repaired failure
        self.repairs: dict[str, tuple[float, float, float]] = {}
        self.change_times: list[float] = []
        self.latencies: list[float] = []
        self.last_learned_at: float | None = None
        self.reports = 0
        # |good diff|, good actual, |scrap diff|, scrap actual, |downtime diff|, downtime actual
        self.report_sums = [0.0] * 6

    def report(self, cell: str, now: float, hours: float) -> CellKpis:
        """The cell's KPIs up to simulated second `now`, `hours` after accounting began."""
        state_times = dict(self.times)
        energy = self.energy_kwh
        if self.activity is not None:
            state_times[self.activity] = state_times.get(self.activity, 0.0) + (
                now - self.since)
            energy += self.power_kw * (now - self.since) / 3600.0
        by_category: dict[TimeCategory, float] = {}
        for activity, seconds in state_times.items():
            by_category[activity.category] = by_category.get(activity.category, 0.0) + seconds
        times = TimeElements.of(by_category)
        produced = self.good + self.scrap + self.rework
        availability = ratio(times.apt_s, times.pbt_s)
        performance = ratio(self.planned_run_time_s, times.apt_s)
        quality = ratio(self.good, produced)
        return CellKpis(
            cell=cell,
            state_times_s={a.label: state_times.get(a, 0.0) for a in Activity},
            times=times,
            availability=availability,
            performance=performance,
            quality=quality,
            oee=product_of(availability, performance, quality),
            produced=produced,
            good=self.good,
            scrap=self.scrap,
            rework=self.rework,
            planned_run_time_s=self.planned_run_time_s,
            throughput_per_h=self.good / hours if hours > 0 else 0.0,
            energy_kwh=energy,
            energy_per_good_part_kwh=ratio(energy, self.good),
            repairs=RepairTimes.of(self.failures, list(self.repairs.values()),
                                   state_times.get(Activity.PRODUCING, 0.0),
                                   times.pbt_s - times.down_s, self.failures + 1),
            information=information_quality([self], Distribution.of(self.latencies)),
        )


def accuracy(error: float, actual: float) -> float:
    if actual > 0:
        return max(0.0, 1.0 - error / actual)
    return 1.0 if error == 0 else 0.0


def information_quality(ledgers: list[CellLedger], latency: Distribution) -> InformationQuality:
    """Unlearned share and shift-report accuracy pooled over `ledgers`, with `latency`."""
    considered = learned = reports = 0
    sums = [0.0] * 6
    for ledger in ledgers:
        if ledger.last_learned_at is not None:
            considered += bisect_right(ledger.change_times, ledger.last_learned_at)
            learned += len(ledger.latencies)
        reports += ledger.reports
        sums = [a + b for a, b in zip(sums, ledger.report_sums, strict=True)]
    good = accuracy(sums[0], sums[1])
    scrap = accuracy(sums[2], sums[3])
    downtime = accuracy(sums[4], sums[5])
    unlearned = None
    if considered:
        unlearned = max(0.0, 1.0 - learned / considered)
    return InformationQuality(latency, unlearned, reports, good, scrap, downtime,
                              (good + scrap + downtime) / 3)


def plant_information(cells: list[CellKpis], ledgers: list[CellLedger]) -> InformationQuality:
    """Latency and unlearned share over all state changes; accuracy as the mean over
    every cell (a live cell is exact)."""
    pooled = information_quality(
        ledgers, Distribution.of(x for ledger in ledgers for x in ledger.latencies))
    if not cells:
        return pooled

    def mean(name: str) -> float:
        return sum(getattr(cell.information, name) for cell in cells) / len(cells)

    good, scrap, downtime = (mean("accuracy_good"), mean("accuracy_scrap"),
                             mean("accuracy_downtime"))
    return replace(pooled, accuracy_good=good, accuracy_scrap=scrap,
                   accuracy_downtime=downtime, accuracy=(good + scrap + downtime) / 3)
