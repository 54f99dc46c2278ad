"""Whether any subscription watches a node's events, before building an event for nobody.

A plant at a high speed changes job orders thousands of times a second; each change is an
event whose fields (the job order and its response) cost more to build than to send. asyncua
keeps, per subscription, the nodes whose events it monitors (`_monitored_events` of its
monitored item service); on an asyncua the adapter knows, `watched` looks there. Elsewhere it
answers True: every event is built, slower but correct. (A durable event history is a
server-internal subscription, so historized events are watched.)
"""

from __future__ import annotations

from collections.abc import Iterable

from asyncua import Server, ua

from opcua_server.asyncua_adapter import version_known


def supported() -> bool:
    return version_known()


def watched(server: Server, nodeids: Iterable[ua.NodeId]) -> bool:
    if not supported():
        return True
    service = getattr(server.iserver, "subscription_service", None)
    subscriptions = getattr(service, "subscriptions", None)
    if subscriptions is None:
        return True
    nodeids = tuple(nodeids)
    for subscription in list(subscriptions.values()):
        monitored = getattr(getattr(subscription, "monitored_item_srv", None),
                            "_monitored_events", None)
        if monitored is None or any(nodeid in monitored for nodeid in nodeids):
            return True
    return False
