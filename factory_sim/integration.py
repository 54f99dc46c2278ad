"""Integration effort: how many interfaces somebody must build and keep alive.

The software-coupling barrier in numbers. With vendor-specific interfaces every consumer
(planning, maintenance, quality, ...) needs its own hand-written adapter per machine: N × M.
With a standard information model each machine exposes it once and each consumer speaks it
once: N + M. Stand-alone machines need no interfaces, and deliver nothing live; their data
comes from paper shift reports.

>>> from factory_sim.states import ConnectivityLevel as L
>>> effort = integration_effort([(L.VENDOR, True), (L.VENDOR, True), (L.OPCUA, False)],
...                             consumers=3, shifts_per_week=10)
>>> effort.interfaces, effort.live_cells, effort.machine_added, effort.consumer_added
(10, 3, 3, 3)
>>> effort.adapters, effort.standard_interfaces
(6, 4)

What the interfaces cost follows from a few figures per scenario (`integration:` in the
scenario file, see `IntegrationSpec`): hours to build an adapter or a standard interface,
hours a year to keep each alive, minutes to type in a paper shift report, an hourly rate.

>>> cost = integration_cost(effort, adapter_build_h=80, standard_build_h=40,
...                         upkeep_h_per_year=16, report_min=10, rate_per_h=100)
>>> cost.build_h, cost.upkeep_h_per_year, cost.cost_build
(640, 160, 64000)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from factory_sim.states import ConnectivityLevel


@dataclass(frozen=True)
class IntegrationEffort:
    interfaces: int  # adapters and standard interfaces to build and maintain
    adapters: int  # hand-written point-to-point adapters: mapped machine x consumer
    standard_interfaces: int  # standard interfaces: once per machine and once per consumer
    live_cells: int  # cells whose state reaches the consumers live
    cells: int
    manual_reports_per_week: int  # paper shift reports someone writes and types in
    machine_added: int  # interfaces one more machine of the most common level costs
    consumer_added: int  # interfaces one more consumer costs

    def as_dict(self) -> dict:
        return asdict(self)


def integration_effort(
    cells: Iterable[tuple[ConnectivityLevel, bool]], consumers: int, shifts_per_week: int
) -> IntegrationEffort:
    """Effort for cells given as (connectivity level, vendor interface mapped) pairs."""
    cells = list(cells)
    mapped = sum(1 for level, is_mapped in cells
                 if level is ConnectivityLevel.VENDOR and is_mapped)
    standard = sum(1 for level, _ in cells if level >= ConnectivityLevel.OPCUA)
    offline = len(cells) - mapped - standard
    adapters = mapped * consumers
    standard_interfaces = standard + consumers if standard else 0
    interfaces = adapters + standard_interfaces
    if standard >= mapped:
        machine_added = 1
        consumer_added = 1 + mapped
    else:
        machine_added = consumers
        consumer_added = mapped + (1 if standard else 0)
    return IntegrationEffort(
        interfaces=interfaces,
        adapters=adapters,
        standard_interfaces=standard_interfaces,
        live_cells=mapped + standard,
        cells=len(cells),
        manual_reports_per_week=offline * shifts_per_week,
        machine_added=machine_added,
        consumer_added=consumer_added,
    )


WEEKS_PER_YEAR = 52


@dataclass(frozen=True)
class IntegrationCost:
    """Engineering hours and money that an `IntegrationEffort` implies."""

    build_h: float  # to build every interface once
    upkeep_h_per_year: float  # to keep them working (firmware updates, changed mappings)
    reporting_h_per_year: float  # typing in the paper shift reports of unconnected cells
    cost_build: float
    cost_per_year: float  # upkeep and reporting

    def as_dict(self) -> dict:
        return asdict(self)


def integration_cost(effort: IntegrationEffort, *, adapter_build_h: float,
                     standard_build_h: float, upkeep_h_per_year: float, report_min: float,
                     rate_per_h: float) -> IntegrationCost:
    build = effort.adapters * adapter_build_h + effort.standard_interfaces * standard_build_h
    upkeep = effort.interfaces * upkeep_h_per_year
    reporting = effort.manual_reports_per_week * WEEKS_PER_YEAR * report_min / 60.0
    return IntegrationCost(build, upkeep, reporting, build * rate_per_h,
                           (upkeep + reporting) * rate_per_h)


def growth(machines: Sequence[int], consumers: int, shifts_per_week: int,
           level: ConnectivityLevel) -> list[IntegrationEffort]:
    """The effort of a plant of n machines all at `level` (mapped where vendor), for each n."""
    return [integration_effort([(level, True)] * n, consumers, shifts_per_week)
            for n in machines]
