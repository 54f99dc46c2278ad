"""Connectivity levels: OPC UA cells under Machines, vendor cells only in their vendor's
namespace and naming (the coupling barrier), stand-alone cells nowhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_asyncio
from asyncua import Client, ua

from factory_sim import events as ev
from factory_sim.states import Activity, ConnectivityLevel
from opcua_server import namespaces
from opcua_server.node_batch import NodeBatch
from opcua_server.vendor import DIALECTS, VendorMachine, dialect_for
from opcua_server.writes import Writes
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mixed():
    server = await start_plant_server(make_plant("mixed"))
    async with Client(server.endpoint, timeout=10) as client:
        await Simulation(client, server.ns.plant).step(8 * 3600)
        yield server, client
    await server.stop()


async def walk(node, seen=None) -> dict[ua.NodeId, str]:
    """Every node below `node` by hierarchical references, with its BrowseName."""
    seen = {} if seen is None else seen
    for child in await node.get_children():
        if child.nodeid in seen or child.nodeid.NamespaceIndex == 0:
            continue
        seen[child.nodeid] = (await child.read_browse_name()).Name
        await walk(child, seen)
    return seen


async def test_levels_decide_where_a_cell_appears(mixed):
    server, client = mixed
    levels = {cell.id: cell.connectivity for cell in server.plant.cells.values()}
    assert set(levels.values()) == {ConnectivityLevel.OPCUA, ConnectivityLevel.VENDOR,
                                    ConnectivityLevel.STANDALONE}
    uris = await client.get_namespace_array()
    machines = client.get_node(ua.NodeId(1001, uris.index(namespaces.MACHINERY)))
    listed = {(await m.read_browse_name()).Name for m in await machines.get_children()}
    assert listed == {c for c, level in levels.items() if level == ConnectivityLevel.OPCUA}

    everything = await walk(client.nodes.objects)
    for cell in server.plant.cells.values():
        serial_seen = cell.serial_number in everything.values()
        if cell.connectivity == ConnectivityLevel.STANDALONE:
            assert not serial_seen and cell.id not in everything.values(), cell.id
            assert cell.id not in [n.Identifier for n in everything]
        elif cell.connectivity == ConnectivityLevel.VENDOR:
            dialect = dialect_for(cell.vendor)
            vendor_ns = uris.index(dialect.uri)
            nodes = [n for n, name in everything.items() if name == cell.serial_number]
            assert [n.NamespaceIndex for n in nodes] == [vendor_ns], cell.id
            # no Machinery building blocks, no companion-spec names: the vendor's own
            below = await walk(client.get_node(nodes[0]))
            assert set(below.values()) == {dialect.state, dialect.power, dialect.energy,
                                           dialect.good, dialect.scrap, dialect.order,
                                           dialect.alarm}
            assert {n.NamespaceIndex for n in below} == {vendor_ns}


async def test_vendor_values_use_the_vendor_units_and_codes(mixed):
    server, client = mixed
    for cell_id, vendor in server.vendor_machines.items():
        snapshot = server.plant.snapshot(cell_id)
        dialect = vendor.dialect
        state = await client.get_node(vendor.vars["state"]).read_value()
        assert state == dialect.state_codes[snapshot.activity]
        power = await client.get_node(vendor.vars["power"]).read_value()
        assert power == pytest.approx(snapshot.power_kw * dialect.power_factor)
        good = await client.get_node(vendor.vars["good"]).read_value()
        assert good == snapshot.good


async def test_every_vendor_dialect_codes_every_activity():
    for dialect in [*DIALECTS.values(), dialect_for("acme-robots")]:
        assert set(dialect.state_codes) == set(Activity)
        assert len(set(dialect.state_codes.values())) >= 8
    assert dialect_for("acme-robots").uri == "urn:acme-robots:opcua:devices"


async def test_lasertec_speaks_german_codes_and_watts():
    """The punch/laser's vendor (reference-vendor scenario) has its own dialect."""
    plant = make_plant("reference-vendor")
    laser = next(c for c in plant.cells.values() if c.vendor == "lasertec")
    assert laser.connectivity == ConnectivityLevel.VENDOR
    machine = VendorMachine(laser, dialect_for("lasertec"), ns=5)
    machine.build(NodeBatch())
    writes = Writes(datetime(2026, 1, 5, tzinfo=UTC))
    machine.apply(ev.StateChanged(10.0, laser.id, Activity.PRODUCING, 35.0, 1.5), writes)
    values = {nodeid.Identifier.rsplit("/", 1)[1]: dv.Value.Value for nodeid, dv in writes.values}
    assert values == {"BetriebsZustand": 10, "Leistung_W": 35_000.0, "Energie_Wh": 1500.0}
    assert machine.node.Identifier == f"LASERTEC/{laser.serial_number}"
