"""Cells as OPC 40001-1 machines under Objects/Machines, and how model events move them.

Each online cell (connectivity OPCUA or UNIFIED) becomes one machine object:

    Machines/<cell name>                       (PunchLaserMachineType, PressBrakeType, ...)
      Identification                           MachineIdentificationType (AddIn)
      MachineryBuildingBlocks
        MachineryItemState/CurrentState(.Id)   MachineryItemState_StateMachineType
        MachineryOperationMode/CurrentState    MachineryOperationModeStateMachineType
        OperationCounters                      MachineryOperationCounterType
      Monitoring/  Activity, Power, Energy, GoodParts, ScrapParts, ReworkParts
      CurrentOrder/ OrderId, Variant, RunsPlanned, RunsCompleted
      Kpi/          OEE, Availability, Performance, Quality
      + the cell kind's own part (laser state, tooling, safety state, PackML)
      Stop(), Start(), ResetFault()

The machine and its variables live in the plant namespace with readable string NodeIds
("<cell id>/Monitoring/Power"); BrowseNames of instance declarations use the namespace of
the specification that declares them, as OPC UA prescribes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from asyncua import ua

from factory_sim import events as ev
from factory_sim.plant import CellInfo
from factory_sim.states import CellKind, MachineryItemState
from opcua_server import cell_parts, nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_ADD_IN, HAS_COMPONENT, HAS_PROPERTY, NodeBatch
from opcua_server.state_machines import child, state_machine, write_state
from opcua_server.writes import Writes

#: (machine, writes, previous state, new state, simulated time) -> None
TransitionCallback = Callable[
    ["StandardMachine", Writes, MachineryItemState | None, MachineryItemState, float], None]
#: (machine, writes, AlarmRaised or AlarmCleared) -> None
AlarmCallback = Callable[["StandardMachine", Writes, ev.Event], None]

WAITING = ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)

#: ObjectType names (plant namespace) per kind of cell; all derive from CellMachineType.
MACHINE_TYPE_NAMES = {
    CellKind.PUNCH_LASER: "PunchLaserMachineType",
    CellKind.PRESS_BRAKE: "PressBrakeType",
    CellKind.COBOT: "CobotStationType",
    CellKind.PACKING: "PackingMachineType",
}
BASE_MACHINE_TYPE_NAME = "CellMachineType"


def machine_type_id(ns: Namespaces, kind: CellKind | None = None) -> ua.NodeId:
    name = BASE_MACHINE_TYPE_NAME if kind is None else MACHINE_TYPE_NAMES[kind]
    return ua.NodeId(f"Types/{name}", ns.plant)


def declare_machine_types(batch: NodeBatch, ns: Namespaces) -> None:
    """The project's own machine types, so that clients can find cells by browsing for them."""
    base = machine_type_id(ns)
    batch.object_type(base, ua.QualifiedName(BASE_MACHINE_TYPE_NAME, ns.plant),
                      ua.NodeId(ua.ObjectIds.BaseObjectType), abstract=True)
    for kind, name in MACHINE_TYPE_NAMES.items():
        batch.object_type(machine_type_id(ns, kind), ua.QualifiedName(name, ns.plant), base)


@dataclass
class _Counters:
    """Operation counters kept from state changes (OPC 40001-1 MachineryOperationCounterType)."""

    since: float = 0.0
    item_state: MachineryItemState | None = None
    cycles: int = 0
    operation_s: float = 0.0
    power_on_s: float = 0.0

    def advance(self, now: float, new_state: MachineryItemState) -> None:
        elapsed = now - self.since
        if self.item_state is not None and self.item_state != MachineryItemState.NOT_AVAILABLE:
            self.power_on_s += elapsed
        if self.item_state == MachineryItemState.EXECUTING:
            self.operation_s += elapsed
        elif new_state == MachineryItemState.EXECUTING:
            self.cycles += 1
        self.since = now
        self.item_state = new_state


@dataclass
class _Parts:
    good: int = 0
    scrap: int = 0
    rework: int = 0


@dataclass
class StandardMachine:
    """One cell in the standard Machinery model: builds its nodes and applies its events."""

    cell: CellInfo
    ns: Namespaces
    node: ua.NodeId = field(init=False)
    counters: _Counters = field(default_factory=_Counters)
    parts: _Parts = field(default_factory=_Parts)
    #: set by the server once built: fires a TransitionEvent
    on_transition: TransitionCallback | None = None
    #: set by the server when alarms are enabled
    on_alarm: AlarmCallback | None = None

    def __post_init__(self) -> None:
        self.node = ua.NodeId(self.cell.id, self.ns.plant)
        self.extra = cell_parts.for_kind(self.cell.kind, self.node, self.ns)

    # ---- building ----
    def build(self, batch: NodeBatch) -> None:
        ns, node, cell = self.ns, self.node, self.cell
        p, m, di = ns.plant, ns.machinery, ns.di
        batch.object(node, ua.QualifiedName(cell.id, p), ua.NodeId(nodeids.MACHINES, m),
                     machine_type_id(ns, cell.kind), reference=ua.NodeId(ua.ObjectIds.Organizes),
                     notifier=True)
        ident = batch.object(child(node, "Identification"), ua.QualifiedName("Identification", di),
                             node, ua.NodeId(nodeids.MACHINE_IDENTIFICATION_TYPE, m),
                             reference=HAS_ADD_IN)
        for name, in_di, variant in (
            ("Manufacturer", True, ua.Variant(ua.LocalizedText(cell.manufacturer))),
            ("Model", True, ua.Variant(ua.LocalizedText(cell.model))),
            ("SerialNumber", True, ua.Variant(cell.serial_number, ua.VariantType.String)),
            ("ProductInstanceUri", True,
             ua.Variant(cell.product_instance_uri, ua.VariantType.String)),
            ("SoftwareRevision", True, ua.Variant(cell.software_revision, ua.VariantType.String)),
            ("YearOfConstruction", False,
             ua.Variant(int(cell.year_of_construction), ua.VariantType.UInt16)),
            ("Location", False, ua.Variant(cell.location, ua.VariantType.String)),
        ):
            batch.variable(child(ident, name), ua.QualifiedName(name, di if in_di else m), ident,
                           variant, ua.NodeId(variant.VariantType.value),
                           reference=HAS_PROPERTY)

        blocks = batch.object(child(node, "MachineryBuildingBlocks"),
                              ua.QualifiedName("MachineryBuildingBlocks", m), node,
                              ua.NodeId(ua.ObjectIds.FolderType))
        batch.reference(blocks, ident, HAS_ADD_IN)
        self.item_state = state_machine(
            batch, child(blocks, "MachineryItemState"), ua.QualifiedName("MachineryItemState", m),
            blocks, ua.NodeId(nodeids.MACHINERY_ITEM_STATE_TYPE, m), reference=HAS_ADD_IN)
        self.operation_mode = state_machine(
            batch, child(blocks, "MachineryOperationMode"),
            ua.QualifiedName("MachineryOperationMode", m), blocks,
            ua.NodeId(nodeids.MACHINERY_OPERATION_MODE_TYPE, m), reference=HAS_ADD_IN)
        counters = batch.object(child(blocks, "OperationCounters"),
                                ua.QualifiedName("OperationCounters", di), blocks,
                                ua.NodeId(nodeids.MACHINERY_OPERATION_COUNTER_TYPE, m),
                                reference=HAS_ADD_IN)
        self.cycle_counter = self._var(batch, counters, "OperationCycleCounter",
                                       ua.VariantType.UInt32, browse_ns=di,
                                       reference=HAS_PROPERTY)
        self.operation_duration = self._var(batch, counters, "OperationDuration",
                                            ua.VariantType.Double, browse_ns=di,
                                            reference=HAS_PROPERTY, datatype=ua.ObjectIds.Duration)
        self.power_on_duration = self._var(batch, counters, "PowerOnDuration",
                                           ua.VariantType.Double, browse_ns=di,
                                           reference=HAS_PROPERTY, datatype=ua.ObjectIds.Duration)

        monitoring = self._folder(batch, "Monitoring")
        self.activity = self._var(batch, monitoring, "Activity", ua.VariantType.String)
        self.power = self._var(batch, monitoring, "Power", ua.VariantType.Double)
        self.energy = self._var(batch, monitoring, "Energy", ua.VariantType.Double)
        self.good = self._var(batch, monitoring, "GoodParts", ua.VariantType.UInt32)
        self.scrap = self._var(batch, monitoring, "ScrapParts", ua.VariantType.UInt32)
        self.rework = self._var(batch, monitoring, "ReworkParts", ua.VariantType.UInt32)
        order = self._folder(batch, "CurrentOrder")
        self.order_id = self._var(batch, order, "OrderId", ua.VariantType.String)
        self.variant = self._var(batch, order, "Variant", ua.VariantType.String)
        self.runs_planned = self._var(batch, order, "RunsPlanned", ua.VariantType.UInt32)
        self.runs_completed = self._var(batch, order, "RunsCompleted", ua.VariantType.UInt32)
        kpi = self._folder(batch, "Kpi")
        self.kpis = {name: self._var(batch, kpi, name, ua.VariantType.Double)
                     for name in ("OEE", "Availability", "Performance", "Quality")}
        self.extra.build(batch)

    def _folder(self, batch: NodeBatch, name: str) -> ua.NodeId:
        return batch.object(child(self.node, name), ua.QualifiedName(name, self.ns.plant),
                            self.node, ua.NodeId(ua.ObjectIds.BaseObjectType))

    def _var(self, batch: NodeBatch, parent: ua.NodeId, name: str, vtype: ua.VariantType,
             browse_ns: int | None = None, reference=HAS_COMPONENT, datatype=None) -> ua.NodeId:
        nodeid = child(parent, name)
        batch.variable(nodeid, ua.QualifiedName(name, self.ns.plant if browse_ns is None
                                                else browse_ns),
                       parent, ua.Variant(None),
                       ua.NodeId(datatype if datatype is not None else vtype.value),
                       reference=reference)
        return nodeid

    # ---- applying events ----
    def apply(self, event: ev.Event, writes: Writes) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, writes)
        else:
            self.extra.apply(event, writes)

    def _state_changed(self, event: ev.StateChanged, writes: Writes) -> None:
        t, activity = event.time, event.activity
        previous = self.counters.item_state
        self.counters.advance(t, activity.item_state)
        writes.value(self.activity, ua.Variant(activity.label, ua.VariantType.String), t)
        writes.value(self.power, ua.Variant(float(event.power_kw), ua.VariantType.Double), t)
        writes.value(self.energy, ua.Variant(float(event.energy_kwh), ua.VariantType.Double), t)
        state = activity.item_state
        m = self.ns.machinery
        write_state(writes, self.item_state, (nodeids.MACHINERY_ITEM_STATE_NAMES[state], m,
                                              nodeids.MACHINERY_ITEM_STATES[state][0],
                                              int(state)), t)
        mode = activity.operation_mode
        write_state(writes, self.operation_mode, (nodeids.OPERATION_MODE_NAMES[mode], m,
                                                  nodeids.OPERATION_MODES[mode][0], int(mode)),
                    t)
        counters = self.counters
        writes.value(self.cycle_counter, ua.Variant(counters.cycles, ua.VariantType.UInt32), t)
        writes.value(self.operation_duration,
                     ua.Variant(counters.operation_s * 1000.0, ua.VariantType.Double), t)
        writes.value(self.power_on_duration,
                     ua.Variant(counters.power_on_s * 1000.0, ua.VariantType.Double), t)
        if self.on_transition is not None and previous != state:
            self.on_transition(self, writes, previous, state, t)
        self.extra.on_activity(event, writes)

    def _job_started(self, event: ev.JobStarted, writes: Writes) -> None:
        t = event.time
        writes.value(self.order_id, ua.Variant(event.order_id, ua.VariantType.String), t)
        writes.value(self.variant, ua.Variant(event.variant, ua.VariantType.String), t)
        writes.value(self.runs_planned, ua.Variant(event.planned, ua.VariantType.UInt32), t)
        writes.value(self.runs_completed, ua.Variant(0, ua.VariantType.UInt32), t)

    def _part_finished(self, event: ev.PartFinished, writes: Writes) -> None:
        t, parts = event.time, self.parts
        if event.outcome is ev.PartOutcome.GOOD:
            parts.good += 1
            writes.value(self.good, ua.Variant(parts.good, ua.VariantType.UInt32), t)
        elif event.outcome is ev.PartOutcome.SCRAP:
            parts.scrap += 1
            writes.value(self.scrap, ua.Variant(parts.scrap, ua.VariantType.UInt32), t)
        else:
            parts.rework += 1
            writes.value(self.rework, ua.Variant(parts.rework, ua.VariantType.UInt32), t)
        writes.value(self.runs_completed, ua.Variant(event.completed, ua.VariantType.UInt32), t)

    def _alarm(self, event, writes: Writes) -> None:
        if self.on_alarm is not None:
            self.on_alarm(self, writes, event)

    def initial(self, writes: Writes) -> None:
        """Before the first event every dynamic value waits for its initial data."""
        for nodeid in (self.activity, self.power, self.energy, self.cycle_counter,
                       self.operation_duration, self.power_on_duration, *self.kpis.values()):
            writes.value(nodeid, ua.Variant(None), 0.0, WAITING)
        for nodeid in (self.good, self.scrap, self.rework):
            writes.value(nodeid, ua.Variant(0, ua.VariantType.UInt32), 0.0)

    def write_kpis(self, kpis, writes: Writes, now: float) -> None:
        """KPIs of this cell (a factory_sim.kpi.CellKpis; None values stay unset)."""
        for name, value in (("OEE", kpis.oee), ("Availability", kpis.availability),
                            ("Performance", kpis.performance), ("Quality", kpis.quality)):
            if value is not None:
                writes.value(self.kpis[name], ua.Variant(float(value), ua.VariantType.Double), now)


_HANDLERS = {
    ev.StateChanged: StandardMachine._state_changed,
    ev.JobStarted: StandardMachine._job_started,
    ev.PartFinished: StandardMachine._part_finished,
    ev.AlarmRaised: StandardMachine._alarm,
    ev.AlarmCleared: StandardMachine._alarm,
}
