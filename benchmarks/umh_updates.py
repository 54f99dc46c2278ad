"""What a subscriber to a United Manufacturing Hub broker received from the bridge's UMH
output, one value at a time, and the accounting of the delivery records' sequence numbers
(`mqtt_bridge/outputs/umh/README.md`), for `bridge_throughput.py --output umh`.

UMH's payloads carry only the values' source times (simulated time), no wall-clock time, so
a value's latency is measured against the moment the server's pacer was due to reach that
simulated time: an anchor (simulated clock, wall time) read from the server's
`Simulation/SimulatedClock` value and its ServerTimestamp, and the speed. A server that falls
behind its schedule adds its lag to the figure: an upper bound of the bridge's latency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator


def values(messages: Iterable[tuple[float, str, bytes]]
           ) -> Iterator[tuple[int, float, int]]:
    """(message index, receive time, source time in ms) of every value in `_historian`
    (Classic: each tag of a message) or `_raw` (Core) messages."""
    for index, (received, topic, payload) in enumerate(messages):
        if "/_historian/" in topic:
            document = json.loads(payload)
            stamp = document["timestamp_ms"]
            for _ in range(len(document) - 1):
                yield index, received, stamp
        elif "/_raw/" in topic:
            yield index, received, json.loads(payload)["timestamp_ms"]


def sequence_numbers(messages: Iterable[tuple[float, str, bytes]]
                     ) -> Iterator[tuple[str, int]]:
    """(series, seq) of every record of every delivery record."""
    for _received, topic, payload in messages:
        if topic.endswith("/_local/delivery"):
            for series, records in json.loads(payload)["seq"].items():
                for record in records:
                    yield (f"{topic}|{series}",
                           record[0] if isinstance(record, list) else record["seq"])


def simulated_clock_anchor(url: str) -> tuple[float, float]:
    """(the server's simulated clock, the wall time it was written at), both Unix seconds."""
    import asyncio

    from asyncua import Client, ua

    async def read() -> tuple[float, float]:
        async with Client(url, timeout=30) as client:
            ns = await client.get_namespace_index("urn:factory-sim:plant")
            node = client.get_node(ua.NodeId("Simulation/SimulatedClock", ns))
            value = await node.read_data_value()
            return value.Value.Value.timestamp(), value.ServerTimestamp.timestamp()

    return asyncio.run(read())
