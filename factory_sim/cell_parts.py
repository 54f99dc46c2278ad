"""What one kind of cell has beyond the common life of every cell (`factory_sim.cell`).

Each part follows the cell's activity (`on_activity`) and may add alarms the cell can
raise; the press brake's tooling also takes part in setting up and after each part, the
cobot's safety after each part. The host is the cell the part belongs to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_sim.events import (
    LaserStateChanged,
    PackMLStateChanged,
    SafetyStateChanged,
    ToolChanged,
    ToolWorn,
)
from factory_sim.states import (
    Activity,
    AlarmKind,
    CellKind,
    LaserState,
    OperationalMode,
    PackMLState,
)

if TYPE_CHECKING:
    from factory_sim.cell import Cell
    from factory_sim.scenario import ProductSpec

A = Activity
LASER_STATE_OF = {
    A.PRODUCING: LaserState.LASER_ON, A.SHORT_STOP: LaserState.LASER_READY,
    A.SETUP: LaserState.SETUP, A.STARVED: LaserState.IDLE, A.BLOCKED: LaserState.IDLE,
    A.WAITING_OPERATOR: LaserState.IDLE, A.STOPPED: LaserState.IDLE, A.FAILED: LaserState.ERROR,
    A.REPAIR: LaserState.MAINTENANCE, A.MAINTENANCE: LaserState.MAINTENANCE,
    A.BREAK: LaserState.ENERGY_SAVING, A.OFF_SHIFT: LaserState.OFF,
}
PACKML_STATE_OF = {
    A.PRODUCING: PackMLState.EXECUTE, A.SHORT_STOP: PackMLState.SUSPENDED,
    A.SETUP: PackMLState.HELD, A.STARVED: PackMLState.SUSPENDED,
    A.BLOCKED: PackMLState.SUSPENDED, A.WAITING_OPERATOR: PackMLState.HELD,
    A.STOPPED: PackMLState.STOPPED, A.FAILED: PackMLState.ABORTED, A.REPAIR: PackMLState.ABORTED,
    A.MAINTENANCE: PackMLState.STOPPED, A.BREAK: PackMLState.IDLE, A.OFF_SHIFT: PackMLState.STOPPED,
}
MANUAL_ACTIVITIES = frozenset({A.SETUP, A.REPAIR, A.MAINTENANCE})


class CellPart:
    alarm_kinds: tuple[AlarmKind, ...] = ()

    def __init__(self, cell: Cell):
        self.cell = cell

    def on_activity(self, activity: Activity, now: float) -> None:
        """The cell shows another activity."""


class LaserStates(CellPart):
    """The punch/laser's LaserSystems state machine (OPC 40530)."""

    state: LaserState | None = None

    def on_activity(self, activity: Activity, now: float) -> None:
        laser = LASER_STATE_OF[activity]
        if laser is not self.state:
            self.state = laser
            self.cell.publish(LaserStateChanged(now, self.cell.id, laser))


class PackMLStates(CellPart):
    """Packing's PackML state machine and its counters (OPC 30050)."""

    state: PackMLState | None = None

    def on_activity(self, activity: Activity, now: float) -> None:
        packml = PACKML_STATE_OF[activity]
        if packml is not self.state:
            self.state = packml
            cell = self.cell
            cell.publish(PackMLStateChanged(now, cell.id, packml, cell.cycles, cell.scrap))


class CobotSafety(CellPart):
    """The cobot's safety state: protective stops and its operational mode (OPC 40010)."""

    def __init__(self, cell: Cell):
        super().__init__(cell)
        self.protective_stop = False
        self.operational_mode: OperationalMode | None = None
        stops = cell.spec.protective_stops
        self.per_hour = stops.per_hour if stops is not None else 0.0
        self.mean = stops.mean if stops is not None else 0.0
        self.rng = cell.streams.get("safety", cell.id)
        if self.per_hour:
            self.alarm_kinds = (AlarmKind.PROTECTIVE_STOP,)

    def chance_per_part(self, cycle: float) -> float:
        return self.per_hour * cycle / 3600.0

    def on_activity(self, activity: Activity, now: float) -> None:
        mode = (OperationalMode.MANUAL_REDUCED_SPEED if activity in MANUAL_ACTIVITIES
                else OperationalMode.AUTOMATIC)
        if mode is not self.operational_mode:
            self.operational_mode = mode
            self._publish()

    def protective_stop_after_part(self):
        """Somebody entered the collaborative space too fast: stop until reset."""
        cell = self.cell
        duration = self.rng.expovariate(1.0 / self.mean)
        alarm_id = f"{cell.id}/protective-stop/{cell.cycles}"
        self.protective_stop = True
        cell.set_activity(A.SHORT_STOP)
        self._publish()
        cell.raise_alarm(alarm_id, AlarmKind.PROTECTIVE_STOP,
                         f"{cell.spec.name}: protective stop, reset required")
        yield from cell.commands.await_reset(duration)
        self.protective_stop = False
        cell.clear_alarm(alarm_id)
        self._publish()

    def _publish(self) -> None:
        cell = self.cell
        cell.publish(SafetyStateChanged(cell.env.now, cell.id, self.protective_stop, False,
                                        self.operational_mode))


class PressBrakeTooling(CellPart):
    """The press brake's automatic tool change, tool life in strokes and worn-tool replacement."""

    alarm_kinds = (AlarmKind.TOOL_WEAR,)

    def __init__(self, cell: Cell, products: list[ProductSpec]):
        super().__init__(cell)
        self.spec = cell.spec.tooling
        rng = cell.streams.get("tooling", cell.id)
        tools = sorted({p.tool for p in products if cell.spec.name in p.routing})
        self.life = {tool: int(self.spec.life * rng.uniform(0.3, 1.0)) for tool in tools}
        self.tool: str | None = tools[0] if tools else None
        self.changes = 0
        self._alarm: str | None = None

    def announce(self) -> None:
        if self.tool is not None:
            self._changed()

    def set_up(self, product: ProductSpec):
        """Change to the product's tool automatically (no operator); replace it if worn out."""
        cell = self.cell
        if self.tool != product.tool:
            cell.set_activity(A.SETUP)
            yield cell.env.timeout(self.spec.change)
            self.changes += 1
            self.tool = product.tool
            self._changed()
        if self.life[self.tool] < product.bends:
            yield from self.replace()

    def wear(self, strokes: int) -> bool:
        """Count the strokes of one part; True when the tool cannot make another."""
        cell, tooling = self.cell, self.spec
        life = self.life[self.tool] = max(0, self.life[self.tool] - strokes)
        cell.publish(ToolWorn(cell.env.now, cell.id, self.tool, life))
        if self._alarm is None and life <= tooling.warn_at * tooling.life:
            self._alarm = f"{cell.id}/tool-wear/{self.changes}-{self.tool}"
            cell.raise_alarm(self._alarm, AlarmKind.TOOL_WEAR,
                             f"{cell.spec.name}: tool {self.tool} worn, {life} strokes left")
        return life < strokes

    def replace(self):
        cell = self.cell
        operator = yield from cell.operator()
        cell.set_activity(A.SETUP)
        yield cell.env.timeout(self.spec.replace)
        cell.release_operator(operator)
        self.life[self.tool] = self.spec.life
        self.changes += 1
        if self._alarm is not None:
            cell.clear_alarm(self._alarm)
            self._alarm = None
        self._changed()

    def _changed(self) -> None:
        cell = self.cell
        cell.publish(ToolChanged(cell.env.now, cell.id, self.tool, self.life[self.tool],
                                 self.changes))


def parts_for(cell: Cell, products: list[ProductSpec]) -> list[CellPart]:
    kind = cell.kind
    if kind is CellKind.PUNCH_LASER:
        return [LaserStates(cell)]
    if kind is CellKind.PACKING:
        return [PackMLStates(cell)]
    if kind is CellKind.COBOT:
        return [CobotSafety(cell)]
    if kind is CellKind.PRESS_BRAKE:
        return [PressBrakeTooling(cell, products)]
    return []
