"""ConditionRefresh and ConditionRefresh2 (OPC 10000-9, 5.5.7-8): the retained conditions
sent again to a subscription's event items, between a RefreshStart and a RefreshEnd event.

Only the session that owns the subscription may refresh it (on a server whose connections
tell methods their session: opcua_server.asyncua_adapter.hardening.current_session).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from asyncua import ua
from asyncua.common import event_objects

from opcua_server.asyncua_adapter import monitored_items
from opcua_server.asyncua_adapter.hardening import current_session
from opcua_server.condition_view import SERVER, emitters
from opcua_server.methods import Arg, check_arguments

if TYPE_CHECKING:
    from opcua_server.alarms import ConditionState

REFRESH = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh)
REFRESH2 = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh2)
_REFRESH_ARGS = [Arg("SubscriptionId", ua.VariantType.UInt32, "the subscription to refresh"),
                 Arg("MonitoredItemId", ua.VariantType.UInt32, "ConditionRefresh2: the item")]


class ConditionRefresh:
    """The two methods, for the conditions `retained()` lists, as `event` reports them."""

    def __init__(self, subscriptions, retained: Callable[[], list[ConditionState]],
                 event: Callable[[ConditionState, ua.NodeId], event_objects.BaseEvent]) -> None:
        self._subscriptions = subscriptions  # the server's subscription service
        self._retained = retained
        self._event = event

    def bind(self, isession) -> None:
        isession.add_method_callback(REFRESH, self._condition_refresh)
        isession.add_method_callback(REFRESH2, self._condition_refresh2)

    async def _condition_refresh2(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._condition_refresh(parent, *args, arguments=_REFRESH_ARGS)

    async def _condition_refresh(self, parent: ua.NodeId, *args: ua.Variant,
                                 arguments: list[Arg] = _REFRESH_ARGS[:1]):
        """ConditionRefresh(SubscriptionId) and ConditionRefresh2(SubscriptionId, MonitoredItemId):
        the refresh bracket to every event item of the subscription (whatever its filter),
        the retained conditions in between to the items watching their source or the Server.
        Only the session that owns the subscription may refresh it."""
        refused = check_arguments(arguments, args)
        if refused is not None:
            return refused
        sub = self._subscriptions.subscriptions.get(args[0].Value)
        session = current_session()
        if sub is None or (session is not None and sub.session_id != session.session_id):
            return ua.StatusCode(ua.StatusCodes.BadSubscriptionIdInvalid)
        items = sub.monitored_item_srv
        watched = monitored_items.event_items(items)
        if len(args) > 1:
            mid = args[1].Value
            watched = {n: [m for m in mids if m == mid] for n, mids in watched.items()}
            watched = {n: mids for n, mids in watched.items() if mids}
            if not watched:
                return ua.StatusCode(ua.StatusCodes.BadMonitoredItemIdInvalid)
        if not watched:
            return ua.StatusCode(ua.StatusCodes.BadNothingToDo)
        await self._refresh_bracket(sub, watched, event_objects.RefreshStartEvent())
        for cond in self._retained():
            for emitter in emitters(cond):
                for mid in watched.get(emitter, []):
                    await items.trigger_event(self._event(cond, emitter), mid)
        await self._refresh_bracket(sub, watched, event_objects.RefreshEndEvent())
        return []

    async def _refresh_bracket(self, sub, watched, ev: event_objects.BaseEvent) -> None:
        """Queue one copy (same EventId) per event item; Part 9, 4.5: no content filtering."""
        now = datetime.now(UTC)
        ev.EventId = uuid.uuid4().bytes
        ev.Time = ev.ReceiveTime = now
        ev.SourceNode, ev.SourceName = SERVER, "Server"
        ev.Message = ua.LocalizedText("ConditionRefresh")
        ev.Severity = 1
        items = sub.monitored_item_srv
        for mids in watched.values():
            for mid in mids:
                mdata = monitored_items.item(items, mid)
                if mdata is None or mdata.filter is None:
                    continue
                fields = ua.EventFieldList()
                fields.ClientHandle = mdata.client_handle
                fields.EventFields = ev.to_event_fields(mdata.filter.SelectClauses)
                await sub.enqueue_event(mid, fields, mdata.queue_size)
