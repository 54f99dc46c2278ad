"""Typed events the model emits, and the bus that hands them to subscribers.

Everything a consumer may want to know about the plant is an event: KPI accounting, the
event log and the OPC UA server are all just subscribers. Events are plain records; they are
never mutated after they are published.

>>> bus = EventBus()
>>> seen = []
>>> bus.subscribe(seen.append)
>>> bus.publish(PartFinished(12.0, "press_brake", "O-1", "bracket", PartOutcome.GOOD, 1, 3))
>>> seen[0].cell, seen[0].outcome
('press_brake', <PartOutcome.GOOD: 'good'>)

`time` is always simulated seconds since the scenario's start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import Enum

from factory_sim.states import (
    Activity,
    AlarmKind,
    JobOrderState,
    LaserState,
    OperationalMode,
    PackMLState,
)

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class PartOutcome(Enum):
    GOOD = "good"
    SCRAP = "scrap"
    REWORK = "rework"  # goes round the same cell once more


@dataclass(slots=True)
class Event:
    time: float

    @property
    def kind(self) -> str:
        return type(self).__name__

    def as_record(self) -> dict:
        """A flat, JSON-friendly dict (enums by name) for logs and reports.

        Fields are scalars, so no deep copy is needed (`dataclasses.asdict` would make one):
        a logged year of the reference plant is ~10^6 events."""
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))
        record = {"event": type(self).__name__}
        for name in names:
            value = getattr(self, name)
            record[name] = value.name if isinstance(value, Enum) else value
        return record


@dataclass(slots=True)
class StateChanged(Event):
    """A cell moved to another activity; its Machinery state and power follow from it."""

    cell: str
    activity: Activity
    power_kw: float
    energy_kwh: float  # energy used since the start, up to this moment


@dataclass(slots=True)
class JobStarted(Event):
    """A cell began an order's operation (its current job)."""

    cell: str
    order_id: str
    variant: str
    planned: int


@dataclass(slots=True)
class PartFinished(Event):
    """A cell finished one run of its current job."""

    cell: str
    order_id: str
    variant: str
    outcome: PartOutcome
    completed: int  # good runs of this job on this cell so far
    planned: int


@dataclass(slots=True)
class JobOrderChanged(Event):
    """A cell's job order was stored (`previous` None), changed state, or was updated.

    Lots the plant's office dispatches to a cell on OPC UA or unified, and job orders a
    client stores there, are job orders (`factory_sim.job_orders`). `good` and `scrap` are
    the parts made under this job order on this cell so far."""

    cell: str
    job_order_id: str
    previous: JobOrderState | None
    state: JobOrderState
    variant: str
    runs_planned: int
    good: int
    scrap: int


@dataclass(slots=True)
class JobOrderRemoved(Event):
    """A job order left the cell's list (cancelled before it ran, or cleared after it ended)."""

    cell: str
    job_order_id: str


@dataclass(slots=True)
class OrderReleased(Event):
    order_id: str
    variant: str
    quantity: int
    due: float


@dataclass(slots=True)
class OrderCompleted(Event):
    order_id: str
    variant: str
    quantity: int  # good parts delivered
    scrapped: int  # parts short (scrapped and not remade)
    arrived: float
    released: float
    due: float
    remade: int = 0  # parts scrapped and made again from the start of the routing


@dataclass(slots=True)
class AlarmRaised(Event):
    cell: str
    alarm_id: str
    alarm: AlarmKind
    severity: int  # 1..1000 as in OPC UA
    message: str


@dataclass(slots=True)
class AlarmCleared(Event):
    cell: str
    alarm_id: str


@dataclass(slots=True)
class FailureDetected(Event):
    """Maintenance learned of a failure (end of the detection part of MTTR)."""

    cell: str
    alarm_id: str
    failed_at: float


@dataclass(slots=True)
class RepairStarted(Event):
    """A technician arrived at the cell (end of the response part of MTTR)."""

    cell: str
    alarm_id: str


@dataclass(slots=True)
class RepairCompleted(Event):
    """A failure is repaired and reset: the alarm clears. MTTR split in working seconds."""

    cell: str
    alarm_id: str
    detection_s: float  # failure -> maintenance knows
    response_s: float  # knows -> technician at the cell
    repair_s: float  # technician at the cell -> repaired and reset


@dataclass(slots=True)
class ToolChanged(Event):
    """The press brake's automatic tool changer mounted another tool."""

    cell: str
    tool: str
    tool_life_remaining: int  # strokes left on the mounted tool
    tool_changes: int  # tool changes since the start


@dataclass(slots=True)
class ToolWorn(Event):
    """Strokes counted on the mounted tool (sampled every stroke)."""

    cell: str
    tool: str
    tool_life_remaining: int


@dataclass(slots=True)
class LaserStateChanged(Event):
    cell: str
    state: LaserState


@dataclass(slots=True)
class PackMLStateChanged(Event):
    cell: str
    state: PackMLState
    processed: int  # ProdProcessedCount
    defective: int  # ProdDefectiveCount


@dataclass(slots=True)
class SafetyStateChanged(Event):
    """The cobot's safety state (OPC 40010-1 SafetyStateType)."""

    cell: str
    protective_stop: bool
    emergency_stop: bool
    operational_mode: OperationalMode


@dataclass(slots=True)
class ShiftReportFiled(Event):
    """An operator's paper shift report for one cell, with what really happened beside it.

    At the standalone level this is all the planner learns; the differences between the
    reported and the actual figures are the information-accuracy KPI.
    """

    cell: str
    shift_start: float
    good_reported: int
    scrap_reported: int
    downtime_reported_s: float
    good_actual: int
    scrap_actual: int
    downtime_actual_s: float


@dataclass(slots=True)
class PlannerInformed(Event):
    """The planner learned of a cell's state change that happened at `occurred_at`.

    Live cells inform the planner within their polling or publishing interval; standalone
    cells only through the shift report. Short stops an operator does not write down are
    never learned of. `time - occurred_at` is the information latency.
    """

    cell: str
    activity: Activity
    occurred_at: float


@dataclass(slots=True)
class NetworkChanged(Event):
    """The plant network of `line` (with its OPC UA server and MES) went down or came back:
    connected cells fall back to the paper route while it is down (`factory_sim.network`)."""

    line: str
    up: bool


Subscriber = Callable[[Event], None]


class EventBus:
    """Hands every published event to every subscriber, in subscription order."""

    __slots__ = ("_subscribers",)

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        StateChanged,
        JobStarted,
        PartFinished,
        JobOrderChanged,
        JobOrderRemoved,
        OrderReleased,
        OrderCompleted,
        AlarmRaised,
        AlarmCleared,
        FailureDetected,
        RepairStarted,
        RepairCompleted,
        ToolChanged,
        ToolWorn,
        LaserStateChanged,
        PackMLStateChanged,
        SafetyStateChanged,
        ShiftReportFiled,
        PlannerInformed,
        NetworkChanged,
    )
}

