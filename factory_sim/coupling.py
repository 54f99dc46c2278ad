"""What a cell's connectivity level gives the plant: the root of every level's effect.

>>> from factory_sim.scenario import InformationSpec, JobDataSpec
>>> c = Coupling.of(ConnectivityLevel.VENDOR, True, InformationSpec(), JobDataSpec())
>>> c.live_delay, c.job_data_by_hand, c.job_orders
(10.0, 0.5, False)

- `live_delay`: how late the plant (planner, maintenance) learns of a state change; None
  where it learns only from the paper shift report (stand-alone, an unmapped vendor cell).
- `job_data_by_hand`: the share of the manual job data transfer left (1 uncoupled, reduced
  by a mapped vendor interface, 0 at OPC UA and unified).
- `job_orders`: orders reach the machine as job orders with their due dates and the
  machine's setup is known to the dispatcher (unified): setup-aware sequencing.
- `predictive`: condition monitoring turns foreseen failures into planned maintenance.
"""

from __future__ import annotations

from dataclasses import dataclass

from factory_sim.scenario import InformationSpec, JobDataSpec
from factory_sim.states import ConnectivityLevel


@dataclass(frozen=True, slots=True)
class Coupling:
    level: ConnectivityLevel
    live_delay: float | None
    job_data_by_hand: float
    job_orders: bool
    predictive: bool

    @property
    def live(self) -> bool:
        return self.live_delay is not None

    @classmethod
    def of(cls, level: ConnectivityLevel, mapped: bool, information: InformationSpec,
           job_data: JobDataSpec) -> Coupling:
        if level >= ConnectivityLevel.OPCUA:
            live, by_hand = information.opcua_publish, 0.0
        elif level is ConnectivityLevel.VENDOR and mapped:
            live, by_hand = information.vendor_poll, 1.0 - job_data.mapped_vendor_removes
        else:
            live, by_hand = None, 1.0
        unified = level >= ConnectivityLevel.UNIFIED
        return cls(level, live, by_hand, unified, unified)
