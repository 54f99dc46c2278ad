"""A Sparkplug B 3.0 requirement checker on captured traffic (the compatibility kit runs only
inside HiveMQ): each check is named by its requirement ID from the specification
(`tck-id-...` in eclipse-sparkplug/sparkplug's asciidoc, the IDs of the TCK's
`Requirements.java`), and `check()` says per ID whether the traffic met it.

    results = check(messages, group="factory-sim", edge="bridge1", retained=[...])
    print(report(results))          # one line per ID: PASS/FAIL and the first offences
    assert not failed(results)

`messages` is everything a subscriber to `spBv1.0/#` received, in arrival order (QoS as
delivered to a QoS 1 subscription: a QoS 0 publication arrives at QoS 0, a will of QoS 1 at
QoS 1); `retained` is what a fresh subscriber received right after (nothing retained is
allowed). `rebirths` counts the NCMD rebirth requests the test sent. Every ID below is
checked on every message it concerns; an ID with nothing to check on fails (a run must
exercise it).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb

NAMESPACE = "spBv1.0"
INT64, BOOLEAN = 4, 11
NODE_TYPES = {"NBIRTH", "NDEATH", "NDATA", "NCMD"}
DEVICE_TYPES = {"DBIRTH", "DDEATH", "DDATA", "DCMD"}

REQUIREMENTS = (
    "topic-structure",
    "topic-structure-namespace-a",
    "topic-structure-namespace-valid-group-id",
    "topic-structure-namespace-valid-edge-node-id",
    "topic-structure-namespace-valid-device-id",
    "topic-structure-namespace-device-id-associated-message-types",
    "topic-structure-namespace-device-id-non-associated-message-types",
    "topics-nbirth-topic",
    "topics-nbirth-mqtt",
    "topics-nbirth-seq-num",
    "topics-nbirth-timestamp",
    "topics-nbirth-bdseq-included",
    "topics-nbirth-bdseq-matching",
    "topics-nbirth-bdseq-increment",
    "topics-nbirth-rebirth-metric",
    "topics-nbirth-metric-reqs",
    "topics-ndeath-topic",
    "topics-ndeath-payload",
    "topics-ndeath-seq",
    "topics-dbirth-topic",
    "topics-dbirth-mqtt",
    "topics-dbirth-seq",
    "topics-dbirth-timestamp",
    "topics-dbirth-metric-reqs",
    "topics-dbirth-metrics",
    "topics-ddata-mqtt",
    "topics-ddata-seq-num",
    "payloads-timestamp-in-UTC",
    "payloads-sequence-num-always-included",
    "payloads-sequence-num-req-nbirth",
    "payloads-sequence-num-incrementing",
    "payloads-name-requirement",
    "payloads-alias-uniqueness",
    "payloads-alias-birth-requirement",
    "payloads-alias-data-cmd-requirement",
    "payloads-nbirth-timestamp",
    "payloads-nbirth-seq",
    "payloads-nbirth-bdseq",
    "payloads-nbirth-bdseq-repeat",
    "payloads-nbirth-rebirth-req",
    "payloads-nbirth-qos",
    "payloads-nbirth-retain",
    "payloads-dbirth-timestamp",
    "payloads-dbirth-seq",
    "payloads-dbirth-seq-inc",
    "payloads-dbirth-order",
    "payloads-dbirth-qos",
    "payloads-dbirth-retain",
    "payloads-ddata-timestamp",
    "payloads-ddata-seq",
    "payloads-ddata-seq-inc",
    "payloads-ddata-qos",
    "payloads-ddata-retain",
    "payloads-ndeath-seq",
    "payloads-ndeath-will-message-qos",
    "payloads-ndeath-bdseq",
    "message-flow-edge-node-birth-publish-will-message-topic",
    "message-flow-edge-node-birth-publish-will-message-payload",
    "message-flow-edge-node-birth-publish-will-message-payload-bdSeq",
    "message-flow-edge-node-birth-publish-will-message-qos",
    "message-flow-edge-node-birth-publish-nbirth-topic",
    "message-flow-edge-node-birth-publish-nbirth-payload",
    "message-flow-edge-node-birth-publish-nbirth-payload-bdSeq",
    "message-flow-edge-node-birth-publish-nbirth-qos",
    "message-flow-edge-node-birth-publish-nbirth-payload-seq",
    "operational-behavior-data-commands-rebirth-name",
    "operational-behavior-data-commands-rebirth-name-aliases",
    "operational-behavior-data-commands-rebirth-datatype",
    "operational-behavior-data-commands-rebirth-value",
    "operational-behavior-data-commands-rebirth-action-2",
    "operational-behavior-data-commands-rebirth-action-3",
    "operational-behavior-data-publish-dbirth-order",
)

# a device whose source is lost: checked when the run is told to expect one (`device_deaths`)
DEVICE_DEATH_REQUIREMENTS = (
    "topics-ddeath-mqtt",
    "topics-ddeath-seq-num",
    "payloads-ddeath-timestamp",
    "payloads-ddeath-seq",
    "payloads-ddeath-seq-inc",
    "payloads-ddeath-seq-number",
)

_SEQ_REQUIREMENTS = {"DDEATH": ("topics-ddeath-seq-num", "payloads-ddeath-seq-inc",
                                "payloads-ddeath-seq-number"),
                     "DBIRTH": ("topics-dbirth-seq", "payloads-dbirth-seq-inc"),
                     "DDATA": ("topics-ddata-seq-num", "payloads-ddata-seq-inc")}


@dataclass
class Result:
    checked: int = 0
    offences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.checked > 0 and not self.offences


class _Results(dict):
    def __missing__(self, key: str) -> Result:
        assert key in REQUIREMENTS or key in DEVICE_DEATH_REQUIREMENTS, key
        result = self[key] = Result()
        return result

    def expect(self, requirement: str, condition: bool, offence: str) -> None:
        result = self[requirement]
        result.checked += 1
        if not condition:
            result.offences.append(offence)


def _metric(payload: Any, name: str) -> Any:
    return next((m for m in payload.metrics if m.name == name), None)


def check(messages: Iterable[Any], group: str, edge: str, retained: Iterable[Any] = (),
          rebirths: int = 0, device_deaths: bool = False) -> dict[str, Result]:
    """Per requirement ID, what the traffic of edge node `group`/`edge` showed; with
    `device_deaths`, the DDEATH IDs too (the run lost a device's source). After a DDEATH the
    device's aliases are gone: a DDATA of it before its next birth fails
    `topics-dbirth-metric-reqs`."""
    out = _Results()
    now = time.time() * 1000
    seq: int | None = None  # the last seq of the node's session, None before an NBIRTH
    aliases: dict[int, tuple[str, str]] = {}  # alias: (device, name) of the current births
    device_aliases: dict[str, set[int]] = defaultdict(set)
    bd_seq_born: int | None = None  # the bdSeq of the current session's NBIRTH
    births_open = False  # NBIRTH seen, no DATA since: DBIRTHs may follow
    nbirths = 0
    previous_session_bd_seq: int | None = None
    deaths = 0
    for message in messages:
        parts = message.topic.split("/")
        if parts[0] != NAMESPACE or len(parts) < 4 or parts[2] == "STATE":
            continue
        kind = parts[2]
        if parts[1] != group or parts[3] != edge:
            continue
        where = f"{message.topic}"
        out.expect("topic-structure", len(parts) in (4, 5), where)
        out.expect("topic-structure-namespace-a", parts[0] == "spBv1.0", where)
        for requirement, value in (("topic-structure-namespace-valid-group-id", parts[1]),
                                   ("topic-structure-namespace-valid-edge-node-id", parts[3])):
            out.expect(requirement, value and not any(c in value for c in "+#"), where)
        if kind in DEVICE_TYPES:
            out.expect("topic-structure-namespace-device-id-associated-message-types",
                       len(parts) == 5, where)
            out.expect("topic-structure-namespace-valid-device-id",
                       len(parts) == 5 and bool(parts[4])
                       and not any(c in parts[4] for c in "+#"), where)
        elif kind in NODE_TYPES:
            out.expect("topic-structure-namespace-device-id-non-associated-message-types",
                       len(parts) == 4, where)
        if kind in ("NCMD", "DCMD"):
            continue  # commands are the host's (the test's)
        try:
            payload = pb.Payload.FromString(message.payload)
        except Exception as exc:
            out.expect("message-flow-edge-node-birth-publish-nbirth-payload", False,
                       f"{where}: not a Sparkplug B payload: {exc}")
            continue
        has_seq = payload.HasField("seq")
        if kind != "NDEATH":
            out.expect("payloads-sequence-num-always-included", has_seq, where)
            if payload.HasField("timestamp"):
                out.expect("payloads-timestamp-in-UTC",
                           abs(payload.timestamp - now) < 24 * 3600 * 1000,
                           f"{where}: timestamp {payload.timestamp} is not UTC ms of today")
        if kind == "NBIRTH":
            nbirths += 1
            out.expect("topics-nbirth-topic", len(parts) == 4, where)
            out.expect("message-flow-edge-node-birth-publish-nbirth-topic", len(parts) == 4, where)
            out.expect("message-flow-edge-node-birth-publish-nbirth-payload", True, where)
            for requirement in ("topics-nbirth-mqtt", "payloads-nbirth-qos",
                                "message-flow-edge-node-birth-publish-nbirth-qos"):
                out.expect(requirement, message.qos == 0, f"{where}: QoS {message.qos}")
            out.expect("topics-nbirth-seq-num", has_seq and payload.seq == 0,
                       f"{where}: seq {payload.seq}")
            for requirement in ("payloads-nbirth-seq", "payloads-sequence-num-req-nbirth",
                                "message-flow-edge-node-birth-publish-nbirth-payload-seq"):
                out.expect(requirement, has_seq and 0 <= payload.seq <= 255, where)
            for requirement in ("topics-nbirth-timestamp", "payloads-nbirth-timestamp"):
                out.expect(requirement, payload.HasField("timestamp"), where)
            bd = _metric(payload, "bdSeq")
            ok_bd = bd is not None and bd.datatype == INT64 and bd.HasField("long_value")
            for requirement in ("topics-nbirth-bdseq-included", "payloads-nbirth-bdseq",
                                "message-flow-edge-node-birth-publish-nbirth-payload-bdSeq"):
                out.expect(requirement, ok_bd, f"{where}: bdSeq metric {bd}")
            rebirth = _metric(payload, "Node Control/Rebirth")
            for requirement in ("topics-nbirth-rebirth-metric", "payloads-nbirth-rebirth-req",
                                "operational-behavior-data-commands-rebirth-name"):
                out.expect(requirement, rebirth is not None, where)
            if rebirth is not None:
                out.expect("operational-behavior-data-commands-rebirth-name-aliases",
                           not rebirth.HasField("alias"), where)
                out.expect("operational-behavior-data-commands-rebirth-datatype",
                           rebirth.datatype == BOOLEAN, where)
                out.expect("operational-behavior-data-commands-rebirth-value",
                           rebirth.HasField("boolean_value") and not rebirth.boolean_value,
                           where)
                out.expect("topics-nbirth-rebirth-metric",
                           rebirth.datatype == BOOLEAN and not rebirth.boolean_value, where)
            if ok_bd:
                if bd_seq_born is not None and bd.long_value == bd_seq_born:
                    # a rebirth on the same connection: the bdSeq of its will, unchanged
                    out.expect("operational-behavior-data-commands-rebirth-action-3", True,
                               where)
                elif bd_seq_born is not None or previous_session_bd_seq is not None:
                    last = bd_seq_born if bd_seq_born is not None else previous_session_bd_seq
                    out.expect("topics-nbirth-bdseq-increment",
                               bd.long_value == (last + 1) % 256,
                               f"{where}: bdSeq {bd.long_value} after {last}")
                bd_seq_born = bd.long_value
            seq = payload.seq if has_seq else None
            aliases, device_aliases, births_open = {}, defaultdict(set), True
            continue
        if kind == "NDEATH":
            deaths += 1
            out.expect("topics-ndeath-topic", len(parts) == 4, where)
            out.expect("message-flow-edge-node-birth-publish-will-message-topic",
                       len(parts) == 4, where)
            out.expect("message-flow-edge-node-birth-publish-will-message-payload", True, where)
            bd = _metric(payload, "bdSeq")
            out.expect("topics-ndeath-payload",
                       len(payload.metrics) == 1 and bd is not None, where)
            out.expect("message-flow-edge-node-birth-publish-will-message-payload-bdSeq",
                       bd is not None and bd.datatype == INT64, where)
            for requirement in ("topics-ndeath-seq", "payloads-ndeath-seq"):
                out.expect(requirement, not has_seq, where)
            for requirement in ("payloads-ndeath-will-message-qos",
                                "message-flow-edge-node-birth-publish-will-message-qos"):
                out.expect(requirement, message.qos == 1, f"{where}: QoS {message.qos}")
            if bd is not None and bd_seq_born is not None:
                for requirement in ("topics-nbirth-bdseq-matching", "payloads-nbirth-bdseq-repeat",
                                    "payloads-ndeath-bdseq"):
                    out.expect(requirement, bd.long_value == bd_seq_born,
                               f"{where}: NDEATH bdSeq {bd.long_value}, NBIRTH's {bd_seq_born}")
            previous_session_bd_seq = bd_seq_born if bd_seq_born is not None else \
                previous_session_bd_seq
            bd_seq_born, seq = None, None
            continue
        # a message of the session: seq one more than the last, modulo 256
        if seq is None:
            # the session's NBIRTH was not captured (the edge node was born before): resync
            seq = payload.seq if has_seq else None
        else:
            expected = (seq + 1) % 256
            ok = has_seq and payload.seq == expected
            out.expect("payloads-sequence-num-incrementing", ok,
                       f"{where}: seq {payload.seq}, expected {expected}")
            for name in _SEQ_REQUIREMENTS.get(kind, ()):
                out.expect(name, ok, f"{where}: seq {payload.seq}, expected {expected}")
            seq = payload.seq if has_seq else seq
        if kind == "DBIRTH":
            out.expect("topics-dbirth-topic", len(parts) == 5, where)
            for requirement in ("topics-dbirth-mqtt", "payloads-dbirth-qos"):
                out.expect(requirement, message.qos == 0, f"{where}: QoS {message.qos}")
            out.expect("payloads-dbirth-seq", has_seq, where)
            out.expect("payloads-dbirth-order", births_open,
                       f"{where}: a DBIRTH after DATA without a new NBIRTH")
            for requirement in ("topics-dbirth-timestamp", "payloads-dbirth-timestamp"):
                out.expect(requirement, payload.HasField("timestamp"), where)
            device = parts[4]
            stamps = []
            for metric in payload.metrics:
                complete = (metric.name != "" and metric.HasField("datatype")
                            and (metric.is_null or metric.WhichOneof("value") is not None))
                out.expect("topics-dbirth-metrics", complete, f"{where}: {metric.name!r}")
                out.expect("payloads-alias-birth-requirement",
                           bool(metric.name) and metric.HasField("alias"),
                           f"{where}: {metric.name!r}")
                out.expect("payloads-name-requirement", bool(metric.name), where)
                if metric.HasField("alias"):
                    owner = aliases.setdefault(metric.alias, (device, metric.name))
                    out.expect("payloads-alias-uniqueness", owner == (device, metric.name),
                               f"{where}: alias {metric.alias} is {owner} and {metric.name!r}")
                    device_aliases[device].add(metric.alias)
                if not metric.is_historical:
                    stamps.append(metric.timestamp)
            out.expect("operational-behavior-data-publish-dbirth-order", stamps == sorted(stamps),
                       f"{where}: current values not in time order")
            continue
        if kind == "DDEATH":
            births_open = False
            for requirement in ("topics-ddeath-mqtt",):
                out.expect(requirement, message.qos == 0 and not message.retain,
                           f"{where}: QoS {message.qos}, retain {message.retain}")
            out.expect("payloads-ddeath-seq", has_seq, where)
            out.expect("payloads-ddeath-timestamp", payload.HasField("timestamp"), where)
            device_aliases.pop(parts[4], None)
            continue
        if kind == "DDATA":
            births_open = False
            for requirement in ("topics-ddata-mqtt", "payloads-ddata-qos"):
                out.expect(requirement, message.qos == 0, f"{where}: QoS {message.qos}")
            out.expect("payloads-ddata-seq", has_seq, where)
            out.expect("payloads-ddata-timestamp", payload.HasField("timestamp"), where)
            device = parts[4]
            stamps = []
            for metric in payload.metrics:
                out.expect("payloads-alias-data-cmd-requirement",
                           metric.HasField("alias") and not metric.name, where)
                out.expect("payloads-name-requirement", bool(metric.name) or
                           metric.HasField("alias"), where)
                for requirement in ("topics-dbirth-metric-reqs", "topics-nbirth-metric-reqs"):
                    out.expect(requirement, metric.alias in device_aliases.get(device, ()),
                               f"{where}: alias {metric.alias} not in the device's birth")
                if not metric.is_historical:
                    stamps.append(metric.timestamp)
            out.expect("operational-behavior-data-publish-dbirth-order", stamps == sorted(stamps),
                       f"{where}: current values not in time order")
    if rebirths:
        out.expect("operational-behavior-data-commands-rebirth-action-2",
                   out["operational-behavior-data-commands-rebirth-action-3"].checked >= rebirths,
                   f"{rebirths} rebirth requests, "
                   f"{out['operational-behavior-data-commands-rebirth-action-3'].checked} "
                   "births on the same connection")
    retained = [m for m in retained if m.topic.startswith(f"{NAMESPACE}/{group}/")]
    for requirement in ("payloads-nbirth-retain", "payloads-dbirth-retain",
                        "payloads-ddata-retain"):
        out.expect(requirement, not retained and nbirths > 0,
                   f"retained: {[m.topic for m in retained][:3]}")
    covered = REQUIREMENTS + (DEVICE_DEATH_REQUIREMENTS if device_deaths else ())
    return {requirement: out[requirement] for requirement in covered}


def failed(results: dict[str, Result]) -> list[str]:
    return [requirement for requirement, result in results.items() if not result.passed]


def report(results: dict[str, Result]) -> str:
    lines = []
    for requirement, result in results.items():
        verdict = "PASS" if result.passed else "FAIL"
        detail = "; ".join(result.offences[:3]) if result.offences else (
            "" if result.checked else "nothing to check in this run")
        lines.append(f"{verdict} {requirement} ({result.checked} checked){': ' if detail else ''}"
                     f"{detail}")
    return "\n".join(lines)
