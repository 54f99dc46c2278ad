"""Encode data-change notifications without asyncua's generic per-field machinery.

Under load a quarter of the server's time goes into encoding publish responses, almost all
of it in `DataChangeNotification`s: asyncua encodes every `MonitoredItemNotification`, its
`DataValue` and `Variant` through generic dataclass serializers (a closure and a `getattr`
per field, an optional-field scan per DataValue) and converts every timestamp to the OPC UA
epoch again, although one model event stamps many values with the same two datetimes.

This module encodes exactly the same bytes with the same asyncua primitives, in one loop per
notification, remembering the encoding of recent timestamps and status codes. Anything
unusual (arrays, picoseconds, structured values) is passed to asyncua's own serializers, so
the output is byte-identical to asyncua 2.1's for every input; the tests compare the two.

`install()` patches `asyncua.ua.ua_binary` for the whole process, so only a command opts in
(through `opcua_server.asyncua_adapter.SPEEDUPS`); `uninstall()` restores asyncua's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from asyncua import ua
from asyncua.ua import ua_binary
from asyncua.ua.ua_binary import Primitives

_ORIGINAL_STRUCT_TO_BINARY = ua_binary.struct_to_binary
_DATA_VALUE = ua_binary.create_dataclass_serializer(ua.DataValue)
_DIAGNOSTIC_INFOS = ua_binary.create_list_serializer(ua.DiagnosticInfo)
_STATUS = ua_binary.create_type_serializer(ua.StatusCode)
_INT32 = Primitives.Int32.pack
_UINT32 = Primitives.UInt32.pack
_DATETIME = Primitives.DateTime.pack
_CACHE_LIMIT = 4096

# the layouts this encoder was written for; any other asyncua keeps its own encoder
_EXPECTED_FIELDS = {
    ua.DataChangeNotification: ("MonitoredItems", "DiagnosticInfos"),
    ua.MonitoredItemNotification: ("ClientHandle", "Value"),
    ua.DataValue: ("Encoding", "Value", "StatusCode", "SourceTimestamp", "ServerTimestamp",
                   "SourcePicoseconds", "ServerPicoseconds"),
}

_timestamps: dict[Any, bytes] = {}
_statuses: dict[int, bytes] = {}
_scalars: dict[ua.VariantType, tuple[bytes, Callable[[Any], bytes]]] = {}


def _timestamp(stamp) -> bytes:
    encoded = _timestamps.get(stamp)
    if encoded is None:
        if len(_timestamps) >= _CACHE_LIMIT:
            _timestamps.clear()
        encoded = _timestamps[stamp] = _DATETIME(stamp)
    return encoded


def _status(status: ua.StatusCode) -> bytes:
    encoded = _statuses.get(status.value)
    if encoded is None:
        if len(_statuses) >= _CACHE_LIMIT:
            _statuses.clear()
        encoded = _statuses[status.value] = _STATUS(status)
    return encoded


def _variant(variant: ua.Variant) -> bytes:
    value = variant.Value
    if variant.is_array or isinstance(value, list | tuple):
        return ua_binary.variant_to_binary(variant)
    vtype = variant.VariantType
    scalar = _scalars.get(vtype)
    if scalar is None:  # the same encoding byte and packer variant_to_binary uses
        scalar = _scalars[vtype] = (Primitives.Byte.pack(vtype.value & 0b0011_1111),
                                    ua_binary.create_uatype_serializer(vtype))
    prefix, pack = scalar
    try:
        return prefix + pack(value)
    except Exception:  # let asyncua raise its own, descriptive error
        return ua_binary.variant_to_binary(variant)


def encode_data_value(value: ua.DataValue) -> bytes:
    if value.SourcePicoseconds is not None or value.ServerPicoseconds is not None:
        return _DATA_VALUE(value)
    mask, parts = 0, [b""]
    if value.Value is not None:
        mask |= 0x01
        parts.append(_variant(value.Value))
    if value.StatusCode is not None:
        mask |= 0x02
        parts.append(_status(value.StatusCode))
    if value.SourceTimestamp is not None:
        mask |= 0x04
        parts.append(_timestamp(value.SourceTimestamp))
    if value.ServerTimestamp is not None:
        mask |= 0x08
        parts.append(_timestamp(value.ServerTimestamp))
    parts[0] = bytes((mask,))
    return b"".join(parts)


def encode_data_change(notification: ua.DataChangeNotification) -> bytes:
    items = notification.MonitoredItems
    if items is None:
        parts = [_INT32(-1)]
    else:
        parts = [_INT32(len(items))]
        for item in items:
            parts.append(_UINT32(item.ClientHandle))
            parts.append(encode_data_value(item.Value))
    parts.append(_DIAGNOSTIC_INFOS(notification.DiagnosticInfos))
    return b"".join(parts)


def _struct_to_binary(obj: Any) -> bytes:
    if obj.__class__ is ua.DataChangeNotification:
        return encode_data_change(obj)
    return _ORIGINAL_STRUCT_TO_BINARY(obj)


def supported() -> bool:
    """Whether the installed asyncua lays these types out as this encoder expects."""
    return all(tuple(f.name for f in fields(cls)) == names
               for cls, names in _EXPECTED_FIELDS.items())


def install() -> bool:
    """Patch asyncua if it is laid out as this encoder expects; say whether it did."""
    if not supported():
        return False
    # extensionobject_to_binary, which encodes a publish response's NotificationData,
    # looks struct_to_binary up in its module at each call
    ua_binary.struct_to_binary = _struct_to_binary
    return True


def uninstall() -> None:
    ua_binary.struct_to_binary = _ORIGINAL_STRUCT_TO_BINARY


def installed() -> bool:
    return ua_binary.struct_to_binary is _struct_to_binary
