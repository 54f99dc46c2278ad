"""Publishing a server-internal subscription now, not at its next cycle.

opcua_server.history records values through a subscription of the server's own session; what
it has queued reaches the storage only at the next publishing cycle. A server that stops must
hand that over first, or the last ~100 ms of writes (a whole Step's worth) never reach a
durable history. On an asyncua the adapter knows, `publish_pending` asks asyncua's
`InternalSubscription` to publish at once; elsewhere it waits two publishing intervals, for the
subscription's own cycle to do it.
"""

from __future__ import annotations

import asyncio

from asyncua import Server

from opcua_server.asyncua_adapter import version_known


def supported() -> bool:
    return version_known()


async def publish_pending(server: Server, subscription_id: int, interval_s: float) -> None:
    """Hand what the subscription has queued to its callback and wait for the callback."""
    subscription = None
    if supported():
        service = getattr(server.iserver, "subscription_service", None)
        subscription = getattr(service, "subscriptions", {}).get(subscription_id)
    if subscription is None or not hasattr(subscription, "publish_results"):
        await asyncio.sleep(2 * interval_s)
        return
    await subscription.publish_results()
