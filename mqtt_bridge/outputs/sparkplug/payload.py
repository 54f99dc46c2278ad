"""Sparkplug B payloads (protobuf, Eclipse Tahu's `sparkplug_b.proto`): the one place that
builds and reads them.

    death(bd_seq=3)                      # NDEATH: the will, bdSeq only, no seq
    node_birth(seq=0, bd_seq=3, at=ms)   # NBIRTH: bdSeq, Node Control/Rebirth = false
    device_birth(seq, at, metrics)       # DBIRTH: name, alias, datatype, timestamp, value each
    device_data(seq, at, metrics)        # DDATA: alias, datatype, timestamp, value, is_historical

A gap record (values of a metric lost for good) is a null, historical metric value with the
property set `{"gap": true, "gapFrom": DateTime, "gapTo": DateTime, "gapReason": String}` and,
where the journal dropped numbered values, `"gapSeqs": "first-last"`.
"""

from __future__ import annotations

import base64
from typing import Any

from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb
from mqtt_bridge.outputs.sparkplug.metrics import (
    BOOLEAN,
    BYTES,
    DATETIME,
    DOUBLE,
    INT64,
    STRING,
    Update,
)

Payload = pb.Payload
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"
_UINT64 = 2**64


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
        metric.bytes_value = base64.b64decode(value)
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


def fits(update: Update, datatype: int) -> bool:
    """Whether the update's value can be sent as `datatype` (null fits any; Int64 -> Double)."""
    return (update.value is None or update.datatype == datatype
            or (datatype == DOUBLE and update.datatype == INT64))


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


def _add(payload: Any, update: Update, alias: int, datatype: int, *, birth: bool,
         historical: bool) -> None:
    metric = payload.metrics.add(alias=alias)
    if birth:
        metric.name = update.metric
    elif not fits(update, datatype):
        datatype = update.datatype  # a variable whose type changed since its birth
    # in DATA messages too, although the spec says "SHOULD NOT": Eclipse Tahu's decoders
    # (Java, JavaScript) find a metric's value by its datatype and read none without it
    metric.datatype = datatype
    if update.timestamp is not None:
        metric.timestamp = update.timestamp
    if historical:
        metric.is_historical = True
    set_value(metric, datatype, update.value)
    if update.extra is not None:  # a gap record
        extra = update.extra
        properties = metric.properties
        properties.keys.append("gap")
        properties.values.add(type=BOOLEAN, boolean_value=True)
        for key, name in (("from", "gapFrom"), ("to", "gapTo")):
            properties.keys.append(name)
            if extra.get(key) is None:
                properties.values.add(type=DATETIME, is_null=True)
            else:
                properties.values.add(type=DATETIME, long_value=extra[key])
        properties.keys.append("gapReason")
        properties.values.add(type=STRING, string_value=str(extra.get("reason") or ""))
        if extra.get("seqs"):
            first, last = extra["seqs"]
            properties.keys.append("gapSeqs")
            properties.values.add(type=STRING, string_value=f"{first}-{last}")


def device_birth(seq: int, at: int, metrics: list[tuple[Update, int, int]]) -> bytes:
    """A DBIRTH: every metric `(its newest update, alias, datatype)`, in time order."""
    payload = Payload(timestamp=at, seq=seq)
    for update, alias, datatype in sorted(metrics, key=lambda m: m[0].timestamp or 0):
        _add(payload, update, alias, datatype, birth=True, historical=False)
    return payload.SerializeToString()


def device_data(seq: int, at: int, metrics: list[tuple[Update, int, int, bool]]) -> bytes:
    """A DDATA: `(update, alias, datatype of its birth, is_historical)` each, in time order
    (the spec's rule for current values; a stable sort keeps journal order otherwise)."""
    payload = Payload(timestamp=at, seq=seq)
    for update, alias, datatype, historical in sorted(metrics,
                                                      key=lambda m: m[0].timestamp or 0):
        _add(payload, update, alias, datatype, birth=False, historical=historical)
    return payload.SerializeToString()


def is_rebirth_request(data: bytes) -> bool:
    """Whether an NCMD payload asks for a rebirth (`Node Control/Rebirth` = true); False for
    anything else, a payload that is not Sparkplug B included."""
    try:
        payload = Payload.FromString(data)
    except Exception:  # protobuf's DecodeError and friends: not a Sparkplug payload
        return False
    return any(m.name == REBIRTH and m.HasField("boolean_value") and m.boolean_value
               for m in payload.metrics)
