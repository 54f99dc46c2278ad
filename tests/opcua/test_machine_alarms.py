"""The model's alarms reach a client as OPC UA alarm events from the machine that raised them
(the conditions themselves are opcua_server.alarms; this checks the wiring from the model)."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import Client, ua

from factory_sim import events as ev
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Events:
    def __init__(self) -> None:
        self.received = []

    def event_notification(self, event) -> None:
        self.received.append(event)


async def test_model_alarms_become_alarm_events_of_their_machine():
    plant = make_plant("reference-opcua")
    alarms: list[ev.Event] = []
    plant.subscribe(lambda e: alarms.append(e)
                    if isinstance(e, ev.AlarmRaised | ev.AlarmCleared) else None)
    server = await start_plant_server(plant)
    handler = Events()
    try:
        async with Client(server.endpoint, timeout=10) as client:
            subscription = await client.create_subscription(20, handler)
            for machine in server.machines.values():
                await subscription.subscribe_events(client.get_node(machine.node),
                                                    ua.ObjectIds.AlarmConditionType)
            simulation = Simulation(client, server.ns.plant)
            for _ in range(20):
                await simulation.step(3600)
            for _ in range(200):
                if len(handler.received) >= len(alarms):
                    break
                await asyncio.sleep(0.02)
    finally:
        await server.stop()
    raised = [a for a in alarms if isinstance(a, ev.AlarmRaised)]
    assert raised, "20 hours of the reference plant raise alarms"
    by_node = {m.node: cell for cell, m in server.machines.items()}
    for cell in server.machines:  # in order per machine (one monitored item each)
        seen = [e.Severity for e in handler.received
                if by_node[e.SourceNode] == cell and e.ActiveState.Text == "Active"]
        assert seen == [a.severity for a in raised if a.cell == cell], cell
    assert len(handler.received) == len(alarms)  # one event per raise and per clear


@pytest.mark.parametrize("level, extra", [("reference-opcua", set()),
                                          ("reference-unified", {"ConditionMonitoring"})])
async def test_each_machine_has_its_conditions_before_the_first_alarm(level, extra):
    # Made while building: instantiating a condition mid-run blocks the server for milliseconds.
    server = await start_plant_server(make_plant(level))
    try:
        async with Client(server.endpoint, timeout=10) as client:
            conditions = {}
            for cell, machine in server.machines.items():
                refs = await client.get_node(machine.node).get_referenced_nodes(
                    ua.ObjectIds.HasCondition, ua.BrowseDirection.Forward)
                conditions[cell] = {(await ref.read_browse_name()).Name for ref in refs}
    finally:
        await server.stop()
    base = {"Failure"} | extra
    assert conditions == {"punch-laser": base, "press-brake": base | {"ToolWear"},
                          "cobot": base | {"ProtectiveStop"}, "packing": base}
