"""ISO 22400-2 key performance indicators, accounted from the model's events.

`KpiAccounting` is an event subscriber: hand it every event the plant publishes and ask it
for a `KpiReport` at any simulated moment. It books every second of every cell to the
activity the cell was in (state-time accounting), so the ISO 22400 time elements and the
KPIs built on them follow by addition, and nothing depends on how the model is built.

>>> from factory_sim.events import StateChanged
>>> from factory_sim.states import Activity
>>> kpis = KpiAccounting(planned_cycle_time=lambda cell, variant: 60.0)
>>> kpis(StateChanged(0.0, "press", Activity.PRODUCING, 5.0, 0.0))
>>> kpis(StateChanged(3000.0, "press", Activity.FAILED, 0.5, 4.1667))
>>> round(kpis.report(now=3600.0).cells[0].availability, 4)
0.8333

What each KPI means, its formula, unit and the ISO 22400-2:2014 KPI it follows (per work
unit = cell): one record per KPI in `factory_sim.kpi_definitions`, which the documentation's
KPI definitions page is written from. Where the model sends RepairCompleted, MTTR's split in
*working* seconds replaces the timestamps' (a failure late in a shift does not count the
night as repair time).

The plant level aggregates the cells' sums, the ISO 22400 way of rolling work units up:
availability = ΣAPT / ΣPBT, performance = Σ(PRI × PQ) / ΣAPT, quality = ΣGQ / ΣPQ, OEE =
their product. Unlike the OEE of one bottleneck cell, this weights every cell by its planned
time and so shows losses wherever they occur. The plant's good parts, throughput and energy
per good part count parts *delivered* (completed orders), not parts made at each cell.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from factory_sim.events import (
    AlarmCleared,
    AlarmRaised,
    Event,
    FailureDetected,
    NetworkChanged,
    OrderCompleted,
    OrderReleased,
    PartFinished,
    PartOutcome,
    PlannerInformed,
    RepairCompleted,
    RepairStarted,
    ShiftReportFiled,
    StateChanged,
)
from factory_sim.states import Activity, AlarmKind, TimeCategory

PlannedCycleTime = Callable[[str, str], float]


def _ratio(numerator: float, denominator: float) -> float | None:
    """A KPI ratio, or None where it is undefined (nothing to divide by)."""
    return numerator / denominator if denominator > 0 else None


def _product(*factors: float | None) -> float | None:
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
                   _ratio(producing_s, failures), _ratio(operating_s, intervals))


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


class _CellLedger:
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


def _accuracy(error: float, actual: float) -> float:
    if actual > 0:
        return max(0.0, 1.0 - error / actual)
    return 1.0 if error == 0 else 0.0


class KpiAccounting:
    """Subscribe an instance to the plant (`plant.subscribe(kpis)`), then call `report(now)`.

    `planned_cycle_time(cell, variant)` gives ISO 22400's PRI: the planned seconds per part.
    `cells` fixes the order of the cells in the report (else: order of first appearance).
    Accounting starts at simulated second `start`; each cell's first StateChanged is taken to
    hold from then on (the model announces every cell's initial state at t = 0).
    """

    def __init__(
        self,
        planned_cycle_time: PlannedCycleTime,
        cells: Iterable[str] = (),
        start: float = 0.0,
    ) -> None:
        self._planned_cycle_time = planned_cycle_time
        self._pri: dict[tuple[str, str], float] = {}
        self.start = start
        self._cells: dict[str, _CellLedger] = {cell: _CellLedger() for cell in cells}
        self._open_failures: dict[str, list] = {}  # alarm_id -> [cell, raised, detected, started]
        self._open_orders: dict[str, int] = {}  # released order_id -> quantity
        self._open_parts = 0  # their quantities, summed
        self._wip_since = start
        self._wip_order_seconds = 0.0
        self._wip_part_seconds = 0.0
        self._orders_released = 0
        self._completed: list[tuple[float, float, bool, int, int, int]] = []
        self._network_down_since: dict[str, float] = {}  # line -> start of its outage
        self._network_outage_s = 0.0
        self._network_outages = 0
        self._handlers: dict[type, Callable] = {
            StateChanged: self._state_changed,
            PartFinished: self._part_finished,
            AlarmRaised: self._alarm_raised,
            FailureDetected: self._failure_detected,
            RepairStarted: self._repair_started,
            AlarmCleared: self._alarm_cleared,
            RepairCompleted: self._repair_completed,
            OrderReleased: self._order_released,
            OrderCompleted: self._order_completed,
            PlannerInformed: self._planner_informed,
            ShiftReportFiled: self._shift_report_filed,
            NetworkChanged: self._network_changed,
        }

    def __call__(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _ledger(self, cell: str) -> _CellLedger:
        ledger = self._cells.get(cell)
        if ledger is None:
            ledger = self._cells[cell] = _CellLedger()
        return ledger

    # -- event handlers -------------------------------------------------------------------

    def _state_changed(self, event: StateChanged) -> None:
        ledger = self._ledger(event.cell)
        if event.activity is not ledger.activity:  # not just a new power (standby)
            ledger.change_times.append(event.time)
        if ledger.activity is None:
            ledger.since = self.start
        else:
            ledger.times[ledger.activity] = (
                ledger.times.get(ledger.activity, 0.0) + event.time - ledger.since
            )
            ledger.since = event.time
        ledger.activity = event.activity
        ledger.power_kw = event.power_kw
        ledger.energy_kwh = event.energy_kwh - ledger.energy_base_kwh

    def _part_finished(self, event: PartFinished) -> None:
        ledger = self._ledger(event.cell)
        key = (event.cell, event.variant)
        pri = self._pri.get(key)
        if pri is None:
            pri = self._pri[key] = float(self._planned_cycle_time(event.cell, event.variant))
        ledger.planned_run_time_s += pri
        if event.outcome is PartOutcome.GOOD:
            ledger.good += 1
        elif event.outcome is PartOutcome.SCRAP:
            ledger.scrap += 1
        else:
            ledger.rework += 1

    def _alarm_raised(self, event: AlarmRaised) -> None:
        if event.alarm is AlarmKind.FAILURE:
            self._ledger(event.cell).failures += 1
            self._open_failures[event.alarm_id] = [event.cell, event.time, None, None]

    def _failure_detected(self, event: FailureDetected) -> None:
        failure = self._open_failures.get(event.alarm_id)
        if failure is None:  # the machine raised no alarm of its own: it failed silently
            self._ledger(event.cell).failures += 1
            failure = self._open_failures[event.alarm_id] = [
                event.cell, event.failed_at, None, None]
        failure[2] = event.time

    def _repair_started(self, event: RepairStarted) -> None:
        failure = self._open_failures.get(event.alarm_id)
        if failure is not None:
            failure[3] = event.time

    def _alarm_cleared(self, event: AlarmCleared) -> None:
        failure = self._open_failures.pop(event.alarm_id, None)
        if failure is None:
            return
        cell, raised, detected, started = failure
        detected = raised if detected is None else detected
        started = detected if started is None else started
        self._ledger(cell).repairs.setdefault(
            event.alarm_id, (detected - raised, started - detected, event.time - started))

    def _repair_completed(self, event: RepairCompleted) -> None:
        self._ledger(event.cell).repairs[event.alarm_id] = (
            event.detection_s, event.response_s, event.repair_s)

    def _advance_wip(self, time: float) -> None:
        elapsed = time - self._wip_since
        self._wip_order_seconds += len(self._open_orders) * elapsed
        self._wip_part_seconds += self._open_parts * elapsed
        self._wip_since = time

    def _order_released(self, event: OrderReleased) -> None:
        self._advance_wip(event.time)
        self._open_parts += event.quantity - self._open_orders.get(event.order_id, 0)
        self._open_orders[event.order_id] = event.quantity
        self._orders_released += 1

    def _order_completed(self, event: OrderCompleted) -> None:
        self._advance_wip(event.time)
        self._open_parts -= self._open_orders.pop(event.order_id, 0)
        self._completed.append((
            event.time - event.arrived,
            event.time - event.released,
            event.time <= event.due,
            event.quantity,
            event.scrapped,
            event.remade,
        ))

    def _network_changed(self, event: NetworkChanged) -> None:
        if not event.up:
            self._network_down_since[event.line] = event.time
            self._network_outages += 1
        elif event.line in self._network_down_since:
            since = self._network_down_since.pop(event.line)
            self._network_outage_s += event.time - max(since, self.start)

    def _planner_informed(self, event: PlannerInformed) -> None:
        ledger = self._ledger(event.cell)
        ledger.latencies.append(event.time - event.occurred_at)
        if ledger.last_learned_at is None or event.occurred_at > ledger.last_learned_at:
            ledger.last_learned_at = event.occurred_at

    def _shift_report_filed(self, event: ShiftReportFiled) -> None:
        ledger = self._ledger(event.cell)
        ledger.reports += 1
        sums = ledger.report_sums
        sums[0] += abs(event.good_reported - event.good_actual)
        sums[1] += event.good_actual
        sums[2] += abs(event.scrap_reported - event.scrap_actual)
        sums[3] += event.scrap_actual
        sums[4] += abs(event.downtime_reported_s - event.downtime_actual_s)
        sums[5] += event.downtime_actual_s

    # -- warm-up ---------------------------------------------------------------------------

    def restart(self, at: float) -> None:
        """Forget everything accounted before simulated second `at` (the end of a warm-up).

        What is under way carries on: each cell's current activity (from `at`), its energy
        meter, the orders on the floor and the failures not yet repaired.
        """
        cells = self._cells
        open_failures, open_orders, open_parts, down_since = (
            self._open_failures, self._open_orders, self._open_parts,
            self._network_down_since)
        self.__init__(self._planned_cycle_time, cells, start=at)
        self._open_failures, self._open_orders, self._open_parts = (
            open_failures, open_orders, open_parts)
        self._network_down_since = down_since  # an outage under way goes on
        for cell, old in cells.items():
            ledger = self._cells[cell]
            ledger.activity, ledger.since, ledger.power_kw = old.activity, at, old.power_kw
            ledger.energy_base_kwh = old.energy_base_kwh + old.energy_kwh + (
                old.power_kw * (at - old.since) / 3600.0 if old.activity is not None else 0.0)

    # -- the report -------------------------------------------------------------------------

    def report(self, now: float) -> KpiReport:
        """The KPIs from `start` up to simulated second `now` (the accounting is unchanged)."""
        simulated = now - self.start
        hours = simulated / 3600.0
        cells = [self._cell_report(cell, ledger, now, hours)
                 for cell, ledger in self._cells.items()]
        return KpiReport(simulated, self._plant_report(cells, now, hours), cells)

    def _cell_report(self, cell: str, ledger: _CellLedger, now: float,
                     hours: float) -> CellKpis:
        state_times = dict(ledger.times)
        energy = ledger.energy_kwh
        if ledger.activity is not None:
            state_times[ledger.activity] = state_times.get(ledger.activity, 0.0) + (
                now - ledger.since)
            energy += ledger.power_kw * (now - ledger.since) / 3600.0
        by_category: dict[TimeCategory, float] = {}
        for activity, seconds in state_times.items():
            by_category[activity.category] = by_category.get(activity.category, 0.0) + seconds
        times = TimeElements.of(by_category)
        produced = ledger.good + ledger.scrap + ledger.rework
        availability = _ratio(times.apt_s, times.pbt_s)
        performance = _ratio(ledger.planned_run_time_s, times.apt_s)
        quality = _ratio(ledger.good, produced)
        return CellKpis(
            cell=cell,
            state_times_s={a.label: state_times.get(a, 0.0) for a in Activity},
            times=times,
            availability=availability,
            performance=performance,
            quality=quality,
            oee=_product(availability, performance, quality),
            produced=produced,
            good=ledger.good,
            scrap=ledger.scrap,
            rework=ledger.rework,
            planned_run_time_s=ledger.planned_run_time_s,
            throughput_per_h=ledger.good / hours if hours > 0 else 0.0,
            energy_kwh=energy,
            energy_per_good_part_kwh=_ratio(energy, ledger.good),
            repairs=RepairTimes.of(ledger.failures, list(ledger.repairs.values()),
                                   state_times.get(Activity.PRODUCING, 0.0),
                                   times.pbt_s - times.down_s, ledger.failures + 1),
            information=self._information(
                [ledger], Distribution.of(ledger.latencies)),
        )

    @staticmethod
    def _information(ledgers: list[_CellLedger], latency: Distribution) -> InformationQuality:
        considered = learned = reports = 0
        sums = [0.0] * 6
        for ledger in ledgers:
            if ledger.last_learned_at is not None:
                considered += bisect_right(ledger.change_times, ledger.last_learned_at)
                learned += len(ledger.latencies)
            reports += ledger.reports
            sums = [a + b for a, b in zip(sums, ledger.report_sums, strict=True)]
        good = _accuracy(sums[0], sums[1])
        scrap = _accuracy(sums[2], sums[3])
        downtime = _accuracy(sums[4], sums[5])
        unlearned = None
        if considered:
            unlearned = max(0.0, 1.0 - learned / considered)
        return InformationQuality(latency, unlearned, reports, good, scrap, downtime,
                                  (good + scrap + downtime) / 3)

    @classmethod
    def _plant_information(cls, cells: list[CellKpis],
                           ledgers: list[_CellLedger]) -> InformationQuality:
        """Latency and unlearned share over all state changes; accuracy as the mean over
        every cell (a live cell is exact)."""
        pooled = cls._information(
            ledgers, Distribution.of(x for ledger in ledgers for x in ledger.latencies))
        if not cells:
            return pooled

        def mean(name: str) -> float:
            return sum(getattr(cell.information, name) for cell in cells) / len(cells)

        good, scrap, downtime = (mean("accuracy_good"), mean("accuracy_scrap"),
                                 mean("accuracy_downtime"))
        return replace(pooled, accuracy_good=good, accuracy_scrap=scrap,
                       accuracy_downtime=downtime, accuracy=(good + scrap + downtime) / 3)

    def _plant_report(self, cells: list[CellKpis], now: float, hours: float) -> PlantKpis:
        by_category = {category: 0.0 for category in TimeCategory}
        for cell in cells:
            t = cell.times
            by_category[TimeCategory.PRODUCTION] += t.apt_s
            by_category[TimeCategory.SETUP] += t.setup_s
            by_category[TimeCategory.DELAY] += t.delay_s
            by_category[TimeCategory.DOWN] += t.down_s
            by_category[TimeCategory.PLANNED_DOWN] += t.planned_down_s
            by_category[TimeCategory.UNPLANNED] += t.total_s - t.pot_s
        times = TimeElements.of(by_category)
        produced = sum(cell.produced for cell in cells)
        availability = _ratio(times.apt_s, times.pbt_s)
        performance = _ratio(sum(cell.planned_run_time_s for cell in cells), times.apt_s)
        quality = _ratio(sum(cell.good for cell in cells), produced)

        # WIP up to `now` without changing the running integral.
        elapsed = now - self._wip_since
        order_seconds = self._wip_order_seconds + len(self._open_orders) * elapsed
        part_seconds = self._wip_part_seconds + self._open_parts * elapsed
        simulated = now - self.start

        completed = self._completed
        good_parts = sum(c[3] for c in completed)
        energy = sum(cell.energy_kwh for cell in cells)
        ledgers = list(self._cells.values())
        all_repairs = [r for ledger in ledgers for r in ledger.repairs.values()]
        failures = sum(ledger.failures for ledger in ledgers)
        operating = sum(cell.times.pbt_s - cell.times.down_s for cell in cells)
        producing = sum(cell.state_times_s[Activity.PRODUCING.label] for cell in cells)
        on_time = [c for c in completed if c[2]]
        ordered = good_parts + sum(c[4] for c in completed)
        return PlantKpis(
            times=times,
            availability=availability,
            performance=performance,
            quality=quality,
            oee=_product(availability, performance, quality),
            orders_released=self._orders_released,
            orders_completed=len(completed),
            good_parts=good_parts,
            scrapped_parts=sum(c[4] + c[5] for c in completed),
            throughput_parts_per_h=good_parts / hours if hours > 0 else 0.0,
            throughput_orders_per_h=len(completed) / hours if hours > 0 else 0.0,
            lead_time_s=Distribution.of(c[0] for c in completed),
            throughput_time_s=Distribution.of(c[1] for c in completed),
            wip_orders=order_seconds / simulated if simulated > 0 else 0.0,
            wip_parts=part_seconds / simulated if simulated > 0 else 0.0,
            on_time_in_full=_ratio(sum(1 for c in on_time if c[4] == 0), len(completed)),
            on_time=_ratio(len(on_time), len(completed)),
            fill_rate=_ratio(good_parts, ordered),
            energy_kwh=energy,
            energy_per_good_part_kwh=_ratio(energy, good_parts),
            # Each cell's operating time splits into (its failures + 1) intervals.
            repairs=RepairTimes.of(failures, all_repairs, producing, operating,
                                   failures + len(cells)),
            information=self._plant_information(cells, ledgers),
            network_outage_s=self._network_outage_s + sum(
                now - max(since, self.start) for since in self._network_down_since.values()),
            network_outages=self._network_outages,
        )
