"""OPC 40001-1 Machinery: the Machines folder, identification, state machines, counters."""

from __future__ import annotations

from asyncua import ua

from opcua_server import nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_PROPERTY, MANDATORY, OPTIONAL, ORGANIZES, NodeBatch
from opcua_server.types._common import FINITE_STATE_MACHINE_TYPE, state_object

# Instance declarations: (id, BrowseName in DI (True) or Machinery (False), name, DataType, rule)
_IDENTIFICATION = (
    (6002, True, "Manufacturer", ua.ObjectIds.LocalizedText, MANDATORY),
    (6003, True, "SerialNumber", ua.ObjectIds.String, MANDATORY),
    (6008, True, "Model", ua.ObjectIds.LocalizedText, OPTIONAL),
    (6011, True, "SoftwareRevision", ua.ObjectIds.String, OPTIONAL),
    (6004, False, "YearOfConstruction", ua.ObjectIds.UInt16, OPTIONAL),
)
_COUNTERS = (
    (6081, "OperationCycleCounter", ua.ObjectIds.UInteger),
    (6080, "OperationDuration", ua.ObjectIds.Duration),
    (6079, "PowerOnDuration", ua.ObjectIds.Duration),
)


def declare(batch: NodeBatch, ns: Namespaces) -> None:
    m, di = ns.machinery, ns.di
    batch.object(ua.NodeId(nodeids.MACHINES, m), ua.QualifiedName("Machines", m),
                 ua.NodeId(ua.ObjectIds.ObjectsFolder), ua.NodeId(ua.ObjectIds.FolderType),
                 reference=ORGANIZES, notifier=True)  # the machines' events, together

    item_ident = ua.NodeId(nodeids.MACHINERY_ITEM_IDENTIFICATION_TYPE, m)
    batch.object_type(item_ident, ua.QualifiedName("MachineryItemIdentificationType", m),
                      ua.NodeId(nodeids.DI_FUNCTIONAL_GROUP_TYPE, di), abstract=True)
    for ident, in_di, name, datatype, rule in _IDENTIFICATION:
        batch.variable(ua.NodeId(ident, m), ua.QualifiedName(name, di if in_di else m),
                       item_ident, ua.Variant(None), ua.NodeId(datatype),
                       reference=HAS_PROPERTY, rule=rule)
    machine_ident = ua.NodeId(nodeids.MACHINE_IDENTIFICATION_TYPE, m)
    batch.object_type(machine_ident, ua.QualifiedName("MachineIdentificationType", m), item_ident)
    batch.variable(ua.NodeId(6015, m), ua.QualifiedName("ProductInstanceUri", di), machine_ident,
                   ua.Variant(None), ua.NodeId(ua.ObjectIds.String), reference=HAS_PROPERTY,
                   rule=MANDATORY)

    counters = ua.NodeId(nodeids.MACHINERY_OPERATION_COUNTER_TYPE, m)
    batch.object_type(counters, ua.QualifiedName("MachineryOperationCounterType", m),
                      ua.NodeId(nodeids.DI_FUNCTIONAL_GROUP_TYPE, di))
    for ident, name, datatype in _COUNTERS:
        batch.variable(ua.NodeId(ident, m), ua.QualifiedName(name, di), counters,
                       ua.Variant(None), ua.NodeId(datatype), reference=HAS_PROPERTY,
                       rule=OPTIONAL)

    batch.object_type(ua.NodeId(nodeids.MACHINERY_ITEM_STATE_TYPE, m),
                      ua.QualifiedName("MachineryItemState_StateMachineType", m),
                      FINITE_STATE_MACHINE_TYPE)
    for state, (state_id, number_id) in nodeids.MACHINERY_ITEM_STATES.items():
        state_object(batch, m, state_id, nodeids.MACHINERY_ITEM_STATE_NAMES[state],
                     nodeids.MACHINERY_ITEM_STATE_TYPE, number_id, int(state))
    batch.object_type(ua.NodeId(nodeids.MACHINERY_OPERATION_MODE_TYPE, m),
                      ua.QualifiedName("MachineryOperationModeStateMachineType", m),
                      FINITE_STATE_MACHINE_TYPE)
    for mode, (state_id, number_id) in nodeids.OPERATION_MODES.items():
        state_object(batch, m, state_id, nodeids.OPERATION_MODE_NAMES[mode],
                     nodeids.MACHINERY_OPERATION_MODE_TYPE, number_id, int(mode))
