"""Decode data-change and event notifications without asyncua's generic per-field machinery.

A third of the bridge's time under load went into asyncua decoding publish responses, almost
all of it in `DataChangeNotification`s: every `MonitoredItemNotification`, `DataValue` and
`Variant` passes through generic dataclass deserializers, and every timestamp is converted
from the OPC UA epoch again although a response repeats the same few timestamps thousands of
times. This module reads the same bytes into the same asyncua objects in one loop per
notification, with the scalar types a machine reports (numbers, booleans, strings) unpacked
directly and recent timestamps remembered. Event notifications (a dozen fields each: NodeIds,
ByteStrings, LocalizedTexts, many empty) are read the same way; anything else (arrays,
structures, nested Variants...) is read by asyncua's own `variant_from_binary`. The tests
decode the same bytes both ways and compare.

`install()` patches `asyncua.ua.ua_binary.from_binary` for the process it runs in (the
bridge's); `uninstall()` restores asyncua's behaviour.
"""

from __future__ import annotations

import struct
from dataclasses import fields
from datetime import datetime
from typing import Any

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua import ua_binary

_ORIGINAL_FROM_BINARY = ua_binary.from_binary
_DIAGNOSTIC_INFOS = ua_binary._create_list_deserializer(ua.DiagnosticInfo)
_CACHE_LIMIT = 4096
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_INT64 = struct.Struct("<q")
_UINT16 = struct.Struct("<H")

# the layouts this decoder was written for; any other asyncua keeps its own decoder
_EXPECTED_FIELDS = {
    ua.DataChangeNotification: ("MonitoredItems", "DiagnosticInfos"),
    ua.EventNotificationList: ("Events",),
    ua.EventFieldList: ("ClientHandle", "EventFields"),
    ua.MonitoredItemNotification: ("ClientHandle", "Value"),
    ua.DataValue: ("Encoding", "Value", "StatusCode", "SourceTimestamp", "ServerTimestamp",
                   "SourcePicoseconds", "ServerPicoseconds"),
}

# VariantType value -> (struct, VariantType) for the scalars read here directly
_SCALARS = {
    vtype.value: (struct.Struct(fmt), vtype) for vtype, fmt in (
        (ua.VariantType.Boolean, "<?"), (ua.VariantType.SByte, "<b"),
        (ua.VariantType.Byte, "<B"), (ua.VariantType.Int16, "<h"),
        (ua.VariantType.UInt16, "<H"), (ua.VariantType.Int32, "<i"),
        (ua.VariantType.UInt32, "<I"), (ua.VariantType.Int64, "<q"),
        (ua.VariantType.UInt64, "<Q"), (ua.VariantType.Float, "<f"),
        (ua.VariantType.Double, "<d"),
    )
}
_STRING = ua.VariantType.String
_NULL = ua.VariantType.Null
_DATETIME = ua.VariantType.DateTime
_BYTESTRING = ua.VariantType.ByteString
# scalars whose value asyncua reads with these functions (the Variant is built here)
_READERS = {
    ua.VariantType.NodeId.value: (ua_binary.nodeid_from_binary, ua.VariantType.NodeId),
    ua.VariantType.LocalizedText.value: (
        lambda data: ua_binary.struct_from_binary(ua.LocalizedText, data),
        ua.VariantType.LocalizedText,
    ),
    ua.VariantType.QualifiedName.value: (
        lambda data: ua_binary.struct_from_binary(ua.QualifiedName, data),
        ua.VariantType.QualifiedName,
    ),
}

_datetimes: dict[int, datetime] = {}

# asyncua's dataclasses run a __post_init__ that guesses and checks types on every
# construction (about 1 us each, most of what decoding a value costs); the values read here
# have their types already, so the objects are built with their fields set directly, exactly
# as asyncua's constructors would leave them (the tests compare).
_new = object.__new__
_Variant, _DataValue = ua.Variant, ua.DataValue
_StatusCode, _Notification = ua.StatusCode, ua.MonitoredItemNotification
_EventFieldList = ua.EventFieldList


def _scalar(value: Any, vtype: ua.VariantType) -> ua.Variant:
    variant = _new(_Variant)
    variant.Value, variant.VariantType, variant.Dimensions, variant.is_array = \
        value, vtype, None, False
    return variant


def _status(value: int) -> ua.StatusCode:
    status = _new(_StatusCode)
    status.value = value
    return status


def _datetime(ticks: int) -> datetime:
    stamp = _datetimes.get(ticks)
    if stamp is None:
        if len(_datetimes) >= _CACHE_LIMIT:
            _datetimes.clear()
        stamp = _datetimes[ticks] = ua.win_epoch_to_datetime(ticks)
    return stamp


def _variant(data: bytes, pos: int) -> tuple[ua.Variant, int]:
    encoding = data[pos]
    scalar = _SCALARS.get(encoding)  # array and dimension bits make it no scalar
    if scalar is not None:
        unpacker, vtype = scalar
        return _scalar(unpacker.unpack_from(data, pos + 1)[0], vtype), pos + 1 + unpacker.size
    if encoding == _STRING.value:
        length = _INT32.unpack_from(data, pos + 1)[0]
        start = pos + 5
        if length < 0:
            return _scalar(None, _STRING), start
        text = data[start:start + length].decode(ua_binary.get_string_encoding(),
                                                 errors="surrogateescape")
        return _scalar(text, _STRING), start + length
    if encoding == _NULL.value:
        return _scalar(None, _NULL), pos + 1
    if encoding == _DATETIME.value:
        return _scalar(_datetime(_INT64.unpack_from(data, pos + 1)[0]), _DATETIME), pos + 9
    if encoding == _BYTESTRING.value:
        length = _INT32.unpack_from(data, pos + 1)[0]
        start = pos + 5
        if length < 0:
            return _scalar(None, _BYTESTRING), start
        return _scalar(bytes(data[start:start + length]), _BYTESTRING), start + length
    reader = _READERS.get(encoding)
    rest = Buffer(data, pos + (reader is not None))
    if reader is not None:
        read, vtype = reader
        return _scalar(read(rest), vtype), rest.cur_pos
    return ua_binary.variant_from_binary(rest), rest.cur_pos


def _data_value(data: bytes, pos: int) -> tuple[ua.DataValue, int]:
    # asyncua's DataValue layout: Value, StatusCode, SourceTimestamp, ServerTimestamp,
    # SourcePicoseconds, ServerPicoseconds, each present when its mask bit is set
    mask = data[pos]
    pos += 1
    value = status = source = server = source_pico = server_pico = None
    if mask & 0x01:
        value, pos = _variant(data, pos)
    if mask & 0x02:
        status = _status(_UINT32.unpack_from(data, pos)[0])
        pos += 4
    if mask & 0x04:
        source = _datetime(_INT64.unpack_from(data, pos)[0])
        pos += 8
    if mask & 0x08:
        server = _datetime(_INT64.unpack_from(data, pos)[0])
        pos += 8
    if mask & 0x10:
        source_pico = _UINT16.unpack_from(data, pos)[0]
        pos += 2
    if mask & 0x20:
        server_pico = _UINT16.unpack_from(data, pos)[0]
        pos += 2
    result = _new(_DataValue)
    result.Encoding = 0
    result.Value = value if value is not None else ua.Variant()  # as DataValue() makes it
    # an omitted StatusCode means Good (OPC UA Part 4), as asyncua's default gives it
    result.StatusCode = status if status is not None else _status(0)
    result.SourceTimestamp, result.ServerTimestamp = source, server
    result.SourcePicoseconds, result.ServerPicoseconds = source_pico, server_pico
    return result, pos


def decode_data_change(body: Buffer) -> ua.DataChangeNotification:
    data = body.read(len(body))
    count = _INT32.unpack_from(data, 0)[0]
    pos = 4
    items = []
    append = items.append
    for _ in range(count):
        handle = _UINT32.unpack_from(data, pos)[0]
        value, pos = _data_value(data, pos + 4)
        item = _new(_Notification)
        item.ClientHandle, item.Value = handle, value
        append(item)
    return ua.DataChangeNotification(MonitoredItems=items,
                                     DiagnosticInfos=_DIAGNOSTIC_INFOS(Buffer(data, pos)))


def decode_events(body: Buffer) -> ua.EventNotificationList:
    data = body.read(len(body))
    count = _INT32.unpack_from(data, 0)[0]
    pos = 4
    events = []
    append = events.append
    for _ in range(count):
        handle, length = _UINT32.unpack_from(data, pos)[0], _INT32.unpack_from(data, pos + 4)[0]
        pos += 8
        fields = []
        for _ in range(length):
            variant, pos = _variant(data, pos)
            fields.append(variant)
        event = _new(_EventFieldList)
        event.ClientHandle, event.EventFields = handle, fields
        append(event)
    return ua.EventNotificationList(Events=events)


def _from_binary(uatype: Any, data: Any) -> Any:
    if isinstance(data, Buffer):
        if uatype is ua.DataChangeNotification:
            return decode_data_change(data)
        if uatype is ua.EventNotificationList:
            return decode_events(data)
    return _ORIGINAL_FROM_BINARY(uatype, data)


def supported() -> bool:
    """Whether the installed asyncua lays these types out as this decoder expects."""
    return all(tuple(f.name for f in fields(cls)) == names
               for cls, names in _EXPECTED_FIELDS.items())


def install() -> None:
    # extensionobject_from_binary, which decodes a publish response's NotificationData,
    # looks from_binary up in its module at each call
    if supported():
        ua_binary.from_binary = _from_binary


def uninstall() -> None:
    ua_binary.from_binary = _ORIGINAL_FROM_BINARY


def installed() -> bool:
    return ua_binary.from_binary is _from_binary
