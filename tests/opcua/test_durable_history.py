"""With history on, every machine variable has one (what a bridge subscribes to can be read
back after an outage), and with SQLite it survives a server restart (issue 11, items 1 and 8:
string NodeIds with quotes in asyncua's table names made `--history-db` crash at start)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncua
import pytest
from asyncua import Client, ua
from asyncua.common.sql_injection import validate_table_name
from asyncua.server.history_sql import HistorySQLite

from opcua_server import history
from opcua_server.asyncua_adapter import sqlite_history
from opcua_server.history import HistoryConfigError, HistorySettings
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
STEP_S = 3 * 24 * 3600  # enough writes that saving them takes longer than stopping
# BrowseNames a vendor may choose, as string NodeIds; asyncua names tables by their repr
AWKWARD = [ua.NodeId(text, 2) for text in (
    "press-brake/Tooling/Tool's life", 'cobot/"Gripper"', "laser/Power; DROP TABLE x",
    "a'b", "a_b", "Schweißzelle/Temperatur (°C)")] + [
    ua.NodeId(4711, 3), ua.NodeId(b"\x00\x01", 2, ua.NodeIdType.ByteString)]


async def raw_history(client, nodeid: ua.NodeId, count_at_least: int = 1) -> list[ua.DataValue]:
    """Values are recorded on a 100 ms subscription: wait until there are enough."""
    node = client.get_node(nodeid)
    for _ in range(50):
        values = await node.read_raw_history(SINCE, datetime(2027, 1, 1, tzinfo=UTC))
        if len(values) >= count_at_least:
            break
        await asyncio.sleep(0.1)
    return values


async def test_table_names_pass_asyncuas_sql_check_and_stay_apart():
    names = [sqlite_history.table_name(node_id) for node_id in AWKWARD]
    for name in names:
        validate_table_name(name)  # raises on a quote, space, semicolon, bracket
    assert len(set(names)) == len(names)  # "a'b" and "a_b" too
    assert names == [sqlite_history.table_name(node_id) for node_id in AWKWARD]  # stable
    with pytest.raises(Exception, match="invalid character"):  # what the adapter works around
        validate_table_name(HistorySQLite()._get_table_name(AWKWARD[0]))


async def test_awkward_node_ids_are_stored_and_read_back_after_reopening(tmp_path):
    path = str(tmp_path / "history.sqlite")
    start = datetime(2026, 1, 5, tzinfo=UTC)
    storage = sqlite_history.SqliteStorage(path)
    await storage.init()
    for index, node_id in enumerate(AWKWARD):
        await storage.new_historized_node(node_id, None)
        await storage.save_node_value(node_id, ua.DataValue(
            ua.Variant(float(index), ua.VariantType.Double),
            SourceTimestamp=start + timedelta(seconds=index), ServerTimestamp=start))
    await storage.stop()
    reopened = sqlite_history.SqliteStorage(path)
    await reopened.init()
    try:
        for index, node_id in enumerate(AWKWARD):
            await reopened.new_historized_node(node_id, None)  # exists: kept as it is
            values, _ = await reopened.read_node_history(node_id, SINCE, None, 0)
            assert [(v.Value.Value, v.SourceTimestamp) for v in values] == [
                (float(index), start + timedelta(seconds=index))], node_id
    finally:
        await reopened.stop()


async def test_sqlite_history_changes_no_converter_of_the_process(tmp_path):
    """Library code leaves process-wide state alone: the storage reads its timezone-aware
    timestamps back through its own connection, not through `sqlite3.register_converter`."""
    import sqlite3

    before = dict(sqlite3.converters)
    storage = sqlite_history.SqliteStorage(str(tmp_path / "history.sqlite"))
    await storage.init()
    try:
        node_id, stamp = ua.NodeId("press/Temperature", 2), datetime(2026, 1, 5, 6, tzinfo=UTC)
        await storage.new_historized_node(node_id, None)
        await storage.save_node_value(node_id, ua.DataValue(
            ua.Variant(21.5), SourceTimestamp=stamp, ServerTimestamp=stamp))
        values, _ = await storage.read_node_history(node_id, SINCE, None, 0)
    finally:
        await storage.stop()
    assert [(v.Value.Value, v.SourceTimestamp, v.ServerTimestamp) for v in values] == [
        (21.5, stamp, stamp)]
    assert dict(sqlite3.converters) == before


async def test_an_unknown_asyncua_refuses_durable_history_in_one_line(tmp_path, monkeypatch):
    server = asyncua.Server()  # this project's server refuses such an asyncua even earlier
    await server.init()
    monkeypatch.setattr(asyncua, "__version__", "9.0.0")
    settings = HistorySettings(backend="sqlite", path=tmp_path / "history.sqlite")
    with pytest.raises(HistoryConfigError) as refused:
        await history.enable(server, settings)
    message = str(refused.value)
    assert "\n" not in message
    assert "history.sqlite" in message and "asyncua 9.0.0" in message and "2.1.x" in message
    assert not (tmp_path / "history.sqlite").exists()


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


async def test_a_server_stopped_right_after_a_step_has_every_last_value_in_its_history(tmp_path):
    """Values reach the storage on a 100 ms subscription: stopping must save what is queued.
    The value each variable holds when the server stops is its newest write, so it must be
    in the history read back after a restart (structures included, decoded as written)."""
    settings = HistorySettings(backend="sqlite", path=tmp_path / "history.sqlite",
                               retention=timedelta(days=1))
    server = await start_plant_server(make_plant(), history=settings)
    try:
        variables = server._machine_variables()
        await server.pacer.step(STEP_S)  # what Simulation.Step does, with no wait after it
        # written by the step (not at build time: wall-clock stamps, not recorded writes)
        step = (server.plant.start, server.plant.start + timedelta(seconds=STEP_S))
        read = server.server.iserver.aspace.read_attribute_value  # no await: nothing runs
        last = {nodeid: dv for nodeid in variables
                if step[0] < (dv := read(nodeid, ua.AttributeIds.Value)).SourceTimestamp
                <= step[1]}
    finally:
        await server.stop()  # at once
    assert len(last) > 50
    again = await start_plant_server(make_plant(), history=settings)
    try:
        async with Client(again.endpoint, timeout=10) as client:
            missing = []
            for nodeid, live in last.items():
                kept = await client.get_node(nodeid).read_raw_history(
                    SINCE, datetime(2027, 1, 1, tzinfo=UTC))
                if (live.SourceTimestamp, live.Value.Value) not in [
                        (dv.SourceTimestamp, dv.Value.Value) for dv in kept]:
                    missing.append(nodeid.to_string())
            assert missing == []
    finally:
        await again.stop()


async def test_every_machine_variable_starts_in_plant_time():
    """Not the wall clock: a bridge reads history from the last source time it saw, and a
    wall-clock placeholder is later than every value the plant writes (its backfill found
    nothing and the values written while it was away were lost)."""
    plant = make_plant()
    server = await start_plant_server(plant, history=HistorySettings())
    try:
        async with Client(server.endpoint, timeout=10) as client:
            variables = server._machine_variables()
            values = await client.uaclient.read(ua.ReadParameters(NodesToRead=[
                ua.ReadValueId(NodeId=nodeid, AttributeId=ua.AttributeIds.Value)
                for nodeid in variables]))
        assert {nodeid.to_string(): value.SourceTimestamp
                for nodeid, value in zip(variables, values, strict=True)
                if value.SourceTimestamp != plant.start} == {}
    finally:
        await server.stop()


async def test_every_machine_variable_is_historized_on_every_line():
    """Cells of a multiplied line are named like "line-02.press-brake": the dot is no
    alarm condition field (those are "<machine>/<Condition>.<field>")."""
    one = await start_plant_server(make_plant())
    try:
        per_line = len(one._machine_variables())
    finally:
        await one.stop()
    three = await start_plant_server(make_plant(lines=3), history=HistorySettings())
    try:
        variables = three._machine_variables()
        assert per_line > 100 and len(variables) == 3 * per_line
        assert not any("." in nodeid.Identifier.split("/", 1)[1] for nodeid in variables)
    finally:
        await three.stop()
