"""OPC 10031-4 ISA-95 job control and OPC 40001-3 Machinery Job Management types.

The job order receiver (`ISA95JobOrderReceiverObjectType`: the job order states and the
eleven methods Store .. RevokeStart), the response provider, the status event type, and
the structures a job order and its response are made of, each with its binary encoding and
DataTypeDefinition so that any client can encode and decode them; Machinery Jobs adds
`JobManagementType` (JobOrderControl, JobOrderResults) and the output structures.

The structures are Python dataclasses made from the tables below (the specs' fields, in the
specs' order) and registered with asyncua under their official names, e.g.
`STRUCTURES["ISA95JobOrderDataType"]`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from asyncua import ua

from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_COMPONENT, HAS_PROPERTY, MANDATORY, OPTIONAL, NodeBatch
from opcua_server.types._common import FINITE_STATE_MACHINE_TYPE, state_object

# --- OPC 10031-4 (namespace ISA95-JOBCONTROL_V2) ---
JOB_ORDER_RECEIVER_TYPE = 1002
JOB_RESPONSE_PROVIDER_TYPE = 1003
JOB_ORDER_STATUS_EVENT_TYPE = 1006
#: JobOrderState -> (state object id, StateNumber property id); StateNumber = the enum value
JOB_ORDER_STATES = {1: (5035, 6071), 2: (5036, 6072), 3: (5037, 6073), 4: (5038, 6074),
                    5: (5039, 6075), 6: (5040, 6076)}
JOB_ORDER_STATE_NAMES = {1: "NotAllowedToStart", 2: "AllowedToStart", 3: "Running",
                         4: "Interrupted", 5: "Ended", 6: "Aborted"}
#: method BrowseName -> (its id on the receiver type, its InputArguments, OutputArguments)
RECEIVER_METHODS = {"Store": (7001, 6040, 6041), "StoreAndStart": (7004, 6051, 6052),
                    "Update": (7009, 6061, 6062), "Start": (7005, 6053, 6054),
                    "Stop": (7006, 6055, 6056), "Cancel": (7011, 6065, 6066),
                    "Clear": (7012, 6067, 6068), "Pause": (7007, 6057, 6058),
                    "Resume": (7008, 6059, 6060), "Abort": (7010, 6063, 6064),
                    "RevokeStart": (7013, 6069, 6070)}
#: receiver variables: BrowseName -> (id, DataType name or ns0 id, array)
RECEIVER_VARIABLES = {
    "JobOrderList": (6033, "ISA95JobOrderAndStateDataType", True),
    "WorkMaster": (6034, "ISA95WorkMasterDataType", True),
    "MaterialClassID": (6035, ua.ObjectIds.String, True),
    "MaterialDefinitionID": (6036, ua.ObjectIds.String, True),
    "EquipmentID": (6037, ua.ObjectIds.String, True),
    "PhysicalAssetID": (6038, ua.ObjectIds.String, True),
    "PersonnelID": (6039, ua.ObjectIds.String, True),
}
MAX_DOWNLOADABLE_JOB_ORDERS = 6088
PROVIDER_METHODS = {"RequestJobResponseByJobOrderID": (7002, 6042, 6043),
                    "RequestJobResponseByJobOrderState": (7014, 6016, 6017)}
EVENT_FIELDS = {"JobOrder": (6047, "ISA95JobOrderDataType", False),
                "JobResponse": (6049, "ISA95JobResponseDataType", False),
                "JobState": (6048, "ISA95StateDataType", True)}

# --- OPC 40001-3 (namespace Machinery/Jobs) ---
JOB_MANAGEMENT_TYPE = 1003
JOB_ORDER_CONTROL = 5001  # instance declarations of JobManagementType
JOB_ORDER_RESULTS = 5002
JOB_RESULT = 3006  # enumeration: Unknown 0, Successful 1, Unsuccessful 2
OUTPUT_INFO_TYPE = 3009  # option set on Byte: OrderNumber, LotNumber, SerialNumber
JOB_RESULT_UNKNOWN, JOB_RESULT_SUCCESSFUL, JOB_RESULT_UNSUCCESSFUL = 0, 1, 2
OUTPUT_INFO_ORDER_NUMBER = 1  # bit 0

# ReturnStatus of the methods (OPC 10031-4 B.2, a bit map): bit 0 set = no error
RETURN_NO_ERROR = 1

_LT = ua.ObjectIds.LocalizedText
_STRING = ua.ObjectIds.String
_DECIMAL = ua.ObjectIds.DecimalString
_EU = ua.ObjectIds.EUInformation
_DATETIME = ua.ObjectIds.DateTime

# Structures: name -> (namespace "isa95"/"jobs", DataType id, Default Binary id, fields);
# a field is (name, DataType: ns0 id / structure name / None for BaseDataType, array, optional)
_RESOURCE = lambda use: (  # noqa: E731 - the four resource structures share their fields
    ("ID", _STRING, False, False), ("Description", _LT, True, True),
    (use, _STRING, False, True), ("Quantity", _DECIMAL, False, True),
    ("EngineeringUnits", _EU, False, True),
    ("Properties", "ISA95PropertyDataType", True, True))
STRUCTURE_TABLE: dict[str, tuple[str, int, int, tuple]] = {
    "ISA95PropertyDataType": ("isa95", 3002, 5002, (
        ("ID", _STRING, False, False), ("Value", None, False, False),
        ("Description", _LT, True, True), ("EngineeringUnits", _EU, False, True),
        ("Subproperties", "ISA95PropertyDataType", True, True))),
    "ISA95ParameterDataType": ("isa95", 3003, 5005, (
        ("ID", _STRING, False, False), ("Value", None, False, False),
        ("Description", _LT, True, True), ("EngineeringUnits", _EU, False, True),
        ("Subparameters", "ISA95ParameterDataType", True, True))),
    "ISA95EquipmentDataType": ("isa95", 3005, 5008, _RESOURCE("EquipmentUse")),
    "ISA95PersonnelDataType": ("isa95", 3011, 5020, _RESOURCE("PersonnelUse")),
    "ISA95PhysicalAssetDataType": ("isa95", 3012, 5023, _RESOURCE("PhysicalAssetUse")),
    "ISA95StateDataType": ("isa95", 3006, 5029, (
        ("BrowsePath", ua.ObjectIds.RelativePath, False, False),
        ("StateText", _LT, False, False), ("StateNumber", ua.ObjectIds.UInt32, False, False))),
    "ISA95WorkMasterDataType": ("isa95", 3007, 5011, (
        ("ID", _STRING, False, False), ("Description", _LT, False, True),
        ("Parameters", "ISA95ParameterDataType", True, True))),
    "ISA95MaterialDataType": ("isa95", 3010, 5017, (
        ("MaterialClassID", _STRING, False, True), ("MaterialDefinitionID", _STRING, False, True),
        ("MaterialLotID", _STRING, False, True), ("MaterialSublotID", _STRING, False, True),
        ("Description", _LT, True, True), ("MaterialUse", _STRING, False, True),
        ("Quantity", _DECIMAL, False, True), ("EngineeringUnits", _EU, False, True),
        ("Properties", "ISA95PropertyDataType", True, True))),
    "ISA95JobOrderDataType": ("isa95", 3008, 5014, (
        ("JobOrderID", _STRING, False, False), ("Description", _LT, True, True),
        ("WorkMasterID", "ISA95WorkMasterDataType", True, True),
        ("StartTime", _DATETIME, False, True), ("EndTime", _DATETIME, False, True),
        ("Priority", ua.ObjectIds.Int16, False, True),
        ("JobOrderParameters", "ISA95ParameterDataType", True, True),
        ("PersonnelRequirements", "ISA95PersonnelDataType", True, True),
        ("EquipmentRequirements", "ISA95EquipmentDataType", True, True),
        ("PhysicalAssetRequirements", "ISA95PhysicalAssetDataType", True, True),
        ("MaterialRequirements", "ISA95MaterialDataType", True, True))),
    "ISA95JobResponseDataType": ("isa95", 3013, 5026, (
        ("JobResponseID", _STRING, False, False), ("Description", _LT, False, True),
        ("JobOrderID", _STRING, False, False), ("StartTime", _DATETIME, False, True),
        ("EndTime", _DATETIME, False, True), ("JobState", "ISA95StateDataType", True, False),
        ("JobResponseData", "ISA95ParameterDataType", True, True),
        ("PersonnelActuals", "ISA95PersonnelDataType", True, True),
        ("EquipmentActuals", "ISA95EquipmentDataType", True, True),
        ("PhysicalAssetActuals", "ISA95PhysicalAssetDataType", True, True),
        ("MaterialActuals", "ISA95MaterialDataType", True, True))),
    "ISA95JobOrderAndStateDataType": ("isa95", 3015, 5032, (
        ("JobOrder", "ISA95JobOrderDataType", False, False),
        ("State", "ISA95StateDataType", True, False))),
    "OutputInformationDataType": ("jobs", 3012, 5003, (
        ("ItemNumber", _STRING, False, False), ("OutputInfo", "OutputInfoType", False, False),
        ("OrderNumber", _STRING, False, True), ("LotNumber", _STRING, False, True),
        ("SerialNumber", _STRING, False, True))),
    "OutputPerformanceInfoDataType": ("jobs", 3021, 5009, (
        ("Identification", "OutputInformationDataType", False, False),
        ("StartTime", _DATETIME, False, True), ("EndTime", _DATETIME, False, True),
        ("Parameters", "ISA95ParameterDataType", True, False))),
}

#: the structures as dataclasses, by name (registered with asyncua by `declare`)
STRUCTURES: dict[str, type] = {}

_PY_TYPES = {_STRING: ua.String, _DECIMAL: ua.String, _LT: ua.LocalizedText,
             _EU: ua.EUInformation, _DATETIME: ua.DateTime, ua.ObjectIds.Int16: ua.Int16,
             ua.ObjectIds.UInt32: ua.UInt32, ua.ObjectIds.RelativePath: ua.RelativePath}


def datatype(ns: Namespaces, kind) -> ua.NodeId:
    if kind is None:
        return ua.NodeId(ua.ObjectIds.BaseDataType)
    if kind == "OutputInfoType":
        return ua.NodeId(OUTPUT_INFO_TYPE, ns.jobs)
    if isinstance(kind, str):
        space, ident, _, _ = STRUCTURE_TABLE[kind]
        return ua.NodeId(ident, getattr(ns, space))
    return ua.NodeId(kind)


def _make_class(name: str, fields: tuple) -> type:
    optional = any(f[3] for f in fields)
    spec: list[tuple[str, Any, Any]] = []
    if optional:
        spec.append(("Encoding", ua.UInt32,
                     dataclasses.field(default=0, repr=False, init=False, compare=False)))
    recursive = []
    for field_name, kind, array, is_optional in fields:
        if kind == name:  # a list of itself (Subparameters, Subproperties): typed below
            recursive.append(field_name)
            spec.append((field_name, Any, dataclasses.field(default=None)))
            continue
        if kind is None:
            py: Any = ua.Variant
        elif kind == "OutputInfoType":
            py = ua.Byte
        elif isinstance(kind, str):
            py = STRUCTURES[kind]
        else:
            py = _PY_TYPES[kind]
        if array:
            py = list[py]
        if is_optional:
            spec.append((field_name, py | None, dataclasses.field(default=None)))
        elif array:
            spec.append((field_name, py, dataclasses.field(default_factory=list)))
        else:
            spec.append((field_name, py, dataclasses.field(default_factory=_default(py))))
    cls = dataclasses.make_dataclass(name, spec)
    for field_name in recursive:
        cls.__annotations__[field_name] = list[cls] | None
        cls.__dataclass_fields__[field_name].type = list[cls] | None
    return cls


def _default(py):
    if py is ua.String:
        return lambda: None
    if py in (ua.UInt32, ua.Int16, ua.Byte):
        return int
    return py


for _name, (_, _, _, _fields) in STRUCTURE_TABLE.items():  # in dependency order
    STRUCTURES[_name] = _make_class(_name, _fields)


def _definition(ns: Namespaces, name: str) -> ua.StructureDefinition:
    space, _, encoding, fields = STRUCTURE_TABLE[name]
    optional = any(f[3] for f in fields)
    return ua.StructureDefinition(
        DefaultEncodingId=ua.NodeId(encoding, getattr(ns, space)),
        BaseDataType=ua.NodeId(ua.ObjectIds.Structure),
        StructureType=(ua.StructureType.StructureWithOptionalFields if optional
                       else ua.StructureType.Structure),
        Fields=[ua.StructureField(Name=field_name, DataType=datatype(ns, kind),
                                  ValueRank=1 if array else -1,
                                  ArrayDimensions=[0] if array else [],
                                  MaxStringLength=0, IsOptional=is_optional)
                for field_name, kind, array, is_optional in fields])


def declare(batch: NodeBatch, ns: Namespaces) -> None:
    isa, jobs = ns.isa95, ns.jobs
    batch.enum_type(ua.NodeId(JOB_RESULT, jobs), ua.QualifiedName("JobResult", jobs))
    batch.enum_type(ua.NodeId(OUTPUT_INFO_TYPE, jobs), ua.QualifiedName("OutputInfoType", jobs),
                    supertype=ua.NodeId(ua.ObjectIds.Byte))
    _declare_structures(batch, ns)

    receiver = ua.NodeId(JOB_ORDER_RECEIVER_TYPE, isa)
    batch.object_type(receiver, ua.QualifiedName("ISA95JobOrderReceiverObjectType", isa),
                      FINITE_STATE_MACHINE_TYPE)
    for number, (state_id, number_id) in JOB_ORDER_STATES.items():
        state_object(batch, isa, state_id, JOB_ORDER_STATE_NAMES[number],
                     JOB_ORDER_RECEIVER_TYPE, number_id, number)
    for name, (ident, in_id, out_id) in RECEIVER_METHODS.items():
        inputs, outputs = receiver_arguments(ns, name)
        batch.method(ua.NodeId(ident, isa), ua.QualifiedName(name, isa), receiver, inputs,
                     outputs, (ua.NodeId(in_id, isa), ua.NodeId(out_id, isa)))
        batch.reference(ua.NodeId(ident, isa), OPTIONAL, ua.NodeId(ua.ObjectIds.HasModellingRule))
    for name, (ident, kind, array) in RECEIVER_VARIABLES.items():
        batch.variable(ua.NodeId(ident, isa), ua.QualifiedName(name, isa), receiver,
                       ua.Variant(None), datatype(ns, kind), rule=MANDATORY,
                       value_rank=1 if array else -1)
    batch.variable(ua.NodeId(MAX_DOWNLOADABLE_JOB_ORDERS, isa),
                   ua.QualifiedName("MaxDownloadableJobOrders", isa), receiver, ua.Variant(None),
                   ua.NodeId(ua.ObjectIds.UInt16), reference=HAS_PROPERTY, rule=MANDATORY)

    provider = ua.NodeId(JOB_RESPONSE_PROVIDER_TYPE, isa)
    batch.object_type(provider, ua.QualifiedName("ISA95JobResponseProviderObjectType", isa),
                      ua.NodeId(ua.ObjectIds.BaseObjectType))
    for name, (ident, in_id, out_id) in PROVIDER_METHODS.items():
        inputs, outputs = provider_arguments(ns, name)
        batch.method(ua.NodeId(ident, isa), ua.QualifiedName(name, isa), provider, inputs,
                     outputs, (ua.NodeId(in_id, isa), ua.NodeId(out_id, isa)))
        batch.reference(ua.NodeId(ident, isa), MANDATORY,
                        ua.NodeId(ua.ObjectIds.HasModellingRule))

    event = ua.NodeId(JOB_ORDER_STATUS_EVENT_TYPE, isa)
    batch.object_type(event, ua.QualifiedName("ISA95JobOrderStatusEventType", isa),
                      ua.NodeId(ua.ObjectIds.BaseEventType), abstract=True)
    for name, (ident, kind, array) in EVENT_FIELDS.items():
        batch.variable(ua.NodeId(ident, isa), ua.QualifiedName(name, isa), event,
                       ua.Variant(None), datatype(ns, kind), reference=HAS_PROPERTY,
                       rule=MANDATORY, value_rank=1 if array else -1)

    management = ua.NodeId(JOB_MANAGEMENT_TYPE, jobs)
    batch.object_type(management, ua.QualifiedName("JobManagementType", jobs),
                      ua.NodeId(ua.ObjectIds.BaseObjectType))
    batch.object(ua.NodeId(JOB_ORDER_CONTROL, jobs), ua.QualifiedName("JobOrderControl", jobs),
                 management, receiver, reference=HAS_COMPONENT, rule=MANDATORY)
    batch.object(ua.NodeId(JOB_ORDER_RESULTS, jobs), ua.QualifiedName("JobOrderResults", jobs),
                 management, provider, reference=HAS_COMPONENT, rule=MANDATORY)


def _declare_structures(batch: NodeBatch, ns: Namespaces) -> None:
    for name, (space, ident, encoding, _) in STRUCTURE_TABLE.items():
        index = getattr(ns, space)
        datatype, encoding_id = ua.NodeId(ident, index), ua.NodeId(encoding, index)
        batch.structure_type(datatype, ua.QualifiedName(name, index), _definition(ns, name))
        batch.object(encoding_id, ua.QualifiedName("Default Binary", 0), datatype,
                     ua.NodeId(ua.ObjectIds.DataTypeEncodingType),
                     reference=ua.NodeId(ua.ObjectIds.HasEncoding))
        ua.register_extension_object(name, encoding_id, STRUCTURES[name], datatype)


def _argument(name: str, datatype: ua.NodeId, array: bool = False,
              description: str = "") -> ua.Argument:
    return ua.Argument(Name=name, DataType=datatype, ValueRank=1 if array else -1,
                       ArrayDimensions=[0] if array else [],
                       Description=ua.LocalizedText(description))


def receiver_arguments(ns: Namespaces, method: str) -> tuple[list, list]:
    """The input and output arguments of a receiver method, as the specification has them."""
    if method in ("Store", "StoreAndStart", "Update"):
        first = _argument("JobOrder", datatype(ns, "ISA95JobOrderDataType"),
                          description="the job order with its parameters and requirements")
    else:
        first = _argument("JobOrderID", ua.NodeId(_STRING), description="the job order")
    comment = _argument("Comment", ua.NodeId(_LT), array=True,
                        description="why (may be empty)")
    status = _argument("ReturnStatus", ua.NodeId(ua.ObjectIds.UInt64),
                       description="bit 0 set: no error")
    return [first, comment], [status]


def provider_arguments(ns: Namespaces, method: str) -> tuple[list, list]:
    response = datatype(ns, "ISA95JobResponseDataType")
    status = _argument("ReturnStatus", ua.NodeId(ua.ObjectIds.UInt64),
                       description="bit 0 set: no error")
    if method == "RequestJobResponseByJobOrderID":
        return ([_argument("JobOrderID", ua.NodeId(_STRING), description="the job order")],
                [_argument("JobResponse", response), status])
    return ([_argument("JobOrderState", datatype(ns, "ISA95StateDataType"), array=True,
                       description="states to select (StateNumber), any of them")],
            [_argument("JobResponses", response, array=True), status])
