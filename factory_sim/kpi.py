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

The report's fields are defined in `factory_sim.kpi_report` (re-exported here), what is
kept per cell and the cell's KPIs in `factory_sim.kpi_ledger`.

The plant level aggregates the cells' sums, the ISO 22400 way of rolling work units up:
availability = ΣAPT / ΣPBT, performance = Σ(PRI × PQ) / ΣAPT, quality = ΣGQ / ΣPQ, OEE =
their product. Unlike the OEE of one bottleneck cell, this weights every cell by its planned
time and so shows losses wherever they occur. The plant's good parts, throughput and energy
per good part count parts *delivered* (completed orders), not parts made at each cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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
from factory_sim.kpi_ledger import CellLedger, plant_information
from factory_sim.kpi_report import (
    CellKpis,
    Distribution,
    InformationQuality,
    KpiReport,
    PlantKpis,
    RepairTimes,
    TimeElements,
    product_of,
    ratio,
)
from factory_sim.states import Activity, AlarmKind, TimeCategory

__all__ = ["CellKpis", "Distribution", "InformationQuality", "KpiAccounting", "KpiReport",
           "PlantKpis", "RepairTimes", "TimeElements"]

PlannedCycleTime = Callable[[str, str], float]


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
        self._cells: dict[str, CellLedger] = {cell: CellLedger() for cell in cells}
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

    def _ledger(self, cell: str) -> CellLedger:
        ledger = self._cells.get(cell)
        if ledger is None:
            ledger = self._cells[cell] = CellLedger()
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
        cells = [ledger.report(cell, now, hours) for cell, ledger in self._cells.items()]
        return KpiReport(simulated, self._plant_report(cells, now, hours), cells)

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
        availability = ratio(times.apt_s, times.pbt_s)
        performance = ratio(sum(cell.planned_run_time_s for cell in cells), times.apt_s)
        quality = ratio(sum(cell.good for cell in cells), produced)

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
            oee=product_of(availability, performance, quality),
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
            on_time_in_full=ratio(sum(1 for c in on_time if c[4] == 0), len(completed)),
            on_time=ratio(len(on_time), len(completed)),
            fill_rate=ratio(good_parts, ordered),
            energy_kwh=energy,
            energy_per_good_part_kwh=ratio(energy, good_parts),
            # Each cell's operating time splits into (its failures + 1) intervals.
            repairs=RepairTimes.of(failures, all_repairs, producing, operating,
                                   failures + len(cells)),
            information=plant_information(cells, ledgers),
            network_outage_s=self._network_outage_s + sum(
                now - max(since, self.start) for since in self._network_down_since.values()),
            network_outages=self._network_outages,
        )
