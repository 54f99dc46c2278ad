"""What a bridge item is in Sparkplug: its device, its metric name, its datatype and value.

Names follow the United Manufacturing Hub's Sparkplug mapping, so UMH's Sparkplug input reads
them unchanged: a machine is a device whose id is its location, the ISA-95 levels joined by
":" (`acme:plant1:forming:line1:press1`), and a variable is a metric named by its virtual path
and tag (`counters:Parts`, `state:CurrentState`). A machine's events and alarms are the String
metrics `events` and `alarms`, each value one event as JSON (the MQTT output's event document).

The journal stores, per item, this output's text (`encode_text`): one line
`{kind}{datatype}[n] {timestamp ms|-} {base64 of the Metric} {device}/{metric name}` ("n": a
null value), the Metric serialized once at append (`payload.metric_bytes`), so sending adds
only the alias and the historical flag. A text of an earlier release (a JSON array) is still
read (`parse`).

>>> from mqtt_bridge.sample import MachinePath, Sample
>>> press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
>>> update = parse(encode_text(Sample(press, "counters", "Parts", 42, None, None, "Good"), 1))
>>> update.device, update.metric, update.datatype == INT64, update.value()
('acme:plant1:forming:line1:press1', 'counters:Parts', True, 42)
"""

from __future__ import annotations

import base64
import functools
import json
from binascii import a2b_base64
from datetime import UTC, datetime
from typing import Any, NamedTuple

from mqtt_bridge.outputs.mqtt.payload import event_document, json_default
from mqtt_bridge.outputs.sparkplug import payload
from mqtt_bridge.outputs.sparkplug.payload import BOOLEAN, BYTES, DATETIME, DOUBLE, INT64, STRING
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

VALUE, LATE, GAP, EVENT = "v", "l", "g", "e"  # the kinds of journal text

_RESERVED = str.maketrans({"+": "_", "/": "_", "#": "_", "\0": "_"})


class Update(NamedTuple):
    """One metric value as the journal holds it for this output."""

    device: str
    metric: str
    kind: str  # VALUE, LATE (a value older than one sent before), GAP or EVENT
    datatype: int
    null: bool  # no value (a gap, or a null from the server)
    timestamp: int | None  # ms since the epoch (UTC), the value's source time
    raw: bytes  # the serialized Metric (payload.metric_bytes)

    def value(self) -> Any:
        """The Python value (None when null; bytes as bytes, times as ms)."""
        return payload.value_of(payload.Metric.FromString(self.raw), self.datatype)


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
    """A value's Sparkplug datatype and its form for `payload.set_value` (times as ms,
    anything structured as its JSON text)."""
    kind = type(value)
    if kind is bool:
        return BOOLEAN, value
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            return INT64, value
        return STRING, str(value)
    if kind is float:
        return DOUBLE, value  # NaN and infinities too
    if kind is str:
        return STRING, value
    if isinstance(value, datetime):
        return DATETIME, millis(value)
    if isinstance(value, bytes | bytearray):
        return BYTES, bytes(value)
    if value is None:
        return STRING, None
    return STRING, json.dumps(value, default=json_default, ensure_ascii=False,
                              separators=(",", ":"), allow_nan=True)


def _text(kind: str, datatype: int, value: Any, timestamp: int | None, device: str,
          name: str, gap: dict[str, Any] | None = None) -> str:
    raw = base64.b64encode(payload.metric_bytes(datatype, value, timestamp, gap)).decode()
    null = "n" if value is None else ""
    return f"{kind}{datatype}{null} {'-' if timestamp is None else timestamp} {raw} {device}/{name}"


def encode_text(item: Sample | EventSample | Gap, seq: int) -> str:
    """This output's journal text of an item (its per-key `seq` is in the journal's row)."""
    machine = item.machine
    if type(item) is Sample:
        datatype, value = typed(item.value)
        return _text(LATE if item.late else VALUE, datatype, value, millis(item.source_time),
                     device_id(machine), metric_name(item.group, item.tag))
    if type(item) is Gap:
        record = {"from": millis(item.start), "to": millis(item.end), "reason": item.reason,
                  "seqs": list(item.seqs) if item.seqs is not None else None}
        return _text(GAP, STRING, None, millis(item.end or item.start), device_id(machine),
                     metric_name(item.group, item.tag), record)
    group = item.key.rsplit("/", 1)[1]  # "events" or "alarms"
    document = json.dumps(event_document(item, seq), default=json_default, ensure_ascii=False,
                          separators=(",", ":"), allow_nan=True)
    return _text(EVENT, STRING, document, millis(item.time), device_id(machine), group)


def parse(text: str) -> Update:
    """An `Update` from this output's journal text."""
    if text.startswith("["):
        return _parse_json(text)
    head, stamp, raw, where = text.split(" ", 3)
    device, name = where.split("/", 1)  # a device id has no "/": the name may
    null = head.endswith("n")
    return Update(device, name, head[0], int(head[1:-1] if null else head[1:]), null,
                  None if stamp == "-" else int(stamp), a2b_base64(raw))


def parse_for_data(text: str) -> tuple[str, int, int | None, bytes]:
    """(kind, datatype, timestamp, Metric bytes) of a journal text: what a DDATA needs of
    it, read on the sink's hot path without the names (its birth has them)."""
    if text.startswith("["):
        update = _parse_json(text)
        return update.kind, update.datatype, update.timestamp, update.raw
    head, stamp, raw, _ = text.split(" ", 3)
    return (head[0], int(head[1:].rstrip("n")), None if stamp == "-" else int(stamp),
            a2b_base64(raw))


def _parse_json(text: str) -> Update:
    """A text of an earlier release: `[device, metric, kind, datatype, value, timestamp_ms,
    gap record]`, bytes as base64 (rows and kept values a bridge update finds in its journal)."""
    device, name, kind, datatype, value, stamp, gap = json.loads(text)
    if datatype == BYTES and value is not None:
        value = base64.b64decode(value)
    return Update(device, name, kind, datatype, value is None, stamp,
                  payload.metric_bytes(datatype, value, stamp, gap))
