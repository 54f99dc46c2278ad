"""The plant: one or more production lines under one shift calendar, driven by SimPy.

>>> from factory_sim.scenario import load_scenario
>>> from factory_sim.shipped import shipped_scenario
>>> plant = Plant(load_scenario(shipped_scenario("reference-opcua")), seed=7)
>>> plant.subscribe(print)                                                  # doctest: +SKIP
>>> plant.run(until=8 * 3600)

The plant knows nothing of protocols: whoever wants to know what happens subscribes to its
events (KPI accounting, an event log, the OPC UA server). `run` may be called again and
again with a later `until`, which is how a server paces the model to the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import simpy

from factory_sim.cell import Cell
from factory_sim.cell_commands import CommandRejected
from factory_sim.cell_parts import CobotSafety, LaserStates, PackMLStates, PressBrakeTooling
from factory_sim.events import AlarmRaised, EventBus, Subscriber
from factory_sim.external_dispatch import ExternalDispatch
from factory_sim.integration import IntegrationEffort, integration_effort
from factory_sim.job import Job
from factory_sim.job_orders import JobOrderBook
from factory_sim.line import Line
from factory_sim.orders import Order
from factory_sim.random_streams import RandomStreams
from factory_sim.scenario import WEEKDAYS, Hierarchy, Scenario
from factory_sim.shift_calendar import Break, Shift, ShiftCalendar
from factory_sim.states import (
    Activity,
    AlarmKind,
    CellKind,
    ConnectivityLevel,
    LaserState,
    OperationalMode,
    PackMLState,
)
from factory_sim.working_time import WorkingTime

__all__ = ["CellInfo", "CellSnapshot", "CommandRejected", "Job", "Plant"]


@dataclass(frozen=True)
class CellInfo:
    """What a cell is: the nameplate and where it sits (never changes during a run)."""

    id: str
    name: str
    kind: CellKind
    line: str
    connectivity: ConnectivityLevel
    mapped: bool  # vendor level: a hand-written adapter exists
    vendor: str
    manufacturer: str
    model: str
    serial_number: str
    year_of_construction: int
    product_instance_uri: str
    software_revision: str
    location: str  # "site/area/line", as OPC 40001-1 Identification's Location
    alarm_kinds: tuple[AlarmKind, ...]  # the alarms this cell can raise


@dataclass(frozen=True)
class CellSnapshot:
    """What a cell is doing right now."""

    activity: Activity
    power_kw: float
    energy_kwh: float
    good: int
    scrap: int
    rework: int
    cycles: int
    job: Job | None  # a copy: the job under way
    laser_state: LaserState | None
    packml_state: PackMLState | None
    tool: str | None
    tool_life_remaining: int | None
    tool_changes: int
    protective_stop: bool
    operational_mode: OperationalMode | None
    active_alarms: dict[str, AlarmRaised]
    operating_time: float  # seconds of production since the start


class Plant:
    def __init__(self, scenario: Scenario, seed: int | None = None, lines: int | None = None,
                 external_dispatch: bool = False):
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.env = simpy.Environment()
        self.bus = EventBus()
        self.streams = RandomStreams(self.seed)
        self.hierarchy: Hierarchy = scenario.hierarchy
        self.connectivity: ConnectivityLevel = scenario.connectivity
        self.start: datetime = scenario.start
        self.calendar = _calendar(scenario)
        self.working_time = WorkingTime(self.env, self.calendar)

        line_count = lines or 1
        if line_count < 1:
            raise ValueError("a plant needs at least one line")
        self._cycle: dict[tuple[str, str], float] = {}
        self.lines: list[Line] = []
        for number in range(1, line_count + 1):
            if line_count == 1:
                name, prefix = self.hierarchy.line, ""
            else:
                name, prefix = f"line-{number:02d}", f"line-{number:02d}."
            self.lines.append(Line(self.env, self.bus.publish, scenario, self.streams,
                                   self.working_time, self.planned_cycle_time, name, prefix,
                                   external_dispatch))
        self._cells: dict[str, Cell] = {c.id: c for line in self.lines for c in line.cells}
        self.cells: dict[str, CellInfo] = {
            cell.id: _info(cell, line.name, self.hierarchy)
            for line in self.lines for cell in line.cells
        }
        self._cycle = {
            (cell.id, product.name): product.cycle[cell.spec.name]
            for cell in self._cells.values()
            for product in scenario.products if cell.spec.name in product.cycle
        }
        self.external_dispatch = external_dispatch
        if external_dispatch:
            self.bus.subscribe(ExternalDispatch(self.lines))
        self.env.process(self.working_time.follow(self._refresh_cells))
        self.env.process(self._shift_reports())

    # -- driving it ------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.env.now

    def subscribe(self, subscriber: Subscriber) -> None:
        self.bus.subscribe(subscriber)

    def run(self, until: float) -> None:
        """Advance the simulation to `until` seconds after the start."""
        if until > self.env.now:
            self.env.run(until=until)

    # -- what it is and does ---------------------------------------------------------------

    def planned_cycle_time(self, cell_id: str, variant: str) -> float:
        """ISO 22400 planned runtime per item (PRI) of a variant on a cell, in seconds."""
        return self._cycle[cell_id, variant]

    def snapshot(self, cell_id: str) -> CellSnapshot:
        cell = self._cells[cell_id]
        laser = packml = safety = tooling = None
        for part in cell.parts:
            if isinstance(part, LaserStates):
                laser = part.state
            elif isinstance(part, PackMLStates):
                packml = part.state
            elif isinstance(part, CobotSafety):
                safety = part
            elif isinstance(part, PressBrakeTooling):
                tooling = part
        tool = tooling.tool if tooling is not None else None
        return CellSnapshot(
            activity=cell.activity or Activity.STARVED,
            power_kw=cell.energy.power_kw,
            energy_kwh=cell.energy.until_now(),
            good=cell.good,
            scrap=cell.scrap,
            rework=cell.rework,
            cycles=cell.cycles,
            job=replace(cell.job) if cell.job is not None else None,
            laser_state=laser,
            packml_state=packml,
            tool=tool,
            tool_life_remaining=tooling.life[tool] if tool is not None else None,
            tool_changes=tooling.changes if tooling is not None else 0,
            protective_stop=safety.protective_stop if safety is not None else False,
            operational_mode=safety.operational_mode if safety is not None else None,
            active_alarms=dict(cell.active_alarms),
            operating_time=cell.state_times()[Activity.PRODUCING],
        )

    def integration_effort(self) -> IntegrationEffort:
        """Interfaces the plant's connectivity costs (N x M vendor adapters, N + M OPC UA)."""
        calendar = self.scenario.calendar
        cells = [cell for line in self.lines for cell in line.cells]
        return integration_effort(
            ((info.connectivity, info.mapped) for info in self.cells.values()),
            consumers=len(self.scenario.consumers),
            shifts_per_week=len(calendar.shifts) * len(calendar.workdays),
            companion_specs=len({info.kind for info in self.cells.values()
                                 if info.connectivity >= ConnectivityLevel.OPCUA}),
            predictive_cells=sum(cell.coupling.predictive for cell in cells),
            plant_sequencing=any(cell.coupling.job_orders for cell in cells),
        )

    def order_book(self) -> list[Order]:
        """Orders arrived and not completed: waiting for release first (by due date), then
        on the floor."""
        waiting = sorted((o for line in self.lines for o in line.planner.pool),
                         key=lambda o: o.due)
        return waiting + [o for line in self.lines for o in line.planner.on_floor.values()]

    def wip(self) -> tuple[int, int]:
        """Orders released and not completed, and their parts not scrapped."""
        orders = [o for line in self.lines for o in line.planner.on_floor.values()]
        return len(orders), sum(o.alive + sum(r.alive for r in o.remakes) for o in orders)

    def state_times(self, cell_id: str) -> dict[Activity, float]:
        """Seconds booked to each activity since the start; they add up to `now`."""
        return self._cells[cell_id].state_times()

    # -- operator commands (what an OPC UA method call turns into) -------------------------

    def stop_cell(self, cell_id: str) -> None:
        self._cells[cell_id].commands.stop()

    def start_cell(self, cell_id: str) -> None:
        self._cells[cell_id].commands.start()

    def reset_fault(self, cell_id: str) -> None:
        self._cells[cell_id].commands.reset_fault()

    # -- job orders (what Job Management over OPC UA turns into) ----------------------------

    def job_orders(self, cell_id: str) -> JobOrderBook | None:
        """The cell's job orders; None where the cell has no job order interface (below
        OPC UA)."""
        return self._cells[cell_id].job_orders

    # -- the calendar ----------------------------------------------------------------------

    def _refresh_cells(self) -> None:
        for cell in self._cells.values():
            if not cell.waiting_for_shift:
                cell.refresh()

    def _shift_reports(self):
        env = self.env
        for shift_start, shift_end in self.calendar.shifts_ending():
            if shift_end <= env.now:
                continue
            yield env.timeout(shift_end - env.now)
            for line in self.lines:
                line.information.file_shift_reports(line.cells, shift_start)


def _calendar(scenario: Scenario) -> ShiftCalendar:
    spec = scenario.calendar
    start = scenario.start
    return ShiftCalendar(
        shifts=[Shift(s.name, s.start, s.end, [Break(b.start, b.duration) for b in s.breaks])
                for s in spec.shifts],
        workdays={WEEKDAYS.index(day) for day in spec.workdays},
        start_weekday=start.weekday(),
        start_offset=start.hour * 3600.0 + start.minute * 60.0 + start.second,
    )


def _info(cell: Cell, line: str, hierarchy: Hierarchy) -> CellInfo:
    vendor = cell.spec.vendor
    return CellInfo(
        id=cell.id,
        name=cell.spec.name,
        kind=cell.kind,
        line=line,
        connectivity=cell.level,
        mapped=cell.spec.mapped,
        vendor=vendor.name,
        manufacturer=vendor.manufacturer,
        model=vendor.model,
        serial_number=f"{vendor.serial_number}-{line}" if line != hierarchy.line
        else vendor.serial_number,
        year_of_construction=vendor.year_of_construction,
        product_instance_uri=f"urn:{hierarchy.enterprise}:{hierarchy.site}:{line}:{cell.spec.name}",
        software_revision=vendor.software_revision,
        location=f"{hierarchy.site}/{hierarchy.area}/{line}",
        alarm_kinds=cell.alarm_kinds,
    )
