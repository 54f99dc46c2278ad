"""UMH's published rules, written down for the tests from UMH's own documentation and code:
every message the UMH output sends is checked against them (`check`).

Sources (read 2026-12-07):
- `_historian` payload: the JSON Schema on umh.docs.umh.app/docs/datamodel/messages/_historian
  (draft-07, copied as published);
- topic names: umh.docs.umh.app/docs/datamodel/messages ("Topic Names & Rules": every level
  letters, digits, `-` and `_`; `umh/v1` first; enterprise and `_schema` mandatory) and the
  topic regex of UMH's own consumer, united-manufacturing-hub
  golang/cmd/kafka-to-postgresql-v2/worker/topicProcessor.go (for `_historian`, `_analytics`);
- UMH Core's time-series payload: docs.umh.app/usage/unified-namespace/payload-formats
  ("exactly timestamp_ms and value", value a number, boolean or string) and its topic
  convention (docs.umh.app/usage/unified-namespace/topic-convention: location levels do not
  start with `_`, the contract does);
- `_analytics` payloads: UMH's message structs and their checks, united-manufacturing-hub
  golang/cmd/kafka-to-postgresql-v2 (models: WorkOrderCreateMessage, ..., StateAddMessage;
  worker/analytics.go: the required fields) as JSON Schemas.
"""

from __future__ import annotations

import json
import re

import jsonschema

HISTORIAN = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"timestamp_ms": {"type": "integer"}},
    "required": ["timestamp_ms"],
    "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"},
                                       {"type": "boolean"}]},
    "minProperties": 2,
}
CORE_TIME_SERIES = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"timestamp_ms": {"type": "integer"},
                   "value": {"type": ["number", "boolean", "string"]}},
    "required": ["timestamp_ms", "value"],
    "additionalProperties": False,
}
RELATIONAL = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}

_MS = {"type": "integer", "minimum": 1}
_ID = {"type": "string", "minLength": 1}


def _strict(properties: dict, required: list[str]) -> dict:
    return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": properties, "required": required, "additionalProperties": False}


ANALYTICS = {
    "work-order/create": _strict({
        "external_work_order_id": _ID,
        "product": _strict({"external_product_id": _ID, "cycle_time_ms": _MS},
                           ["external_product_id"]),
        "quantity": {"type": "integer", "minimum": 1},
        "status": {"enum": [0, 1, 2]},
        "start_time_unix_ms": _MS, "end_time_unix_ms": _MS,
    }, ["external_work_order_id", "product", "quantity"]),
    "work-order/start": _strict({"external_work_order_id": _ID, "start_time_unix_ms": _MS},
                                ["external_work_order_id", "start_time_unix_ms"]),
    "work-order/stop": _strict({"external_work_order_id": _ID, "end_time_unix_ms": _MS},
                               ["external_work_order_id", "end_time_unix_ms"]),
    "product/add": _strict({
        "external_product_type_id": _ID, "product_batch_id": {"type": "string"},
        "start_time_unix_ms": _MS, "end_time_unix_ms": _MS,
        "quantity": {"type": "integer", "minimum": 1},
        "bad_quantity": {"type": "integer", "minimum": 0},
    }, ["external_product_type_id", "end_time_unix_ms", "quantity"]),
    "shift/add": _strict({"start_time_unix_ms": _MS, "end_time_unix_ms": _MS},
                         ["start_time_unix_ms", "end_time_unix_ms"]),
    "state/add": _strict({"start_time_unix_ms": _MS, "state": {"type": "integer",
                                                                "minimum": 10000}},
                         ["start_time_unix_ms", "state"]),
}

# UMH's consumer's regex (topicProcessor.go), on the Kafka form of the topic ("/" -> ".")
UMH_TOPIC_REGEX = re.compile(
    r"^umh\.v1\.(?P<enterprise>[\w\-_]+)\.((?P<site>[\w\-_]+)\.)?((?P<area>[\w\-_]+)\.)?"
    r"((?P<productionLine>[\w\-_]+)\.)?((?P<workCell>[\w\-_]+)\.)?((?P<originId>[\w\-_]+)\.)?"
    r"_(?P<usecase>(historian)|(analytics))(\.(?P<tag>(?:[\w\-_.]+\w)+))*$")
_LEVEL = re.compile(r"[A-Za-z0-9_-]+")


def check_topic(topic: str) -> tuple[list[str], str, list[str]]:
    """(location levels, contract, levels after it) of a topic that follows UMH's rules."""
    levels = topic.split("/")
    assert levels[:2] == ["umh", "v1"], topic
    contracts = [i for i, name in enumerate(levels) if name.startswith("_")]
    assert contracts, f"{topic}: no _schema level"
    at = contracts[0]
    where, contract, rest = levels[2:at], levels[at], levels[at + 1:]
    assert 1 <= len(where) <= 6, f"{topic}: enterprise .. originID"
    for name in (*where, contract, *rest):
        assert _LEVEL.fullmatch(name), f"{topic}: level {name!r}"
    assert not any(name.startswith("_") for name in rest), topic
    if contract in ("_historian", "_analytics"):
        assert UMH_TOPIC_REGEX.match(topic.replace("/", ".")), f"{topic}: UMH's regex"
    return where, contract, rest


def check(topic: str, payload: bytes, form: str = "classic") -> tuple[str, str, dict]:
    """Validate one message; its (contract, the path after the contract, document)."""
    _where, contract, rest = check_topic(topic)
    document = json.loads(payload)
    if contract == "_historian":
        jsonschema.Draft7Validator(HISTORIAN).validate(document)
        assert form == "classic"
    elif contract == "_raw":
        jsonschema.Draft7Validator(CORE_TIME_SERIES).validate(document)
        assert form == "core"
    elif contract == "_analytics":
        jsonschema.Draft7Validator(ANALYTICS["/".join(rest)]).validate(document)
    else:
        assert contract == "_local", topic
        jsonschema.Draft7Validator(RELATIONAL).validate(document)
    return contract, "/".join(rest), document
