"""Close gaps from the server's history, and remember what was delivered so nothing repeats.

After any gap (an OPC UA server restart, a bridge restart after a crash) the source reads the
missing interval of every variable the server historizes (HistoryRead, raw values) and of every
machine's events (HistoryRead, events) and hands them on before live ones. `LastSeen` records,
per series key, the last source timestamp and value handed on: history is read from there, and
the same change seen again (a new subscription's initial value, a history entry already
delivered) is skipped, which is how history and live values fit together without duplicates.
`LastSeen` is saved to the state directory only after the journal committed what it covers,
so after a SIGKILL it never claims more than was kept.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Client, ua

log = logging.getLogger(__name__)

HISTORY_BATCH = 100  # nodes per HistoryRead request
VALUES_PER_NODE = 1000  # per response; continuation points fetch the rest
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


class LastSeen:
    """The last delivered source timestamp and value per series key, persisted as JSON.

    The same timestamp with the same value is the same change seen again (a new
    subscription's initial value, a history entry already delivered); anything else is new,
    even a value with an older timestamp (servers may stamp a placeholder with the wall clock
    and later values with a machine's or a simulation's clock). Several changes at one instant
    with different values are all new.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.times: dict[str, datetime] = {}
        self.values: dict[str, object] = {}
        if path is not None and path.exists():
            try:
                raw = json.loads(path.read_text())
                for key, (stamp, value) in raw.items():
                    self.times[key] = datetime.fromisoformat(stamp)
                    self.values[key] = value
            except (ValueError, TypeError, OSError, AttributeError) as exc:
                self.times.clear()
                self.values.clear()
                log.warning("ignoring unreadable source state %s: %s", path, exc)

    def is_new(self, key: str, source_time: datetime | None, value: object) -> bool:
        """True (and remembered as the last) unless it is the last delivered change again."""
        if source_time is None:
            return True
        if self.times.get(key) == source_time and self.values[key] == value:
            return False
        self.times[key] = source_time
        self.values[key] = value
        return True

    def unseen(self, key: str, history: list[tuple[datetime | None, object]]) -> int:
        """How many leading entries of `history` (oldest first, read from the last timestamp
        on) were handed on already: those before the last timestamp, and those at it up to the
        last value delivered."""
        last = self.times.get(key)
        if last is None:
            return 0
        skip = 0
        for index, (stamp, value) in enumerate(history):
            if stamp is None or stamp > last:
                break
            if stamp < last or value == self.values[key]:
                skip = index + 1
        return skip

    def snapshot(self) -> dict[str, tuple[datetime, object]]:
        return {key: (stamp, self.values[key]) for key, stamp in self.times.items()}

    def save(self, snapshot: dict[str, tuple[datetime, object]]) -> None:
        """Write atomically (temp file + rename): a crash leaves the old or the new state."""
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        text = json.dumps({k: (t.isoformat(), v) for k, (t, v) in snapshot.items()}, default=str)
        tmp.write_text(text)
        os.replace(tmp, self.path)


async def read_raw_history(
    client: Client, requests: list[tuple[ua.NodeId, datetime]], end: datetime | None = None
) -> list[list[ua.DataValue]]:
    """Raw history of each (node, start) from `start` to `end`, oldest first, following
    continuation points. Nodes the server cannot read give an empty list. The default end is
    far in the future: a simulator's source times may run ahead of the wall clock."""
    end = end or FAR_FUTURE
    out: list[list[ua.DataValue]] = [[] for _ in requests]
    for first in range(0, len(requests), HISTORY_BATCH):
        batch = list(range(first, min(first + HISTORY_BATCH, len(requests))))
        points: dict[int, bytes | None] = dict.fromkeys(batch)
        # One StartTime per batch (continuation points belong to the request they came from):
        # read from the earliest and filter each node's values by its own start.
        start = min(requests[i][1] for i in batch)
        pending = batch
        while pending:
            params = ua.HistoryReadParameters()
            params.HistoryReadDetails = ua.ReadRawModifiedDetails(
                IsReadModified=False,
                StartTime=start,
                EndTime=end,
                NumValuesPerNode=VALUES_PER_NODE,
                ReturnBounds=False,
            )
            params.TimestampsToReturn = ua.TimestampsToReturn.Both
            params.NodesToRead = [
                ua.HistoryReadValueId(NodeId=requests[i][0], ContinuationPoint=points[i])
                for i in pending
            ]
            results = await client.uaclient.history_read(params)
            still = []
            for i, result in zip(pending, results, strict=True):
                if not result.StatusCode.is_good():
                    log.info("no history for %s: %s", requests[i][0], result.StatusCode.name)
                    continue
                data = result.HistoryData
                values = getattr(data, "DataValues", None) or []
                out[i].extend(v for v in values if _at_or_after(v, requests[i][1]))
                if result.ContinuationPoint:
                    points[i] = result.ContinuationPoint
                    still.append(i)
            pending = still
    return out


def _at_or_after(value: ua.DataValue, start: datetime) -> bool:
    return value.SourceTimestamp is None or value.SourceTimestamp >= start


async def read_event_history(
    client: Client,
    requests: list[tuple[ua.NodeId, datetime]],
    evfilter: ua.EventFilter,
) -> list[list[list[ua.Variant]]]:
    """The events each (notifier node, start) reported since `start`, oldest first, as the
    field lists `evfilter` selects. Nodes without event history give an empty list."""
    out: list[list[list[ua.Variant]]] = [[] for _ in requests]
    for index, (node_id, start) in enumerate(requests):
        point: bytes | None = None
        while True:
            params = ua.HistoryReadParameters()
            params.HistoryReadDetails = ua.ReadEventDetails(
                NumValuesPerNode=VALUES_PER_NODE, StartTime=start, EndTime=FAR_FUTURE,
                Filter=evfilter,
            )
            params.TimestampsToReturn = ua.TimestampsToReturn.Both
            params.NodesToRead = [ua.HistoryReadValueId(NodeId=node_id, ContinuationPoint=point)]
            (result,) = await client.uaclient.history_read(params)
            if not result.StatusCode.is_good():
                log.info("no event history for %s: %s", node_id, result.StatusCode.name)
                break
            events = getattr(result.HistoryData, "Events", None) or []
            out[index].extend(list(e.EventFields) for e in events)
            point = result.ContinuationPoint
            if not point:
                break
    return out
