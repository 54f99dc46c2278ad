"""Machine alarms as OPC UA Alarms & Conditions (OPC 10000-9), which asyncua does not provide.

A failure, a worn tool, a protective stop or a condition-monitoring warning becomes a condition
instance of AlarmConditionType under its machine. Clients see it the way they see a real
machine's alarms: events with ActiveState, AckedState, Retain, Severity..., the standard
`Acknowledge(EventId, Comment)` method, and `ConditionRefresh(SubscriptionId)` for the alarms that
were active before the client subscribed.

    alarms = AlarmManager(server)
    await alarms.init()                       # binds the methods; before clients connect
    await alarms.add_source(machine)          # clients may subscribe to the machine's events
    await alarms.raise_alarm(machine.nodeid, "pb1-failure-7", "failure", 800, "Hydraulics", when)
    await alarms.clear("pb1-failure-7", when)

One condition per machine and kind: each occurrence re-activates it (a real alarm is a
state machine, not a log line). Retain is true while the condition is enabled and active or not
acknowledged. Confirm, AddComment, Enable/Disable and shelving: `opcua_server.condition_life_cycle`;
the instance's variables and the events: `opcua_server.condition_view` (every field of a
condition has a value before its first event); ConditionRefresh: `opcua_server.condition_refresh`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asyncua import Node, Server, ua
from asyncua.common.instantiate_util import instantiate

from opcua_server import condition_life_cycle as life
from opcua_server.condition_refresh import ConditionRefresh
from opcua_server.condition_view import ConditionView, condition_class, emitters
from opcua_server.methods import Arg, check_arguments

_logger = logging.getLogger(__name__)

CONDITION_NAMES = {
    "failure": "Failure",
    "protective_stop": "ProtectiveStop",
    "tool_wear": "ToolWear",
    "condition": "ConditionMonitoring",
}
_ACKNOWLEDGE = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
_ACKNOWLEDGE_ARGS = [Arg("EventId", ua.VariantType.ByteString, "the event to acknowledge"),
                     Arg("Comment", ua.VariantType.LocalizedText, "why")]


@dataclass
class ConditionState:
    """The state of one condition instance (one machine, one kind of alarm)."""

    node_id: ua.NodeId
    source: ua.NodeId
    source_name: str
    name: str
    kind: str
    event_type: ua.NodeId
    severity: int = 0
    last_severity: int = 0
    message: str = ""
    time: datetime | None = None
    active: bool = False
    acked: bool = True
    active_since: datetime | None = None
    acked_since: datetime | None = None
    comment: str = ""
    comment_time: datetime | None = None
    event_id: bytes = b""
    alarm_ids: set[str] = field(default_factory=set)
    confirmed: bool = True
    confirmed_since: datetime | None = None
    enabled: bool = True
    enabled_since: datetime | None = None
    shelving: str = life.UNSHELVED
    shelving_since: datetime | None = None
    unshelve_at: datetime | None = None
    client_user_id: str = ""

    @property
    def retain(self) -> bool:
        return self.enabled and (self.active or not self.acked)


class AlarmManager:
    """Keeps the server's alarm conditions in step with the model's alarms."""

    def __init__(self, server: Server, condition_type: int = ua.ObjectIds.AlarmConditionType,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        """`clock`: the time stamped on what clients do (Acknowledge), e.g. the plant's."""
        self._server = server
        self._clock = clock
        self._condition_type = ua.NodeId(condition_type)
        self._subscriptions = server.iserver.subscription_service
        self._conditions: dict[tuple[ua.NodeId, str], ConditionState] = {}
        self._by_node: dict[ua.NodeId, ConditionState] = {}
        self._by_alarm_id: dict[str, ConditionState] = {}
        self._ready = False
        self.life_cycle = life.ConditionLifeCycle(self, clock)
        self._view = ConditionView(server, self.life_cycle.unshelve_time_ms)
        self._refresh = ConditionRefresh(self._subscriptions, lambda: self.retained,
                                         self._view.event)

    async def init(self) -> None:
        """Bind Acknowledge and ConditionRefresh; call once, before clients connect."""
        if self._ready:
            return
        isession = self._server.iserver.isession
        isession.add_method_callback(_ACKNOWLEDGE, self._acknowledge)
        self._refresh.bind(isession)
        self.life_cycle.bind(isession)
        self._ready = True

    async def add_source(self, source_node: ua.NodeId | Node) -> None:
        """Let clients subscribe to a machine's events before its first alarm (idempotent)."""
        source = source_node.nodeid if isinstance(source_node, Node) else source_node
        await self._make_notifier(self._server.get_node(source))

    async def prepare(self, source_node: ua.NodeId | Node, kind: object) -> ua.NodeId:
        """Create the condition for (source, kind) now (idempotent): instantiating one costs
        milliseconds, which a running server should not spend when the first alarm comes."""
        await self.init()
        source = source_node.nodeid if isinstance(source_node, Node) else source_node
        kind_name = str(getattr(kind, "value", kind))
        cond = self._conditions.get((source, kind_name))
        if cond is None:
            cond = await self._create_condition(source, kind_name)
        return cond.node_id

    @property
    def retained(self) -> list[ConditionState]:
        """Conditions a client must know about: active or not yet acknowledged."""
        return [c for c in self._conditions.values() if c.retain]

    def condition(self, node_id: ua.NodeId) -> ConditionState | None:
        return self._by_node.get(node_id)

    def condition_for(self, source: ua.NodeId, kind: str) -> ConditionState | None:
        return self._conditions.get((source, kind))

    def condition_id(self, alarm_id: str) -> ua.NodeId | None:
        cond = self._by_alarm_id.get(alarm_id)
        return cond.node_id if cond else None

    async def raise_alarm(
        self,
        source_node: ua.NodeId | Node,
        alarm_id: str,
        kind: object,
        severity: int,
        message: str = "",
        time: datetime | None = None,
    ) -> ua.NodeId:
        """Activate the condition for (source, kind); returns its ConditionId."""
        source = source_node.nodeid if isinstance(source_node, Node) else source_node
        kind_name = str(getattr(kind, "value", kind))
        await self.prepare(source, kind_name)
        cond = self._conditions[(source, kind_name)]
        severity = int(severity)  # the model's (factory_sim.events.AlarmRaised.severity)
        if not 1 <= severity <= 1000:
            _logger.warning("alarm %s: severity %s clamped to 1..1000", alarm_id, severity)
            severity = min(max(severity, 1), 1000)
        when = time or datetime.now(UTC)
        cond.alarm_ids.add(alarm_id)
        self._by_alarm_id[alarm_id] = cond
        cond.last_severity, cond.severity = cond.severity, severity
        cond.message = message or f"{cond.name} on {cond.source_name}"
        if not cond.active:
            cond.active, cond.active_since = True, when
            self.life_cycle.on_activated(cond, when)
        if cond.acked:
            cond.acked, cond.acked_since = False, when
        await self._fire(cond, when)
        return cond.node_id

    async def clear(self, alarm_id: str, time: datetime | None = None) -> bool:
        """Deactivate the alarm; its condition stays retained until acknowledged.

        Returns False (and logs) for an alarm id that is not active: the server's update loop
        must not stop over an alarm it never saw raised.
        """
        cond = self._by_alarm_id.pop(alarm_id, None)
        if cond is None:
            _logger.warning("clear: no active alarm %r", alarm_id)
            return False
        cond.alarm_ids.discard(alarm_id)
        if cond.alarm_ids or not cond.active:
            return True
        when = time or datetime.now(UTC)
        cond.active, cond.active_since = False, when
        self.life_cycle.on_deactivated(cond, when)
        cond.message = f"{cond.name} on {cond.source_name} cleared"
        await self._fire(cond, when)
        return True

    async def acknowledge(
        self, condition_id: ua.NodeId, event_id: bytes, comment: str = ""
    ) -> None:
        """Server-side acknowledge (what the Acknowledge method does); raises on bad input."""
        status = await self._do_acknowledge(condition_id, event_id, comment)
        status.check()

    # --- address space -----------------------------------------------------

    async def _create_condition(self, source: ua.NodeId, kind: str) -> ConditionState:
        server = self._server
        source_node = server.get_node(source)
        source_name = (await source_node.read_browse_name()).Name
        name = CONDITION_NAMES.get(kind, kind.title().replace("_", ""))
        node_id = ua.NodeId(f"{_id_text(source)}/{name}", source.NamespaceIndex)
        await instantiate(
            source_node,
            server.get_node(self._condition_type),
            nodeid=node_id,
            bname=ua.QualifiedName(name, source.NamespaceIndex),
            instantiate_optional=False,
        )
        await source_node.add_reference(node_id, ua.ObjectIds.HasCondition)
        await self._make_notifier(source_node)
        instance_ack = ua.NodeId(f"{node_id.Identifier}.Acknowledge", node_id.NamespaceIndex)
        if instance_ack in server.iserver.aspace:
            server.iserver.isession.add_method_callback(instance_ack, self._acknowledge)
        await self.life_cycle.add_parts(server, server.get_node(node_id), node_id)
        now = self._clock()
        cond = ConditionState(node_id, source, source_name, name, kind, self._condition_type,
                              message=f"{name} on {source_name}: not active", time=now,
                              event_id=uuid.uuid4().bytes, active_since=now, acked_since=now,
                              confirmed_since=now, enabled_since=now, shelving_since=now)
        class_id, class_name = condition_class(kind)
        await self._view.write(cond, "ConditionClassId", ua.NodeId(class_id),
                               ua.VariantType.NodeId)
        await self._view.write(
            cond, "ConditionClassName", ua.LocalizedText(class_name), ua.VariantType.LocalizedText
        )
        self._conditions[(source, kind)] = cond
        self._by_node[node_id] = cond
        await self._view.mirror(cond)  # every field has its value before the first event
        return cond

    async def _make_notifier(self, source_node: Node) -> None:
        """The source must accept event subscriptions and say which events it generates."""
        notifier = await source_node.read_attribute(ua.AttributeIds.EventNotifier)
        bits = notifier.Value.Value if notifier.Value and notifier.Value.Value else 0
        if not bits & ua.EventNotifier.SubscribeToEvents.mask:  # HistoryRead: opcua_server.history
            await source_node.write_attribute(ua.AttributeIds.EventNotifier, ua.DataValue(
                ua.Variant(bits | ua.EventNotifier.SubscribeToEvents.mask, ua.VariantType.Byte)))
        generates = await source_node.get_referenced_nodes(ua.ObjectIds.GeneratesEvent)
        if self._condition_type not in [n.nodeid for n in generates]:
            await source_node.add_reference(self._condition_type, ua.ObjectIds.GeneratesEvent)

    # --- events --------------------------------------------------------------

    async def fire(self, cond: ConditionState, when: datetime, always: bool = False) -> None:
        """A new event of `cond`; a disabled condition's only if `always` (its Disable)."""
        await self._fire(cond, when, always)

    async def _fire(self, cond: ConditionState, when: datetime, always: bool = False) -> None:
        cond.event_id = uuid.uuid4().bytes
        cond.time = when
        await self._view.mirror(cond)
        if not (cond.enabled or always):
            return
        for emitter in emitters(cond):
            await self._subscriptions.trigger_event(self._view.event(cond, emitter))

    # --- methods -------------------------------------------------------------

    async def _acknowledge(self, parent: ua.NodeId, *args: ua.Variant):
        refused = check_arguments(_ACKNOWLEDGE_ARGS, args)
        if refused is not None:
            return refused
        event_id, comment = args[0].Value, args[1].Value
        text = (comment.Text if comment else "") or ""
        status = await self._do_acknowledge(parent, event_id, text)
        return status if not status.is_good() else []

    async def _do_acknowledge(self, condition_id: ua.NodeId, event_id: bytes, comment: str):
        cond = self._by_node.get(condition_id)
        if cond is None:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
        if event_id != cond.event_id:
            return ua.StatusCode(ua.StatusCodes.BadEventIdUnknown)
        if cond.acked:
            return ua.StatusCode(ua.StatusCodes.BadConditionBranchAlreadyAcked)
        if not cond.enabled:
            return ua.StatusCode(ua.StatusCodes.BadConditionDisabled)
        now = self._clock()  # the plant's time, like the alarm's own events
        cond.acked, cond.acked_since = True, now
        cond.client_user_id = life.user_name()
        if comment:
            cond.comment, cond.comment_time = comment, now
        await self._fire(cond, now)
        return ua.StatusCode()

def _id_text(node_id: ua.NodeId) -> str:
    return str(node_id.Identifier)
