"""Events a server discarded from a full event queue: which event items lost some.

An event item's queue (the bridge asks for `EVENT_QUEUE_SIZE`) overflows when more events
arrive between two publish responses than it holds. An EventNotificationList has no Overflow
bit: OPC 10000-4 (5.13.1.5) has the server put one `EventQueueOverflowEventType` event into the
item's queue instead (SourceNode the Server object), which tells the bridge that events of
that item were lost. A server that discards without one (asyncua 2.1 alone) leaves only a
trace the bridge can see: a response holding a whole queue of one item's events. Either way
the item's machine lost events since the last one handed on: `recovery.py` reads them again
from the machine's event history, or names them by gap records.

>>> from asyncua import ua
>>> overflow = ua.NodeId(ua.ObjectIds.EventQueueOverflowEventType)
>>> fields = [{"EventType": overflow}, {"EventType": None}, {"EventType": None}]
>>> sorted(overflowed_items([7, 8, 8], fields, queue_size=2))  # 7 said so, 8 was full
[7, 8]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from asyncua import ua

EVENT_QUEUE_SIZE = 1000  # events a server queues per event item between publish responses
OVERFLOW_EVENT_TYPE = ua.NodeId(ua.ObjectIds.EventQueueOverflowEventType)


def is_overflow_event(fields: dict[str, object]) -> bool:
    """An EventQueueOverflowEventType event: the server's word, not a machine's event."""
    return fields.get("EventType") == OVERFLOW_EVENT_TYPE


def overflowed_items(handles: Sequence[int], fields: Sequence[dict[str, object]],
                     queue_size: int = EVENT_QUEUE_SIZE) -> set[int]:
    """The client handles of the event items that lost events, of one publish response's
    events (`handles[i]` and `fields[i]` of each): an overflow event says so, else a whole
    queue of one item (`queue_size` > 1) may have discarded older ones."""
    said = {handle for handle, one in zip(handles, fields, strict=True)
            if is_overflow_event(one)}
    if queue_size > 1 and len(handles) >= queue_size:
        said.update(handle for handle, count in Counter(handles).items() if count >= queue_size)
    return said
