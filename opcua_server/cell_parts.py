"""The part of a machine that depends on the kind of cell, shaped by its companion spec.

- punch/laser: OPC 40530 `LaserSystemState` state machine;
- press brake (no companion spec for tooling): `Tooling/ActiveTool, ToolLifeRemaining,
  ToolChanges` in the plant namespace;
- cobot: OPC 40010-1 `SafetyStates/SafetyState` (SafetyStateType) with ProtectiveStop,
  EmergencyStop and OperationalMode in its ParameterSet;
- packing: OPC 30050 PackML nested state machines (BaseStateMachine → MachineState →
  ExecuteState) and, in `Admin` (PackMLAdminObjectType), the counts ProdProcessedCount and
  ProdDefectiveCount as arrays of PackMLCountDataType.
"""

from __future__ import annotations

from asyncua import ua

from factory_sim import events as ev
from factory_sim.states import CellKind
from opcua_server import nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_COMPONENT, NodeBatch
from opcua_server.state_machines import child, state_machine, write_state
from opcua_server.types import packml
from opcua_server.writes import Writes


class CellPart:
    """Nothing beyond the common machine (also the base of the kind-specific parts)."""

    def __init__(self, machine: ua.NodeId, ns: Namespaces) -> None:
        self.machine, self.ns = machine, ns

    def build(self, batch: NodeBatch) -> None:
        pass

    def apply(self, event: ev.Event, writes: Writes) -> None:
        pass

    def on_activity(self, event: ev.StateChanged, writes: Writes) -> None:
        pass

    def _var(self, batch, parent, name, vtype, browse_ns=None, datatype=None) -> ua.NodeId:
        nodeid = child(parent, name)
        batch.variable(nodeid, ua.QualifiedName(name, self.ns.plant if browse_ns is None
                                                else browse_ns), parent, ua.Variant(None),
                       datatype if datatype is not None else ua.NodeId(vtype.value))
        return nodeid


class LaserPart(CellPart):
    def build(self, batch: NodeBatch) -> None:
        laser = self.ns.laser
        self.state = state_machine(
            batch, child(self.machine, "LaserSystemState"),
            ua.QualifiedName("LaserSystemState", laser), self.machine,
            ua.NodeId(nodeids.LASER_SYSTEM_STATE_TYPE, laser))

    def apply(self, event: ev.Event, writes: Writes) -> None:
        if isinstance(event, ev.LaserStateChanged):
            name, state_id, _, number = nodeids.LASER_STATES[event.state]
            write_state(writes, self.state, (name, self.ns.laser, state_id, number), event.time)


class ToolingPart(CellPart):
    def build(self, batch: NodeBatch) -> None:
        tooling = batch.object(child(self.machine, "Tooling"),
                               ua.QualifiedName("Tooling", self.ns.plant), self.machine,
                               ua.NodeId(ua.ObjectIds.BaseObjectType))
        self.tool = self._var(batch, tooling, "ActiveTool", ua.VariantType.String)
        self.life = self._var(batch, tooling, "ToolLifeRemaining", ua.VariantType.Int32)
        self.changes = self._var(batch, tooling, "ToolChanges", ua.VariantType.UInt32)

    def apply(self, event: ev.Event, writes: Writes) -> None:
        if isinstance(event, ev.ToolChanged):
            writes.value(self.changes, ua.Variant(event.tool_changes, ua.VariantType.UInt32),
                         event.time)
        if isinstance(event, ev.ToolChanged | ev.ToolWorn):
            writes.value(self.tool, ua.Variant(event.tool, ua.VariantType.String), event.time)
            writes.value(self.life, ua.Variant(event.tool_life_remaining, ua.VariantType.Int32),
                         event.time)


class SafetyPart(CellPart):
    def build(self, batch: NodeBatch) -> None:
        r, di = self.ns.robotics, self.ns.di
        folder = batch.object(child(self.machine, "SafetyStates"),
                              ua.QualifiedName("SafetyStates", r), self.machine,
                              ua.NodeId(ua.ObjectIds.FolderType))
        state = batch.object(child(folder, "SafetyState"),
                             ua.QualifiedName("SafetyState", self.ns.plant), folder,
                             ua.NodeId(nodeids.ROBOTICS_SAFETY_STATE_TYPE, r))
        params = batch.object(child(state, "ParameterSet"), ua.QualifiedName("ParameterSet", di),
                              state, ua.NodeId(ua.ObjectIds.BaseObjectType))
        self.mode = self._var(batch, params, "OperationalMode", ua.VariantType.Int32, browse_ns=r,
                              datatype=ua.NodeId(nodeids.ROBOTICS_OPERATIONAL_MODE_ENUMERATION, r))
        self.emergency = self._var(batch, params, "EmergencyStop", ua.VariantType.Boolean,
                                   browse_ns=r)
        self.protective = self._var(batch, params, "ProtectiveStop", ua.VariantType.Boolean,
                                    browse_ns=r)

    def apply(self, event: ev.Event, writes: Writes) -> None:
        if isinstance(event, ev.SafetyStateChanged):
            t = event.time
            writes.value(self.mode, ua.Variant(int(event.operational_mode), ua.VariantType.Int32),
                         t)
            writes.value(self.emergency, ua.Variant(event.emergency_stop, ua.VariantType.Boolean),
                         t)
            writes.value(self.protective,
                         ua.Variant(event.protective_stop, ua.VariantType.Boolean), t)


class PackMLPart(CellPart):
    def build(self, batch: NodeBatch) -> None:
        p = self.ns.packml
        folder = batch.object(child(self.machine, "PackML"),
                              ua.QualifiedName("PackML", self.ns.plant), self.machine,
                              ua.NodeId(ua.ObjectIds.BaseObjectType))
        base_node = child(folder, "BaseStateMachine")
        self.base = state_machine(batch, base_node, ua.QualifiedName("BaseStateMachine", p),
                                  folder, ua.NodeId(nodeids.PACKML_BASE_STATE_MACHINE_TYPE, p))
        machine_node = child(base_node, "MachineState")
        self.machine_state = state_machine(
            batch, machine_node, ua.QualifiedName("MachineState", p), base_node,
            ua.NodeId(nodeids.PACKML_MACHINE_STATE_MACHINE_TYPE, p), reference=HAS_COMPONENT)
        self.execute = state_machine(
            batch, child(machine_node, "ExecuteState"), ua.QualifiedName("ExecuteState", p),
            machine_node, ua.NodeId(nodeids.PACKML_EXECUTE_STATE_MACHINE_TYPE, p))
        admin = batch.object(child(folder, "Admin"), ua.QualifiedName("Admin", p), folder,
                             ua.NodeId(packml.PACKML_ADMIN_OBJECT_TYPE, p))
        count_type = ua.NodeId(packml.PACKML_COUNT_DATA_TYPE, p)
        self.processed, self.defective = (
            batch.variable(child(admin, name), ua.QualifiedName(name, p), admin,
                           ua.Variant(None), count_type, value_rank=1)
            for name in ("ProdProcessedCount", "ProdDefectiveCount"))

    def apply(self, event: ev.Event, writes: Writes) -> None:
        if not isinstance(event, ev.PackMLStateChanged):
            return
        t, p = event.time, self.ns.packml
        owner, state_id, _ = nodeids.PACKML_STATES[event.state]
        name = nodeids.packml_state_name(event.state)
        cleared_id, _, cleared_number = nodeids.PACKML_STATE_CLEARED
        running_id, _, running_number = nodeids.PACKML_STATE_RUNNING
        if owner == nodeids.PACKML_BASE_STATE_MACHINE_TYPE:
            levels = ((name, state_id, int(event.state)), None, None)
        elif owner == nodeids.PACKML_MACHINE_STATE_MACHINE_TYPE:
            levels = (("Cleared", cleared_id, cleared_number),
                      (name, state_id, int(event.state)), None)
        else:
            levels = (("Cleared", cleared_id, cleared_number),
                      ("Running", running_id, running_number),
                      (name, state_id, int(event.state)))
        for current, level in zip((self.base, self.machine_state, self.execute), levels,
                                  strict=True):
            write_state(writes, current, None if level is None else (level[0], p, *level[1:]), t)
        writes.value(self.processed, packml.counts(event.processed), t)
        writes.value(self.defective, packml.counts(event.defective), t)


_PARTS = {
    CellKind.PUNCH_LASER: LaserPart,
    CellKind.PRESS_BRAKE: ToolingPart,
    CellKind.COBOT: SafetyPart,
    CellKind.PACKING: PackMLPart,
}


def for_kind(kind: CellKind, machine: ua.NodeId, ns: Namespaces) -> CellPart:
    return _PARTS.get(kind, CellPart)(machine, ns)

