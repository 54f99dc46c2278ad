"""Every state change of the model reaches MQTT through the simulator's OPC UA server and the
bridge, with the model's values and simulated source times.

The server runs paused and a client steps it; a second Plant with the same seed runs in-process
to the same time and is the expected log. The bridge knows nothing of the simulator: it finds
the cells by browsing, as it would on any Machinery server.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta

from asyncua import Client

from factory_sim import events as ev
from mqtt_bridge.config import load
from mqtt_bridge.inputs.opcua import asyncua_adapter
from opcua_server import nodeids
from tests.bridge.bridges import running
from tests.opcua.conftest import Simulation, make_plant, start_plant_server
from tests.services import MqttRecorder

STEPS = [3600.0] * 6 + [900.0] * 16  # off shift, then the early shift in quarter hours


def dedupe(items: list) -> list:
    return [item for i, item in enumerate(items) if i == 0 or items[i - 1][0] != item[0]]


def expected_changes(until: float) -> tuple[dict, dict, dict]:
    """Per cell, (activity, source time) and (Machinery item state, source time) of the model,
    and (severity, message, active) of its alarms."""
    plant = make_plant("reference-opcua")
    log: list[ev.Event] = []
    plant.subscribe(log.append)
    plant.run(until)
    activities, states, alarms = defaultdict(list), defaultdict(list), defaultdict(list)
    for event in log:
        if isinstance(event, ev.AlarmRaised):
            alarms[event.cell].append((event.severity, event.message, True))
        if isinstance(event, ev.AlarmCleared):
            alarms[event.cell].append((None, None, False))
        if isinstance(event, ev.StateChanged):
            at = plant.start + timedelta(seconds=event.time)
            activities[event.cell].append((event.activity.label, at))
            states[event.cell].append(
                (nodeids.MACHINERY_ITEM_STATE_NAMES[event.activity.item_state], at)
            )
    return activities, states, alarms


def received(messages, cells, group_tag: str) -> dict[str, list]:
    """Per cell, (value, source time) of one variable in seq order, after checking the seqs."""
    out = {}
    for cell in cells:
        topic = f"factory/plant-1/fabrication/line-1/{cell}/{group_tag}"  # from Location
        by_seq = {}
        for message in messages:
            if message.topic == topic:
                document = message.json()
                by_seq[document["seq"]] = (
                    document["value"], datetime.fromisoformat(document["sourceTimestamp"])
                )
        assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), topic
        out[cell] = [by_seq[seq] for seq in sorted(by_seq)]
    return out


async def test_every_model_state_change_reaches_mqtt(mosquitto, tmp_path) -> None:
    server = await start_plant_server(make_plant("reference-opcua"))
    recorder = MqttRecorder(mosquitto, "factory/#")
    config = load(
        {("opcua", "url"): server.endpoint, ("mqtt", "url"): mosquitto.url,
         ("opcua", "publishing_interval"): 50.0, ("", "state_dir"): str(tmp_path)},
        env={},
    )
    try:
        async with running(config) as bridge:
            await check_every_change_arrives(bridge, server, recorder)
    finally:
        recorder.close()
        await server.stop()


async def check_every_change_arrives(bridge, server, recorder: MqttRecorder) -> None:
    # The bridge as a library installs no patches of its own over the server's.
    assert not asyncua_adapter.installed()
    cells = sorted(m.name for m in bridge.source.machines.values())
    assert cells == sorted(server.machines)
    now = 0.0
    async with Client(server.endpoint, timeout=10) as client:
        simulation = Simulation(client, server.ns.plant)
        for seconds in STEPS:
            await simulation.step(seconds)
            now += seconds
    activities, states, alarms = expected_changes(now)

    last_change = {cell: dedupe(states[cell])[-1] for cell in cells}

    def complete(messages) -> bool:
        """Everything the model did has arrived: the last state change of every cell (a
        state set again to the same value changes nothing on the server) and the alarms (the
        assertions below then check the whole sequences)."""
        last = {}
        alarm_count = defaultdict(int)
        for m in messages:
            cell = m.topic.split("/")[4]
            if m.topic.endswith("/state/CurrentState"):
                document = m.json()
                last[cell] = (document["value"], document["sourceTimestamp"])
            elif m.topic.endswith("/alarms"):
                alarm_count[cell] += 1
        return all(
            cell in last
            and (last[cell][0], datetime.fromisoformat(last[cell][1])) == last_change[cell]
            and alarm_count[cell] >= len(alarms[cell])
            for cell in cells
        )

    messages = await asyncio.to_thread(recorder.wait_until, complete, 60)

    seen_activities = received(messages, cells, "Monitoring/Activity")
    seen_states = received(messages, cells, "state/CurrentState")
    for cell in cells:
        assert len(dedupe(activities[cell])) > 5, "the model did something worth comparing"
        # The first message is the value the cell had when the bridge subscribed.
        assert dedupe(seen_activities[cell][1:]) == dedupe(activities[cell]), cell
        assert dedupe(seen_states[cell][1:]) == dedupe(states[cell]), cell
    # Alarms arrive as conditions with their state: raised active, cleared inactive.
    for cell in cells:
        documents = [m.json() for m in messages if m.topic.endswith(f"/{cell}/alarms")]
        seen = [(d["severity"], d["message"], d["fields"]["ActiveState"]) for d in documents]
        assert [a for _, _, a in seen] == [a for _, _, a in alarms[cell]], cell
        raised = [(sev, msg) for sev, msg, active in alarms[cell] if active]
        assert [(sev, msg) for sev, msg, active in seen if active] == raised, cell
    assert any(alarms.values()), "the model raised alarms worth comparing"
