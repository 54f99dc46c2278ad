"""A bridge backfill across a server restart with durable history (issue 11, item 8).

Everything runs for real: `factory-sim serve reference-opcua --paused --history --history-db
FILE` (time moves only by Simulation.Step), a `factory-sim bridge` process, a private
Mosquitto and a paho subscriber as the consumer. The bridge is stopped, the plant goes on
without it, the server is stopped right after (SIGTERM) and started again on the same file,
then the bridge comes back.

What a consumer sees:
1. the values the first server kept while the bridge was away, backfilled from the durable
   history, in order, with the next sequence numbers of their topics;
2. then the restarted server's own values. A restarted server runs a *fresh* plant: the
   simulated state is not saved, only the history is, so its clock starts again at the
   scenario's start. Source times jump back; with the same seed the plant replays the same
   values at the same times, which a consumer receives again under new sequence numbers (they
   are new changes on the server, not re-deliveries). The history holds both runs in turn.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Client

from opcua_server.namespaces import PLANT
from tests.opcua.conftest import Simulation
from tests.services import MqttRecorder, Received, free_port
from tests.stack.processes import log_tails, start, start_server, stop

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(9000, 1, 1, tzinfo=UTC)
FIRST_STEP_S = 7 * 3600  # to 07:00 on the first Monday: the morning shift is at work
AWAY_STEP_S = 2 * 3600  # what the plant does while the bridge is away
HISTORY = ["--history", "--history-retention", "1d"]  # all of it, in both servers

Change = tuple[str, object]  # (source timestamp as the bridge writes it, value)


def samples(messages: list[Received]) -> dict[str, dict[int, Change]]:
    """nodeId -> seq -> (source timestamp, value); a repeated seq must repeat its change."""
    by_node: dict[str, dict[int, Change]] = defaultdict(dict)
    for message in messages:
        document = message.json() if message.payload else None
        if isinstance(document, dict) and "nodeId" in document and "seq" in document:
            change = (document["sourceTimestamp"], document["value"])
            seen = by_node[document["nodeId"]].setdefault(document["seq"], change)
            assert seen == change, f"{message.topic}: seq {document['seq']} means two changes"
    return by_node


def in_order(by_seq: dict[int, Change]) -> list[Change]:
    return [by_seq[seq] for seq in sorted(by_seq)]


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain(value: object) -> object:
    return getattr(value, "Text", value)  # a LocalizedText is published as its text


async def durable_history(url: str, node_ids: list[str]) -> dict[str, list[Change]]:
    """nodeId -> every change its history holds, in stored order."""
    history = {}
    async with Client(url, timeout=30) as client:
        for node_id in node_ids:
            values = await client.get_node(node_id).read_raw_history(SINCE, FAR)
            history[node_id] = [(stamp(v.SourceTimestamp), plain(v.Value.Value))
                                for v in values]
    return history


async def step(url: str, seconds: float) -> None:
    async with Client(url, timeout=120) as client:
        ns = await client.get_namespace_index(PLANT)
        await Simulation(client, ns).step(seconds)


async def reference_history(work: Path, node_ids: list[str]) -> dict[str, list[Change]]:
    """What a server with the same seed, stepped the same way, records (the plant is
    deterministic): the history of the first run must hold exactly this."""
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    server = start_server(["serve", "reference-opcua", "--paused", *HISTORY, "--port",
                           str(port)], port, work / "reference.log")
    try:
        await step(url, FIRST_STEP_S)
        await step(url, AWAY_STEP_S)
        history, previous = await durable_history(url, node_ids), None
        while history != previous:  # recorded on a 100 ms subscription: wait until complete
            await asyncio.sleep(0.5)
            history, previous = await durable_history(url, node_ids), history
        return history
    finally:
        stop([server])


def after_last_delivered(history: list[Change], delivered: list[Change]) -> list[Change]:
    """The changes of `history` a bridge that delivered `delivered` has not handed on yet."""
    last_time, last_value = delivered[-1]
    skip = 0
    for index, (time, value) in enumerate(history):
        if time > last_time:
            break
        if time < last_time or value == last_value:
            skip = index + 1
    return history[skip:]


async def test_a_bridge_backfills_what_a_restarted_server_kept_in_durable_history(
    mosquitto, tmp_path: Path
) -> None:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    serve = ["serve", "reference-opcua", "--paused", *HISTORY, "--history-db",
             str(tmp_path / "history.sqlite"), "--port", str(port)]
    bridge_argv = ["bridge", "--opcua", url, "--mqtt", mosquitto.url, "--client-id",
                   "bridge-restart", "--state-dir", str(tmp_path / "state")]
    recorder = MqttRecorder(mosquitto, "factory/#")
    processes: list[subprocess.Popen] = []
    try:
        server = start_server(serve, port, tmp_path / "serve.log")
        processes.append(server)
        bridge = start(bridge_argv, tmp_path / "bridge.log")
        processes.append(bridge)
        # every variable's first value: the bridge has subscribed to all of them
        first = await asyncio.to_thread(recorder.wait_until, lambda ms: len(samples(ms)) >= 100)
        assert len(samples(first)) >= 100, log_tails(tmp_path)
        await step(url, FIRST_STEP_S)

        bridge.send_signal(signal.SIGTERM)  # a clean stop: it delivers what it holds
        assert bridge.wait(30) == 0, log_tails(tmp_path)
        before = {node: in_order(by_seq) for node, by_seq in samples(recorder.settle()).items()}
        await step(url, AWAY_STEP_S)
        stop([server])  # at once: what the plant did last must be in the file too
        assert server.returncode == 0, log_tails(tmp_path)

        server = start_server(serve, port, tmp_path / "serve.log")
        processes.append(server)
        kept = await durable_history(url, list(before))
        bridge = start(bridge_argv, tmp_path / "bridge.log")
        processes.append(bridge)
        reference = await reference_history(tmp_path, list(before))
        for node, changes in reference.items():
            assert kept[node][:len(changes)] == changes, f"{node}: not all in the history"
        missed = {node: after_last_delivered(kept[node], changes)
                  for node, changes in before.items()}
        assert sum(map(len, missed.values())) > 100  # the plant did work while it was away

        def backfilled(messages: list[Received]) -> bool:
            now = samples(messages)
            return all(len(now.get(node, ())) >= len(before[node]) + len(missed[node])
                       for node in before)

        messages = await asyncio.to_thread(recorder.wait_until, backfilled, 60)
        messages = recorder.settle()
        after = samples(messages)
        for node, changes in before.items():
            by_seq = after[node]
            assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), f"{node}: seq gap"
            delivered = in_order(by_seq)
            assert delivered[:len(changes)] == changes, f"{node}: renumbered"
            backfill = delivered[len(changes):len(changes) + len(missed[node])]
            assert backfill == missed[node], f"{node}: not backfilled in order"
    finally:
        stop(processes)
        recorder.close()
