"""MQTT topics and JSON payloads of the unified namespace: the one place that knows their shape.

Payloads follow `payload.schema.json` (JSON Schema draft 2020-12, shipped next to this module):

    acme/plant1/forming/line1/press1/counters/Parts
    {"value": 42, "sourceTimestamp": "2026-11-23T05:00:00.000000Z",
     "serverTimestamp": "2026-11-23T05:00:00.001000Z", "status": "Good", "seq": 17,
     "cellType": "PressBrakeType", "nodeId": "ns=4;i=6012"}

and, where changes of a variable are lost, a gap record in its place in the sequence:

    {"gap": {"from": "2026-11-23T05:00:00.000000Z", "to": "2026-11-23T05:02:10.000000Z",
     "reason": "..."}, "seq": 18, "cellType": "PressBrakeType", "nodeId": "ns=4;i=6012"}

Where the journal dropped values at its bound, every sequence number of the topic still
arrives or is named: a value given back late from history carries `"replaces": N` (the number
it was dropped under), and a gap record for those that do not come back names theirs as
`"seqs": [first, last]`.

Timestamps are RFC 3339 in UTC; non-finite floats are written as the strings "NaN",
"Infinity" and "-Infinity" (as OPC UA's JSON encoding does), since JSON has no such numbers.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from mqtt_bridge.sample import EventSample, Gap, Sample

_TOPIC_FORBIDDEN = str.maketrans({"+": "_", "#": "_", "\0": "_"})


def topic(item: Sample | EventSample | Gap, prefix: str = "") -> str:
    """The item's topic: `{prefix}{enterprise}/{site}/{area}/{line}/{cell}/{group}/{tag}` for
    samples, `.../{cell}/events` or `.../{cell}/alarms` for events. MQTT wildcards in names
    become "_" (a browse name may contain them; a topic name must not)."""
    return prefix + topic_of_key(item.key)


@functools.lru_cache(maxsize=65_536)
def topic_of_key(key: str) -> str:
    """The topic (without prefix) of an item key (`Sample.key`, `EventSample.key`)."""
    return key.translate(_TOPIC_FORBIDDEN)


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 text in UTC with microseconds; naive datetimes are taken as UTC (as OPC UA's)."""
    if value is None:
        return None
    # isoformat is ~3x faster than strftime and pads the year to four digits as RFC 3339 wants.
    zone = value.tzinfo
    if zone is UTC:  # asyncua's timestamps: "...+00:00" -> "...Z"
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    if zone is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def json_default(value: object) -> object:
    """How payloads hold values JSON has no type for: times as RFC 3339, bytes as base64, sets
    as sorted lists, anything else as its text."""
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def finite(value: object) -> object:
    """`value` with NaN and the infinities as the strings JSON can carry, in lists and dicts
    too."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    return value


_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=json_default
)


def _dumps(document: dict[str, Any]) -> bytes:
    return _ENCODER.encode(document).encode()


def sample_document(sample: Sample, seq: int) -> dict[str, Any]:
    return {
        "value": finite(sample.value),
        "sourceTimestamp": timestamp(sample.source_time),
        "serverTimestamp": timestamp(sample.server_time),
        "status": sample.status,
        "seq": seq,
        "cellType": sample.machine.cell_type,
        "nodeId": sample.node_id,
    }


def event_document(event: EventSample, seq: int) -> dict[str, Any]:
    return {
        "eventType": event.event_type,
        "time": timestamp(event.time),
        "severity": event.severity,
        "message": event.message,
        "fields": finite(event.fields),
        "seq": seq,
        "cellType": event.machine.cell_type,
    }


def gap_document(gap: Gap, seq: int) -> dict[str, Any]:
    record: dict[str, Any] = {"from": timestamp(gap.start), "to": timestamp(gap.end),
                              "reason": gap.reason}
    if gap.seqs is not None:
        record["seqs"] = list(gap.seqs)
    return {
        "gap": record,
        "seq": seq,
        "cellType": gap.machine.cell_type,
        "nodeId": gap.node_id,
    }


def encode_text(item: Sample | EventSample | Gap, seq: int) -> str:
    """The JSON payload (as text) of an item with its per-topic sequence number; the journal
    stores it at append, so it is built once per item, not once per delivery attempt.

    Samples are the hot path (every tag update): their text is assembled from pieces that are
    either cached per tag (`cellType`, `nodeId`, `status`) or cheap to write (numbers,
    timestamps), exactly as `json` would write `sample_document` (a test holds them equal)."""
    if type(item) is Gap:
        return _ENCODER.encode(gap_document(item, seq))
    if type(item) is not Sample:
        return _ENCODER.encode(event_document(item, seq))  # type: ignore[arg-type]
    if item.replaces is not None:  # a late value given back after a drop: rare
        return _ENCODER.encode({**sample_document(item, seq), "replaces": item.replaces})
    return "".join((
        '{"value":', _value_text(item.value),
        ',"sourceTimestamp":', _time_text(item.source_time),
        ',"serverTimestamp":', _time_text(item.server_time),
        ',"status":', _string_text(item.status),
        ',"seq":', str(seq),
        _sample_tail(item.machine.cell_type, item.node_id),
    ))


def _value_text(value: object) -> str:
    kind = type(value)
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else _ENCODER.encode(finite(value))
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return _ENCODER.encode(value)
    return _ENCODER.encode(finite(value))


@functools.lru_cache(maxsize=4096)  # a publish response repeats a few timestamps many times
def _time_text(value: datetime | None) -> str:
    # equal datetimes are the same instant, so they have the same text in UTC
    return "null" if value is None else f'"{timestamp(value)}"'


@functools.lru_cache(maxsize=1024)
def _string_text(value: str) -> str:
    return _ENCODER.encode(value)


@functools.lru_cache(maxsize=65_536)
def _sample_tail(cell_type: str, node_id: str) -> str:
    return f',"cellType":{_ENCODER.encode(cell_type)},"nodeId":{_ENCODER.encode(node_id)}}}'


def encode(item: Sample | EventSample | Gap, seq: int) -> bytes:
    """The UTF-8 JSON payload of an item with its per-topic sequence number."""
    return encode_text(item, seq).encode()


BATCH_LEVEL = "updates"  # .../{cell}/updates carries a machine's batched updates
MAX_BATCH = 500  # updates per batch message (~100 kB)


@functools.lru_cache(maxsize=65_536)
def batch_topic(topic: str) -> str:
    """The batch topic of an update's topic (without prefix): `.../{cell}/{group}/{tag}` and
    `.../{cell}/events` both belong to `.../{cell}/updates` (the first five levels name the
    cell; none of them contains a `/`)."""
    return "/".join(topic.split("/", 5)[:5]) + "/" + BATCH_LEVEL


@functools.lru_cache(maxsize=65_536)
def _topic_member(topic: str) -> str:
    return '{"topic":' + json.dumps(topic, ensure_ascii=False) + ","


def updates_batch(updates: list[tuple[str, str]]) -> str:
    """One machine's updates, each `(its topic, its payload)`, as one batch payload:

        {"updates": [{"topic": "acme/.../press1/counters/Parts", "value": 42, ..., "seq": 17},
                     {"topic": "acme/.../press1/alarms", "eventType": ..., "seq": 3}]}

    Each element is the payload the update has in tag mode (with its own per-topic `seq`) plus
    its topic, so a consumer accounts for every update exactly as with one message each."""
    return '{"updates":[' + ",".join(_topic_member(topic) + text[1:]
                                     for topic, text in updates) + "]}"


def status(bridge_id: str, online: bool, at: datetime | None = None,
           source: dict[str, Any] | None = None) -> bytes:
    """The bridge's birth (online) or goodbye (offline) message; the last will has no time,
    since the broker sends it when it notices the bridge is gone. `source` says which OPC UA
    server the bridge reads and when that server started (a new start time marks a restart)."""
    document: dict[str, Any] = {"status": "online" if online else "offline", "bridgeId": bridge_id}
    if at is not None:
        document["time"] = timestamp(at)
    if source is not None:
        document["source"] = source
    return _dumps(document)


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of every payload the bridge publishes."""
    text = resources.files(__package__).joinpath("payload.schema.json").read_text("utf-8")
    return json.loads(text)
