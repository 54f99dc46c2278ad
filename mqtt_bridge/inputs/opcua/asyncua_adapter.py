"""The bridge's one door into asyncua's internals, opened only by a command that opts in.

Two measured speed-ups of the OPC UA input need asyncua's private parts (docs/performance.md):

1. **Fast decoding.** A third of the bridge's time under load went into asyncua decoding
   publish responses, almost all of it in `DataChangeNotification`s: every
   `MonitoredItemNotification`, `DataValue` and `Variant` passes through generic dataclass
   deserializers, and every timestamp is converted from the OPC UA epoch again although a
   response repeats the same few timestamps thousands of times. The decoder here reads the same
   bytes into the same asyncua objects in one loop per notification, with the scalar types a
   machine reports (numbers, booleans, strings) unpacked directly and recent timestamps
   remembered. Event notifications (a dozen fields each: NodeIds, ByteStrings, LocalizedTexts,
   many empty) are read the same way; anything else (arrays, structures, nested Variants...) is
   read by asyncua's own `variant_from_binary`. The tests decode the same bytes both ways and
   compare. Installing it replaces `asyncua.ua.ua_binary.from_binary` process-wide.
2. **A second PublishRequest** in flight (`second_publisher`), as OPC UA Part 4 (5.13.5)
   recommends for clients that take time over a response: asyncua's client sends the next
   request only after it has handled the previous response, so the server cannot publish while
   the bridge decodes and journals a large response, and values wait a whole extra cycle there
   (p99 of the OPC UA leg at 10,000x: ~300-480 ms with one request). asyncua offers no setting
   for this; its private session publish loop (`UaSession._publish_loop`) is started a second
   time.

Both follow asyncua's private layouts, so `supported()` checks the installed version against
`TESTED_VERSIONS` and the layouts against what this code was written for. `install()` says
whether it switched the speed-ups on; on any other asyncua it stands down with one warning and
the bridge runs on asyncua's own decoder with one PublishRequest in flight. Nothing here runs
on import: `factory-sim bridge` installs it through `factory_cli.tuning.speedups` and
uninstalls it when it stops; the bridge used as a library never does.

>>> install() == supported() and installed() == supported()
True
>>> uninstall(); installed()
False
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
from dataclasses import fields
from datetime import datetime
from importlib import metadata
from typing import Any

from asyncua import ua
from asyncua.common.subscription import Subscription
from asyncua.common.utils import Buffer
from asyncua.ua import ua_binary

try:
    from asyncua.client.ua_client import UaSession
except ImportError:  # another asyncua layout: `unsupported_reason` says so
    UaSession = None

log = logging.getLogger(__name__)

# asyncua releases whose internals this module was written for and tested with: [low, high)
TESTED_VERSIONS = ((2, 1), (2, 2))

_ORIGINAL_FROM_BINARY = ua_binary.from_binary
_list_deserializer = getattr(ua_binary, "_create_list_deserializer", None)
_DIAGNOSTIC_INFOS = _list_deserializer(ua.DiagnosticInfo) if _list_deserializer else None
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

# the scalars read here directly, by the VariantType value that encodes them
_SCALARS: dict[int, tuple[struct.Struct, ua.VariantType]] = {
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
    ua.VariantType.NodeId.value: (
        lambda data: ua_binary.nodeid_from_binary(data), ua.VariantType.NodeId,
    ),
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


def _version() -> tuple[int, ...]:
    try:
        text = metadata.version("asyncua")
    except metadata.PackageNotFoundError:
        return ()
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def unsupported_reason() -> str | None:
    """Why the installed asyncua is not one this module knows, or None if it is."""
    low, high = TESTED_VERSIONS
    version = _version()
    if not low <= version < high:
        return (f"asyncua {'.'.join(map(str, version)) or '?'} is outside the tested range "
                f"{'.'.join(map(str, low))} to below {'.'.join(map(str, high))}")
    for cls, names in _EXPECTED_FIELDS.items():
        if tuple(f.name for f in fields(cls)) != names:
            return f"asyncua's {cls.__name__} has another layout"
    decoder = ("from_binary", "nodeid_from_binary", "struct_from_binary", "variant_from_binary",
               "get_string_encoding")
    if _DIAGNOSTIC_INFOS is None or not all(callable(getattr(ua_binary, name, None))
                                            for name in decoder):
        return "asyncua's binary decoder has another layout"
    if not inspect.iscoroutinefunction(getattr(UaSession, "_publish_loop", None)):
        return "asyncua's client session has no publish loop to start a second time"
    return None


def supported() -> bool:
    """Whether the installed asyncua is one whose internals this module knows."""
    return unsupported_reason() is None


def install() -> bool:
    """Switch the speed-ups on if `supported()`; say whether."""
    reason = unsupported_reason()
    if reason is not None:
        log.warning("asyncua speed-ups of the bridge stay off: %s", reason)
        return False
    # extensionobject_from_binary, which decodes a publish response's NotificationData,
    # looks from_binary up in its module at each call
    ua_binary.from_binary = _from_binary
    return True


def uninstall() -> None:
    """Give asyncua its own decoder back; subscriptions started after this keep one
    PublishRequest in flight."""
    ua_binary.from_binary = _ORIGINAL_FROM_BINARY


def installed() -> bool:
    return ua_binary.from_binary is _from_binary


def second_publisher(subscription: Subscription) -> asyncio.Task[None] | None:
    """Keep a second PublishRequest at the server for `subscription`'s session while the
    speed-ups are installed (the task ends with the session; cancel it earlier to stop); None,
    and asyncua's one request in flight, otherwise."""
    if not installed():
        return None
    return asyncio.create_task(subscription.server._publish_loop(), name="second PublishRequest")
