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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from factory_sim.states import ConnectivityLevel


@dataclass(frozen=True)
class IntegrationEffort:
    interfaces: int  # adapters and standard interfaces to build and maintain
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
    interfaces = mapped * consumers + (standard + consumers if standard else 0)
    if standard >= mapped:
        machine_added = 1
        consumer_added = 1 + mapped
    else:
        machine_added = consumers
        consumer_added = mapped + (1 if standard else 0)
    return IntegrationEffort(
        interfaces=interfaces,
        live_cells=mapped + standard,
        cells=len(cells),
        manual_reports_per_week=offline * shifts_per_week,
        machine_added=machine_added,
        consumer_added=consumer_added,
    )
