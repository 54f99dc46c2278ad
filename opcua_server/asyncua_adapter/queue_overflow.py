"""Say so when a monitored item's queue discards: the Overflow bit and the overflow event.

OPC 10000-4 (5.13.1.5, "Queue parameters") asks a server whose monitored item queue is full to
tell the client what it discarded:

- a data-change item with a queue longer than one discards its oldest value and sets the
  Overflow bit (InfoType DataValue + Overflow, `0x0480` in the StatusCode's InfoBits) on the
  oldest value it keeps;
- an event item puts one `EventQueueOverflowEventType` event (SourceNode the Server object,
  SourceName "Internal/EventQueueOverflow") at the head of its queue when it first discards an
  event, in addition to the queue's size, and not again while that one is still queued.

asyncua 2.1 (`InternalSubscription._enqueue_event`) discards the oldest entry of a full queue
without either: a client cannot tell a burst it lost from one it received whole (issue 23;
the bridge guesses from full queues, `mqtt_bridge/inputs/opcua/gate.py`). This module keeps
asyncua's queueing and adds both signals. The value that gets the bit is a copy: the server
shares one DataValue between the address space and every monitored item.

`install()` patches asyncua for the whole process, so only a command opts in (through
`opcua_server.asyncua_adapter.SPEEDUPS`); `uninstall()` restores asyncua's behaviour.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.common.event_objects import EventQueueOverflowEvent
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import MonitoredItemService

_ORIGINAL_ENQUEUE = InternalSubscription._enqueue_event
OVERFLOW_BITS = 0x0480  # InfoType DataValue + Overflow
SOURCE_NAME = "Internal/EventQueueOverflow"


def _overflowed(notification: ua.MonitoredItemNotification) -> ua.MonitoredItemNotification:
    """A copy of the notification whose value carries the Overflow bit."""
    value = notification.Value
    code = 0 if value.StatusCode is None else value.StatusCode.value
    if code & OVERFLOW_BITS == OVERFLOW_BITS:
        return notification
    return ua.MonitoredItemNotification(
        ClientHandle=notification.ClientHandle,
        Value=dataclasses.replace(value, StatusCode=ua.StatusCode(code | OVERFLOW_BITS)))


def overflow_event_fields(select_clauses: list[ua.SimpleAttributeOperand]) -> list[ua.Variant]:
    """The fields an event item selected, of a fresh EventQueueOverflowEventType event."""
    event = EventQueueOverflowEvent(sourcenode=ua.NodeId(ua.ObjectIds.Server),
                                    message="events were discarded from a full queue")
    event.EventId = os.urandom(16)
    event.SourceName = SOURCE_NAME
    event.Time = event.ReceiveTime = datetime.now(UTC)
    return event.to_event_fields(select_clauses)


async def _enqueue_event(self: InternalSubscription, mid: int, eventdata: Any, size: int,
                         queue: dict[int, list[Any]]) -> None:
    items = queue.get(mid)
    if items is None:  # asyncua's own first step, inlined: this runs for every value
        queue[mid] = [eventdata]
        await self._trigger_publish()
        return
    if size == 0:
        items.append(eventdata)
        return
    if queue is self._triggered_events:
        markers: dict[int, ua.EventFieldList] = self.__dict__.setdefault("_overflow_events", {})
        marker = markers.get(mid)
        marked = marker is not None and items[0] is marker
        if len(items) - marked >= size:
            if marked:
                del items[1]
            else:
                del items[0]
                mdata = self.monitored_item_srv._monitored_items.get(mid)
                if mdata is not None and mdata.filter is not None:
                    marker = ua.EventFieldList(
                        ClientHandle=mdata.client_handle,
                        EventFields=overflow_event_fields(mdata.filter.SelectClauses))
                    markers[mid] = marker
                    items.insert(0, marker)
        items.append(eventdata)
        return
    if len(items) >= size:
        del items[0]
        if size > 1:  # a queue of one always holds the newest value: no overflow to tell
            items[0] = _overflowed(items[0])
    items.append(eventdata)


def supported() -> bool:
    """Whether asyncua's subscription queues values and events as this module expects."""
    try:
        params = list(inspect.signature(_ORIGINAL_ENQUEUE).parameters)
        sources = (inspect.getsource(InternalSubscription.__init__)
                   + inspect.getsource(MonitoredItemService.__init__))
    except (TypeError, ValueError, OSError):
        return False
    return (params == ["self", "mid", "eventdata", "size", "queue"]
            and callable(getattr(InternalSubscription, "_trigger_publish", None))
            and all(name in sources for name in ("_triggered_events", "monitored_item_srv",
                                                  "_monitored_items")))


def install() -> bool:
    if not supported():
        return False
    InternalSubscription._enqueue_event = _enqueue_event
    return True


def uninstall() -> None:
    InternalSubscription._enqueue_event = _ORIGINAL_ENQUEUE


def installed() -> bool:
    return InternalSubscription._enqueue_event is _enqueue_event
