"""What a client sees of an alarm condition: the variables of its instance node and the events
it reports, both made from one `opcua_server.alarms.ConditionState`.

`ConditionView.mirror` writes every field into the instance (so a condition that has never
fired still reads as a whole), `ConditionView.event` builds the event a machine, or the
Server, reports for it. Used by `opcua_server.alarms.AlarmManager`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from asyncua import Server, ua
from asyncua.common import event_objects

from opcua_server import condition_life_cycle as life

if TYPE_CHECKING:
    from opcua_server.alarms import ConditionState

# What kind of problem each kind is, as OPC UA condition classes (Part 9, 5.9).
CONDITION_CLASS = {
    "failure": (ua.ObjectIds.MaintenanceConditionClassType, "Maintenance"),
    "tool_wear": (ua.ObjectIds.MaintenanceConditionClassType, "Maintenance"),
    "condition": (ua.ObjectIds.MaintenanceConditionClassType, "Maintenance"),
    "protective_stop": (ua.ObjectIds.SafetyConditionClassType, "Safety"),
}
SERVER = ua.NodeId(ua.ObjectIds.Server)


def condition_class(kind: str) -> tuple[int, str]:
    return CONDITION_CLASS.get(kind, CONDITION_CLASS["failure"])


def emitters(cond: ConditionState) -> list[ua.NodeId]:
    """An alarm is reported by its machine and by the Server object (clients watch either)."""
    return [cond.source] if cond.source == SERVER else [cond.source, SERVER]


class ConditionView:
    """The instance variables and events of the conditions of one server."""

    def __init__(self, server: Server,
                 unshelve_time_ms: Callable[[ConditionState, datetime | None], float]) -> None:
        self._server = server
        self._unshelve_time_ms = unshelve_time_ms

    async def write(self, cond: ConditionState, path: str, value, vtype: ua.VariantType) -> None:
        """Mirror a condition field into its instance node, if the instance has it."""
        node_id = ua.NodeId(f"{cond.node_id.Identifier}.{path}", cond.node_id.NamespaceIndex)
        if node_id in self._server.iserver.aspace:
            await self._server.write_attribute_value(
                node_id, ua.DataValue(ua.Variant(value, vtype))
            )

    async def mirror(self, cond: ConditionState) -> None:
        V = ua.VariantType
        for path, value, vtype in (
            ("EventId", cond.event_id, V.ByteString),
            ("SourceNode", cond.source, V.NodeId),
            ("SourceName", cond.source_name, V.String),
            ("Time", cond.time, V.DateTime),
            ("Message", ua.LocalizedText(cond.message), V.LocalizedText),
            ("Severity", cond.severity, V.UInt16),
            ("LastSeverity", cond.last_severity, V.UInt16),
            ("ConditionName", cond.name, V.String),
            ("Retain", cond.retain, V.Boolean),
            ("EnabledState", ua.LocalizedText(enabled_text(cond)), V.LocalizedText),
            ("EnabledState.Id", cond.enabled, V.Boolean),
            ("ActiveState", ua.LocalizedText(active_text(cond)), V.LocalizedText),
            ("ActiveState.Id", cond.active, V.Boolean),
            ("AckedState", ua.LocalizedText(acked_text(cond)), V.LocalizedText),
            ("AckedState.Id", cond.acked, V.Boolean),
            ("Comment", ua.LocalizedText(cond.comment), V.LocalizedText),
            ("ClientUserId", cond.client_user_id, V.String),
            ("ConfirmedState", ua.LocalizedText(confirmed_text(cond)), V.LocalizedText),
            ("ConfirmedState.Id", cond.confirmed, V.Boolean),
            ("SuppressedOrShelved", cond.shelving != life.UNSHELVED, V.Boolean),
            ("ShelvingState.CurrentState", ua.LocalizedText(cond.shelving), V.LocalizedText),
            ("ShelvingState.CurrentState.Id", ua.NodeId(life.SHELVING_STATE_IDS[cond.shelving]),
             V.NodeId),
            ("ShelvingState.UnshelveTime", self._unshelve_time_ms(cond, cond.time),
             V.Double),
        ):
            await self.write(cond, path, value, vtype)

    def event(self, cond: ConditionState, emitter: ua.NodeId) -> event_objects.BaseEvent:
        cls = event_objects.IMPLEMENTED_EVENTS.get(cond.event_type.Identifier)
        ev = cls() if cls else event_objects.AlarmCondition()
        ev.emitting_node = emitter
        now = datetime.now(UTC)
        date = ua.VariantType.DateTime
        class_id, class_name = condition_class(cond.kind)
        fields = {
            "EventId": cond.event_id,
            "EventType": cond.event_type,
            "SourceNode": cond.source,
            "SourceName": cond.source_name,
            "Time": cond.time,
            "ReceiveTime": now,
            "Message": ua.LocalizedText(cond.message),
            "Severity": cond.severity,
            "LastSeverity": cond.last_severity,
            "ConditionClassId": ua.NodeId(class_id),
            "ConditionClassName": ua.LocalizedText(class_name),
            "ConditionName": cond.name,
            "BranchId": ua.NodeId(),
            "Retain": cond.retain,
            "Quality": ua.StatusCode(ua.StatusCodes.Good),
            "EnabledState": ua.LocalizedText(enabled_text(cond)),
            "EnabledState/Id": cond.enabled,
            "EnabledState/TransitionTime": cond.enabled_since,
            "ConfirmedState": ua.LocalizedText(confirmed_text(cond)),
            "ConfirmedState/Id": cond.confirmed,
            "ConfirmedState/TransitionTime": cond.confirmed_since,
            "ActiveState": ua.LocalizedText(active_text(cond)),
            "ActiveState/Id": cond.active,
            "ActiveState/TransitionTime": cond.active_since,
            "AckedState": ua.LocalizedText(acked_text(cond)),
            "AckedState/Id": cond.acked,
            "AckedState/TransitionTime": cond.acked_since,
            "Comment": ua.LocalizedText(cond.comment),
            "Comment/SourceTimestamp": cond.comment_time,
            "ClientUserId": cond.client_user_id,
            "InputNode": ua.NodeId(),
            "SuppressedOrShelved": cond.shelving != life.UNSHELVED,
        }
        for name, value in fields.items():
            setattr(ev, name, value)
        for name in ("ActiveState/TransitionTime", "AckedState/TransitionTime",
                     "Comment/SourceTimestamp", "EnabledState/TransitionTime",
                     "ConfirmedState/TransitionTime"):
            ev.data_types[name] = date  # asyncua declares them as UtcTime NodeIds
        V = ua.VariantType
        ev.add_property("ShelvingState/CurrentState", ua.LocalizedText(cond.shelving),
                        V.LocalizedText)
        ev.add_property("ShelvingState/CurrentState/Id",
                        ua.NodeId(life.SHELVING_STATE_IDS[cond.shelving]), V.NodeId)
        ev.add_property("ShelvingState/UnshelveTime",
                        self._unshelve_time_ms(cond, cond.time), V.Double)
        ev.add_property("ShelvingState/LastTransition/TransitionTime", cond.shelving_since, date)
        ev.add_property("NodeId", cond.node_id, ua.VariantType.NodeId)  # the ConditionId
        return ev


def active_text(cond: ConditionState) -> str:
    return "Active" if cond.active else "Inactive"


def acked_text(cond: ConditionState) -> str:
    return "Acknowledged" if cond.acked else "Unacknowledged"


def confirmed_text(cond: ConditionState) -> str:
    return "Confirmed" if cond.confirmed else "Unconfirmed"


def enabled_text(cond: ConditionState) -> str:
    return "Enabled" if cond.enabled else "Disabled"
