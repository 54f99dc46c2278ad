"""OPC 40010-1 Robotics: the safety state of the cobot station."""

from __future__ import annotations

from asyncua import ua

from opcua_server import nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_COMPONENT, MANDATORY, NodeBatch

# Instance declarations under SafetyStateType/ParameterSet: (id, name, DataType in ns0 or None)
_PARAMETERS = (
    (15912, "OperationalMode", None),
    (15882, "EmergencyStop", ua.ObjectIds.Boolean),
    (15913, "ProtectiveStop", ua.ObjectIds.Boolean),
)


def declare(batch: NodeBatch, ns: Namespaces) -> None:
    r = ns.robotics
    mode_type = batch.enum_type(ua.NodeId(nodeids.ROBOTICS_OPERATIONAL_MODE_ENUMERATION, r),
                                ua.QualifiedName("OperationalModeEnumeration", r))
    safety = ua.NodeId(nodeids.ROBOTICS_SAFETY_STATE_TYPE, r)
    batch.object_type(safety, ua.QualifiedName("SafetyStateType", r),
                      ua.NodeId(nodeids.DI_COMPONENT_TYPE, ns.di))
    parameters = batch.object(ua.NodeId(5016, r), ua.QualifiedName("ParameterSet", ns.di), safety,
                              ua.NodeId(ua.ObjectIds.BaseObjectType), rule=MANDATORY)
    for ident, name, datatype in _PARAMETERS:
        batch.variable(ua.NodeId(ident, r), ua.QualifiedName(name, r), parameters,
                       ua.Variant(None),
                       mode_type if datatype is None else ua.NodeId(datatype),
                       reference=HAS_COMPONENT, rule=MANDATORY)
