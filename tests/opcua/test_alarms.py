"""Alarms as OPC UA conditions: events, Acknowledge and ConditionRefresh, seen by real clients."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from asyncua import Client, ua

from opcua_server.alarms import AlarmManager
from tests.opcua.conftest import bare_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACKNOWLEDGE = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
REFRESH = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh)
EVENT_TYPES = [
    ua.ObjectIds.AlarmConditionType,
    ua.ObjectIds.RefreshStartEventType,
    ua.ObjectIds.RefreshEndEventType,
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def plant():
    server, url = await bare_server()
    idx = await server.register_namespace("urn:factory-sim:test-alarms")
    objects = server.nodes.objects
    press = await objects.add_object(ua.NodeId("PressBrake1", idx), f"{idx}:PressBrake1")
    cobot = await objects.add_object(idx, "Cobot1")
    alarms = AlarmManager(server)
    await alarms.init()
    await alarms.add_source(cobot)
    await server.start()
    yield server, url, alarms, press, cobot
    await server.stop()


class _Events:
    """Collects the events of one subscription, in order."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()

    def event_notification(self, event):
        self.queue.put_nowait(event)

    async def next(self):
        return await asyncio.wait_for(self.queue.get(), timeout=5)


def _field(event, name):
    return getattr(event, name)


async def _subscribe(client: Client, source) -> tuple[object, _Events]:
    events = _Events()
    sub = await client.create_subscription(20, events)
    await sub.subscribe_events(source, EVENT_TYPES)
    return sub, events


async def test_raise_acknowledge_clear_as_seen_by_a_client(plant):
    _, url, alarms, press, _ = plant
    async with Client(url, timeout=10) as client:
        _, events = await _subscribe(client, client.nodes.server)
        raised_at = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
        condition_id = await alarms.raise_alarm(
            press.nodeid, "pb1-failure-1", "failure", 800, "Hydraulic pressure lost", raised_at
        )

        raised = await events.next()
        assert _field(raised, "EventType") == ua.NodeId(ua.ObjectIds.AlarmConditionType)
        assert _field(raised, "NodeId") == condition_id
        assert _field(raised, "SourceNode") == press.nodeid
        assert _field(raised, "SourceName") == "PressBrake1"
        assert _field(raised, "ConditionName") == "Failure"
        assert _field(raised, "Severity") == 800
        assert _field(raised, "Message").Text == "Hydraulic pressure lost"
        assert _field(raised, "Time") == raised_at
        assert _field(raised, "ActiveState/Id") is True
        assert _field(raised, "AckedState/Id") is False
        assert _field(raised, "EnabledState/Id") is True
        assert _field(raised, "Retain") is True
        assert _field(raised, "BranchId").is_null()

        condition = client.get_node(condition_id)
        with pytest.raises(ua.uaerrors.BadEventIdUnknown):
            await condition.call_method(
                ACKNOWLEDGE, ua.Variant(b"not-an-event", ua.VariantType.ByteString),
                ua.LocalizedText("wrong"),
            )
        await condition.call_method(
            ACKNOWLEDGE, ua.Variant(_field(raised, "EventId"), ua.VariantType.ByteString),
            ua.LocalizedText("maintenance informed"),
        )
        acked = await events.next()
        assert _field(acked, "NodeId") == condition_id
        assert _field(acked, "AckedState/Id") is True
        assert _field(acked, "ActiveState/Id") is True
        assert _field(acked, "Retain") is True  # still active
        assert _field(acked, "Comment").Text == "maintenance informed"
        assert _field(acked, "EventId") != _field(raised, "EventId")
        with pytest.raises(ua.uaerrors.BadConditionBranchAlreadyAcked):
            await condition.call_method(
                ACKNOWLEDGE, ua.Variant(_field(acked, "EventId"), ua.VariantType.ByteString),
                ua.LocalizedText("again"),
            )
        # The instance in the address space mirrors the state.
        acked_id = client.get_node(ua.NodeId(f"{condition_id.Identifier}.AckedState.Id",
                                             condition_id.NamespaceIndex))
        assert await acked_id.read_value() is True

        await alarms.clear("pb1-failure-1")
        cleared = await events.next()
        assert _field(cleared, "ActiveState/Id") is False
        assert _field(cleared, "AckedState/Id") is True
        assert _field(cleared, "Retain") is False
        assert alarms.retained == []


async def test_unacknowledged_alarm_stays_retained_after_clear(plant):
    _, url, alarms, _, cobot = plant
    async with Client(url, timeout=10) as client:
        _, events = await _subscribe(client, cobot.nodeid)  # the machine, not the Server
        condition_id = await alarms.raise_alarm(cobot, "c1-stop-1", "protective_stop", 600, "")
        raised = await events.next()
        assert _field(raised, "Severity") == 600
        await alarms.clear("c1-stop-1")
        cleared = await events.next()
        assert (_field(cleared, "ActiveState/Id"), _field(cleared, "Retain")) == (False, True)
        # This time through the instance's own Acknowledge method.
        instance_method = ua.NodeId(
            f"{condition_id.Identifier}.Acknowledge", condition_id.NamespaceIndex
        )
        await client.get_node(condition_id).call_method(
            instance_method, ua.Variant(_field(cleared, "EventId"), ua.VariantType.ByteString),
            ua.LocalizedText(""),
        )
        acked = await events.next()
        assert (_field(acked, "AckedState/Id"), _field(acked, "Retain")) == (True, False)


async def test_a_late_client_gets_active_alarms_through_condition_refresh(plant):
    _, url, alarms, press, cobot = plant
    wear_id = await alarms.raise_alarm(press, "pb1-wear-1", "tool_wear", 500, "Punch worn")
    warn_id = await alarms.raise_alarm(cobot, "c1-cm-1", "condition", 400, "Gearbox vibration")
    async with Client(url, timeout=10) as client:
        sub, events = await _subscribe(client, client.nodes.server)
        with pytest.raises(ua.uaerrors.BadSubscriptionIdInvalid):
            await client.nodes.server.call_method(REFRESH, ua.Variant(9999, ua.VariantType.UInt32))
        await client.nodes.server.call_method(
            REFRESH, ua.Variant(sub.subscription_id, ua.VariantType.UInt32)
        )
        received = [await events.next() for _ in range(4)]
        types = [_field(e, "EventType") for e in received]
        assert types[0] == ua.NodeId(ua.ObjectIds.RefreshStartEventType)
        assert types[-1] == ua.NodeId(ua.ObjectIds.RefreshEndEventType)
        refreshed = {_field(e, "NodeId"): e for e in received[1:3]}
        assert set(refreshed) == {wear_id, warn_id}
        assert _field(refreshed[wear_id], "Severity") == 500
        assert _field(refreshed[warn_id], "Severity") == 400
        assert all(_field(e, "ActiveState/Id") for e in refreshed.values())

        # The refreshed EventId is the condition's current one: it acknowledges.
        await client.get_node(wear_id).call_method(
            ACKNOWLEDGE,
            ua.Variant(_field(refreshed[wear_id], "EventId"), ua.VariantType.ByteString),
            ua.LocalizedText("tool change planned"),
        )
        assert _field(await events.next(), "AckedState/Id") is True
    await alarms.clear("pb1-wear-1")
    await alarms.clear("c1-cm-1")


async def test_bad_input_never_stops_the_update_loop(plant):
    server, _, alarms, press, _ = plant
    condition_id = await alarms.raise_alarm(press, "pb1-x", "failure", 1200, "too severe")
    severity = server.get_node(
        ua.NodeId(f"{condition_id.Identifier}.Severity", condition_id.NamespaceIndex)
    )
    assert await severity.read_value() == 1000  # clamped to the OPC UA range
    assert await alarms.clear("never-raised") is False
    assert await alarms.clear("pb1-x") is True
