"""Samples as InfluxDB line protocol, built as plain strings.

Joined strings are ~9x faster to write through influxdb-client than `Point` objects (see
docs/performance.md); the escaping follows influxdb-client's own `Point` rules, which a test
checks. `line` is the time-series output's journal encoder.

One measurement per concern, tags for the ISA-95 hierarchy and the cell type, one field per
variable plus its sequence number, timestamp = source time in nanoseconds:

    counters,area=forming,cell=press1,cell_type=Press,enterprise=acme,line=line1,site=plant1 \
        Parts=42i,Parts_seq=7i 1767225600000000000
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, datetime

from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample

# any other group becomes a measurement of its own name
MEASUREMENTS: dict[str, str] = {  # Sample.group: measurement
    "state": "machine_state",
    "states": "machine_state",
    "machine_state": "machine_state",
    "counters": "counters",
    "energy": "energy",
    "kpi": "kpi",
    "kpis": "kpi",
}

_ESCAPE_MEASUREMENT = str.maketrans(
    {",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_ESCAPE_KEY = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_NOT_NAME = re.compile(r"[^a-z0-9_]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def measurement(group: str) -> str:
    """The measurement a sample group is written to (see `MEASUREMENTS`)."""
    lowered = group.lower()
    return MEASUREMENTS.get(lowered) or _NOT_NAME.sub("_", lowered).strip("_") or "values"


@functools.lru_cache(maxsize=4096)  # a publish response repeats a few timestamps many times
def nanoseconds(value: datetime) -> int:
    """Nanoseconds since the Unix epoch, exactly (naive datetimes are UTC, as OPC UA's)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _tag_value(value: str) -> str:
    escaped = value.translate(_ESCAPE_KEY)
    # A trailing backslash would escape the separator after it.
    return escaped + " " if escaped.endswith("\\") else escaped


def _escape_string(text: str) -> str:
    """A string field's text with `"` and `\\` escaped. Two `str.replace` calls, not
    `str.translate`: every string value of every update passes here, and translate's
    per-character lookup cost 10-13x more (2 µs for a state name, 9 µs for a structure's JSON).
    """
    if '"' in text or "\\" in text:
        return text.replace("\\", "\\\\").replace('"', '\\"')
    return text


def _field_value(value: object) -> str | None:
    """A line-protocol field value, or None for values that have none (null, NaN)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return f'"{_escape_string(text)}"'


MAX_STRUCTURE_FIELDS = 64  # fields written for one structure value, at most


def structure_fields(field: str, value: object) -> str:
    """A decoded structure (a dict of its fields, or an array of them) as one field per
    member besides the value's JSON text: `{tag}_{member}`, `{tag}_{index}_{member}` in an
    array, nested members joined the same way; "" for a value that holds no structure or
    more than `MAX_STRUCTURE_FIELDS` members.

    >>> structure_fields("Counts", [{"ID": 1, "Name": "parts", "Count": 7}])
    'Counts_0_ID=1i,Counts_0_Name="parts",Counts_0_Count=7i'
    >>> structure_fields("Values", [1.5, 2.5])
    ''
    """
    if not (isinstance(value, dict) or (isinstance(value, list)
                                         and any(isinstance(v, dict) for v in value))):
        return ""
    out: list[str] = []
    stack: list[tuple[str, object]] = [(field, value)]
    while stack:
        name, member = stack.pop()
        if isinstance(member, dict):
            stack.extend((f"{name}_{str(k).translate(_ESCAPE_KEY)}", v)
                         for k, v in reversed(member.items()))
        elif isinstance(member, list):
            stack.extend((f"{name}_{i}", v) for i, v in reversed(list(enumerate(member))))
        elif (text := _field_value(member)) is not None:
            out.append(f"{name}={text}")
        if len(out) > MAX_STRUCTURE_FIELDS:
            return ""
    return ",".join(out)


@functools.lru_cache(maxsize=4096)
def _tags(machine: MachinePath, event_type: str | None = None) -> str:
    """",tag=value,..." of a machine (cached: a plant has a few hundred machines)."""
    m = machine
    pairs = [
        ("enterprise", m.enterprise), ("site", m.site), ("area", m.area), ("line", m.line),
        ("cell", m.cell), ("cell_type", m.cell_type),
    ]
    if event_type is not None:
        pairs.append(("event_type", event_type))
    # Sorted by key, as InfluxDB recommends; empty tag values are not allowed: leave them out.
    return "".join(f",{key}={_tag_value(value)}" for key, value in sorted(pairs) if value)


@functools.lru_cache(maxsize=65_536)
def _sample_head(machine: MachinePath, group: str, tag: str) -> tuple[str, str]:
    """("measurement,tags ", escaped field name) of one variable (cached per variable)."""
    name = measurement(group).translate(_ESCAPE_MEASUREMENT)
    return f"{name}{_tags(machine)} ", tag.translate(_ESCAPE_KEY)


def line(item: Sample | EventSample | Gap, seq: int) -> str:
    """One line of line protocol for a journaled item with its per-topic sequence number. A
    gap is written to its variable's measurement at the gap's end, as `{tag}_gap` (its length
    in seconds), `{tag}_gap_reason` and `{tag}_seq`; a gap in a machine's events or alarms
    to that measurement as `gap`, `gap_reason` and `seq`, at its start (its end is unknown)."""
    if type(item) is Sample:
        head, field = _sample_head(item.machine, item.group, item.tag)
        value = _field_value(item.value)
        if isinstance(item.value, dict | list) and (flat := structure_fields(field, item.value)):
            value = f"{value},{flat}"
        when = item.source_time or item.server_time
        stamp = "" if when is None else f" {nanoseconds(when)}"
        if value is None:
            return f"{head}{field}_seq={seq}i{stamp}"
        return f"{head}{field}={value},{field}_seq={seq}i{stamp}"
    if type(item) is Gap:
        if not item.tag:  # a machine's events or alarms
            head, field = f"{item.group}{_tags(item.machine)} ", ""
        else:
            head, field = _sample_head(item.machine, item.group, item.tag)
            field += "_"
        seconds = ((item.end - item.start).total_seconds()
                   if item.start is not None and item.end is not None else 0.0)
        when = item.end or item.start
        stamp = "" if when is None else f" {nanoseconds(when)}"
        reason = _escape_string(item.reason)
        return (f'{head}{field}gap={float(seconds)!r},{field}gap_reason="{reason}",'
                f"{field}seq={seq}i{stamp}")
    event: EventSample = item  # type: ignore[assignment]
    name = event.key.rsplit("/", 1)[1]  # "events", "alarms" or "jobs"
    fields = ",".join((
        f"severity={event.severity}i",
        f'message="{_escape_string(event.message)}"',
        *(_job_fields(event.fields) if name == "jobs" else ()),
        f"seq={seq}i",
    ))
    stamp = "" if event.time is None else f" {nanoseconds(event.time)}"
    return f"{name}{_tags(event.machine, event.event_type)} {fields}{stamp}"


_JOB_COUNTS = {"StateNumber": "state_number", "RunsPlanned": "runs_planned",
               "RunsCompleted": "runs_completed", "ScrapCount": "scrap_count"}


def _job_fields(fields: dict[str, object]) -> list[str]:
    """A job order status event's identity, state and counts (`inputs/opcua/jobs.py`)."""
    out = [f'job_order_id="{_escape_string(fields["JobOrderID"])}"'
           ] if isinstance(fields.get("JobOrderID"), str) else []
    out += [f"{name}={fields[key]}i" for key, name in _JOB_COUNTS.items()
            if type(fields.get(key)) is int]
    return out
