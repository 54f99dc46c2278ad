"""Integration effort: how many interfaces somebody must build and keep alive.

The software-coupling barrier in numbers. With vendor-specific interfaces every consumer
(planning, maintenance, quality, ...) needs its own hand-written adapter per machine: N × M,
and the office that dispatches maps each machine's vendor-specific job import once more: + N.
With a standard information model each machine exposes it once (job orders included: OPC
40001-3 Job Management) and each consumer speaks it once: N + M. Stand-alone machines need
no interfaces, and deliver nothing live; their data comes from paper shift reports.

>>> from factory_sim.states import ConnectivityLevel as L
>>> effort = integration_effort([(L.VENDOR, True), (L.VENDOR, True), (L.OPCUA, False)],
...                             consumers=3, shifts_per_week=10)
>>> effort.interfaces, effort.live_cells, effort.machine_added, effort.consumer_added
(12, 3, 4, 3)
>>> effort.adapters, effort.job_imports, effort.standard_interfaces
(8, 2, 4)

What the interfaces cost follows from a few figures per scenario (`integration:` in the
scenario file, see `IntegrationSpec`): hours to build an adapter or a standard interface,
hours a year to keep each alive, minutes to type in a paper shift report, an hourly rate.

>>> cost = integration_cost(effort, adapter_build_h=80, standard_build_h=40,
...                         upkeep_h_per_year=16, report_min=10, rate_per_h=100)
>>> cost.build_h, cost.upkeep_h_per_year, cost.cost_build
(800.0, 192, 80000.0)

A standard landscape has fixed costs too (licences, SDK, broker, security set-up, training),
each consumer maps every further companion specification once, and the unified level's
applications (condition monitoring, plant-wide sequencing) cost sensors and licences: see
`IntegrationSpec`. `payback_years` weighs a step's extra build cost against what its KPI
gains are worth a year.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from factory_sim.states import ConnectivityLevel


@dataclass(frozen=True)
class IntegrationEffort:
    interfaces: int  # adapters and standard interfaces to build and maintain
    adapters: int  # hand-written point-to-point adapters: mapped machine x consumer, + imports
    standard_interfaces: int  # standard interfaces: once per machine and once per consumer
    live_cells: int  # cells whose state reaches the consumers live
    cells: int
    manual_reports_per_week: int  # paper shift reports someone writes and types in
    machine_added: int  # interfaces one more machine of the most common level costs
    consumer_added: int  # interfaces one more consumer costs
    consumers: int = 0
    companion_specs: int = 0  # distinct companion specifications of the standard cells
    predictive_cells: int = 0  # cells with condition monitoring (an application)
    plant_sequencing: bool = False  # the plant-wide sequencing application runs
    # of the adapters: a mapped machine's vendor-specific job import, mapped by the office
    job_imports: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def integration_effort(
    cells: Iterable[tuple[ConnectivityLevel, bool]], consumers: int, shifts_per_week: int,
    companion_specs: int = 0, predictive_cells: int = 0, plant_sequencing: bool = False,
) -> IntegrationEffort:
    """Effort for cells given as (connectivity level, vendor interface mapped) pairs."""
    cells = list(cells)
    mapped = sum(1 for level, is_mapped in cells
                 if level is ConnectivityLevel.VENDOR and is_mapped)
    standard = sum(1 for level, _ in cells if level >= ConnectivityLevel.OPCUA)
    offline = len(cells) - mapped - standard
    adapters = mapped * consumers + mapped  # and each mapped machine's job import
    standard_interfaces = standard + consumers if standard else 0
    interfaces = adapters + standard_interfaces
    if standard >= mapped:
        machine_added = 1
        consumer_added = 1 + mapped
    else:
        machine_added = consumers + 1
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
        consumers=consumers,
        companion_specs=companion_specs if standard else 0,
        predictive_cells=predictive_cells,
        plant_sequencing=plant_sequencing,
        job_imports=mapped,
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
                     rate_per_h: float, companion_mapping_h: float = 0.0,
                     standard_fixed_eur: float = 0.0, standard_fixed_eur_per_year: float = 0.0,
                     predictive_eur_per_cell: float = 0.0, predictive_eur_per_year: float = 0.0,
                     sequencing_eur_per_year: float = 0.0, **_values: float) -> IntegrationCost:
    """Hours and EUR; `_values` (what KPI gains are worth) are for `payback_years`."""
    mappings = effort.consumers * max(0, effort.companion_specs - 1)
    build = (effort.adapters * adapter_build_h + effort.standard_interfaces * standard_build_h
             + mappings * companion_mapping_h)
    upkeep = effort.interfaces * upkeep_h_per_year
    reporting = effort.manual_reports_per_week * WEEKS_PER_YEAR * report_min / 60.0
    standard = effort.standard_interfaces > 0
    fixed = (standard_fixed_eur if standard else 0.0) + (
        effort.predictive_cells * predictive_eur_per_cell)
    fixed_per_year = ((standard_fixed_eur_per_year if standard else 0.0)
                      + (predictive_eur_per_year if effort.predictive_cells else 0.0)
                      + (sequencing_eur_per_year if effort.plant_sequencing else 0.0))
    return IntegrationCost(build, upkeep, reporting, build * rate_per_h + fixed,
                           (upkeep + reporting) * rate_per_h + fixed_per_year)


YEAR_S = 365 * 86400.0


def gains_per_year(difference: dict[str, float | None], duration_s: float, *,
                   energy_eur_per_kwh: float, margin_eur_per_part: float,
                   late_order_eur: float, **_costs: float) -> float:
    """What a step's mean KPI differences (plant figures by dotted path, over `duration_s`)
    are worth a year, EUR: energy saved, good parts gained, late orders avoided."""
    scale = YEAR_S / duration_s

    def get(path: str) -> float:
        return difference.get(path) or 0.0

    late_avoided = get("late_orders")
    return scale * (-get("energy_kwh") * energy_eur_per_kwh
                    + get("good_parts") * margin_eur_per_part
                    + late_avoided * late_order_eur)


def payback_years(before: IntegrationCost, after: IntegrationCost, gains: float) -> float | None:
    """Years until the step's extra build cost is earned back by its yearly gains and
    running-cost savings; None if it never is."""
    extra = after.cost_build - before.cost_build
    net = gains + before.cost_per_year - after.cost_per_year
    if extra <= 0:
        return 0.0 if net >= 0 else None
    return extra / net if net > 0 else None


def growth(machines: Sequence[int], consumers: int, shifts_per_week: int,
           level: ConnectivityLevel) -> list[IntegrationEffort]:
    """The effort of a plant of n machines all at `level` (mapped where vendor), for each n."""
    return [integration_effort([(level, True)] * n, consumers, shifts_per_week)
            for n in machines]
