"""HistoryRead requests: raw values of many variables, events of many notifiers, since a time.

The OPC UA service calls behind the backfill (`backfill.py`): batched, following continuation
points, and tolerant of nodes the server keeps no history of (they give an empty list). A
full response without a continuation point (asyncua's own history stores cut a response at
NumValuesPerNode and give none) is read on by time from its last value: values at one source
time cut apart there were lost after a bridge restart (issue 23, loss case 3).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from asyncua import Client, ua

from mqtt_bridge.inputs.opcua.structures import Structures, decode_values

log = logging.getLogger(__name__)

HISTORY_BATCH = 100  # nodes per HistoryRead request
VALUES_PER_NODE = 1000  # per response; continuation points fetch the rest
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


async def read_raw_history(
    client: Client, requests: list[tuple[ua.NodeId, datetime]], end: datetime | None = None,
    structures: Structures | None = None,
) -> list[list[ua.DataValue] | None]:
    """Raw history of each (node, start) from `start` to `end`, oldest first, following
    continuation points; None for a node the server cannot read history of. The default end
    is far in the future: a simulator's source times may run ahead of the wall clock.
    Structures the server defines are decoded by `structures`."""
    end = end or FAR_FUTURE
    out: list[list[ua.DataValue] | None] = [[] for _ in requests]
    truncated: list[int] = []  # full responses without a continuation point: read on
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
                    out[i] = None
                    continue
                data = result.HistoryData
                values = getattr(data, "DataValues", None) or []
                out[i].extend(v for v in values if _at_or_after(v, requests[i][1]))  # type: ignore[union-attr]
                if result.ContinuationPoint:
                    points[i] = result.ContinuationPoint
                    still.append(i)
                elif len(values) >= VALUES_PER_NODE:
                    truncated.append(i)
            pending = still
    for i in truncated:
        out[i] = await _read_on(client, *requests[i], out[i], end)  # type: ignore[arg-type]
    if structures is not None:
        for values in out:
            decode_values(structures, values or [])
    return out


async def _read_on(client: Client, node_id: ua.NodeId, start: datetime,
                   values: list[ua.DataValue], end: datetime) -> list[ua.DataValue] | None:
    """The rest of a node's history after a full response without a continuation point
    (asyncua's own history stores cut a response at NumValuesPerNode and give none): read on
    from the last source time received (or `start`), leaving out the values at that time
    received already. None if more values than one response holds share one source time (no
    way past them): the caller names what it cannot read by a gap."""
    while True:
        last = values[-1].SourceTimestamp if values else start
        if last is None:
            return None
        params = ua.HistoryReadParameters()
        params.HistoryReadDetails = ua.ReadRawModifiedDetails(
            IsReadModified=False, StartTime=last, EndTime=end,
            NumValuesPerNode=VALUES_PER_NODE, ReturnBounds=False)
        params.TimestampsToReturn = ua.TimestampsToReturn.Both
        params.NodesToRead = [ua.HistoryReadValueId(NodeId=node_id)]
        (result,) = await client.uaclient.history_read(params)
        if not result.StatusCode.is_good():
            return None
        page = [dv for dv in getattr(result.HistoryData, "DataValues", None) or []
                if _at_or_after(dv, last)]
        seen = sum(1 for dv in values if dv.SourceTimestamp == last)
        new = page[min(seen, sum(1 for dv in page if dv.SourceTimestamp == last)):]
        if not new:  # nothing past what was received: the end, or no way past one time
            if len(page) < VALUES_PER_NODE:
                return values
            log.warning("history of %s holds more values at %s than one response: the rest "
                        "cannot be read", node_id, last)
            return None
        values.extend(new)
        if len(page) < VALUES_PER_NODE and not result.ContinuationPoint:
            return values


def _at_or_after(value: ua.DataValue, start: datetime) -> bool:
    return value.SourceTimestamp is None or value.SourceTimestamp >= start


async def read_event_history(
    client: Client,
    requests: list[tuple[ua.NodeId, datetime]],
    evfilter: ua.EventFilter,
) -> list[list[list[ua.Variant]] | None]:
    """The events each (notifier node, start) reported since `start`, oldest first, as the
    field lists `evfilter` selects; None for a node the server cannot read event history of."""
    out: list[list[list[ua.Variant]] | None] = [[] for _ in requests]
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
                out[index] = None
                break
            events = getattr(result.HistoryData, "Events", None) or []
            out[index].extend(list(e.EventFields) for e in events)  # type: ignore[union-attr]
            point = result.ContinuationPoint
            if not point:
                break
    return out
