"""OPC UA events as `EventSample`s: the fields selected, their names, and de-duplication.

Every event monitored item (on each machine that is an event notifier, and on the Server
object) and every event history read select the same fields (`event_filter()`). The same event
can arrive twice (on the machine and on Server; from history and live): `SeenEvents` remembers
the EventIds handed on recently so each is handed on once.

>>> seen = SeenEvents(limit=2)
>>> [seen.first_time(event_id) for event_id in (b"a", b"b", b"a", b"c", b"a")]
[True, True, False, True, True]
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from asyncua import ua
from asyncua.ua.object_ids import ObjectIdNames

from mqtt_bridge.inputs.opcua.jobs import (
    JOB_EVENT_FIELDS,
    is_job_event,
    job_event,
    select_clauses,
)
from mqtt_bridge.inputs.opcua.structures import Structures
from mqtt_bridge.inputs.opcua.values import json_value
from mqtt_bridge.sample import JOB_EVENT_TYPE, EventSample, MachinePath

# Event fields selected on every event monitored item: (type that defines it, browse path).
EVENT_FIELDS: list[tuple[int, str]] = [
    (ua.ObjectIds.BaseEventType, "EventId"),
    (ua.ObjectIds.BaseEventType, "EventType"),
    (ua.ObjectIds.BaseEventType, "SourceNode"),
    (ua.ObjectIds.BaseEventType, "SourceName"),
    (ua.ObjectIds.BaseEventType, "Time"),
    (ua.ObjectIds.BaseEventType, "Message"),
    (ua.ObjectIds.BaseEventType, "Severity"),
    (ua.ObjectIds.ConditionType, "ConditionName"),
    (ua.ObjectIds.ConditionType, "Retain"),
    (ua.ObjectIds.ConditionType, "EnabledState/Id"),
    (ua.ObjectIds.AcknowledgeableConditionType, "AckedState/Id"),
    (ua.ObjectIds.AlarmConditionType, "ActiveState/Id"),
]
CONDITION_ID_FIELD = "ConditionId"  # the condition's NodeId, selected by AttributeId NodeId
_EVENT_NAMES = [path for _, path in EVENT_FIELDS] + [CONDITION_ID_FIELD, *JOB_EVENT_FIELDS]


def event_filter(job_namespace: int | None = None) -> ua.EventFilter:
    """Select the BaseEventType and alarm fields of EVENT_FIELDS and, on a server with ISA-95
    job control (its namespace index), the job order status event's (`jobs.py`); no where
    clause: every event."""
    evfilter = ua.EventFilter()
    for type_id, path in EVENT_FIELDS:
        operand = ua.SimpleAttributeOperand()
        operand.TypeDefinitionId = ua.NodeId(type_id)
        operand.BrowsePath = [ua.QualifiedName(part, 0) for part in path.split("/")]
        operand.AttributeId = ua.AttributeIds.Value
        evfilter.SelectClauses.append(operand)
    operand = ua.SimpleAttributeOperand()
    operand.TypeDefinitionId = ua.NodeId(ua.ObjectIds.ConditionType)
    operand.AttributeId = ua.AttributeIds.NodeId
    evfilter.SelectClauses.append(operand)
    if job_namespace is not None:
        evfilter.SelectClauses.extend(select_clauses(job_namespace))
    return evfilter


def event_fields(variants: list[ua.Variant]) -> dict[str, object]:
    """An event's selected fields by name."""
    return {
        name: (variant.Value if variant is not None else None)
        for name, variant in zip(_EVENT_NAMES, variants, strict=False)
    }


def events_key(machine: MachinePath) -> str:
    """LastSeen's key for a machine's events: not a topic, `~` cannot clash with one."""
    return machine.topic("~events")


def event_sample(machine: MachinePath, fields: dict[str, object],
                 structures: Structures | None = None) -> EventSample:
    """`structures`: the server's, to decode a job order status event's structures."""
    event_type = fields.get("EventType")
    type_name = "BaseEventType"
    if isinstance(event_type, ua.NodeId):
        if event_type.NamespaceIndex == 0 and event_type.Identifier in ObjectIdNames:
            type_name = ObjectIdNames[event_type.Identifier]
        else:
            type_name = event_type.to_string()
    message = fields.get("Message")
    time_ = fields.get("Time") or datetime.now().astimezone()
    if is_job_event(fields):
        type_name, extra = JOB_EVENT_TYPE, job_event(fields, structures)
    else:
        extra = {
            name.replace("/Id", ""): json_value(value)
            for name, value in fields.items()
            if value is not None and name not in ("EventType", "Time", "Message", "Severity")
        }
    return EventSample(
        machine, type_name, time_, int(fields.get("Severity") or 0),
        message.Text if isinstance(message, ua.LocalizedText) else str(message or ""),
        extra,
    )


class SeenEvents:
    """The EventIds of the last `limit` events handed on."""

    def __init__(self, limit: int = 4096) -> None:
        self._order: deque[bytes] = deque(maxlen=limit)
        self._ids: set[bytes] = set()

    def first_time(self, event_id: object) -> bool:
        """True (and remembered) unless `event_id` was handed on recently; events without a
        ByteString EventId cannot be told apart and always pass."""
        if not isinstance(event_id, bytes):
            return True
        if event_id in self._ids:
            return False
        if len(self._order) == self._order.maxlen:
            self._ids.discard(self._order[0])
        self._order.append(event_id)
        self._ids.add(event_id)
        return True
