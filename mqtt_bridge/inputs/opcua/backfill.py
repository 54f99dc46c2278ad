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
from mqtt_bridge.inputs.opcua.gaps import EVENTS_HISTORY_FAILED, EVENTS_NOT_HISTORIZED
from mqtt_bridge.inputs.opcua.gate import Cover
from mqtt_bridge.inputs.opcua.history import read_event_history, read_raw_history
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.structures import Structures
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable
from mqtt_bridge.inputs.opcua.values import json_value, plain
from mqtt_bridge.sample import MachinePath

log = logging.getLogger(__name__)


@dataclass
class History:
    """What history gave back for a set of variables."""

    # (variable, value) not handed on yet, oldest first per variable
    pairs: list[tuple[MonitoredVariable, ua.DataValue]] = field(default_factory=list)
    # per series read, the changes history holds since the last one handed on: live values
    # that repeat one of them were handed on already (`gate.py`)
    covered: dict[str, Cover] = field(default_factory=dict)
    # the series whose history was read (the others' changes meanwhile cannot be given back)
    recovered: set[str] = field(default_factory=set)
    # the series whose history still holds the last value handed on: nothing can be missing
    # between it and what follows (a server that restarted without its history cannot say so)
    continuous: set[str] = field(default_factory=set)


async def value_gaps(
    client: Client, variables: list[MonitoredVariable], last_seen: LastSeen,
    structures: Structures | None = None,
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
        histories = await read_raw_history(client, wanted, structures=structures)
    except ua.UaError as exc:
        log.warning("history read failed, gap not backfilled: %s", exc)
        return out
    for item, values in zip(read, histories, strict=True):
        if values is None:  # the server keeps no history of it after all
            continue
        out.recovered.add(item.key)
        stamped = [(dv.SourceTimestamp, plain(dv.Value)) for dv in values]
        last, last_value = last_seen.times[item.key], last_seen.values[item.key]
        cover = Cover(last, stamped)
        if cover:
            out.covered[item.key] = cover
        if any(stamp == last and value == last_value for stamp, value in stamped):
            out.continuous.add(item.key)
        out.pairs.extend((item, dv) for dv in values[last_seen.unseen(item.key, stamped):])
    return out


@dataclass
class EventHistory:
    """What history gave back of machines' events."""

    # (machine, fields) not handed on yet, oldest first per machine
    events: list[tuple[MachinePath, dict[str, object]]] = field(default_factory=list)
    # (machine, why) for each machine whose events were handed on before and whose history
    # could not be read: events of the gap may be lost
    lost: list[tuple[MachinePath, str]] = field(default_factory=list)


async def event_gaps(
    client: Client, machines: list[Machine], last_seen: LastSeen,
    job_namespace: int | None = None,
) -> EventHistory:
    """The events each machine's history holds since its last event handed on, and the
    machines handed on before whose event history cannot be read. (`job_namespace`: select
    the job order events' fields too, `events.event_filter`.)"""
    out = EventHistory()
    wanted: list[tuple[Machine, datetime]] = []
    for m in machines:
        start = last_seen.times.get(events_key(m.path))
        if start is None:
            continue
        if m.event_notifier:
            wanted.append((m, start))
        else:  # its events come by the Server object, whose history is not read
            out.lost.append((m.path, EVENTS_NOT_HISTORIZED))
    if not wanted:
        return out
    try:
        histories = await read_event_history(
            client, [(m.node_id, start) for m, start in wanted], event_filter(job_namespace)
        )
    except ua.UaError as exc:
        log.warning("event history read failed, gap not backfilled: %s", exc)
        out.lost.extend((m.path, EVENTS_HISTORY_FAILED) for m, _ in wanted)
        return out
    for (machine, start), events in zip(wanted, histories, strict=True):
        if events is None:  # the server keeps no event history of it
            out.lost.append((machine.path, EVENTS_NOT_HISTORIZED))
            continue
        last_id = last_seen.values[events_key(machine.path)]
        read = [event_fields(field_list) for field_list in events]
        # events of the same time as the last one handed on, up to it, were handed on too
        # (a plant raises several at one instant: a job order stored and started)
        ids = [json_value(fields.get("EventId")) for fields in read]
        after = ids.index(last_id) + 1 if last_id in ids else 0
        for fields in read[after:]:
            event_time = fields.get("Time")
            if isinstance(event_time, datetime) and event_time < start:
                continue
            out.events.append((machine.path, fields))
    return out
