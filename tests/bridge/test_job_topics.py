"""The bridge publishes every cell's job orders (OPC 40001-3) on `.../<cell>/jobs` (issue 20):
each job order status event once, in the server's order, numbered without a gap, also across a
SIGKILLed bridge (what happened while it was away comes back from the server's event history).

Everything runs for real: the simulator's OPC UA server with event history, paused and
stepped by a client; the bridge as its own process (`factory-sim bridge`), killed and started
again; a private Mosquitto with a paho subscriber as the consumer. The bridge finds Job
Management by browsing (it imports nothing of the simulator).
"""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncua import Client, ua

from opcua_server.history import HistorySettings
from tests.bridge.test_mqtt_sink import validator
from tests.opcua.conftest import Simulation, make_plant, start_plant_server
from tests.services import MqttRecorder, Received
from tests.stack.processes import log_tails, start, stop

MORNING_S = 7 * 3600  # to 07:00 on the first Monday: the office dispatches, cells run
AWAY_S = 1800  # what the plant does while the bridge is away
AFTER_S = 900  # and once it is back
ISA95 = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/"
MACHINERY = "http://opcfoundation.org/UA/Machinery/"
STATES = {1: "NotAllowedToStart", 2: "AllowedToStart", 3: "Running", 4: "Interrupted",
          5: "Ended", 6: "Aborted"}
SETTLE_S = 120  # two cores, several test workers beside


def job_topics(messages: list[Received]) -> dict[str, dict[int, dict]]:
    """topic -> seq -> payload of every cell's jobs; a repeated seq (at least once) must
    repeat its payload."""
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for message in messages:
        if message.topic.endswith("/jobs"):
            document = message.json()
            seen = out[message.topic].setdefault(document["seq"], document)
            assert seen == document, f"{message.topic}: seq {document['seq']} reused"
    return out


def cell_of(topic: str) -> str:
    return topic.rsplit("/", 2)[-2]


async def job_history(client: Client, cells: list[str]) -> dict[str, list[tuple[str, int]]]:
    """cell -> (EventId as hex, StateNumber) of every job order status event its history
    holds, in order; read until two reads agree (history is recorded every 100 ms)."""
    isa = await client.get_namespace_index(ISA95)
    plant = await client.get_namespace_index("urn:factory-sim:plant")
    select = ua.EventFilter(SelectClauses=[
        ua.SimpleAttributeOperand(TypeDefinitionId=ua.NodeId(ua.ObjectIds.BaseEventType),
                                  BrowsePath=[ua.QualifiedName("EventId", 0)],
                                  AttributeId=ua.AttributeIds.Value),
        ua.SimpleAttributeOperand(TypeDefinitionId=ua.NodeId(1006, isa),
                                  BrowsePath=[ua.QualifiedName("JobState", isa)],
                                  AttributeId=ua.AttributeIds.Value)])
    previous = None
    while True:
        details = ua.ReadEventDetails(StartTime=datetime(2000, 1, 1, tzinfo=UTC),
                                      EndTime=datetime(9000, 1, 1, tzinfo=UTC),
                                      NumValuesPerNode=0, Filter=select)
        results = await client.uaclient.history_read(ua.HistoryReadParameters(
            HistoryReadDetails=details, TimestampsToReturn=ua.TimestampsToReturn.Both,
            NodesToRead=[ua.HistoryReadValueId(NodeId=ua.NodeId(cell, plant))
                         for cell in cells]))
        history = {cell: [(event_id.Value.hex(), state.Value[0].StateNumber)
                          for event_id, state in (e.EventFields for e in result.HistoryData.Events)
                          if state.Value]
                   for cell, result in zip(cells, results, strict=True)}
        if history == previous:
            return history
        previous = history
        await asyncio.sleep(0.5)


async def step(url: str, plant: int, seconds: float, cells: list[str]):
    """Run the plant on by `seconds` (a client of its own: a long step holds the server's
    loop), then read the cells' job order events from its history."""
    async with Client(url, timeout=180) as client:
        await Simulation(client, plant).step(seconds)
    async with Client(url, timeout=60) as client:
        return await job_history(client, cells)


def delivered_all(history: dict[str, list[tuple[str, int]]]):
    """Whether every cell's jobs topic carries its history's last job order event."""
    def done(messages: list[Received]) -> bool:
        topics = {cell_of(t): by_seq for t, by_seq in job_topics(messages).items()}
        return all(cell in topics and any(d.get("fields", {}).get("EventId") == events[-1][0]
                                          for d in topics[cell].values())
                   for cell, events in history.items() if events)
    return done


async def test_job_orders_reach_their_cells_topics_without_a_gap_across_a_bridge_kill(
    mosquitto, tmp_path: Path
) -> None:
    server = await start_plant_server(make_plant("reference-opcua"),
                                      history=HistorySettings(retention=timedelta(days=2)))
    recorder = MqttRecorder(mosquitto, "factory/#")
    argv = ["bridge", "--opcua", server.endpoint, "--mqtt", mosquitto.url, "--client-id",
            "bridge-jobs", "--state-dir", str(tmp_path / "state"), "--publishing-interval", "50"]
    bridge = start(argv, tmp_path / "bridge.log")
    url, plant = server.endpoint, server.ns.plant
    try:
        async with Client(url, timeout=60) as client:
            machinery = await client.get_namespace_index(MACHINERY)
            cells = sorted([(await machine.read_browse_name()).Name for machine in
                            await client.get_node(ua.NodeId(1001, machinery)).get_children()])
        # the bridge is up once the cells' first values are there
        await asyncio.to_thread(recorder.wait_until, lambda m: len(m) >= 50, SETTLE_S)
        history = await step(url, plant, MORNING_S, cells)
        await asyncio.to_thread(recorder.wait_until, delivered_all(history), SETTLE_S)
        bridge.send_signal(signal.SIGKILL)
        assert bridge.wait(10) == -signal.SIGKILL
        before = {cell_of(topic): by_seq
                  for topic, by_seq in job_topics(recorder.snapshot()).items()}
        away = await step(url, plant, AWAY_S, cells)  # job orders change, nobody reads them
        bridge = start(argv, tmp_path / "bridge.log")
        await asyncio.to_thread(recorder.wait_until, delivered_all(away), SETTLE_S)
        history = await step(url, plant, AFTER_S, cells)  # and live again
        await asyncio.to_thread(recorder.wait_until, delivered_all(history), SETTLE_S)
        messages = await asyncio.to_thread(recorder.settle)
        async with Client(url, timeout=60) as client:
            job_list = await job_order_lists(client, plant, history)
    finally:
        stop([bridge])
        recorder.close()
        await server.stop()
    topics = {cell_of(topic): by_seq for topic, by_seq in job_topics(messages).items()}
    assert len(topics) >= 3, log_tails(tmp_path)  # the cells with Job Management
    while_away, schema = 0, validator()
    for cell, by_seq in topics.items():
        assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), f"{cell}: a seq is missing"
        documents = [by_seq[seq] for seq in sorted(by_seq)]
        assert not [d for d in documents if "gap" in d], f"{cell}: a gap record"
        delivered = [(d["fields"]["EventId"], d["fields"]["StateNumber"]) for d in documents]
        events = history[cell]
        # each event once, in the server's order, from the first the bridge saw to the last
        start_at = events.index(delivered[0])
        assert delivered == events[start_at:], cell
        # the first bridge's numbers stand; what happened while it was away came back
        kept = before.get(cell, {})
        assert all(by_seq[seq] == document for seq, document in kept.items()), cell
        seen_before = {document["fields"]["EventId"] for document in kept.values()}
        while_away += sum(event not in seen_before for event, _ in away[cell][start_at:])
        for document in documents:
            schema.validate(document)
            fields = document["fields"]
            assert document["eventType"] == "ISA95JobOrderStatusEventType"
            assert fields["State"] == STATES[fields["StateNumber"]]
            assert isinstance(fields["JobOrderID"], str) and fields["JobOrderID"]
            assert fields["MaterialDefinitionID"] and fields["RunsPlanned"] >= 1
        # the cell's job order list: the last message of each job order tells its state now,
        # and an ended one's counts are those of its response
        last = {d["fields"]["JobOrderID"]: d["fields"] for d in documents}
        for job_order_id, (state, counts) in job_list[cell].items():
            assert last[job_order_id]["StateNumber"] == state, (cell, job_order_id)
            if counts is not None:
                assert (last[job_order_id]["RunsCompleted"],
                        last[job_order_id]["ScrapCount"]) == counts, (cell, job_order_id)
    assert while_away > 0  # the plant did dispatch while the bridge was away


async def job_order_lists(client: Client, plant: int, cells) -> dict[str, dict]:
    """cell -> JobOrderID -> (StateNumber, (RunsCompleted, ScrapCount) if Ended else None),
    read as any client reads them."""
    await client.load_data_type_definitions()
    out: dict[str, dict] = {}
    for cell in cells:
        control = f"{cell}/MachineryBuildingBlocks/JobManagement/JobOrderControl"
        entries = await client.get_node(ua.NodeId(f"{control}/JobOrderList", plant)).read_value()
        results = client.get_node(ua.NodeId(
            f"{cell}/MachineryBuildingBlocks/JobManagement/JobOrderResults", plant))
        out[cell] = {}
        for entry in entries or []:
            job_order_id, state = entry.JobOrder.JobOrderID, entry.State[0].StateNumber
            counts = None
            if state == 5:
                response, _ = await results.call_method(
                    ua.NodeId(f"{cell}/MachineryBuildingBlocks/JobManagement/JobOrderResults/"
                              "RequestJobResponseByJobOrderID", plant), job_order_id)
                data = {p.ID: p.Value.Value for p in response.JobResponseData}
                counts = (data["RunsCompleted"], data["ScrapCount"])
            out[cell][job_order_id] = (state, counts)
    return out
