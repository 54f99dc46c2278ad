"""Requests that must be refused with their proper status code (issue 12, items 6, 11, 12):
methods on objects they do not belong to, writes that carry a status, timestamps or an
IndexRange, and HistoryRead of what has no history. A real server with history, asyncua
clients over TCP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from asyncua import Client, ua

from opcua_server.history import HistorySettings
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

S = ua.StatusCodes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def plant():
    server = await start_plant_server(make_plant(), history=HistorySettings())
    async with Client(server.endpoint, timeout=10) as client:
        await Simulation(client, server.ns.plant).step(7 * 3600)
        yield server, client
    await server.stop()


def node(server, identifier: str) -> ua.NodeId:
    return ua.NodeId(identifier, server.ns.plant)


async def call(client, obj: ua.NodeId, method: ua.NodeId, *args: ua.Variant) -> int:
    request = ua.CallMethodRequest(ObjectId=obj, MethodId=method, InputArguments=list(args))
    return (await client.uaclient.call([request]))[0].StatusCode.value


# ---- 6. and 12. methods
async def test_a_method_called_on_another_object_is_invalid_and_does_nothing(plant):
    server, client = plant
    press, cobot = node(server, "press-brake"), node(server, "cobot")
    assert await call(client, press, node(server, "cobot/Stop")) == S.BadMethodInvalid
    assert await call(client, node(server, "Simulation"),
                      node(server, "cobot/Stop")) == S.BadMethodInvalid
    # the cobot was not stopped: Start on a running cell is refused as ever
    assert await call(client, cobot, node(server, "cobot/Start")) == S.BadInvalidState
    assert await call(client, node(server, "Simulation"),
                      node(server, "Simulation/Pause")) == S.Good


async def test_unknown_methods_and_variables_called_as_methods_are_invalid(plant):
    server, client = plant
    press = node(server, "press-brake")
    assert await call(client, press, node(server, "press-brake/NoSuchMethod")) == \
        S.BadMethodInvalid
    assert await call(client, press, node(server, "press-brake/Monitoring/Power")) == \
        S.BadMethodInvalid
    assert await call(client, node(server, "no-such-object"), node(server, "press-brake/Stop")) \
        == S.BadNodeIdUnknown


async def test_condition_refresh_is_accepted_on_the_server_object_and_on_condition_type(plant):
    _, client = plant
    subscription = await client.create_subscription(100, None)
    await subscription.subscribe_events(client.nodes.server)
    try:
        sub_id = ua.Variant(subscription.subscription_id, ua.VariantType.UInt32)
        refresh = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh)
        for obj in (ua.ObjectIds.Server, ua.ObjectIds.ConditionType):
            assert await call(client, ua.NodeId(obj), refresh, sub_id) == S.Good
        assert await call(client, ua.NodeId(ua.ObjectIds.ObjectsFolder), refresh, sub_id) == \
            S.BadMethodInvalid
    finally:
        await subscription.delete()


# ---- 11. writes
async def write(client, nodeid: ua.NodeId, value: ua.DataValue, index_range: str | None = None):
    params = ua.WriteParameters(NodesToWrite=[ua.WriteValue(
        NodeId=nodeid, AttributeId=ua.AttributeIds.Value, Value=value, IndexRange=index_range)])
    return (await client.uaclient.write(params))[0].value


async def test_writes_carrying_a_status_timestamps_or_an_index_range_are_refused(plant):
    server, client = plant
    speed = node(server, "Simulation/Speed")
    before = await client.get_node(speed).read_data_value()
    value = ua.Variant(2.0, ua.VariantType.Double)
    bad = ua.StatusCode(S.BadSensorFailure)
    assert await write(client, speed, ua.DataValue(value, StatusCode=bad)) == \
        S.BadWriteNotSupported
    assert await write(client, speed, ua.DataValue(value, StatusCode=None)) == S.Good
    assert await write(client, speed, ua.DataValue(
        value, SourceTimestamp=datetime(2000, 1, 1, tzinfo=UTC))) == S.BadWriteNotSupported
    assert await write(client, speed, ua.DataValue(value, ServerTimestamp=datetime.now(UTC))) \
        == S.BadWriteNotSupported
    assert await write(client, speed, ua.DataValue(value), index_range="0") == \
        S.BadIndexRangeInvalid
    after = await client.get_node(speed).read_data_value()
    assert after.StatusCode.is_good() and after.Value.Value == 2.0
    await client.get_node(speed).write_value(ua.DataValue(before.Value))


# ---- 12. HistoryRead
async def history_read(client, nodeid: ua.NodeId, details=None, continuation: bytes | None = None,
                       timestamps=ua.TimestampsToReturn.Source):
    if details is None:
        details = ua.ReadRawModifiedDetails(StartTime=datetime(2026, 1, 1, tzinfo=UTC),
                                            EndTime=datetime.now(UTC) + timedelta(days=3650),
                                            NumValuesPerNode=2, ReturnBounds=False,
                                            IsReadModified=False)
    params = ua.HistoryReadParameters(
        HistoryReadDetails=details, TimestampsToReturn=timestamps, ReleaseContinuationPoints=False,
        NodesToRead=[ua.HistoryReadValueId(NodeId=nodeid, ContinuationPoint=continuation)])
    return (await client.uaclient.history_read(params))[0]


async def test_history_read_answers_what_it_cannot_serve_with_its_status(plant):
    server, client = plant
    power = node(server, "press-brake/Monitoring/Power")
    first = await history_read(client, power)
    assert first.StatusCode.is_good() and first.HistoryData.DataValues  # it has history
    statuses = {
        "unknown node": (await history_read(client, node(server, "nope"))).StatusCode,
        "no history": (await history_read(client, node(server, "Simulation/Speed"))).StatusCode,
        "bogus continuation": (await history_read(client, power, continuation=b"12345678"))
        .StatusCode,
    }
    assert {k: v.value for k, v in statuses.items()} == {
        "unknown node": S.BadNodeIdUnknown, "no history": S.BadHistoryOperationUnsupported,
        "bogus continuation": S.BadContinuationPointInvalid}
    with pytest.raises(ua.uaerrors.BadTimestampsToReturnInvalid):  # a service result
        await history_read(client, power, timestamps=ua.TimestampsToReturn.Neither)


async def test_history_read_details_it_cannot_serve_are_each_operations_status(plant):
    server, client = plant
    power, press = node(server, "press-brake/Monitoring/Power"), node(server, "press-brake")
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=3650)
    no_select = ua.ReadEventDetails(StartTime=start, EndTime=end, NumValuesPerNode=10,
                                    Filter=ua.EventFilter())
    statuses = {
        "neither start nor end": await history_read(client, power, ua.ReadRawModifiedDetails(
            StartTime=ua.get_win_epoch(), EndTime=ua.get_win_epoch(), NumValuesPerNode=10,
            IsReadModified=False)),
        "empty select clause": await history_read(client, press, no_select),
        "processed": await history_read(client, power, ua.ReadProcessedDetails(
            StartTime=start, EndTime=end, ProcessingInterval=1000.0,
            AggregateType=[ua.NodeId(ua.ObjectIds.AggregateFunction_Average)])),
        "at time": await history_read(client, power, ua.ReadAtTimeDetails(ReqTimes=[start])),
        "unknown node, processed": await history_read(client, node(server, "nope"),
                                                      ua.ReadProcessedDetails()),
    }
    assert {k: v.StatusCode.value for k, v in statuses.items()} == {
        "neither start nor end": S.BadInvalidTimestampArgument,
        "empty select clause": S.BadEventFilterInvalid,
        "processed": S.BadHistoryOperationUnsupported,
        "at time": S.BadHistoryOperationUnsupported,
        "unknown node, processed": S.BadNodeIdUnknown}
    # a refused operation does not spoil its neighbours in the same request
    params = ua.HistoryReadParameters(
        HistoryReadDetails=no_select, TimestampsToReturn=ua.TimestampsToReturn.Source,
        NodesToRead=[ua.HistoryReadValueId(NodeId=press), ua.HistoryReadValueId(
            NodeId=node(server, "nope"))])
    results = await client.uaclient.history_read(params)
    assert [r.StatusCode.value for r in results] == [S.BadEventFilterInvalid, S.BadNodeIdUnknown]


# ---- 7. Acknowledge, 8. ConditionRefresh
async def call_result(client, obj: ua.NodeId, method: ua.NodeId, *args: ua.Variant):
    request = ua.CallMethodRequest(ObjectId=obj, MethodId=method, InputArguments=list(args))
    result = (await client.uaclient.call([request]))[0]
    return result.StatusCode.value, [code.value for code in result.InputArgumentResults]


async def event_history(client, source: ua.NodeId) -> list:
    return await client.get_node(source).read_event_history(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


async def recorded(client, source: ua.NodeId, done) -> list:
    """The event history once `done(events)`: recording runs on a 100 ms subscription."""
    for _ in range(50):
        events = await event_history(client, source)
        if done(events):
            break
        await asyncio.sleep(0.1)
    return events


def has(events, event_id: bytes) -> bool:
    return any(event.EventId == event_id for event in events)


def _messages(events) -> set[str]:
    return {event.Message.Text for event in events}


async def test_acknowledge_checks_its_arguments_and_keeps_plant_time_and_history(plant):
    server, client = plant
    press = node(server, "press-brake")
    raised_at = server._writes.source_time(server.plant.now)
    condition = await server._alarms.raise_alarm(press, "pb-test-1", "failure", 800,
                                                 "Ram jammed", raised_at)
    await server._alarms.clear("pb-test-1", raised_at)
    cond = server._alarms._by_node[condition]
    stored = len(await recorded(client, press, lambda events: has(events, cond.event_id)))
    event_id = ua.Variant(cond.event_id, ua.VariantType.ByteString)
    comment = ua.Variant(ua.LocalizedText("seen"), ua.VariantType.LocalizedText)
    acknowledge = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
    assert (await call_result(client, condition, acknowledge, event_id, comment, comment))[0] \
        == S.BadTooManyArguments
    assert await call_result(client, condition, acknowledge,
                             ua.Variant("not bytes", ua.VariantType.String), comment) == \
        (S.BadInvalidArgument, [S.BadTypeMismatch, S.Good])
    assert server._alarms._by_node[condition].acked is False
    assert await call_result(client, condition, acknowledge, event_id, comment) == \
        (S.Good, [S.Good, S.Good])
    history = await recorded(client, press, lambda events: has(events, cond.event_id))
    assert len(history) == stored + 1  # the acknowledgement added, nothing wiped
    assert history[-1].Time == server._writes.source_time(server.plant.now)  # plant time
    await Simulation(client, server.ns.plant).step(600)
    later = server._writes.source_time(server.plant.now)
    await server._alarms.raise_alarm(press, "pb-test-2", "failure", 800, "again", later)
    history = await recorded(client, press, lambda events: "again" in _messages(events))
    assert "again" in _messages(history)  # later events are still stored


async def test_condition_refresh_only_for_the_callers_own_subscription(plant):
    server, client = plant
    refresh = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh)
    theirs = await client.create_subscription(100, None)
    await theirs.subscribe_events(client.nodes.server)
    try:
        async with Client(server.endpoint, timeout=10) as other:
            assert await call_result(other, ua.NodeId(ua.ObjectIds.Server), refresh, ua.Variant(
                theirs.subscription_id, ua.VariantType.UInt32)) == \
                (S.BadSubscriptionIdInvalid, [S.Good])
            assert await call_result(other, ua.NodeId(ua.ObjectIds.Server), refresh, ua.Variant(
                str(theirs.subscription_id), ua.VariantType.String)) == \
                (S.BadInvalidArgument, [S.BadTypeMismatch])
        assert (await call_result(client, ua.NodeId(ua.ObjectIds.Server), refresh, ua.Variant(
            theirs.subscription_id, ua.VariantType.UInt32)))[0] == S.Good
    finally:
        await theirs.delete()
