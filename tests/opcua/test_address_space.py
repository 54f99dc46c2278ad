"""Browsing the reference plant finds the machines the way OPC 40001-1 lays them out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asyncua import ua

from factory_sim.states import CellKind
from opcua_server import namespaces, nodeids
from opcua_server.machines import MACHINE_TYPE_NAMES

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def ns_index(client, uri: str) -> int:
    return (await client.get_namespace_array()).index(uri)


async def test_values_wait_for_initial_data_before_the_model_runs(opcua_client,
                                                                   opcua_plant_server):
    power = opcua_client.get_node(opcua_plant_server.machines["punch-laser"].power)
    datavalue = await power.read_data_value(raise_on_bad_status=False)
    assert datavalue.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData


async def test_every_cell_is_under_machines_with_its_type(opcua_client, opcua_plant_server):
    client, plant = opcua_client, opcua_plant_server.plant
    machinery = await ns_index(client, namespaces.MACHINERY)
    plant_ns = await ns_index(client, namespaces.PLANT)
    machines = client.get_node(ua.NodeId(nodeids.MACHINES, machinery))
    assert (await machines.read_browse_name()) == ua.QualifiedName("Machines", machinery)
    assert machines in await client.nodes.objects.get_children()
    found = {}
    for machine in await machines.get_children():
        typedef = client.get_node(await machine.read_type_definition())
        found[(await machine.read_browse_name()).Name] = (await typedef.read_browse_name()).Name
    assert found == {cell.id: MACHINE_TYPE_NAMES[cell.kind] for cell in plant.cells.values()}
    base = client.get_node(ua.NodeId("Types/CellMachineType", plant_ns))
    subtypes = await base.get_children(refs=ua.ObjectIds.HasSubtype)
    assert {(await t.read_browse_name()).Name for t in subtypes} == \
        set(MACHINE_TYPE_NAMES.values())


async def test_identification_is_the_nameplate(opcua_client, opcua_plant_server):
    client, server = opcua_client, opcua_plant_server
    di = await ns_index(client, namespaces.DI)
    machinery = await ns_index(client, namespaces.MACHINERY)
    for cell in server.plant.cells.values():
        machine = client.get_node(server.machines[cell.id].node)
        ident = await machine.get_child(f"{di}:Identification")
        assert (await ident.read_type_definition()) == ua.NodeId(
            nodeids.MACHINE_IDENTIFICATION_TYPE, machinery)
        assert (await (await ident.get_child(f"{di}:Manufacturer")).read_value()).Text == \
            cell.manufacturer
        assert (await (await ident.get_child(f"{di}:Model")).read_value()).Text == cell.model
        assert await (await ident.get_child(f"{di}:SerialNumber")).read_value() == \
            cell.serial_number
        assert await (await ident.get_child(f"{di}:ProductInstanceUri")).read_value() == \
            cell.product_instance_uri
        assert await (await ident.get_child(f"{di}:SoftwareRevision")).read_value() == \
            cell.software_revision
        year = await ident.get_child(f"{machinery}:YearOfConstruction")
        assert await year.read_value() == cell.year_of_construction
        assert await year.read_data_type_as_variant_type() == ua.VariantType.UInt16
        location = await (await ident.get_child(f"{machinery}:Location")).read_value()
        assert location == f"plant-1/fabrication/{cell.line}"  # where a UNS bridge places it


async def test_building_blocks_follow_the_model(opcua_client, opcua_plant_server, simulation):
    client, server = opcua_client, opcua_plant_server
    machinery = await ns_index(client, namespaces.MACHINERY)
    di = await ns_index(client, namespaces.DI)
    await simulation.step(8 * 3600)  # Monday 08:00: the early shift is working
    now = await simulation.now()
    for cell_id in server.plant.cells:
        machine = client.get_node(server.machines[cell_id].node)
        blocks = await machine.get_child(f"{machinery}:MachineryBuildingBlocks")
        state = await blocks.get_child(f"{machinery}:MachineryItemState")
        assert await state.read_type_definition() == ua.NodeId(
            nodeids.MACHINERY_ITEM_STATE_TYPE, machinery)
        current = await state.get_child("0:CurrentState")
        snapshot = server.plant.snapshot(cell_id)
        expected = snapshot.activity.item_state
        assert (await current.read_value()).Text == nodeids.MACHINERY_ITEM_STATE_NAMES[expected]
        state_id = await (await current.get_child("0:Id")).read_value()
        assert state_id == ua.NodeId(nodeids.MACHINERY_ITEM_STATES[expected][0], machinery)
        mode = await blocks.get_child(f"{machinery}:MachineryOperationMode")
        mode_id = await (await (await mode.get_child("0:CurrentState")).get_child("0:Id")
                         ).read_value()
        assert mode_id == ua.NodeId(
            nodeids.OPERATION_MODES[snapshot.activity.operation_mode][0], machinery)
        counters = await blocks.get_child(f"{di}:OperationCounters")
        cycles = await (await counters.get_child(f"{di}:OperationCycleCounter")).read_value()
        assert cycles >= 1  # every cell has started working at least once today
        power = await machine.get_child(f"{server.ns.plant}:Monitoring")
        power = await power.get_child(f"{server.ns.plant}:Power")
        datavalue = await power.read_data_value()
        assert datavalue.StatusCode.is_good()
        assert datavalue.Value.Value == snapshot.power_kw
        assert server.plant.start <= datavalue.SourceTimestamp <= \
            server.plant.start + timedelta(seconds=now)
        oee = await client.get_node(server.machines[cell_id].kpis["OEE"]).read_value()
        assert 0.0 <= oee <= 1.0


async def test_cell_specific_parts(opcua_client, opcua_plant_server):
    client, server = opcua_client, opcua_plant_server
    plant = server.plant
    by_kind = {cell.kind: cell.id for cell in plant.cells.values()}

    laser = server.machines[by_kind[CellKind.PUNCH_LASER]].extra.state
    snapshot = plant.snapshot(by_kind[CellKind.PUNCH_LASER])
    assert (await client.get_node(laser).read_value()).Text == \
        nodeids.LASER_STATES[snapshot.laser_state][0]

    tooling = server.machines[by_kind[CellKind.PRESS_BRAKE]].extra
    snapshot = plant.snapshot(by_kind[CellKind.PRESS_BRAKE])
    assert await client.get_node(tooling.tool).read_value() == snapshot.tool
    assert await client.get_node(tooling.life).read_value() == snapshot.tool_life_remaining

    safety = server.machines[by_kind[CellKind.COBOT]].extra
    snapshot = plant.snapshot(by_kind[CellKind.COBOT])
    assert await client.get_node(safety.protective).read_value() == snapshot.protective_stop
    assert await client.get_node(safety.mode).read_value() == int(snapshot.operational_mode)

    packml = server.machines[by_kind[CellKind.PACKING]].extra
    snapshot = plant.snapshot(by_kind[CellKind.PACKING])
    owner = nodeids.PACKML_STATES[snapshot.packml_state][0]
    level = {1: packml.execute, 2: packml.machine_state, 3: packml.base}[owner]
    assert (await client.get_node(level).read_value()).Text == \
        nodeids.packml_state_name(snapshot.packml_state)
    # the counts are PackMLCountDataType structures a client decodes from their definition
    await client.load_data_type_definitions()
    processed = await client.get_node(packml.processed).read_value()
    assert type(processed[0]).__name__ == "PackMLCountDataType"
    assert processed[0].Count == processed[0].AccCount > 0
    assert processed[0].Unit.DisplayName.Text == "pc"


async def test_simulation_and_plant_objects(opcua_client, opcua_plant_server):
    client, server = opcua_client, opcua_plant_server
    objects = {(await n.read_browse_name()).Name: n
               for n in await client.nodes.objects.get_children()}
    assert {"Machines", "Simulation", "Plant"} <= set(objects)
    names = {(await n.read_browse_name()).Name for n in await objects["Simulation"].get_children()}
    assert {"SimulatedTime", "Speed", "Paused", "Pause", "Resume", "Step", "SetSpeed"} <= names
    enterprise = await objects["Plant"].get_child(f"{server.ns.plant}:Enterprise")
    assert await enterprise.read_value() == server.plant.hierarchy.enterprise
    kpi = await objects["Plant"].get_child(f"{server.ns.plant}:Kpi")
    availability = await (await kpi.get_child(f"{server.ns.plant}:Availability")).read_value()
    assert 0.0 < availability <= 1.0  # the plant has been working since 06:00
    energy = await (await kpi.get_child(f"{server.ns.plant}:Energy")).read_value()
    assert energy == pytest.approx(sum(server.plant.snapshot(c).energy_kwh
                                       for c in server.plant.cells), rel=0.05)
