"""What a server-side subscription's monitored items are, read from asyncua's private layout.

ConditionRefresh (`opcua_server.alarms`) sends the retained conditions to every event item of
a subscription: asyncua's `MonitoredItemService` keeps its items and the event items per
node in private dicts (`_monitored_items`, `_monitored_events`). This is the one place that
reads them, on an asyncua the adapter knows (`supported()`); elsewhere a refresh finds no
items (the client gets BadNothingToDo) rather than crashing the call.
"""

from __future__ import annotations

from typing import Any

from asyncua import ua

from opcua_server.asyncua_adapter import version_known


def supported(items: Any) -> bool:
    return version_known() and isinstance(getattr(items, "_monitored_events", None), dict) \
        and isinstance(getattr(items, "_monitored_items", None), dict)


def event_items(items: Any) -> dict[ua.NodeId, list[int]]:
    """Node -> the ids of the event items watching it, of one subscription's item service."""
    if not supported(items):
        return {}
    return {node: list(mids) for node, mids in items._monitored_events.items()}


def item(items: Any, monitored_item_id: int) -> Any | None:
    """The monitored item's data (client handle, filter, queue size), or None."""
    if not supported(items):
        return None
    return items._monitored_items.get(monitored_item_id)
