"""Objects/TestNodes (issue 24, item 3), checked the way an independent client would: a walker
reads every variable under the folder and checks its value against its DataType, ValueRank and
ArrayDimensions; writes are range-checked; dynamic values follow simulated time."""

from __future__ import annotations

import pytest
import pytest_asyncio
from asyncua import Client, ua

from opcua_server import testnodes
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")
S = ua.StatusCodes
_BUILT_IN = {vt.value for vt in ua.VariantType if 0 < vt.value <= 25}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served():
    server = await start_plant_server(make_plant(), test_nodes=True)
    async with Client(server.endpoint, timeout=30) as client:
        yield server, client, await client.get_namespace_index(testnodes.URI)
    await server.stop()


async def walk(client, root) -> list:
    """Every variable under `root`, by hierarchical references (properties included)."""
    found, frontier, seen = [], [root], {root.nodeid}
    while frontier:
        node = frontier.pop()
        for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
            if child.nodeid in seen:
                continue
            seen.add(child.nodeid)
            frontier.append(child)
            if await child.read_node_class() == ua.NodeClass.Variable:
                found.append(child)
    return found


def shape(value) -> list[int]:
    dims = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0] if value else None
    return dims


async def check_variable(client, node) -> str | None:
    """What is wrong with `node`'s value given its attributes, or None."""
    datavalue = await node.read_data_value(raise_on_bad_status=False)
    datatype, rank = await node.read_data_type(), await node.read_value_rank()
    dims = (await node.read_attributes([ua.AttributeIds.ArrayDimensions]))[0]
    if dims.StatusCode.is_good():
        dims = dims.Value.Value
    elif dims.StatusCode.value == S.BadAttributeIdInvalid and rank < 1:
        dims = None  # optional for scalars
    else:
        return f"ArrayDimensions {dims.StatusCode.name} for ValueRank {rank}"
    typedef = await node.read_type_definition()
    variant = datavalue.Value
    if typedef is None or typedef.is_null():
        return "no type definition"
    if datatype.NamespaceIndex == 0 and datatype.Identifier in _BUILT_IN:
        if variant.VariantType.value != datatype.Identifier:
            return f"{variant.VariantType.name} value for DataType {datatype}"
    elif variant.VariantType != ua.VariantType.ExtensionObject:  # a structure (Range)
        return f"{variant.VariantType.name} value for structure {datatype}"
    if rank == -1:
        return "an array for a scalar ValueRank" if variant.is_array else None
    if not variant.is_array or rank not in (1, 2):
        return f"ValueRank {rank} with a {'non-' * (not variant.is_array)}array value"
    actual = shape(variant.Value)
    if len(actual) != rank or (dims and actual != list(dims)):
        return f"shape {actual} for ValueRank {rank}, ArrayDimensions {dims}"
    return None


async def test_every_test_node_value_matches_its_datatype_valuerank_and_dimensions(served):
    _, client, ns = served
    variables = await walk(client, client.get_node(ua.NodeId("TestNodes", ns)))
    problems = {}
    for node in variables:
        problem = await check_variable(client, node)
        if problem:
            problems[node.nodeid.to_string()[:80]] = problem
    assert not problems
    names = {node.nodeid.Identifier for node in variables}
    for group in ("Scalar", "Array", "Matrix"):
        assert {f"{group}/{t}" for t in testnodes.SAMPLES} <= names
    assert set(testnodes.TestNodes(ns).odd_ids().values()) <= {n.nodeid for n in variables}
    assert len(variables) > 3 * len(testnodes.SAMPLES) + 20


async def test_the_folder_is_outside_the_plant_and_says_so(served):
    server, client, ns = served
    folder = client.get_node(ua.NodeId("TestNodes", ns))
    assert ns != server.ns.plant
    assert "not part of the factory" in (await folder.read_description()).Text
    objects = await client.nodes.objects.get_children()
    assert folder.nodeid in {o.nodeid for o in objects}


async def test_large_values_and_odd_ids_read_back_whole(served):
    _, client, ns = served
    assert len(await client.get_node(ua.NodeId("Large/String", ns)).read_value()) == 100_000
    assert len(await client.get_node(ua.NodeId("Large/ByteString", ns)).read_value()) == 1 << 20
    assert len(await client.get_node(ua.NodeId("Large/DoubleArray", ns)).read_value()) == 100_000
    for name, nodeid in testnodes.TestNodes(ns).odd_ids().items():
        assert await client.get_node(nodeid).read_value() == name


async def write(client, nodeid, variant) -> int:
    params = ua.WriteParameters(NodesToWrite=[ua.WriteValue(
        NodeId=nodeid, AttributeId=ua.AttributeIds.Value, Value=ua.DataValue(variant))])
    return (await client.uaclient.write(params))[0].value


async def test_writable_values_are_range_checked(served):
    _, client, ns = served
    V = ua.VariantType
    node = lambda name: ua.NodeId(f"Writable/{name}", ns)  # noqa: E731
    assert await write(client, node("Int16"), ua.Variant(-100, V.Int16)) == S.Good
    assert await client.get_node(node("Int16")).read_value() == -100
    assert await write(client, node("Int16"), ua.Variant(101, V.Int16)) == S.BadOutOfRange
    assert await write(client, node("Byte"), ua.Variant(101, V.Byte)) == S.BadOutOfRange
    assert await write(client, node("Double"), ua.Variant(float("nan"), V.Double)) == \
        S.BadOutOfRange
    assert await write(client, node("Double"), ua.Variant(1, V.Int32)) == S.BadTypeMismatch
    assert await write(client, node("String"), ua.Variant("x" * 4097, V.String)) == \
        S.BadOutOfRange
    assert await write(client, node("String"), ua.Variant("ok", V.String)) == S.Good
    assert await client.get_node(node("Int16")).read_value() == -100  # refused: unchanged
    eu_range = await client.get_node(ua.NodeId("Writable/Int16.EURange", ns)).read_value()
    assert (eu_range.Low, eu_range.High) == (-100.0, 100.0)
    assert await write(client, ua.NodeId("Scalar/Int16", ns), ua.Variant(1, V.Int16)) == \
        S.BadNotWritable


async def test_dynamic_values_follow_simulated_time_and_stop_at_their_limit(served):
    server, client, ns = served
    simulation = Simulation(client, server.ns.plant)
    fast, slow = client.get_node(ua.NodeId("Dynamic/Fast", ns)), client.get_node(
        ua.NodeId("Dynamic/Slow", ns))
    cycling = client.get_node(ua.NodeId("Dynamic/StatusCycling", ns))
    await simulation.step(25)
    assert (await fast.read_value(), await slow.read_value()) == (25, 0)
    status = (await cycling.read_data_value(raise_on_bad_status=False)).StatusCode
    assert status.value == S.BadSensorFailure  # Good 0-10 s, Uncertain 10-20 s, Bad 20-30 s
    await simulation.step(10)
    assert (await cycling.read_data_value()).StatusCode.is_good()
    await simulation.step(testnodes.FAST_LIMIT + 100)
    assert await fast.read_value() == testnodes.FAST_LIMIT  # no more changes past the limit
    assert await slow.read_value() == int((35 + testnodes.FAST_LIMIT + 100) // 60)
