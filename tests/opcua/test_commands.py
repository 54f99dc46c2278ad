"""Methods and writes: they act on the model, and bad input gets its proper status code."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import ua
from asyncua.ua.uaerrors import UaStatusCodeError

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOUBLE, STRING = ua.VariantType.Double, ua.VariantType.String


async def call_status(node, method, *args) -> tuple[int, list[int]]:
    """Call a method and return (StatusCode, InputArgumentResults) without raising."""
    request = ua.CallMethodRequest(ObjectId=node.nodeid, MethodId=method.nodeid,
                                   InputArguments=list(args))
    result = (await node.session.call([request]))[0]
    return result.StatusCode.value, [code.value for code in result.InputArgumentResults]


async def write_status(node, datavalue: ua.DataValue, attribute=ua.AttributeIds.Value) -> int:
    params = ua.WriteParameters(NodesToWrite=[ua.WriteValue(
        NodeId=node.nodeid, AttributeId=attribute, Value=datavalue)])
    return (await node.session.write(params))[0].value


def cell_node(client, server, cell: str, path: str = ""):
    return client.get_node(ua.NodeId(f"{cell}/{path}" if path else cell, server.ns.plant))


async def activity_after(simulation, client, server, cell, seconds=600.0, want=None, tries=12):
    """Step until the cell's Activity is (or, with want=None, just read) the wanted one."""
    activity = cell_node(client, server, cell, "Monitoring/Activity")
    for _ in range(tries):
        await simulation.step(seconds)
        value = await activity.read_value()
        if want is None or value == want:
            return value
    return value


async def test_step_moves_simulated_time_exactly(simulation):
    before = await simulation.now()
    await simulation.step(123.5)
    assert await simulation.now() == before + 123.5


async def test_stop_and_start_act_on_the_model(opcua_client, opcua_plant_server, simulation):
    client, server = opcua_client, opcua_plant_server
    await simulation.step(7 * 3600)  # into the early shift
    cell = "packing"
    machine = cell_node(client, server, cell)
    stop, start = cell_node(client, server, cell, "Stop"), cell_node(client, server, cell, "Start")

    assert (await call_status(machine, start))[0] == ua.StatusCodes.BadInvalidState  # running
    assert (await call_status(machine, stop))[0] == ua.StatusCodes.Good
    assert await activity_after(simulation, client, server, cell, want="stopped") == "stopped"
    item_state = cell_node(client, server, cell, "MachineryBuildingBlocks/MachineryItemState/"
                           "CurrentState")
    assert (await item_state.read_value()).Text == "NotExecuting"
    mode = cell_node(client, server, cell, "MachineryBuildingBlocks/MachineryOperationMode/"
                     "CurrentState")
    assert (await mode.read_value()).Text == "None"
    assert (await call_status(machine, stop))[0] == ua.StatusCodes.BadInvalidState  # again
    await simulation.step(1800)
    assert await cell_node(client, server, cell, "Monitoring/Activity").read_value() == "stopped"

    assert (await call_status(machine, start))[0] == ua.StatusCodes.Good
    assert await activity_after(simulation, client, server, cell, seconds=300) != "stopped"


async def test_reset_fault_without_a_fault_is_an_invalid_state(opcua_client, opcua_plant_server):
    machine = cell_node(opcua_client, opcua_plant_server, "press-brake")
    reset = cell_node(opcua_client, opcua_plant_server, "press-brake", "ResetFault")
    assert (await call_status(machine, reset))[0] == ua.StatusCodes.BadInvalidState


async def test_malformed_method_arguments(opcua_client, opcua_plant_server, simulation):
    machine = cell_node(opcua_client, opcua_plant_server, "cobot")
    stop = cell_node(opcua_client, opcua_plant_server, "cobot", "Stop")
    assert (await call_status(machine, stop, ua.Variant(1.0, DOUBLE)))[0] == \
        ua.StatusCodes.BadTooManyArguments
    step = simulation.child("Step")
    node = simulation.node
    assert (await call_status(node, step))[0] == ua.StatusCodes.BadArgumentsMissing
    assert await call_status(node, step, ua.Variant("ten", STRING)) == (
        ua.StatusCodes.BadInvalidArgument, [ua.StatusCodes.BadTypeMismatch])
    assert await call_status(node, step, ua.Variant(-5.0, DOUBLE)) == (
        ua.StatusCodes.BadInvalidArgument, [ua.StatusCodes.BadOutOfRange])
    assert await call_status(node, step, ua.Variant([1.0, 2.0], DOUBLE)) == (
        ua.StatusCodes.BadInvalidArgument, [ua.StatusCodes.BadTypeMismatch])
    assert (await call_status(node, step, ua.Variant(1.0, DOUBLE),
                              ua.Variant(2.0, DOUBLE)))[0] == ua.StatusCodes.BadTooManyArguments
    speed = simulation.child("SetSpeed")
    assert await call_status(node, speed, ua.Variant(0.0, DOUBLE)) == (
        ua.StatusCodes.BadInvalidArgument, [ua.StatusCodes.BadOutOfRange])
    unknown = opcua_client.get_node(ua.NodeId("no/such/method", opcua_plant_server.ns.plant))
    status, _ = await call_status(node, unknown)
    assert ua.StatusCode(status).is_bad()
    # an integer is a fine number of seconds; the simulation is still healthy afterwards
    before = await simulation.now()
    assert (await call_status(node, step, ua.Variant(60, ua.VariantType.Int32)))[0] == \
        ua.StatusCodes.Good
    assert await simulation.now() == before + 60


async def test_pause_resume_and_speed(opcua_client, simulation):
    paused, speed = simulation.child("Paused"), simulation.child("Speed")
    assert await paused.read_value() is True
    await simulation.call("SetSpeed", ua.Variant(500.0, DOUBLE))
    assert await speed.read_value() == 500.0
    await simulation.call("Resume")
    assert await paused.read_value() is False
    step = simulation.child("Step")
    assert (await call_status(simulation.node, step, ua.Variant(1.0, DOUBLE)))[0] == \
        ua.StatusCodes.BadInvalidState  # stepping needs a paused simulation
    before = await simulation.now()
    for _ in range(200):  # time moves by itself now
        if await simulation.now() > before:
            break
        await asyncio.sleep(0.05)
    assert await simulation.now() > before
    await simulation.call("Pause")
    assert await paused.read_value() is True
    frozen = await simulation.now()
    await simulation.step(10)
    assert await simulation.now() == frozen + 10


async def test_writes_get_their_proper_status_codes(opcua_client, opcua_plant_server,
                                                    simulation):
    client, server = opcua_client, opcua_plant_server
    power = cell_node(client, server, "punch-laser", "Monitoring/Power")
    assert await write_status(power, ua.DataValue(ua.Variant(1.0, DOUBLE))) == \
        ua.StatusCodes.BadNotWritable
    assert await write_status(cell_node(client, server, "punch-laser"),
                              ua.DataValue(ua.Variant("x", STRING)),
                              ua.AttributeIds.DisplayName) == ua.StatusCodes.BadNotWritable
    unknown = client.get_node(ua.NodeId("punch-laser/NoSuchNode", server.ns.plant))
    assert await write_status(unknown, ua.DataValue(ua.Variant(1.0, DOUBLE))) == \
        ua.StatusCodes.BadNodeIdUnknown
    speed = simulation.child("Speed")
    assert await write_status(speed, ua.DataValue(ua.Variant("fast", STRING))) == \
        ua.StatusCodes.BadTypeMismatch
    assert await write_status(speed, ua.DataValue(ua.Variant(-2.0, DOUBLE))) == \
        ua.StatusCodes.BadOutOfRange
    assert await write_status(speed, ua.DataValue(ua.Variant(42.0, DOUBLE))) == \
        ua.StatusCodes.Good
    assert server.pacer.speed == 42.0
    assert await speed.read_value() == 42.0
    with pytest.raises(UaStatusCodeError):
        await power.write_value(ua.Variant(2.0, DOUBLE))
    assert await simulation.child("Paused").read_value() is True  # nothing broke
