"""Events a server keeps no history of (issue 11): after a gap they cannot be read back, so a
consumer sees a gap record in the machine's events and alarms (and job orders, issue 20),
counted and warned.

Everything runs for real: the simulator's OPC UA server, paused and stepped by a client, as
it serves by default (no history), a bridge run in this process, stopped and run again, and
a private Mosquitto with a paho subscriber as the consumer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from pathlib import Path

import pytest
from asyncua import Client

from mqtt_bridge.config import load
from tests.bridge.bridges import running
from tests.opcua.conftest import Simulation, make_plant, start_plant_server
from tests.services import MqttRecorder, Received

MORNING_S = 7 * 3600  # to 07:00 on the first Monday: the morning shift starts its machines
AWAY_S = 3600  # what the plant does while the bridge is away
KINDS = ("events", "alarms", "jobs")  # a cell with Job Management has a third sequence


def event_topics(messages: list[Received]) -> dict[str, dict[int, dict]]:
    """topic -> seq -> payload, of every machine's events and alarms; a repeated seq (at least
    once) must repeat its payload."""
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for message in messages:
        if message.topic.rsplit("/", 1)[-1] in KINDS:
            document = message.json()
            seen = out[message.topic].setdefault(document["seq"], document)
            assert seen == document, f"{message.topic}: seq {document['seq']} reused"
    return out


def in_order(by_seq: dict[int, dict]) -> list[dict]:
    assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), "a seq is missing"
    return [by_seq[seq] for seq in sorted(by_seq)]


def cell_of(topic: str) -> str:
    return topic.rsplit("/", 2)[-2]


def cells_with_gaps(messages: list[Received]) -> set[str]:
    return {cell_of(topic) for topic, by_seq in event_topics(messages).items()
            if any("gap" in document for document in by_seq.values())}


async def step(endpoint: str, ns: int, seconds: float) -> None:
    async with Client(endpoint, timeout=60) as client:
        await Simulation(client, ns).step(seconds)


async def test_events_of_a_gap_a_server_keeps_no_history_of_are_a_gap_record(
    mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_plant_server(make_plant("reference-opcua"))
    recorder = MqttRecorder(mosquitto, "factory/#")
    config = load({("opcua", "url"): server.endpoint, ("mqtt", "url"): mosquitto.url,
                   ("opcua", "publishing_interval"): 50.0, ("", "state_dir"): str(tmp_path)},
                  env={})
    try:
        async with running(config):
            await step(server.endpoint, server.ns.plant, MORNING_S)
            await asyncio.to_thread(recorder.wait_until,
                                    lambda m: len(event_topics(m)) >= 3, 60)
        first = event_topics(await asyncio.to_thread(recorder.settle))
        cells = {cell_of(topic) for topic in first}
        assert len(cells) >= 3
        await step(server.endpoint, server.ns.plant, AWAY_S)  # events nobody reads
        with caplog.at_level(logging.WARNING):
            async with running(config) as bridge:
                await asyncio.to_thread(recorder.wait_until,
                                        lambda m: cells_with_gaps(m) >= cells, 60)
                await step(server.endpoint, server.ns.plant, AWAY_S)  # events read again
                await asyncio.to_thread(recorder.wait_until, lambda m: any(
                    len(by_seq) > len(first.get(topic, ())) + 1
                    for topic, by_seq in event_topics(m).items()), 60)
        stats = bridge.source.stats()  # stopped: final
        messages = await asyncio.to_thread(recorder.settle)
    finally:
        recorder.close()
        await server.stop()
    topics = event_topics(messages)
    assert cells_with_gaps(messages) == cells  # the machines whose events were handed on
    after_gap = 0
    for topic, by_seq in topics.items():
        documents = in_order(by_seq)
        gaps = [index for index, document in enumerate(documents) if "gap" in document]
        if cell_of(topic) not in cells:
            assert not gaps, topic
            continue
        # one gap, in the topic's own sequence, right after what the first bridge handed on
        assert gaps == [len(first.get(topic, {}))], topic
        gap = documents[gaps[0]]["gap"]
        assert "no event history" in gap["reason"] and gap["to"] is None, gap
        # from the last event of the machine handed on (of either kind)
        last = max(document["time"] for kind in KINDS
                   for document in first.get(topic.rsplit("/", 1)[0] + "/" + kind, {}).values())
        assert gap["from"] == last, topic
        after_gap += len(documents) - gaps[0] - 1
    # both sequences of every such machine carry it; counted and warned
    assert {topic for topic, by_seq in topics.items()
            if any("gap" in d for d in by_seq.values())} == {
        f"{topic.rsplit('/', 1)[0]}/{kind}" for topic in first for kind in KINDS}
    published = {(m.topic, m.json()["seq"]) for m in messages
                 if m.payload and "gap" in m.json()}  # variables' gaps too: none is historized
    assert stats["gaps"] == len(published) >= 2 * len(cells)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("lost changes" in w and "no event history" in w for w in warnings), warnings
    assert after_gap > 0  # events flow again after the gap
