"""Subscription parameters with which asyncua's own client gets its subscriptions back after
every fault `serve --chaos` injects (docs: integrators/test-server.md, "Seeded chaos").

asyncua 2.1's `Client.connect(auto_reconnect=True)` re-opens the connection, re-activates or
re-creates the session and transfers or re-creates its subscriptions. What it does not notice
by itself is a subscription the server deleted while the session lived on: its stale-
subscription watchdog waits `publishing interval x MaxKeepAliveCount x 1.5` without a publish
response, and `Client.create_subscription(period, handler)` asks for a keep-alive count of 75 %
of the session timeout (an hour) over the period, which servers cap (asyncua's at 5000): at
50 ms that is 375 s, at 1 s over two hours. A keep-alive count that lets the watchdog notice
within a couple of seconds is all it takes:

    subscription = await client.create_subscription(
        recovering_subscription(publishing_interval_ms=100), handler)

Only asyncua's public API is used here: copy it into your own client if you like.
"""

from __future__ import annotations

import math

from asyncua import ua

__all__ = ["recovering_subscription"]

#: asyncua 2.1's stale-subscription watchdog: stale after interval x keep-alive x this margin
WATCHDOG_MARGIN = 1.5


def recovering_subscription(publishing_interval_ms: float, notice_loss_within_s: float = 2.0,
                            lifetime_count: int = 10000) -> ua.CreateSubscriptionParameters:
    """CreateSubscription parameters whose keep-alive count makes asyncua's client notice a
    subscription the server dropped within about `notice_loss_within_s` (at least 1 s, the
    watchdog's floor), and re-create it with its monitored items.

    >>> params = recovering_subscription(50)
    >>> params.RequestedMaxKeepAliveCount, params.RequestedLifetimeCount
    (26, 10000)
    """
    if publishing_interval_ms <= 0 or notice_loss_within_s <= 0:
        raise ValueError("publishing_interval_ms and notice_loss_within_s must be positive")
    interval_s = publishing_interval_ms / 1000.0
    keepalive = max(1, math.floor(notice_loss_within_s / (interval_s * WATCHDOG_MARGIN)))
    return ua.CreateSubscriptionParameters(
        RequestedPublishingInterval=publishing_interval_ms,
        RequestedLifetimeCount=max(lifetime_count, 3 * keepalive),  # Part 4: >= 3 keep-alives
        RequestedMaxKeepAliveCount=keepalive,
        MaxNotificationsPerPublish=0,
        PublishingEnabled=True,
        Priority=0)
