"""Close gaps from the server's history: what changed since the last value or event handed on.

After any gap (an OPC UA server restart, a bridge restart after a crash, a queue overflow) the
source reads the missing interval of every variable the server historizes (HistoryRead, raw
values) and of every machine's events (HistoryRead, events), from the last source timestamp
`LastSeen` has for the series, and hands them on before live ones. What was handed on already
(the entries at the last timestamp up to the last value) is left out here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from asyncua import Client, ua

from mqtt_bridge.inputs.opcua.discovery import Machine
from mqtt_bridge.inputs.opcua.events import event_fields, event_filter, events_key
from mqtt_bridge.inputs.opcua.history import read_event_history, read_raw_history
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable
from mqtt_bridge.inputs.opcua.values import json_value, plain
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
