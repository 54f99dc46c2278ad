"""What an independent OPC UA stack expects of every node (issue 12, items 9 and 10):
mandatory attributes, references with their inverses, and events through the Server object."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import ua

from opcua_server import nodeids
from opcua_server.types.packml import PACKML_COUNT_DATA_TYPE

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWN_NAMESPACE_FROM = 2  # 0: OPC UA, 1: the server's own; the project's from here on
ONE_WAY = {ua.NodeId(ua.ObjectIds.HasTypeDefinition), ua.NodeId(ua.ObjectIds.HasModellingRule)}


def project_nodes(server, node_class: ua.NodeClass) -> list[ua.NodeId]:
    aspace = server.server.iserver.aspace
    return [nodeid for nodeid in list(aspace.keys())
            if nodeid.NamespaceIndex >= OWN_NAMESPACE_FROM
            and aspace.read_attribute_value(nodeid, ua.AttributeIds.NodeClass).Value.Value
            == node_class]


async def read_attribute(client, nodes: list[ua.NodeId], attribute) -> list[ua.DataValue]:
    values: list[ua.DataValue] = []
    for start in range(0, len(nodes), 5000):
        values += await client.uaclient.read(ua.ReadParameters(NodesToRead=[
            ua.ReadValueId(NodeId=nodeid, AttributeId=attribute)
            for nodeid in nodes[start:start + 5000]]))
    return values


@pytest.mark.parametrize("node_class, attribute", [
    (ua.NodeClass.Variable, ua.AttributeIds.Historizing),
    (ua.NodeClass.Object, ua.AttributeIds.EventNotifier),
    (ua.NodeClass.DataType, ua.AttributeIds.IsAbstract),
    (ua.NodeClass.ObjectType, ua.AttributeIds.IsAbstract),
])
async def test_every_node_has_its_mandatory_attributes(opcua_plant_server, opcua_client,
                                                       node_class, attribute):
    nodes = project_nodes(opcua_plant_server, node_class)
    assert nodes
    values = await read_attribute(opcua_client, nodes, attribute)
    missing = [nodeid.to_string() for nodeid, value in zip(nodes, values, strict=True)
               if not value.StatusCode.is_good() or value.Value.Value is None]
    assert missing == []


async def test_the_packml_count_type_is_not_abstract(opcua_plant_server, opcua_client):
    count_type = ua.NodeId(PACKML_COUNT_DATA_TYPE, opcua_plant_server.ns.packml)
    value = (await read_attribute(opcua_client, [count_type], ua.AttributeIds.IsAbstract))[0]
    assert value.StatusCode.is_good() and value.Value.Value is False


async def test_every_reference_has_its_inverse(opcua_plant_server):
    """Type definitions and modelling rules aside: the standard nodesets keep those one way."""
    aspace = opcua_plant_server.server.iserver.aspace
    lacking = []
    for nodeid in list(aspace.keys()):
        if nodeid.NamespaceIndex < OWN_NAMESPACE_FROM:
            continue
        for ref in aspace[nodeid].references:
            if ref.ReferenceTypeId in ONE_WAY:
                continue
            target = aspace.get(ref.NodeId)
            if target is None:
                lacking.append(f"{nodeid.to_string()} -> missing {ref.NodeId.to_string()}")
            elif not any(back.NodeId == nodeid and back.IsForward != ref.IsForward
                         and back.ReferenceTypeId == ref.ReferenceTypeId
                         for back in target.references):
                lacking.append(f"{nodeid.to_string()} -{ref.ReferenceTypeId.to_string()}-> "
                               f"{ref.NodeId.to_string()}")
    assert lacking == []


class _Events:
    def __init__(self) -> None:
        self.received: list = []

    def event_notification(self, event) -> None:
        self.received.append(event)


async def test_machine_state_events_reach_a_client_subscribed_to_the_server(
        opcua_plant_server, opcua_client, simulation):
    machines_folder = ua.NodeId(nodeids.MACHINES, opcua_plant_server.ns.machinery)
    received = {}
    subscriptions = []
    for name, notifier in (("Server", ua.NodeId(ua.ObjectIds.Server)),
                           ("Machines", machines_folder)):
        handler = _Events()
        subscription = await opcua_client.create_subscription(50, handler)
        await subscription.subscribe_events(opcua_client.get_node(notifier),
                                            ua.ObjectIds.TransitionEventType)
        received[name], subscriptions = handler.received, [*subscriptions, subscription]
    try:
        await simulation.step(7 * 3600)  # the early shift starts: machines change state
        for _ in range(100):
            if all(received.values()):
                break
            await asyncio.sleep(0.05)
        for name, events in received.items():
            sources = {event.SourceNode for event in events}
            assert sources & {m.node for m in opcua_plant_server.machines.values()}, name
    finally:
        for subscription in subscriptions:
            await subscription.delete()
