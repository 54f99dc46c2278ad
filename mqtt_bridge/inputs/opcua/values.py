"""OPC UA values as the plain data a `Sample` carries (numbers, text, lists, dicts).

>>> from asyncua import ua
>>> json_value(ua.LocalizedText("Executing", "en")), json_value(ua.NodeId(5, 2))
('Executing', 'ns=2;i=5')
>>> plain(ua.Variant(42, ua.VariantType.Int32)), plain(None)
(42, None)
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

from asyncua import ua

from mqtt_bridge.sample import MachinePath, Sample


class Fields(dict):
    """A structure decoded into its fields by name (`structures.py`), already plain data:
    `json_value` passes it through as it is. Shared by every value with the same body, so
    read it, never change it."""

    __slots__ = ()


def json_value(value: object) -> object:
    """An OPC UA value as JSON-serialisable data (LocalizedText -> text, NodeId -> string...)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if type(value) is Fields:  # a structure decoded into its fields: plain already
        return value
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, ua.NodeId | ua.QualifiedName):
        return value.to_string()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, ua.StatusCode):
        return value.name
    if dataclasses.is_dataclass(value):
        return {f.name: json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def plain(variant: ua.Variant | None) -> object:
    """A Variant's value as plain data (the common scalars as they are: the hot path)."""
    value = None if variant is None else variant.Value
    if value is None or type(value) in (int, float, str, bool):
        return value
    return json_value(value)


def status_name(status: ua.StatusCode | None) -> str:
    """"Good" for a good (or omitted) status code, else the code's name."""
    return "Good" if status is None or status.value == 0 else status.name


def sample(machine: MachinePath, group: str, tag: str, node_id: str, dv: ua.DataValue,
           value: object, late: bool = False, replaces: int | None = None) -> Sample:
    """The Sample of one DataValue of a variable (`value` is `plain(dv.Value)`)."""
    return Sample(machine, group, tag, value, dv.SourceTimestamp, dv.ServerTimestamp,
                  status_name(dv.StatusCode), node_id, late, replaces)
