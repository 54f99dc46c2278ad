"""OPC 30050 PackML: the nested state machines and the production counts of packing.

PackML nests three state machines: the base machine (Aborting, Aborted, Cleared), inside
Cleared the machine state (Stopped, Stopping, Clearing, Running), and inside Running the
execute state (Idle, Execute, Held, Complete, ...). The counts ProdProcessedCount and
ProdDefectiveCount of PackMLAdminObjectType are arrays of the structure PackMLCountDataType,
declared here with its binary encoding and DataTypeDefinition, so clients can decode it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncua import ua

from opcua_server import nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_COMPONENT, OPTIONAL, NodeBatch
from opcua_server.types._common import FINITE_STATE_MACHINE_TYPE, state_object

PACKML_ADMIN_OBJECT_TYPE = 5
PACKML_COUNT_DATA_TYPE = 14
PACKML_COUNT_DEFAULT_BINARY = 69
#: instance declarations of PackMLAdminObjectType
PROD_DEFECTIVE_COUNT, PROD_PROCESSED_COUNT = 119, 120
#: pieces (UNECE code H87), the unit of the counts
PIECES = ua.EUInformation(NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
                          UnitId=4732983, DisplayName=ua.LocalizedText("pc"),
                          Description=ua.LocalizedText("piece"))


@dataclass
class PackMLCountDataType:
    """OPC 30050 PackMLCountDataType: a material and how much of it was counted."""

    ID: ua.Int32 = 0
    Name: ua.String = None  # not "| None": asyncua decodes that as an optional field
    Unit: ua.EUInformation = field(default_factory=ua.EUInformation)
    Count: ua.Int32 = 0
    AccCount: ua.Int32 = 0


def _count_definition(ns: int) -> ua.StructureDefinition:
    fields = [ua.StructureField(Name=name, DataType=ua.NodeId(datatype), ValueRank=-1,
                                ArrayDimensions=[], MaxStringLength=0, IsOptional=False)
              for name, datatype in (("ID", ua.ObjectIds.Int32), ("Name", ua.ObjectIds.String),
                                     ("Unit", ua.ObjectIds.EUInformation),
                                     ("Count", ua.ObjectIds.Int32),
                                     ("AccCount", ua.ObjectIds.Int32))]
    return ua.StructureDefinition(
        DefaultEncodingId=ua.NodeId(PACKML_COUNT_DEFAULT_BINARY, ns),
        BaseDataType=ua.NodeId(ua.ObjectIds.Structure),
        StructureType=ua.StructureType.Structure, Fields=fields)

_MACHINE_TYPES = (
    (nodeids.PACKML_EXECUTE_STATE_MACHINE_TYPE, "PackMLExecuteStateMachineType"),
    (nodeids.PACKML_MACHINE_STATE_MACHINE_TYPE, "PackMLMachineStateMachineType"),
    (nodeids.PACKML_BASE_STATE_MACHINE_TYPE, "PackMLBaseStateMachineType"),
)


def declare(batch: NodeBatch, ns: Namespaces) -> None:
    p = ns.packml
    for type_id, name in _MACHINE_TYPES:
        batch.object_type(ua.NodeId(type_id, p), ua.QualifiedName(name, p),
                          FINITE_STATE_MACHINE_TYPE)
    for state, (machine_type, state_id, number_id) in nodeids.PACKML_STATES.items():
        state_object(batch, p, state_id, nodeids.packml_state_name(state), machine_type,
                     number_id, int(state))
    cleared_id, cleared_number_id, cleared_number = nodeids.PACKML_STATE_CLEARED
    state_object(batch, p, cleared_id, "Cleared", nodeids.PACKML_BASE_STATE_MACHINE_TYPE,
                 cleared_number_id, cleared_number)
    running_id, running_number_id, running_number = nodeids.PACKML_STATE_RUNNING
    state_object(batch, p, running_id, "Running", nodeids.PACKML_MACHINE_STATE_MACHINE_TYPE,
                 running_number_id, running_number)

    count_type = ua.NodeId(PACKML_COUNT_DATA_TYPE, p)
    batch.structure_type(count_type, ua.QualifiedName("PackMLCountDataType", p),
                         _count_definition(p))
    encoding = ua.NodeId(PACKML_COUNT_DEFAULT_BINARY, p)
    batch.object(encoding, ua.QualifiedName("Default Binary", 0), count_type,
                 ua.NodeId(ua.ObjectIds.DataTypeEncodingType),
                 reference=ua.NodeId(ua.ObjectIds.HasEncoding))
    ua.register_extension_object("PackMLCountDataType", encoding, PackMLCountDataType,
                                 count_type)
    admin = ua.NodeId(PACKML_ADMIN_OBJECT_TYPE, p)
    batch.object_type(admin, ua.QualifiedName("PackMLAdminObjectType", p),
                      ua.NodeId(ua.ObjectIds.BaseObjectType))
    for ident, name in ((PROD_DEFECTIVE_COUNT, "ProdDefectiveCount"),
                        (PROD_PROCESSED_COUNT, "ProdProcessedCount")):
        batch.variable(ua.NodeId(ident, p), ua.QualifiedName(name, p), admin, ua.Variant(None),
                       count_type, reference=HAS_COMPONENT, rule=OPTIONAL, value_rank=1)


def counts(count: int) -> ua.Variant:
    """A PackML count of parts, as the one-element array the spec's counters are."""
    return ua.Variant([PackMLCountDataType(ID=1, Name="parts", Unit=PIECES, Count=count,
                                           AccCount=count)], ua.VariantType.ExtensionObject)
