"""The adapter's fast data-change encoder writes exactly the bytes asyncua's own encoder writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua
from asyncua.ua import ua_binary

from opcua_server.asyncua_adapter import encoding

NOW = datetime(2026, 11, 23, 6, 0, 0, 123456, tzinfo=UTC)
VARIANTS = [
    ua.Variant(1.5, ua.VariantType.Double),
    ua.Variant(-7, ua.VariantType.Int32),
    ua.Variant(2**32 - 1, ua.VariantType.UInt32),
    ua.Variant(2**40, ua.VariantType.UInt64),
    ua.Variant(True, ua.VariantType.Boolean),
    ua.Variant("Übergabe", ua.VariantType.String),
    ua.Variant(None, ua.VariantType.String),
    ua.Variant(ua.LocalizedText("Executing", "en"), ua.VariantType.LocalizedText),
    ua.Variant(ua.NodeId(5, 2), ua.VariantType.NodeId),
    ua.Variant(NOW, ua.VariantType.DateTime),
    ua.Variant([1.0, 2.0], ua.VariantType.Double),
    ua.Variant([[1, 2], [3, 4]], ua.VariantType.Int32, Dimensions=[2, 2]),
    ua.Variant(ua.StatusCode(ua.StatusCodes.BadOutOfRange), ua.VariantType.StatusCode),
    ua.Variant(),
]
DATA_VALUES = [
    ua.DataValue(Value=variant, SourceTimestamp=NOW - timedelta(seconds=index),
                 ServerTimestamp=NOW) for index, variant in enumerate(VARIANTS)
] + [
    ua.DataValue(Value=ua.Variant(3.0, ua.VariantType.Double),
                 StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)),
    ua.DataValue(Value=ua.Variant(3.0, ua.VariantType.Double), StatusCode=None),
    ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)),
    ua.DataValue(Value=ua.Variant(3.0, ua.VariantType.Double), SourceTimestamp=NOW,
                 SourcePicoseconds=10, ServerTimestamp=NOW, ServerPicoseconds=20),
    ua.DataValue(Value=ua.Variant(1, ua.VariantType.Byte),
                 SourceTimestamp=datetime(2026, 11, 23, 6, 0)),  # naive: taken as UTC
]


def encoded(obj) -> bytes:
    # how a publish response encodes its NotificationData, through the module's global
    return ua_binary.extensionobject_to_binary(obj)


@pytest.fixture
def installed():
    was = encoding.installed()
    encoding.install()
    yield
    if not was:
        encoding.uninstall()


def notification(values) -> ua.DataChangeNotification:
    return ua.DataChangeNotification(MonitoredItems=[
        ua.MonitoredItemNotification(ClientHandle=handle, Value=value)
        for handle, value in enumerate(values, start=200)])


def asyncua_bytes(obj) -> bytes:
    encoding.uninstall()
    try:
        return encoded(obj)
    finally:
        encoding.install()


def test_the_installed_asyncua_has_the_layout_the_encoder_expects():
    assert encoding.supported()


@pytest.mark.parametrize("value", DATA_VALUES, ids=lambda v: repr(v)[:60])
def test_each_kind_of_value_is_encoded_as_asyncua_encodes_it(installed, value):
    notice = notification([value])
    assert encoding.installed()
    assert encoded(notice) == asyncua_bytes(notice)


def test_a_large_notification_with_shared_timestamps_is_byte_identical(installed):
    values = [DATA_VALUES[index % len(DATA_VALUES)] for index in range(3000)]
    notice = notification(values)
    notice.DiagnosticInfos = [ua.DiagnosticInfo(SymbolicId=3)]
    assert encoded(notice) == asyncua_bytes(notice)


def test_the_encoding_round_trips_through_asyncuas_decoder(installed):
    notice = notification(DATA_VALUES[:10])
    decoded = ua_binary.extensionobject_from_binary(ua.utils.Buffer(encoded(notice)))
    assert [item.ClientHandle for item in decoded.MonitoredItems] == list(range(200, 210))
    assert decoded.MonitoredItems[0].Value.Value.Value == 1.5
    assert decoded.MonitoredItems[5].Value.Value.Value == "Übergabe"
    assert decoded.MonitoredItems[0].Value.SourceTimestamp == NOW


def test_a_value_that_does_not_fit_its_type_gets_asyncuas_error(installed):
    bad = ua.DataValue(Value=ua.Variant(1, ua.VariantType.Int32))
    bad.Value.Value = "not a number"  # as a buggy writer could leave it
    with pytest.raises(ua.UaError, match=r"Cannot pack VariantType\.Int32"):
        encoded(notification([bad]))


def test_other_structures_keep_asyncuas_encoder(installed):
    event = ua.EventNotificationList(Events=[ua.EventFieldList(ClientHandle=1, EventFields=[
        ua.Variant("alarm", ua.VariantType.String)])])
    assert encoded(event) == asyncua_bytes(event)


def test_uninstall_restores_asyncua():
    encoding.install()
    encoding.uninstall()
    assert not encoding.installed()
    assert ua_binary.struct_to_binary is encoding._ORIGINAL_STRUCT_TO_BINARY
