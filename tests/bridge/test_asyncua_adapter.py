"""The bridge's asyncua adapter: its fast decoder reads exactly what asyncua's own decoder reads,
and it is switched on and off only by install() and uninstall()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua import ua_binary

from mqtt_bridge.inputs.opcua import asyncua_adapter

NOW = datetime(2026, 11, 23, 6, 0, 0, 123456, tzinfo=UTC)
VARIANTS = [
    ua.Variant(1.5, ua.VariantType.Double),
    ua.Variant(2.5, ua.VariantType.Float),
    ua.Variant(-7, ua.VariantType.Int32),
    ua.Variant(2**32 - 1, ua.VariantType.UInt32),
    ua.Variant(-(2**40), ua.VariantType.Int64),
    ua.Variant(2**63, ua.VariantType.UInt64),
    ua.Variant(-3, ua.VariantType.SByte),
    ua.Variant(200, ua.VariantType.Byte),
    ua.Variant(-300, ua.VariantType.Int16),
    ua.Variant(60000, ua.VariantType.UInt16),
    ua.Variant(True, ua.VariantType.Boolean),
    ua.Variant("Übergabe 😀", ua.VariantType.String),
    ua.Variant("", ua.VariantType.String),
    ua.Variant(None, ua.VariantType.String),
    ua.Variant(ua.LocalizedText("Executing", "en"), ua.VariantType.LocalizedText),
    ua.Variant(ua.NodeId(5, 2), ua.VariantType.NodeId),
    ua.Variant(NOW, ua.VariantType.DateTime),
    ua.Variant([1.0, 2.0], ua.VariantType.Double),
    ua.Variant([[1, 2], [3, 4]], ua.VariantType.Int32, Dimensions=[2, 2]),
    ua.Variant(),
]
DATA_VALUES = [
    ua.DataValue(Value=variant, SourceTimestamp=NOW - timedelta(seconds=index),
                 ServerTimestamp=NOW) for index, variant in enumerate(VARIANTS)
] + [
    ua.DataValue(Value=ua.Variant(3.0, ua.VariantType.Double),
                 StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)),
    ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)),
    ua.DataValue(Value=ua.Variant(3.0, ua.VariantType.Double), StatusCode=None),  # no status
    ua.DataValue(StatusCode=None),  # nothing at all
    ua.DataValue(Value=ua.Variant(3.0, ua.VariantType.Double), SourceTimestamp=NOW,
                 SourcePicoseconds=10, ServerTimestamp=NOW, ServerPicoseconds=20),
    ua.DataValue(Value=ua.Variant(1, ua.VariantType.Byte), SourceTimestamp=datetime(1600, 1, 1)),
]


def wire(values, diagnostics=None) -> bytes:
    """A DataChangeNotification as a publish response carries it (an ExtensionObject)."""
    notification = ua.DataChangeNotification(MonitoredItems=[
        ua.MonitoredItemNotification(ClientHandle=handle, Value=value)
        for handle, value in enumerate(values, start=200)], DiagnosticInfos=diagnostics or [])
    return ua_binary.extensionobject_to_binary(notification)


def both_ways(data: bytes):
    asyncua_adapter.uninstall()
    expected = ua_binary.extensionobject_from_binary(Buffer(data))
    asyncua_adapter.install()
    try:
        got = ua_binary.extensionobject_from_binary(Buffer(data))
    finally:
        asyncua_adapter.uninstall()
    return expected, got


def test_the_installed_asyncua_has_the_layout_the_decoder_expects():
    assert asyncua_adapter.supported()


@pytest.mark.parametrize("value", DATA_VALUES, ids=lambda v: repr(v)[:60])
def test_each_kind_of_value_decodes_as_asyncua_decodes_it(value):
    expected, got = both_ways(wire([value, value]))
    assert got == expected
    assert [type(item.Value.Value) for item in got.MonitoredItems] == \
        [type(item.Value.Value) for item in expected.MonitoredItems]


def test_a_large_notification_with_repeated_timestamps_and_diagnostics():
    values = [DATA_VALUES[index % len(DATA_VALUES)] for index in range(3000)]
    expected, got = both_ways(wire(values, [ua.DiagnosticInfo(SymbolicId=3)]))
    assert got == expected and len(got.MonitoredItems) == 3000
    assert got.DiagnosticInfos[0].SymbolicId == 3


EVENT_FIELDS = [
    *VARIANTS,
    ua.Variant(b"\x01\x02event-id", ua.VariantType.ByteString),
    ua.Variant(b"", ua.VariantType.ByteString),
    ua.Variant(None, ua.VariantType.ByteString),
    ua.Variant(datetime(1601, 1, 1, tzinfo=UTC), ua.VariantType.DateTime),
    ua.Variant(ua.NodeId("press1.Alarm", 3), ua.VariantType.NodeId),
    ua.Variant(ua.NodeId(b"\x00\x01", 4, ua.NodeIdType.ByteString), ua.VariantType.NodeId),
    ua.Variant(ua.ExpandedNodeId(7, 2, NamespaceUri="urn:x"), ua.VariantType.ExpandedNodeId),
    ua.Variant(ua.LocalizedText(None, "de"), ua.VariantType.LocalizedText),
    ua.Variant(ua.LocalizedText(), ua.VariantType.LocalizedText),
    ua.Variant(ua.QualifiedName("Severity", 0), ua.VariantType.QualifiedName),
    ua.Variant(ua.StatusCode(ua.StatusCodes.BadInternalError), ua.VariantType.StatusCode),
    ua.Variant(ua.Variant(3, ua.VariantType.UInt16), ua.VariantType.Variant),
    ua.Variant([ua.NodeId(1, 0), ua.NodeId(2, 0)], ua.VariantType.NodeId),
]


def test_event_notifications_decode_as_asyncua_decodes_them():
    events = ua.EventNotificationList(Events=[
        ua.EventFieldList(ClientHandle=1_000_000 + index, EventFields=fields)
        for index, fields in enumerate([EVENT_FIELDS, [], EVENT_FIELDS[::-1], [ua.Variant()]])
    ])
    expected, got = both_ways(ua_binary.extensionobject_to_binary(events))
    assert got == expected and len(got.Events) == 4
    assert [type(variant.Value) for variant in got.Events[0].EventFields] == \
        [type(variant.Value) for variant in expected.Events[0].EventFields]
    assert [variant.is_array for variant in got.Events[2].EventFields] == \
        [variant.is_array for variant in expected.Events[2].EventFields]


def test_other_notifications_keep_asyncua_decoding_and_uninstall_restores_it():
    asyncua_adapter.install()
    try:
        assert asyncua_adapter.installed()
        change = ua.StatusChangeNotification(Status=ua.StatusCode(ua.StatusCodes.BadTimeout))
        decoded = ua_binary.extensionobject_from_binary(
            Buffer(ua_binary.extensionobject_to_binary(change)))
        assert decoded == change
    finally:
        asyncua_adapter.uninstall()
    assert not asyncua_adapter.installed()
    assert ua_binary.from_binary is asyncua_adapter._ORIGINAL_FROM_BINARY
