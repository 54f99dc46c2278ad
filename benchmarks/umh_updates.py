"""What a subscriber to a United Manufacturing Hub broker received from the bridge's UMH
output, one value at a time, and the accounting of the delivery records' sequence numbers
(`mqtt_bridge/outputs/umh/README.md`), for `bridge_throughput.py --output umh`.

UMH's payloads carry only the values' source times (simulated time), no wall-clock time: a
value's latency is measured, as for Sparkplug, from when the server's simulated clock reached
its source time (`sparkplug_updates.SimulatedClockSampler`).
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

