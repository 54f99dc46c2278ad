"""What the UMH output makes of each journaled item: its messages, encoded once at append.

Every item becomes one *entry text* in the journal (`UmhEncoder.encode`), a few lines that the
sink (`sink.py`) turns into MQTT messages; fields are separated by tabs (JSON escapes tabs and
newlines inside strings, and topics never hold them):

    s <delivery topic> <series JSON> <record JSON>   always first: the item's seq (see below)
    v <topic> <timestamp_ms> <tag JSON> <value JSON> a Classic `_historian` value; the sink
                                                     merges values of one topic and time into
                                                     one message, as UMH's payload allows
    m <topic> <payload JSON>                         any other message, sent as it is

Classic form (`form = "classic"`):

    umh/v1/acme/plant-1/forming/line-1/press1/_historian/counters
    {"timestamp_ms": 1733904005123, "Parts": 42}

Core form (`form = "core"`), UMH Core's `umh.v1.<location>._raw.<virtual path>.<name>` with
`/` for `.` as on MQTT:

    umh/v1/acme/plant-1/forming/line-1/press1/_raw/counters/Parts
    {"value": 42, "timestamp_ms": 1733904005123}

Neither payload may carry anything else (UMH's schema): the bridge's per-series `seq`, and the
values that have no UMH value (a bad status, no value), go to a *delivery record* on
`<location>/_local/delivery` (`_local`: UMH Classic's schema for data UMH does not process),
one message per machine and delivery round:

    {"seq": {"counters.Parts": [[17, 1733904005123], [18, 1733904006123]],
             "state.CurrentState": [{"seq": 3, "timestamp_ms": null, "status": "Bad..."}]}}

A series is the UMH path of the value (`<group>.<tag>`), or `events`, `alarms`; a record is
`[seq, timestamp_ms]`, or an object where there is more to say (`status`, `replaces`, `gap`).
Gap records go to `<location>/_local/gaps`, events and alarms to `<location>/_local/events`
and `.../_local/alarms`, each with its `seq` (JSON objects, as UMH's `_local` takes any).

`_analytics` messages are derived from what the bridge reads over OPC UA (see the README):
`state/add` from the machine's state variable (`states.py`), `work-order/create|start|stop`
from OPC 40001-3 Job Management's `JobOrderList`, `product/add` from the cell's good and
scrap counters (with the variant of its current order), `shift/add` from the plant's
`CurrentShift` (StartTime, EndTime), bridged as a `[[nodes]]` table.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from mqtt_bridge.outputs.mqtt.payload import finite, json_default, timestamp
from mqtt_bridge.outputs.umh import states
from mqtt_bridge.outputs.umh.topics import level, location, path_levels
from mqtt_bridge.sample import EventSample, Gap, Sample

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                            default=json_default)
_dumps = _ENCODER.encode
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

JOB_ORDERS = "JobManagement.JobOrderControl/JobOrderList"
VARIANT = "CurrentOrder/Variant"
GOOD_PARTS = "Monitoring/GoodParts"
SCRAP_PARTS = "Monitoring/ScrapParts"
SHIFT = "CurrentShift"  # group of the plant's shift variables (Plant/CurrentShift, [[nodes]])
_RUNNING, _ENDED, _ABORTED = 3, 5, 6  # ISA-95 job order StateNumbers (OPC 10031-4)


def timestamp_ms(stamp: datetime | None) -> int | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - _EPOCH) // _MILLISECOND


def value_json(value: object) -> str | None:
    """A value as UMH takes it (a number, a string or a boolean); None where there is none.
    Non-finite floats become the strings "NaN", "Infinity", "-Infinity"; structures and
    arrays their JSON text, as a string."""
    kind = type(value)
    if value is None:
        return None
    if kind is bool or kind is int:
        return "true" if value is True else "false" if value is False else int.__repr__(value)
    if kind is float:
        if math.isfinite(value):
            return float.__repr__(value)
        return '"NaN"' if math.isnan(value) else ('"Infinity"' if value > 0 else '"-Infinity"')
    if kind is str:
        return _dumps(value)
    if isinstance(value, datetime):
        return _dumps(timestamp(value))
    return _dumps(_dumps(value))  # a structure or an array: its JSON as a string


class UmhEncoder:
    """Turns items into entry texts (module docstring). Holds what the derived `_analytics`
    messages need to remember per machine (known job orders, counters, current variant,
    shift times): the journal calls it in append order."""

    def __init__(self, form: str = "classic", origin_id: str = "",
                 state_variable: str = "state/CurrentState") -> None:
        self.core = form == "core"
        self.origin_id = origin_id
        self.state_variable = state_variable
        self._jobs: dict[str, dict[str, int]] = {}  # location -> job order id -> state
        self._counts: dict[tuple[str, str], int] = {}  # (location, counter) -> last value
        self._variant: dict[str, str] = {}  # location -> variant of its current order
        self._shift: dict[str, dict[str, int]] = {}  # location -> StartTime/EndTime (ms)

    def __call__(self, item: Sample | EventSample | Gap, seq: int) -> str:
        where = location(item.machine, self.origin_id)
        if type(item) is Sample:
            return self._sample(item, seq, where)
        if type(item) is Gap:
            series = self._series(item.group, item.tag) if item.tag else item.group
            record = {"seq": seq, "timestamp_ms": None, "gap": True}
            gap = {"series": series, "seq": seq, "from": timestamp(item.start),
                   "to": timestamp(item.end), "reason": item.reason}
            if item.seqs is not None:
                gap["seqs"] = list(item.seqs)
            return (f"s\t{where}/_local/delivery\t{_dumps(series)}\t{_dumps(record)}\n"
                    f"m\t{where}/_local/gaps\t{_dumps(gap)}")
        event: EventSample = item  # type: ignore[assignment]
        kind = event.key.rsplit("/", 1)[1]  # "events" or "alarms"
        document = {"eventType": event.event_type, "timestamp_ms": timestamp_ms(event.time),
                    "severity": event.severity, "message": event.message,
                    "fields": finite(event.fields), "seq": seq}
        record = [seq, document["timestamp_ms"]]
        return (f"s\t{where}/_local/delivery\t{_dumps(kind)}\t{_dumps(record)}\n"
                f"m\t{where}/_local/{kind}\t{_dumps(document)}")

    # -- values -------------------------------------------------------------------------------

    def _series(self, group: str, tag: str) -> str:
        return ".".join((*path_levels(group), level(tag)))

    def _sample(self, sample: Sample, seq: int, where: str) -> str:
        series = self._series(sample.group, sample.tag)
        stamp = timestamp_ms(sample.source_time or sample.server_time)
        value = value_json(sample.value) if sample.status == "Good" else None
        if value is None or stamp is None or sample.replaces is not None:
            record: Any = {"seq": seq, "timestamp_ms": stamp}
            if sample.status != "Good":
                record["status"] = sample.status
            if sample.replaces is not None:
                record["replaces"] = sample.replaces
        else:
            record = [seq, stamp]
        lines = [f"s\t{where}/_local/delivery\t{_dumps(series)}\t{_dumps(record)}"]
        if value is None or stamp is None:
            return lines[0]
        group = "/".join(path_levels(sample.group))
        if self.core:
            lines.append(f'm\t{where}/_raw/{group}/{level(sample.tag)}\t'
                         f'{{"value":{value},"timestamp_ms":{stamp}}}')
        else:
            key = _dumps(_payload_key(sample.tag))
            lines.append(f"v\t{where}/_historian/{group}\t{stamp}\t{key}\t{value}")
        if not sample.late:  # a value given back from history is not news for _analytics
            variable = f"{sample.group}/{sample.tag}"
            lines.extend(self._analytics(variable, sample.value, stamp, where))
        return "\n".join(lines)

    # -- _analytics ---------------------------------------------------------------------------

    def _analytics(self, variable: str, value: object, stamp: int, where: str) -> list[str]:
        if variable == self.state_variable:
            code = states.umh_state(variable, value)
            if code is None:
                return []
            return [_message(where, "state/add", {"start_time_unix_ms": stamp, "state": code})]
        if variable == JOB_ORDERS and isinstance(value, list):
            return self._work_orders(value, stamp, where)
        if variable == VARIANT and isinstance(value, str):
            self._variant[where] = value
        elif variable in (GOOD_PARTS, SCRAP_PARTS) and type(value) is int:
            return self._products(variable, value, stamp, where)
        elif variable.startswith(SHIFT + "/"):
            return self._shifts(variable.rsplit("/", 1)[1], value, where)
        return []

    def _work_orders(self, job_orders: list, stamp: int, where: str) -> list[str]:
        known = self._jobs.get(where, {})
        listed: dict[str, int] = {}  # what is remembered: the job orders listed now (bounded)
        out = []
        for entry in job_orders[:1000]:
            order = _field(entry, "JobOrder")
            job_id = _field(order, "JobOrderID")
            state = _field(_first(_field(entry, "State")), "StateNumber")
            if not isinstance(job_id, str) or not job_id or not isinstance(state, int):
                continue
            before = known.get(job_id)
            if before is None:
                create = _work_order(order, job_id, state)
                if create is not None:
                    out.append(_message(where, "work-order/create", create))
            listed[job_id] = state
            if state == _RUNNING and (before is None or before < _RUNNING):
                out.append(_message(where, "work-order/start", {
                    "external_work_order_id": job_id, "start_time_unix_ms": stamp}))
            if state in (_ENDED, _ABORTED) and before not in (_ENDED, _ABORTED):
                out.append(_message(where, "work-order/stop", {
                    "external_work_order_id": job_id, "end_time_unix_ms": stamp}))
        self._jobs[where] = listed
        return out

    def _products(self, variable: str, count: int, stamp: int, where: str) -> list[str]:
        key = (where, variable)
        before = self._counts.get(key)
        self._counts[key] = count
        if before is None or count <= before:  # the first value read, or a counter reset
            return []
        made = count - before
        product = {"external_product_type_id": self._variant.get(where) or "unknown",
                   "end_time_unix_ms": stamp, "quantity": made}
        if variable == SCRAP_PARTS:
            product["bad_quantity"] = made
        return [_message(where, "product/add", product)]

    def _shifts(self, name: str, value: object, where: str) -> list[str]:
        if isinstance(value, str):  # the bridge hands times on as ISO 8601 text
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return []
        if name not in ("StartTime", "EndTime") or not isinstance(value, datetime):
            return []
        shift = self._shift.setdefault(where, {})
        shift[name] = timestamp_ms(value)
        start, end = shift.get("StartTime"), shift.get("EndTime")
        if start is None or end is None or end <= start or shift.get("sent") == start:
            return []
        shift["sent"] = start
        return [_message(where, "shift/add", {"start_time_unix_ms": start,
                                              "end_time_unix_ms": end})]


def _payload_key(tag: str) -> str:
    """A tag as a key of a Classic payload: its topic level, and never `timestamp_ms`."""
    name = level(tag)
    return name + "_" if name == "timestamp_ms" else name


def _message(where: str, name: str, document: dict[str, Any]) -> str:
    return f"m\t{where}/_analytics/{name}\t{_dumps(document)}"


def _field(document: object, name: str) -> Any:
    return document.get(name) if isinstance(document, dict) else None


def _first(values: object) -> Any:
    return values[0] if isinstance(values, list) and values else None


def _work_order(order: object, job_id: str, state: int) -> dict[str, Any] | None:
    """`work-order/create` of a job order: product and quantity as the job order names them
    (MaterialRequirements[0], parameter RunsPlanned); None if it names neither (UMH needs
    both)."""
    material = _first(_field(order, "MaterialRequirements"))
    product = _field(material, "MaterialDefinitionID")
    quantity = None
    for parameter in _field(order, "JobOrderParameters") or []:
        if _field(parameter, "ID") == "RunsPlanned":
            quantity = _number(_field(parameter, "Value"))
    if quantity is None:
        quantity = _number(_field(material, "Quantity"))
    if not isinstance(product, str) or not product or type(quantity) is not int or quantity < 1:
        return None
    status = 2 if state in (_ENDED, _ABORTED) else 1 if state == _RUNNING else 0
    return {"external_work_order_id": job_id, "product": {"external_product_id": product},
            "quantity": quantity, "status": status}


def _number(value: object) -> int | None:
    """A whole number as a job order carries it: a Variant (decoded to a dict with its
    `Value`), a number, or a number's text (ISA-95 quantities are strings)."""
    if isinstance(value, dict):
        value = value.get("Value")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if type(value) is int else None

