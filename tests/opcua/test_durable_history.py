"""With history on, every machine variable has one (what a bridge subscribes to can be read
back after an outage), and with SQLite it survives a server restart (issue 11, items 1 and 8:
string NodeIds with quotes in asyncua's table names made `--history-db` crash at start)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from asyncua import Client, ua

from opcua_server.history import HistorySettings
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

SINCE = datetime(2026, 1, 1, tzinfo=UTC)


async def raw_history(client, nodeid: ua.NodeId, count_at_least: int = 1) -> list[ua.DataValue]:
    """Values are recorded on a 100 ms subscription: wait until there are enough."""
    node = client.get_node(nodeid)
    for _ in range(50):
        values = await node.read_raw_history(SINCE, datetime(2027, 1, 1, tzinfo=UTC))
        if len(values) >= count_at_least:
            break
        await asyncio.sleep(0.1)
    return values


async def test_every_machine_variable_is_historized(tmp_path):
    server = await start_plant_server(make_plant(), history=HistorySettings())
    try:
        variables = server._machine_variables()
        assert len(variables) > 100
        async with Client(server.endpoint, timeout=10) as client:
            flags = await client.uaclient.read(ua.ReadParameters(NodesToRead=[
                ua.ReadValueId(NodeId=nodeid, AttributeId=ua.AttributeIds.Historizing)
                for nodeid in variables]))
            assert [n.to_string() for n, f in zip(variables, flags, strict=True)
                    if f.Value.Value is not True] == []
            await Simulation(client, server.ns.plant).step(8 * 3600)
            tool_life = ua.NodeId("press-brake/Tooling/ToolLifeRemaining", server.ns.plant)
            assert len(await raw_history(client, tool_life, 2)) >= 2  # not a "key" variable
    finally:
        await server.stop()


async def test_sqlite_history_starts_and_survives_a_restart(tmp_path):
    settings = HistorySettings(backend="sqlite", path=tmp_path / "history.sqlite")
    server = await start_plant_server(make_plant(), history=settings)
    try:
        async with Client(server.endpoint, timeout=10) as client:
            await Simulation(client, server.ns.plant).step(7 * 3600)
            energy = ua.NodeId("press-brake/Monitoring/Energy", server.ns.plant)
            before = await raw_history(client, energy, 2)
            assert len(before) >= 2
    finally:
        await server.stop()
    again = await start_plant_server(make_plant(), history=settings)
    try:
        async with Client(again.endpoint, timeout=10) as client:
            kept = await raw_history(client, energy, len(before))
            stamps = {value.SourceTimestamp for value in kept}
            assert {value.SourceTimestamp for value in before} <= stamps
            # pages of two (asyncua's storage pages at max_history_data_response_size)
            again.server.iserver.history_manager.storage.values \
                .max_history_data_response_size = 2
            assert await paged(client, energy) == [v.SourceTimestamp for v in kept]
    finally:
        await again.stop()


async def paged(client, nodeid: ua.NodeId) -> list[datetime]:
    """Read history page by page through continuation points, as a bridge's backfill does
    (asyncua's request leaves ReleaseContinuationPoints at its default, True)."""
    stamps, point = [], None
    while True:
        params = ua.HistoryReadParameters(
            HistoryReadDetails=ua.ReadRawModifiedDetails(
                IsReadModified=False, StartTime=SINCE, EndTime=datetime(2027, 1, 1, tzinfo=UTC),
                NumValuesPerNode=0, ReturnBounds=False),
            TimestampsToReturn=ua.TimestampsToReturn.Both,
            NodesToRead=[ua.HistoryReadValueId(NodeId=nodeid, ContinuationPoint=point)])
        result = (await client.uaclient.history_read(params))[0]
        result.StatusCode.check()
        stamps += [value.SourceTimestamp for value in result.HistoryData.DataValues]
        point = result.ContinuationPoint
        if not point:
            return stamps
