"""What a cell may see of the plant around it: a narrow context instead of back-pointers.

The line builds one `CellContext` and hands it to each of its cells; a cell never reaches
the line, the plant or the planner. What happens to a finished lot is the line's business
(`hand_on`), what the plant learns of a state change is the information flow's
(`observe`)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy

from factory_sim.network import Network
from factory_sim.people import OperatorPool, RepairCrew
from factory_sim.random_streams import RandomStreams
from factory_sim.scenario import (
    DispatchSpec,
    JobDataSpec,
    MaintenanceSpec,
    ProductSpec,
    StandbySpec,
)
from factory_sim.working_time import WorkingTime

if TYPE_CHECKING:
    from factory_sim.events import Event
    from factory_sim.orders import Order
    from factory_sim.states import Activity


@dataclass(frozen=True)
class CellContext:
    env: simpy.Environment
    publish: Callable[[Event], None]
    streams: RandomStreams
    products: list[ProductSpec]
    maintenance: MaintenanceSpec
    job_data: JobDataSpec
    dispatch: DispatchSpec
    standby: StandbySpec
    working_time: WorkingTime
    operators: OperatorPool
    crew: RepairCrew
    planned_cycle_time: Callable[[str, str], float]  # (cell id, variant) -> ISO 22400 PRI
    # (cell id, live delay or None, activity, at): the plant's knowledge follows the cell
    observe: Callable[[str, float | None, Activity, float], None]
    believed_down: AbstractSet[str]  # names of the cells the plant believes down (live view)
    # A finished lot: the event of handing it to the next cell, or None when it left the line
    hand_on: Callable[[Order], simpy.Event | None]
    network: Network | None = None  # None: never down
