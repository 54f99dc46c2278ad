"""Scripted alarms (issue 24, item 2): the docs' example script run on a paused plant, its
event stream checked against the script in simulated time (a client acknowledges and shelves
in the first round, not in the second), and bad scripts refused with the file and the key."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import Client, ua

from opcua_server.alarm_script import AlarmScriptError, load_script
from tests.opcua.conftest import (
    PROJECT,
    Simulation,
    event_filter,
    make_plant,
    start_plant_server,
)

SCRIPT = PROJECT / "docs" / "integrators" / "examples" / "alarm-script.yaml"
IDS = ua.ObjectIds
FIELDS = ("EventId", "ConditionName", "Time", "Message", "Severity", "ActiveState/Id",
          "AckedState/Id", "ShelvingState/CurrentState")


class DoorEvents:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def event_notification(self, event) -> None:
        fields = {k: v.Value for k, v in event.get_event_props_as_fields_dict().items()}
        if fields.get("ConditionName") == "DoorOpen":
            self.queue.put_nowait(fields)

    async def next(self) -> dict:
        return await asyncio.wait_for(self.queue.get(), timeout=10)


@pytest.mark.asyncio
async def test_the_event_stream_follows_the_script_and_its_expectations():
    server = await start_plant_server(make_plant(), alarm_script=SCRIPT)
    start = server.plant.start
    condition = ua.NodeId("cobot/DoorOpen", server.ns.plant)

    def seen(event) -> tuple:
        return ((event["Time"] - start).total_seconds(), event["Severity"],
                event["ActiveState/Id"], event["AckedState/Id"],
                event["ShelvingState/CurrentState"].Text)

    try:
        async with Client(server.endpoint, timeout=10) as client:
            events = DoorEvents()
            subscription = await client.create_subscription(20, events)
            await subscription.subscribe_events(client.nodes.server, evfilter=event_filter(FIELDS))
            simulation = Simulation(client, server.ns.plant)
            stream = []
            await simulation.step(60)
            raised = await events.next()
            stream.append(seen(raised))
            assert raised["Message"].Text == "Cell door open"
            await client.get_node(condition).call_method(
                ua.NodeId(IDS.AcknowledgeableConditionType_Acknowledge),
                ua.Variant(raised["EventId"], ua.VariantType.ByteString),
                ua.LocalizedText("on my way"))
            stream.append(seen(await events.next()))
            await simulation.step(1)  # the script sees the acknowledgement, raises severity
            stream.append(seen(await events.next()))
            await client.get_node(ua.NodeId("cobot/DoorOpen.ShelvingState", server.ns.plant)) \
                .call_method(ua.NodeId(IDS.ShelvedStateMachineType_OneShotShelve))
            stream.append(seen(await events.next()))
            await simulation.step(1)  # ... sees the shelving, clears (ending the one-shot)
            stream.append(seen(await events.next()))
            await simulation.step(600)  # round two: nobody acknowledges or shelves
            stream += [seen(await events.next()) for _ in range(3)]
            await subscription.delete()
        assert stream == [
            (60.0, 700, True, False, "Unshelved"),         # raise
            (60.0, 700, True, True, "Unshelved"),          # the client's Acknowledge
            (61.0, 900, True, False, "Unshelved"),         # severity 900: a new occurrence
            (61.0, 900, True, False, "OneShotShelved"),    # the client's OneShotShelve
            (62.0, 900, False, False, "Unshelved"),        # clear ends the one-shot shelve
            (122.0, 700, True, False, "Unshelved"),        # round 2: raise
            (422.0, 900, True, False, "Unshelved"),        # not acknowledged in 5 min; severity
            (542.0, 900, False, False, "Unshelved"),       # not shelved in 2 min; clear
        ]
        results = [(r.time, r.text, r.ok) for r in server.aids.alarm_script.results]
        assert results == [
            (60.0, "door raise 700", True), (61.0, "door acknowledged", True),
            (61.0, "door set severity 900", True), (62.0, "door shelved", True),
            (62.0, "door clear", True),
            (122.0, "door raise 700", True), (422.0, "door not acknowledged within 300 s", False),
            (422.0, "door set severity 900", True), (542.0, "door not shelved within 120 s", False),
            (542.0, "door clear", True)]
        assert server.aids.alarm_script.finished
    finally:
        await server.stop()


@pytest.mark.parametrize("text, message", [
    ("alarms: {}\nsteps: []", "alarms: expected a mapping"),
    ("alarms: {d: {machine: nowhere, kind: door}}\nsteps: [{wait: 1m}]",
     "alarms.d.machine: 'nowhere' is not a machine online"),
    ("alarms: {d: {machine: cobot, kind: door}}\nsteps: [{wait: soon}]",
     "steps[0].wait: expected a duration"),
    ("alarms: {d: {machine: cobot, kind: door}}\nsteps: [{raise: e}]",
     "steps[0].raise: 'e' is not one of the script's alarms"),
    ("alarms: {d: {machine: cobot, kind: door}}\nsteps: [{raise: d, severity: 5000}]",
     "steps[0].severity: expected a severity 1..1000"),
    ("alarms: {d: {machine: cobot, kind: door}}\nsteps: [{expect: d, acknowledged: true}]",
     "steps[0].within: missing"),
    ("alarms: {d: {machine: cobot, kind: door}}\nsteps: [{clear: d, wait: 1s}]",
     "steps[0]: expected exactly one of wait, raise"),
    ("alarms: {d: {machine: cobot, kind: door}}\nrepeat: 0\nsteps: [{clear: d}]",
     "repeat: expected a whole number"),
    ("steps: [", "not valid YAML"),
])
def test_a_bad_script_is_refused_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad-script.yaml"
    path.write_text(text)
    with pytest.raises(AlarmScriptError) as refused:
        load_script(path, machines={"cobot", "press-brake"})
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)
    assert "\n" not in str(refused.value) or "YAML" in message
