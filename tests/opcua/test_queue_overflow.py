"""A full monitored-item queue says what it discarded (OPC 10000-4 5.13.1.5), with the server's
asyncua adapter installed (`opcua_server/asyncua_adapter/queue_overflow.py`): the Overflow bit
on the oldest value kept, an EventQueueOverflowEventType event at the head of an event queue.
A real asyncua server and client over loopback; asyncua 2.1 alone sends neither."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import Client, ua

from opcua_server.asyncua_adapter import queue_overflow
from tests.opcua.conftest import bare_server

pytestmark = pytest.mark.asyncio(loop_scope="module")
OVERFLOW = 0x0480
GUARD_S = 10.0


class Received:
    def __init__(self) -> None:
        self.values: list[ua.DataValue] = []
        self.events: list[object] = []
        self.changed = asyncio.Event()

    def datachange_notification(self, node, value, data) -> None:
        self.values.append(data.monitored_item.Value)
        self.changed.set()

    def event_notification(self, event) -> None:
        self.events.append(event)
        self.changed.set()

    async def wait_for(self, condition, what: str) -> None:
        async def met() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()
        try:
            await asyncio.wait_for(met(), GUARD_S)
        except TimeoutError:
            raise AssertionError(f"not met within {GUARD_S} s: {what}") from None


async def burst(server, node, received: Received) -> None:
    """10 values of a variable and 10 events, each within one publishing interval, into a
    data-change queue of 2 and an event queue of 3; returns once nothing more comes."""
    generator = await server.get_event_generator()
    received.values.clear()
    received.events.clear()
    for value in range(1, 11):  # no await between them yields to the publish loop
        await server.write_attribute_value(
            node.nodeid, ua.DataValue(ua.Variant(float(value), ua.VariantType.Double)))
    for _ in range(10):
        await generator.trigger(message="burst")
    await received.wait_for(lambda: len(received.values) >= 2 and len(received.events) >= 3,
                            "the burst's tail")
    await asyncio.sleep(0.5)  # nothing more comes: two more publishing intervals


async def test_a_full_queue_sets_the_overflow_bit_and_queues_an_overflow_event() -> None:
    """With the adapter: the Overflow bit on the oldest value kept, one overflow event at
    the head of the event queue. asyncua alone (the same server and subscription, the
    adapter uninstalled): neither, which is what the bridge's own detection is for."""
    server, url = await bare_server()
    node = await server.nodes.objects.add_variable(2, "Counter", 0.0)
    await server.start()
    received = Received()
    try:
        async with Client(url, timeout=10) as client:
            subscription = await client.create_subscription(200, received)
            await subscription.subscribe_data_change(client.get_node(node.nodeid), queuesize=2)
            await subscription.subscribe_events(client.nodes.server, queuesize=3)
            await received.wait_for(lambda: received.values, "the initial value")
            assert queue_overflow.install()
            await burst(server, node, received)
            with_adapter = list(received.values), list(received.events)
            queue_overflow.uninstall()
            await burst(server, node, received)
    finally:
        queue_overflow.uninstall()
        await server.stop()
    values, events = with_adapter
    codes = [dv.StatusCode.value if dv.StatusCode else 0 for dv in values]
    assert [dv.Value.Value for dv in values] == [9.0, 10.0]
    assert codes[0] & OVERFLOW == OVERFLOW and codes[1] & OVERFLOW == 0
    types = [event.EventType for event in events]
    overflow = ua.NodeId(ua.ObjectIds.EventQueueOverflowEventType)
    assert types[0] == overflow and types.count(overflow) == 1 and len(types) == 4
    assert events[0].SourceNode == ua.NodeId(ua.ObjectIds.Server)
    assert events[0].SourceName == queue_overflow.SOURCE_NAME
    assert [event.Message.Text for event in events[1:]] == ["burst"] * 3
    # asyncua alone
    assert [dv.Value.Value for dv in received.values] == [9.0, 10.0]
    assert not any(dv.StatusCode and dv.StatusCode.value & OVERFLOW for dv in received.values)
    assert len(received.events) == 3
