"""What a bridge item is in Sparkplug: its device, its metric name, its datatype and value.

Names follow the United Manufacturing Hub's Sparkplug mapping, so UMH's Sparkplug input reads
them unchanged: a machine is a device whose id is its location, the ISA-95 levels joined by
":" (`acme:plant1:forming:line1:press1`), and a variable is a metric named by its virtual path
and tag (`counters:Parts`, `state:CurrentState`). A machine's events and alarms are the String
metrics `events` and `alarms`, each value one event as JSON (the MQTT output's event document).

The journal stores, per item, this output's text (`encode_text`): a JSON array
`[device, metric, kind, datatype, value, timestamp_ms, extra]` with the Sparkplug datatype and
the value already converted, so the sink only builds the protobuf message when it sends.

>>> from mqtt_bridge.sample import MachinePath, Sample
>>> press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
>>> update = parse(encode_text(Sample(press, "counters", "Parts", 42, None, None, "Good"), 1))
>>> update.device, update.metric, update.datatype == INT64, update.value
('acme:plant1:forming:line1:press1', 'counters:Parts', True, 42)
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from mqtt_bridge.outputs.mqtt.payload import event_document, json_default
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample

# Sparkplug B datatypes (sparkplug_b.proto, enum DataType) this output uses
INT64, DOUBLE, BOOLEAN, STRING, DATETIME, BYTES = 4, 10, 11, 12, 13, 17
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

VALUE, LATE, GAP, EVENT = "v", "l", "g", "e"  # the kinds of journal text

_RESERVED = str.maketrans({"+": "_", "/": "_", "#": "_", "\0": "_"})


class Update(NamedTuple):
    """One metric value as the journal holds it for this output."""

    device: str
    metric: str
    kind: str  # VALUE, LATE (a value older than one sent before), GAP or EVENT
    datatype: int
    value: Any  # None: a null value (is_null)
    timestamp: int | None  # ms since the epoch (UTC), the value's source time
    extra: dict[str, Any] | None  # a gap's record: from, to (ms), reason, seqs


@functools.lru_cache(maxsize=4096)
def device_id(machine: MachinePath) -> str:
    """The machine's Sparkplug device id: its ISA-95 location joined by ":" (a ":" inside a
    level becomes "_": UMH splits the id at every ":")."""
    return ":".join(level.replace(":", "_") for level in (
        machine.enterprise, machine.site, machine.area, machine.line, machine.cell)
    ).translate(_RESERVED)


@functools.lru_cache(maxsize=65_536)
def metric_name(group: str, tag: str) -> str:
    """`{virtual path}:{tag}`, or the group alone for a machine's events and alarms. UMH reads
    the part after the last ":" as the tag and the rest as the virtual path, so a ":" inside
    the group or the tag becomes "_"."""
    group = group.replace(":", "_")
    return f"{group}:{tag.replace(':', '_')}" if tag else group


def millis(stamp: datetime | None) -> int | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:  # OPC UA times are UTC
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


def typed(value: object) -> tuple[int, Any]:
    """A value's Sparkplug datatype and its JSON-storable form (bytes as base64 text,
    times as ms, anything structured as its JSON text)."""
    kind = type(value)
    if kind is bool:
        return BOOLEAN, value
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            return INT64, value
        return STRING, str(value)
    if kind is float:
        return DOUBLE, value  # NaN and infinities too: the journal text is read back by json
    if kind is str:
        return STRING, value
    if isinstance(value, datetime):
        return DATETIME, millis(value)
    if isinstance(value, bytes | bytearray):
        return BYTES, base64.b64encode(value).decode("ascii")
    if value is None:
        return STRING, None
    return STRING, json.dumps(value, default=json_default, ensure_ascii=False,
                              separators=(",", ":"), allow_nan=True)


_TEXT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def encode_text(item: Sample | EventSample | Gap, seq: int) -> str:
    """This output's journal text of an item (its per-key `seq` is in the journal's row)."""
    machine = item.machine
    if type(item) is Sample:
        datatype, value = typed(item.value)
        kind = LATE if item.late else VALUE
        return _TEXT.encode([device_id(machine), metric_name(item.group, item.tag), kind,
                             datatype, value, millis(item.source_time), None])
    if type(item) is Gap:
        record = {"from": millis(item.start), "to": millis(item.end), "reason": item.reason,
                  "seqs": list(item.seqs) if item.seqs is not None else None}
        return _TEXT.encode([device_id(machine), metric_name(item.group, item.tag), GAP,
                             STRING, None, millis(item.end or item.start), record])
    group = item.key.rsplit("/", 1)[1]  # "events" or "alarms"
    document = json.dumps(event_document(item, seq), default=json_default, ensure_ascii=False,
                          separators=(",", ":"), allow_nan=True)
    return _TEXT.encode([device_id(machine), group, EVENT, STRING, document,
                         millis(item.time), None])


def parse(text: str) -> Update:
    """An `Update` from this output's journal text."""
    return Update._make(json.loads(text))
