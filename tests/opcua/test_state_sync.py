"""What a subscribed client sees is what the model did, event for event, at its simulated time.

The server runs paused and a client steps it through the Simulation object; a second Plant
with the same seed runs in-process to the same time. Per cell, the sequence of activities the
client is notified of, their source timestamps (plant start + simulated time) and the
TransitionEvents of the Machinery item state must match the model's own event log.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

import pytest
import pytest_asyncio
from asyncua import Client, ua

from factory_sim import events as ev
from factory_sim.states import MachineryItemState
from opcua_server import nodeids
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = [3600.0] * 6 + [900.0] * 16 + [7200.0] * 2  # off shift, then the early shift, ...
QUEUE = 10_000


class Recorder:
    """A minimal asyncua subscription handler that keeps every notification in order."""

    def __init__(self) -> None:
        self.values: list[tuple[ua.NodeId, ua.DataValue]] = []
        self.events: list = []

    def datachange_notification(self, node, val, data) -> None:
        self.values.append((node.nodeid, data.monitored_item.Value))

    def event_notification(self, event) -> None:
        self.events.append(event)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def observed():
    plant = make_plant("reference-opcua")
    server = await start_plant_server(plant)
    recorder = Recorder()
    try:
        async with Client(server.endpoint, timeout=10) as client:
            subscription = await client.create_subscription(20, recorder)
            activity_nodes = {client.get_node(m.activity).nodeid: cell
                              for cell, m in server.machines.items()}
            await subscription.subscribe_data_change(
                [client.get_node(n) for n in activity_nodes], queuesize=QUEUE)
            clock = client.get_node(server.control.simulated_time)
            await subscription.subscribe_data_change([clock], queuesize=QUEUE)
            for machine in server.machines.values():
                await subscription.subscribe_events(
                    client.get_node(machine.node), ua.ObjectIds.TransitionEventType,
                    queuesize=QUEUE)
            simulation = Simulation(client, server.ns.plant)
            now = 0.0
            for seconds in STEPS:
                await simulation.step(seconds)
                now += seconds
                # SimulatedTime is written after the tick's values: once it arrives, so has
                # everything before it
                for _ in range(500):
                    if any(n == clock.nodeid and dv.Value.Value == now
                           for n, dv in recorder.values):
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError(f"SimulatedTime {now} never arrived")
            await subscription.delete()
    finally:
        await server.stop()
    return server, activity_nodes, recorder, now


def model_log(until: float):
    plant = make_plant("reference-opcua")
    log: list[ev.Event] = []
    plant.subscribe(log.append)
    plant.run(until)
    return plant, log


def dedupe(items):
    out = []
    for item in items:
        if not out or out[-1][0] != item[0]:
            out.append(item)
    return out


async def test_activity_notifications_match_the_model_log(observed):
    server, activity_nodes, recorder, now = observed
    plant, log = model_log(now)
    expected = defaultdict(list)
    for event in log:
        if isinstance(event, ev.StateChanged):
            expected[event.cell].append(
                (event.activity.label, plant.start + timedelta(seconds=event.time)))
    seen = defaultdict(list)
    for nodeid, datavalue in recorder.values:
        if nodeid in activity_nodes and datavalue.Value.Value is not None:
            seen[activity_nodes[nodeid]].append((datavalue.Value.Value, datavalue.SourceTimestamp))
    assert set(seen) == set(server.machines)
    for cell in server.machines:
        assert len(dedupe(expected[cell])) > 5, "the model did something worth comparing"
        assert dedupe(seen[cell]) == dedupe(expected[cell]), cell


async def test_transition_events_follow_the_machinery_item_state(observed):
    server, _, recorder, now = observed
    _, log = model_log(now)
    expected = defaultdict(list)
    for event in log:
        if isinstance(event, ev.StateChanged):
            expected[event.cell].append(event.activity.item_state)
    names = nodeids.MACHINERY_ITEM_STATE_NAMES
    wanted = {cell: [names[s] for s, _ in dedupe([(s, None) for s in states])]
              for cell, states in expected.items()}
    by_source = {m.node: cell for cell, m in server.machines.items()}
    got = defaultdict(list)
    for event in recorder.events:
        got[by_source[event.SourceNode]].append(event.ToState.Text)
    for cell in server.machines:
        assert got[cell] == wanted[cell], cell
    assert MachineryItemState.EXECUTING in {s for v in expected.values() for s in v}
