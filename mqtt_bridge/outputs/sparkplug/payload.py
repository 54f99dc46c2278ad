"""Sparkplug B payloads (protobuf, Eclipse Tahu's `sparkplug_b.proto`): the one place that
builds and reads them.

    death(bd_seq=3)                      # NDEATH: the will, bdSeq only, no seq
    node_birth(seq=0, bd_seq=3, at=ms)   # NBIRTH: bdSeq, Node Control/Rebirth = false
    metric_bytes(datatype, value, ms)    # a value's Metric, built once (the journal keeps it)
    device_birth(seq, at, metrics)       # DBIRTH: name, alias, datatype, timestamp, value each
    device_data(seq, at, metrics)        # DDATA: alias, datatype, timestamp, value, is_historical
    device_death(seq, at)                # DDEATH: a device whose source is lost

A value's Metric (datatype, timestamp, value, gap properties; no name, alias or historical
flag) is serialized once, when the journal appends it; a DBIRTH adds the name and alias to it, a
DDATA the alias and `is_historical` (protobuf merges the fields of a parsed message).

A gap record (values of a metric lost for good) is a null, historical metric value with the
property set `{"gap": true, "gapFrom": DateTime, "gapTo": DateTime, "gapReason": String}` and,
where the journal dropped numbered values, `"gapSeqs": "first-last"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb

Payload = pb.Payload
Metric = pb.Payload.Metric
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"
_UINT64 = 2**64

# Sparkplug B datatypes (sparkplug_b.proto, enum DataType) this output uses
INT64, DOUBLE, BOOLEAN, STRING, DATETIME, BYTES = 4, 10, 11, 12, 13, 17

# a DBIRTH metric: (timestamp, name, metric bytes, alias, datatype of the birth, is a gap)
BirthMetric = tuple[int | None, str, bytes, int, int, bool]
# a DDATA metric: (timestamp, metric bytes, alias, its datatype, the birth's, is_historical)
DataMetric = tuple[int | None, bytes, int, int, int, bool]


def set_value(metric: Any, datatype: int, value: Any) -> None:
    """Store `value` in the metric's field for `datatype`; None marks it null."""
    if value is None:
        metric.is_null = True
    elif datatype == DOUBLE:
        metric.double_value = float(value)
    elif datatype in (INT64, DATETIME):
        metric.long_value = int(value) % _UINT64  # two's complement, as Tahu stores Int64
    elif datatype == BOOLEAN:
        metric.boolean_value = bool(value)
    elif datatype == BYTES:
        metric.bytes_value = bytes(value)
    else:
        metric.string_value = str(value)


def value_of(metric: Any, datatype: int) -> Any:
    """The Python value of a metric (the inverse of `set_value`), None when null."""
    if metric.is_null:
        return None
    if datatype == DOUBLE:
        return metric.double_value
    if datatype == INT64:
        raw = metric.long_value
        return raw - _UINT64 if raw >= 2**63 else raw
    if datatype == DATETIME:
        return metric.long_value
    if datatype == BOOLEAN:
        return metric.boolean_value
    if datatype == BYTES:
        return metric.bytes_value
    return metric.string_value


def death(bd_seq: int) -> bytes:
    """The NDEATH payload (the will): only the bdSeq metric, no seq, no timestamp needed."""
    payload = Payload()
    metric = payload.metrics.add(name=BD_SEQ, datatype=INT64)
    metric.long_value = bd_seq
    return payload.SerializeToString()


def node_birth(seq: int, bd_seq: int, at: int) -> bytes:
    """The NBIRTH payload: bdSeq (as in the will) and `Node Control/Rebirth` (false, no alias)."""
    payload = Payload(timestamp=at, seq=seq)
    payload.metrics.add(name=BD_SEQ, datatype=INT64, timestamp=at, long_value=bd_seq)
    payload.metrics.add(name=REBIRTH, datatype=BOOLEAN, timestamp=at, boolean_value=False)
    return payload.SerializeToString()


def metric_bytes(datatype: int, value: Any, timestamp: int | None,
                 gap: dict[str, Any] | None = None) -> bytes:
    """A value's serialized Metric without name, alias or historical flag; `gap`, a gap's
    record (from, to in ms, reason, seqs), becomes its properties."""
    metric = Metric(datatype=datatype)
    if timestamp is not None:
        metric.timestamp = timestamp
    set_value(metric, datatype, value)
    if gap is not None:
        properties = metric.properties
        properties.keys.append("gap")
        properties.values.add(type=BOOLEAN, boolean_value=True)
        for key, name in (("from", "gapFrom"), ("to", "gapTo")):
            properties.keys.append(name)
            if gap.get(key) is None:
                properties.values.add(type=DATETIME, is_null=True)
            else:
                properties.values.add(type=DATETIME, long_value=gap[key])
        properties.keys.append("gapReason")
        properties.values.add(type=STRING, string_value=str(gap.get("reason") or ""))
        if gap.get("seqs"):
            first, last = gap["seqs"]
            properties.keys.append("gapSeqs")
            properties.values.add(type=STRING, string_value=f"{first}-{last}")
    return metric.SerializeToString()


def _stamp(metric: Sequence[Any]) -> int:
    return metric[0] or 0


def _retype(metric: Any, datatype: int, born: int) -> None:
    """A value whose type differs from its birth's: a null takes the birth's type, an Int64
    of a Double metric becomes a Double; anything else keeps its own type (a variable whose
    type changed since its birth)."""
    if metric.is_null:
        metric.datatype = born
    elif born == DOUBLE and datatype == INT64:
        value = value_of(metric, INT64)
        metric.ClearField("long_value")
        metric.double_value = float(value)
        metric.datatype = DOUBLE


def device_birth(seq: int, at: int, metrics: list[BirthMetric]) -> bytes:
    """A DBIRTH: every metric with its newest value, in time order; a gap's metric is born
    null, without the gap's properties (no value is known now)."""
    payload = Payload(timestamp=at, seq=seq)
    for _, name, raw, alias, datatype, gap in sorted(metrics, key=_stamp):
        metric = payload.metrics.add(name=name, alias=alias)
        metric.MergeFromString(raw)
        if gap:
            metric.ClearField("properties")
        if metric.datatype != datatype:
            _retype(metric, metric.datatype, datatype)
    return payload.SerializeToString()


def device_data(seq: int, at: int, metrics: list[DataMetric]) -> bytes:
    """A DDATA: each metric by alias, in time order (the spec's rule for current values; a
    stable sort keeps journal order otherwise). The datatype is in DATA messages too, although
    the spec says "SHOULD NOT": Eclipse Tahu's decoders (Java, JavaScript) find a metric's
    value by its datatype and read none without it."""
    payload = Payload(timestamp=at, seq=seq)
    add = payload.metrics.add
    for _, raw, alias, datatype, born, historical in sorted(metrics, key=_stamp):
        metric = add(alias=alias)
        metric.MergeFromString(raw)
        if historical:
            metric.is_historical = True
        if datatype != born:
            _retype(metric, datatype, born)
    return payload.SerializeToString()


def device_death(seq: int, at: int) -> bytes:
    """A DDEATH: the node's next seq and a timestamp, no metrics."""
    return Payload(timestamp=at, seq=seq).SerializeToString()


def rebirth_request(data: bytes) -> bool | None:
    """Whether an NCMD payload asks for a rebirth (`Node Control/Rebirth` = true); None for a
    payload that is not Sparkplug B."""
    try:
        payload = Payload.FromString(data)
    except Exception:  # protobuf's DecodeError and friends: not a Sparkplug payload
        return None
    return any(m.name == REBIRTH and m.HasField("boolean_value") and m.boolean_value
               for m in payload.metrics)
