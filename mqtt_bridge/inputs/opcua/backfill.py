"""Close gaps from the server's history: what changed since the last value or event handed on.

After any gap (an OPC UA server restart, a bridge restart after a crash, a queue overflow) the
source reads the missing interval of every variable the server historizes (HistoryRead, raw
values) and of every machine's events (HistoryRead, events), from the last source timestamp
`LastSeen` has for the series, and hands them on before live ones. What was handed on already
(the entries at the last timestamp up to the last value) is left out here.

Values the journal dropped at its bound are read again the same way, for the span of source
times they had (`dropped_values`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asyncua import Client, ua

from mqtt_bridge.inputs.opcua.discovery import Machine
from mqtt_bridge.inputs.opcua.events import event_fields, event_filter, events_key
from mqtt_bridge.inputs.opcua.history import read_event_history, read_raw_history
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable
from mqtt_bridge.inputs.opcua.values import json_value, plain
from mqtt_bridge.journal import Dropped
from mqtt_bridge.sample import MachinePath

log = logging.getLogger(__name__)


@dataclass
class History:
    """What history gave back for a set of variables."""

    # (variable, value) not handed on yet, oldest first per variable
    pairs: list[tuple[MonitoredVariable, ua.DataValue]] = field(default_factory=list)
    # per series read, the newest source timestamp history holds
    covered: dict[str, datetime] = field(default_factory=dict)
    # the series whose history was read (the others' changes meanwhile cannot be given back)
    recovered: set[str] = field(default_factory=set)
    # the series whose history still holds the last value handed on: nothing can be missing
    # between it and what follows (a server that restarted without its history cannot say so)
    continuous: set[str] = field(default_factory=set)


async def value_gaps(
    client: Client, variables: list[MonitoredVariable], last_seen: LastSeen
) -> History:
    """What history holds for each historized variable handed on before, since its last value."""
    wanted: list[tuple[ua.NodeId, datetime]] = []
    read: list[MonitoredVariable] = []
    for item in variables:
        last = last_seen.times.get(item.key)
        if item.variable.historizing and last is not None:
            wanted.append((item.variable.node_id, last))
            read.append(item)
    out = History()
    if not wanted:
        return out
    try:
        histories = await read_raw_history(client, wanted)
    except ua.UaError as exc:
        log.warning("history read failed, gap not backfilled: %s", exc)
        return out
    for item, values in zip(read, histories, strict=True):
        if values is None:  # the server keeps no history of it after all
            continue
        out.recovered.add(item.key)
        stamped = [(dv.SourceTimestamp, plain(dv.Value)) for dv in values]
        stamps = [stamp for stamp, _ in stamped if stamp is not None]
        if stamps:
            out.covered[item.key] = max(stamps)
        last, last_value = last_seen.times[item.key], last_seen.values[item.key]
        if any(stamp == last and value == last_value for stamp, value in stamped):
            out.continuous.add(item.key)
        out.pairs.extend((item, dv) for dv in values[last_seen.unseen(item.key, stamped):])
    return out


async def dropped_values(
    client: Client, spans: list[tuple[MonitoredVariable, datetime, datetime]]
) -> list[list[ua.DataValue] | None]:
    """What history holds of each (variable, since, until): its values with source times in
    that span, oldest first; None for a variable the server keeps no history of after all."""
    if not spans:
        return []
    end = max(until for _, _, until in spans) + timedelta(milliseconds=1)
    histories = await read_raw_history(
        client, [(item.variable.node_id, since) for item, since, _ in spans], end)
    return [
        None if values is None else [dv for dv in values
                                     if dv.SourceTimestamp is not None
                                     and dv.SourceTimestamp <= until]
        for (_, _, until), values in zip(spans, histories, strict=True)
    ]


def were_dropped(held: list[ua.DataValue], drop: Dropped) -> list[ua.DataValue] | None:
    """Of what history holds from `drop.since` to `drop.until` (oldest first), the values the
    journal dropped: others may share a boundary's time, delivered before (at `since`, they
    come first) or after (at `until`, they come last). None if they cannot be told apart (all
    at one time, and more of them than were dropped).

    >>> from datetime import UTC, datetime
    >>> t1, t2, t3 = (datetime(2026, 6, 1, 0, 0, s, tzinfo=UTC) for s in (1, 2, 3))
    >>> held = [ua.DataValue(ua.Variant(v), SourceTimestamp=t)
    ...         for v, t in [(1, t1), (2, t1), (3, t2), (4, t3), (5, t3)]]
    >>> dropped = Dropped(7, 9, 3, since=t1, until=t3, values=3, at_since=1, at_until=1)
    >>> [dv.Value.Value for dv in were_dropped(held, dropped)]  # 1 and 5: not dropped
    [2, 3, 4]
    >>> were_dropped(held[:2], Dropped(7, 7, 1, since=t1, until=t1, values=1)) is None
    True
    """
    if drop.since == drop.until:
        return held if len(held) <= drop.values else None
    first = [dv for dv in held if dv.SourceTimestamp == drop.since]
    inside = [dv for dv in held if drop.since < dv.SourceTimestamp < drop.until]
    last = [dv for dv in held if dv.SourceTimestamp == drop.until]
    return first[max(0, len(first) - drop.at_since):] + inside + last[:drop.at_until]


async def event_gaps(
    client: Client, machines: list[Machine], last_seen: LastSeen
) -> list[tuple[MachinePath, dict[str, object]]]:
    """The events each machine's history holds since its last event handed on, as
    (machine, fields), oldest first per machine."""
    wanted = [
        (m, last_seen.times[events_key(m.path)])
        for m in machines
        if m.event_notifier and events_key(m.path) in last_seen.times
    ]
    if not wanted:
        return []
    try:
        histories = await read_event_history(
            client, [(m.node_id, start) for m, start in wanted], event_filter()
        )
    except ua.UaError as exc:
        log.warning("event history read failed, gap not backfilled: %s", exc)
        return []
    out: list[tuple[MachinePath, dict[str, object]]] = []
    for (machine, start), events in zip(wanted, histories, strict=True):
        last_id = last_seen.values[events_key(machine.path)]
        for field_list in events:
            fields = event_fields(field_list)
            event_time = fields.get("Time")
            if isinstance(event_time, datetime) and event_time < start:
                continue
            if json_value(fields.get("EventId")) == last_id:
                continue
            out.append((machine.path, fields))
    return out
