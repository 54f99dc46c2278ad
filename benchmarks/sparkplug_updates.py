"""What a Sparkplug B subscriber received, one metric value at a time, and when the OPC UA
server produced each value (shared by `bridge_throughput.py --output sparkplug` and
`sparkplug_soak.py`).

Sparkplug metrics carry their source timestamp (simulated time: the model's) and no server
timestamp, so the moment the server turned a model event into a value is read from the
server's clock instead: `SimulatedClockSampler` reads `Simulation/SimulatedClock` (the
simulated date and time) every 20 ms, and a value counts as produced at the last reading before
the server's clock reached its source timestamp (so a latency is over-estimated by at most one
sampling interval, never under-estimated).
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb

SAMPLE_INTERVAL = 0.02  # seconds between readings of the server's simulated time


def metrics(messages: Iterable[tuple[float, str, bytes]], group_prefix: str = "spBv1.0/"
            ) -> Iterator[tuple[int, float, str, Any]]:
    """(message index, receive time, message type, metric) of every metric of every Sparkplug
    message (NDEATH included); other topics are skipped."""
    for index, (received, topic, payload) in enumerate(messages):
        if not topic.startswith(group_prefix):
            continue
        kind = topic.split("/")[2]
        if kind in ("STATE", "NCMD", "DCMD"):
            continue
        for metric in pb.Payload.FromString(payload).metrics:
            yield index, received, kind, metric


class SessionAccount:
    """The edge nodes' `seq` per session: a number skipped between an NBIRTH and the next is
    a message lost on the way."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self.missing = 0
        self.sessions = 0

    def add(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) < 4 or parts[2] in ("STATE", "NCMD", "DCMD", "NDEATH"):
            return
        node = "/".join(parts[:2] + parts[3:4])
        seq = pb.Payload.FromString(payload).seq
        if parts[2] == "NBIRTH":
            self.sessions += 1
        elif node in self._last:
            self.missing += (seq - self._last[node] - 1) % 256
        self._last[node] = seq


class SimulatedClockSampler:
    """Readings (wall time before the read, the server's SimulatedClock in ms), in a thread."""

    def __init__(self, endpoint: str) -> None:
        self.readings: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(endpoint),),
                                        daemon=True)
        self._thread.start()

    async def _run(self, endpoint: str) -> None:
        from asyncua import Client, ua

        async with Client(endpoint, timeout=10) as client:
            ns = await client.get_namespace_index("urn:factory-sim:plant")
            node = client.get_node(ua.NodeId("Simulation/SimulatedClock", ns))
            while not self._stop.is_set():
                before = time.time()
                try:
                    clock = await node.read_value()
                except (ConnectionError, TimeoutError):  # the server stopped first
                    return
                if clock.tzinfo is None:
                    clock = clock.replace(tzinfo=UTC)
                self.readings.append((before, clock.timestamp() * 1000))
                await asyncio.sleep(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._times = [sim for _wall, sim in self.readings]

    def produced(self, simulated: float) -> float | None:
        """The wall time of the last reading before the server's clock reached `simulated`
        (a source timestamp, ms); None outside the readings."""
        times = self._times  # set by stop()
        at = bisect.bisect_left(times, simulated)
        if at == 0 or at == len(times):
            return None
        return self.readings[at - 1][0]
