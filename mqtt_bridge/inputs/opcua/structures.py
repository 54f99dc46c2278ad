"""Structures a server defines, decoded into their fields: a consumer reads a count by name.

asyncua decodes the structures of OPC UA's own namespace; a structure a server defines itself
(PackML's `PackMLCountDataType`, a vendor's record) arrives as an `ExtensionObject`: a type id
and the body's bytes. `Structures.load(client)` reads, once per session, the DataTypeDefinition
of every structure type the server defines outside namespace 0 (OPC UA 1.04, Part 3 5.8.2:
the fields, in order, with their data types; what the server publishes so that any client can
decode them). `decode` then turns such a value into a dict of its field names: numbers, text,
nested structures and arrays as the MQTT payload and the time series carry them. A value it
cannot decode (a type the server did not describe, a body that does not match) becomes
`{"decodeError": why, "typeId": ..., "body": hex}`, counted, never bytes without a word.

>>> from asyncua.ua.ua_binary import Primitives
>>> fields = [ua.StructureField(Name=n, DataType=ua.NodeId(t), ValueRank=-1)
...           for n, t in (("ID", ua.ObjectIds.Int32), ("Name", ua.ObjectIds.String),
...                        ("Count", ua.ObjectIds.Int32))]
>>> count = ua.NodeId(5001, 5)
>>> structures = Structures({count: ("CountType", ua.StructureDefinition(Fields=fields))})
>>> body = Primitives.Int32.pack(1) + Primitives.String.pack("parts") + Primitives.Int32.pack(7)
>>> structures.decode(ua.ExtensionObject(TypeId=count, Body=body))
{'ID': 1, 'Name': 'parts', 'Count': 7}
>>> structures.decode(ua.ExtensionObject(TypeId=count, Body=body[:6]))["decodeError"]
'CountType: the body ends inside field Name'
>>> structures.errors
1

The same body decodes to the same fields, from a bounded cache: a server republishes a
structure that did not change (a job order list, a count between parts) far more often than
it makes a new one. The fields are shared between the values that carry them: read them,
never change them (`Fields`).

>>> structures.decode(ua.ExtensionObject(TypeId=count, Body=body)) is structures.decode(
...     ua.ExtensionObject(TypeId=count, Body=body))
True

A field of a subtype of String (ISA-95's quantities are DecimalStrings) is a string:

>>> lot = ua.NodeId(5002, 5)
>>> quantity = [ua.StructureField(Name="Quantity", DataType=ua.NodeId(ua.ObjectIds.DecimalString),
...                               ValueRank=-1)]
>>> Structures({lot: ("LotType", ua.StructureDefinition(Fields=quantity))}).decode(
...     ua.ExtensionObject(TypeId=lot, Body=Primitives.String.pack("5")))
{'Quantity': '5'}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asyncua import Client, ua
from asyncua.common.utils import Buffer, NotEnoughData
from asyncua.ua import ua_binary

from mqtt_bridge.inputs.opcua.values import Fields, json_value

log = logging.getLogger(__name__)

MAX_TYPES = 10_000  # structure types read from one server, at most
MAX_DEPTH = 16  # nesting of structures inside structures, at most
CACHE_SIZE = 4096  # decoded bodies kept (the oldest goes first)
# simple data types of namespace 0 that are another built-in type on the wire
ALIASES = {288: 7, 289: 7, 290: 11, 291: 12, 292: 12, 293: 13, 294: 13, 295: 12, 17588: 7}
ENUMERATION = ua.NodeId(ua.ObjectIds.Enumeration)

Definition = tuple[str, ua.StructureDefinition]  # (type name, its definition)

_INT32 = ua_binary.Primitives.Int32.unpack
_UINT32 = ua_binary.Primitives.UInt32.unpack
_STRING = ua_binary.Primitives.String.unpack
_BYTESTRING = ua_binary.Primitives.ByteString.unpack
# built-in types whose value is plain data as asyncua unpacks it (no json_value needed)
_PLAIN_PRIMITIVES = frozenset({
    ua.VariantType.Boolean, ua.VariantType.SByte, ua.VariantType.Byte, ua.VariantType.Int16,
    ua.VariantType.UInt16, ua.VariantType.Int32, ua.VariantType.UInt32, ua.VariantType.Int64,
    ua.VariantType.UInt64, ua.VariantType.Float, ua.VariantType.Double,
    ua.VariantType.String})


class DecodeError(ValueError):
    pass


class Structures:
    """The server's own structure types, by binary encoding id; see the module docstring."""

    def __init__(self, by_encoding: dict[ua.NodeId, Definition] | None = None,
                 by_type: dict[ua.NodeId, Definition] | None = None,
                 enumerations: set[ua.NodeId] | None = None) -> None:
        self.by_encoding = by_encoding or {}
        # data type -> definition, for fields of a structure type; by encoding id in doctests
        self.by_type = by_type if by_type is not None else dict(self.by_encoding)
        self.enumerations = enumerations or set()
        self.errors = 0  # values that could not be decoded
        self._decoded: dict[tuple[ua.NodeId, bytes], Fields] = {}
        self._plans: dict[int, tuple[ua.StructureDefinition, list]] = {}

    @classmethod
    async def load(cls, client: Client) -> Structures:
        """The structure types (and enumerations) `client`'s server defines outside
        namespace 0, with their definitions; types it does not describe are left out (their
        values become a `decodeError`)."""
        types: list[ua.NodeId] = []
        enumerations: set[ua.NodeId] = set()
        # A server's own types are subtypes of Structure (Enumeration) or of its own types:
        # namespace 0's hundreds of subtypes are not browsed below their first level.
        for root, found in ((ua.ObjectIds.Structure, types.append),
                            (ua.ObjectIds.Enumeration, enumerations.add)):
            stack, seen = [client.get_node(root)], 0
            while stack and seen < MAX_TYPES:
                for child in await stack.pop().get_children(refs=ua.ObjectIds.HasSubtype):
                    if child.nodeid.NamespaceIndex != 0:
                        seen += 1
                        found(child.nodeid)
                        stack.append(child)
        by_encoding: dict[ua.NodeId, Definition] = {}
        by_type: dict[ua.NodeId, Definition] = {}
        for type_id in types:
            node = client.get_node(type_id)
            try:
                definition = (await node.read_attribute(
                    ua.AttributeIds.DataTypeDefinition)).Value.Value
                name = (await node.read_browse_name()).Name
            except ua.UaError:
                continue
            if not isinstance(definition, ua.StructureDefinition):
                continue
            by_type[type_id] = (name, definition)
            encoding = definition.DefaultEncodingId
            if encoding is None or encoding.is_null():
                encoding = await _binary_encoding(node)
            if encoding is not None:
                by_encoding[encoding] = (name, definition)
        log.info("decoding %d structure types the server defines", len(by_encoding))
        return cls(by_encoding, by_type, enumerations)

    def decode(self, value: ua.ExtensionObject) -> dict[str, Any]:
        """The fields of a structure value by name, or a `decodeError` (counted)."""
        body = value.Body or b""
        key = (value.TypeId, bytes(body))
        fields = self._decoded.get(key)
        if fields is None:
            fields = self._decode(value.TypeId, body)
            if "decodeError" in fields:
                return fields  # (counted each time it arrives)
            if len(self._decoded) >= CACHE_SIZE:
                del self._decoded[next(iter(self._decoded))]
            self._decoded[key] = fields
        return fields

    def _decode(self, type_id: ua.NodeId, body: bytes) -> dict[str, Any]:
        known = self.by_encoding.get(type_id)
        try:
            if known is None:
                raise DecodeError(f"type {type_id.to_string()} is not described by the "
                                  "server")
            data = Buffer(body)
            out = self._structure(known, data, 0)
            if len(data):
                raise DecodeError(f"{known[0]}: {len(data)} bytes after the last field")
            return out
        except DecodeError as exc:
            self.errors += 1
            return {"decodeError": str(exc), "typeId": type_id.to_string(),
                    "body": bytes(body).hex()}

    def _structure(self, known: Definition, data: Buffer, depth: int) -> Fields:
        name, definition = known
        if depth > MAX_DEPTH:
            raise DecodeError(f"{name}: nested deeper than {MAX_DEPTH}")
        fields = self._plans.get(id(definition))
        if fields is None:  # each field's reader, looked up once per type
            fields = self._plans[id(definition)] = (definition, [
                (field.Name, field.ValueRank is not None and field.ValueRank >= 1,
                 bool(field.IsOptional), self._reader(field.DataType))
                for field in definition.Fields or []])
        fields = fields[1]
        kind = definition.StructureType
        present = None
        try:
            if kind == ua.StructureType.Union:
                switch = _UINT32(data)
                present = [index == switch - 1 for index in range(len(fields))]
            elif kind == ua.StructureType.StructureWithOptionalFields:
                mask, bit, present = _UINT32(data), 0, [True] * len(fields)
                for index, (_, _, optional, _) in enumerate(fields):
                    if optional:
                        present[index] = bool(mask & (1 << bit))
                        bit += 1
        except NotEnoughData:
            raise DecodeError(f"{name}: the body ends before its fields") from None
        out = Fields()
        for index, (field_name, is_array, _, read) in enumerate(fields):
            if present is not None and not present[index]:
                continue
            try:
                if is_array:
                    length = _INT32(data)
                    if length > len(data):
                        raise DecodeError(f"{name}: field {field_name} claims {length} elements")
                    out[field_name] = (None if length < 0 else
                                       [read(data, depth) for _ in range(length)])
                else:
                    out[field_name] = read(data, depth)
            except NotEnoughData:
                raise DecodeError(f"{name}: the body ends inside field {field_name}") from None
        return out

    def _reader(self, data_type: ua.NodeId) -> Callable[[Buffer, int], object]:
        """How to read one value of a field of `data_type`: (data, depth) -> plain value."""
        known = self.by_type.get(data_type)
        if known is not None:
            return lambda data, depth: self._structure(known, data, depth + 1)
        if data_type in self.enumerations:
            return lambda data, depth: _INT32(data)
        if data_type.NamespaceIndex == 0 and isinstance(data_type.Identifier, int):
            builtin = ALIASES.get(data_type.Identifier, data_type.Identifier)
            if 1 <= builtin <= 25:
                vtype = ua.VariantType(builtin)
                primitive = getattr(ua_binary.Primitives, vtype.name, None)
                if vtype in _PLAIN_PRIMITIVES and primitive is not None:
                    unpack = primitive.unpack
                    return lambda data, depth: unpack(data)
                return lambda data, depth: json_value(ua_binary.unpack_uatype(vtype, data))
            cls = getattr(ua, ua.ObjectIdNames.get(data_type.Identifier, ""), None)
            if isinstance(cls, type) and hasattr(cls, "__dataclass_fields__"):
                return lambda data, depth: json_value(ua_binary.struct_from_binary(cls, data))
            # a subtype of String or ByteString (DecimalString, NormalizedString, Image...)
            if isinstance(cls, type) and issubclass(cls, str):
                return lambda data, depth: _STRING(data)
            if isinstance(cls, type) and issubclass(cls, bytes):
                return lambda data, depth: json_value(_BYTESTRING(data))
            if isinstance(cls, type):  # an enumeration of namespace 0
                return lambda data, depth: _INT32(data)

        def undescribed(data: Buffer, depth: int) -> object:
            raise DecodeError(f"field type {data_type.to_string()} is not described by the "
                              "server")
        return undescribed


async def _binary_encoding(node: Any) -> ua.NodeId | None:
    """The type's "Default Binary" encoding node (HasEncoding), for a definition without
    DefaultEncodingId."""
    for child in await node.get_referenced_nodes(refs=ua.ObjectIds.HasEncoding):
        if (await child.read_browse_name()).Name == "Default Binary":
            return child.nodeid
    return None


def decode_values(structures: Structures, values: list[ua.DataValue]) -> None:
    """Replace, in place, the undecoded structures among `values` by their fields (dicts):
    what the rest of the source then treats as any other value."""
    for dv in values:
        variant = dv.Value
        if variant is None or variant.VariantType is not ua.VariantType.ExtensionObject:
            continue
        value = variant.Value
        if isinstance(value, ua.ExtensionObject):
            variant.Value = structures.decode(value)
        elif isinstance(value, list) and any(isinstance(v, ua.ExtensionObject) for v in value):
            variant.Value = [structures.decode(v) if isinstance(v, ua.ExtensionObject) else v
                             for v in value]
