"""Job orders (OPC 40001-3 Job Management, on ISA-95 job control OPC 10031-4) as a cell's `jobs`.

A machine has Job Management when the browse path
`MachineryBuildingBlocks/JobManagement/JobOrderControl` (Machinery, Machinery Jobs, Machinery
Jobs namespaces, as 40001-3 names them) leads somewhere below it. Every change of a job order's
state is an `ISA95JobOrderStatusEventType` event (ISA-95 job control i=1006) with the fields
`JobOrder`, `JobResponse` and `JobState`: the source selects them on every event item (with the
other event fields, `events.event_filter`), so they arrive live and from event history like any
event, and `EventSample.key` puts them in the cell's own sequence, `.../<cell>/jobs`.

The payload carries the job order in brief (`job_record`), the fields a queue shows:

>>> job_record(
...     {"JobOrderID": "J-1", "MaterialRequirements": [{"MaterialDefinitionID": "bracket"}],
...      "JobOrderParameters": [{"ID": "RunsPlanned", "Value": {"Value": 5}}]},
...     {"StartTime": "2026-01-05T07:00:00+00:00", "EndTime": None,
...      "JobResponseData": [{"ID": "RunsCompleted", "Value": {"Value": 2}},
...                          {"ID": "ScrapCount", "Value": 0}, {"ID": "JobResult", "Value": 0}]},
...     [{"StateText": "Running", "StateNumber": 3}])
... # doctest: +NORMALIZE_WHITESPACE
{'JobOrderID': 'J-1', 'State': 'Running', 'StateNumber': 3, 'MaterialDefinitionID': 'bracket',
 'RunsPlanned': 5, 'RunsCompleted': 2, 'ScrapCount': 0, 'JobResult': 0,
 'StartTime': '2026-01-05T07:00:00+00:00', 'EndTime': None}

The full structures stay on the server: `RequestJobResponseByJobOrderID` answers them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asyncua import Client, ua

from mqtt_bridge.inputs.opcua.structures import Structures
from mqtt_bridge.inputs.opcua.values import json_value

log = logging.getLogger(__name__)

MACHINERY_URI = "http://opcfoundation.org/UA/Machinery/"
JOBS_URI = "http://opcfoundation.org/UA/Machinery/Jobs/"
ISA95_JOB_CONTROL_URI = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/"
JOB_ORDER_STATUS_EVENT_TYPE = 1006  # ISA95JobOrderStatusEventType, ISA-95 job control
JOB_EVENT_FIELDS = ("JobOrder", "JobResponse", "JobState")
MAX_ID = 256  # characters of a JobOrderID or variant in a payload, at most
_COUNTS = ("RunsPlanned", "RunsCompleted", "ScrapCount", "JobResult")

def job_namespace(namespaces: list[str]) -> int | None:
    """The index of the ISA-95 job control namespace, or None if the server has none."""
    return namespaces.index(ISA95_JOB_CONTROL_URI) if ISA95_JOB_CONTROL_URI in namespaces else None


def select_clauses(namespace: int) -> list[ua.SimpleAttributeOperand]:
    """The event filter's select clauses for the job order status event's fields."""
    clauses = []
    for name in JOB_EVENT_FIELDS:
        operand = ua.SimpleAttributeOperand()
        operand.TypeDefinitionId = ua.NodeId(JOB_ORDER_STATUS_EVENT_TYPE, namespace)
        operand.BrowsePath = [ua.QualifiedName(name, namespace)]
        operand.AttributeId = ua.AttributeIds.Value
        clauses.append(operand)
    return clauses


async def mark_job_management(client: Client, machines: Iterable) -> None:
    """Set `job_management` on each machine (discovery's `Machine`) that has the Job
    Management AddIn, found by its standard browse path (one TranslateBrowsePaths request)."""
    machines = list(machines)
    namespaces = await client.get_namespace_array()
    if not machines or JOBS_URI not in namespaces or MACHINERY_URI not in namespaces:
        return
    machinery, jobs = namespaces.index(MACHINERY_URI), namespaces.index(JOBS_URI)
    names = [("MachineryBuildingBlocks", machinery), ("JobManagement", jobs),
             ("JobOrderControl", jobs)]
    paths = [ua.BrowsePath(StartingNode=machine.node_id, RelativePath=ua.RelativePath(Elements=[
        ua.RelativePathElement(ReferenceTypeId=ua.NodeId(ua.ObjectIds.HierarchicalReferences),
                               IsInverse=False, IncludeSubtypes=True,
                               TargetName=ua.QualifiedName(name, ns))
        for name, ns in names])) for machine in machines]
    try:
        results = await client.uaclient.translate_browsepaths_to_nodeids(paths)
    except ua.UaStatusCodeError as exc:  # a server without the service: no jobs sequence
        log.warning("looking for Job Management failed (%s): job order changes still reach "
                    ".../jobs, but a gap in a machine's events is recorded on events and "
                    "alarms only", exc)
        return
    for machine, result in zip(machines, results, strict=True):
        machine.job_management = result.StatusCode.is_good() and bool(result.Targets)


def is_job_event(fields: dict[str, object]) -> bool:
    return any(fields.get(name) is not None for name in JOB_EVENT_FIELDS)


def job_event(fields: dict[str, object], structures: Structures | None) -> dict[str, object]:
    """A job order status event's fields for the payload: the event's own (EventId,
    SourceNode, SourceName) and the job order in brief (`job_record`)."""
    decoded = {name: _plain(fields.get(name), structures) for name in JOB_EVENT_FIELDS}
    out: dict[str, object] = {
        name: json_value(fields[name]) for name in ("EventId", "SourceNode", "SourceName")
        if fields.get(name) is not None}
    out.update(job_record(decoded["JobOrder"], decoded["JobResponse"], decoded["JobState"]))
    return out


def job_record(job_order: object, response: object, state: object) -> dict[str, object]:
    """Identity, state and counts of a job order from its (decoded) structures; what a field
    does not hold is None."""
    job_order = job_order if isinstance(job_order, dict) else {}
    response = response if isinstance(response, dict) else {}
    states = state if isinstance(state, list) and state else response.get("JobState") or []
    first = states[0] if isinstance(states, list) and states and isinstance(
        states[0], dict) else {}
    materials = job_order.get("MaterialRequirements") or [{}]
    parameters = {**_parameters(job_order.get("JobOrderParameters")),
                  **_parameters(response.get("JobResponseData"))}
    record: dict[str, object] = {
        "JobOrderID": _text(job_order.get("JobOrderID") or response.get("JobOrderID")),
        "State": _text(first.get("StateText")),
        "StateNumber": _int(first.get("StateNumber")),
        "MaterialDefinitionID": _text(materials[0].get("MaterialDefinitionID")
                                      if isinstance(materials[0], dict) else None),
    }
    record.update({name: _int(parameters.get(name)) for name in _COUNTS})
    record["StartTime"] = response.get("StartTime")
    record["EndTime"] = response.get("EndTime")
    return record


def _plain(value: object, structures: Structures | None) -> object:
    """A structure (or list of them) as plain data, decoded with the server's definitions
    where this process has no class for it."""
    if isinstance(value, list):
        return [_plain(v, structures) for v in value]
    if isinstance(value, ua.ExtensionObject) and structures is not None:
        return structures.decode(value)
    return json_value(value)


def _parameters(entries: object) -> dict[str, object]:
    """ISA95ParameterDataType entries by ID, their Variant's value."""
    out: dict[str, object] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("ID"), str):
            value = entry.get("Value")
            out[entry["ID"]] = value.get("Value") if isinstance(value, dict) else value
    return out


def _text(value: object) -> str | None:
    if isinstance(value, dict):  # a LocalizedText as a decoded structure
        value = value.get("Text")
    return value[:MAX_ID] if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
