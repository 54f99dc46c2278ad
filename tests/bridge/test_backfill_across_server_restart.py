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
   The bridge skips a live value only if history handed on that very change (same source
   time, same value), so the fresh plant's values reach the consumer even when they arrive
   while the bridge backfills: once it caught up, every tag's newest message is the restarted
   server's value now.
3. right before the first value whose time went back, once per variable, a gap record: what
   the fresh plant changed before the bridge subscribed again is older than what was handed
   on, outside the history the bridge reads, and cannot be told apart from the first run's
   changes there (the bridge kept the server's start time in its journal, so it knows the
   server restarted although it was itself stopped meanwhile).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asyncua import Client, ua

from opcua_server.namespaces import PLANT
from tests.opcua.conftest import Simulation
from tests.services import (
    MOSQUITTO,
    Mosquitto,
    MqttRecorder,
    Received,
    free_port,
    require_binary,
    running,
)
from tests.stack.processes import log_tails, start, start_server, stop

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
# PackML's counts and Job Management's job order lists are structures: whether this test
# process decodes them as a class or as a raw ExtensionObject depends on which in-process
# server ran in it before (asyncua registers structure classes process-wide), so under
# pytest-xdist their values are not comparable here;
# tests/bridge/test_fast_decoding.py and tests/opcua cover how they are decoded and published.
UNCOMPARED = ("/PackML/Admin/", "/JobManagement/")
FAR = datetime(9000, 1, 1, tzinfo=UTC)
FIRST_STEP_S = 7 * 3600  # to 07:00 on the first Monday: the morning shift is at work
AWAY_STEP_S = 2 * 3600  # what the plant does while the bridge is away
HISTORY = ["--history", "--history-retention", "1d"]  # all of it, in both servers
# the bridge hands on a 7-hour step of 140 variables within seconds alone, but the suite runs
# three workers on two cores beside it
SETTLE_S = 180

Change = tuple[str, object]  # (source timestamp as the bridge writes it, value)
GAP = "gap"  # a gap record's change: (GAP, its "gap" object)


def samples(messages: list[Received]) -> dict[str, dict[int, Change]]:
    """nodeId -> seq -> (source timestamp, value), or (GAP, gap) for a gap record; a repeated
    seq must repeat its change."""
    by_node: dict[str, dict[int, Change]] = defaultdict(dict)
    for message in messages:
        document = message.json() if message.payload else None
        if (isinstance(document, dict) and "nodeId" in document and "seq" in document
                and not any(part in document["nodeId"] for part in UNCOMPARED)):
            change = ((GAP, document["gap"]) if "gap" in document
                      else (document["sourceTimestamp"], document["value"]))
            seen = by_node[document["nodeId"]].setdefault(document["seq"], change)
            assert seen == change, f"{message.topic}: seq {document['seq']} means two changes"
    return by_node


def in_order(by_seq: dict[int, Change]) -> list[Change]:
    return [by_seq[seq] for seq in sorted(by_seq)]


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain(value: object) -> object:
    """A value as the bridge publishes it (for the types these machines have)."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, ua.ExtensionObject):  # a structure the client has no class for
        return {"TypeId": value.TypeId.to_string(), "Encoding": value.Encoding,
                "Body": value.Body.hex()}
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


async def current_values(url: str, node_ids: list[str]) -> dict[str, Change]:
    """nodeId -> its value now (a variable the fresh plant has not written yet included: it
    answers BadWaitingForInitialData, the value the bridge publishes as null)."""
    async with Client(url, timeout=30) as client:
        values = await client.uaclient.read(ua.ReadParameters(NodesToRead=[
            ua.ReadValueId(NodeId=ua.NodeId.from_string(node_id),
                           AttributeId=ua.AttributeIds.Value) for node_id in node_ids]))
    return {node_id: (v.SourceTimestamp and stamp(v.SourceTimestamp),
                      plain(v.Value.Value) if v.Value is not None else None)
            for node_id, v in zip(node_ids, values, strict=True)}


@dataclass
class Restart:
    before: dict[str, list[Change]]  # delivered before the bridge stopped, in seq order
    after: dict[str, dict[int, Change]]  # delivered in all, by seq
    reference: dict[str, list[Change]]  # what the first server did (a same-seed replay)
    kept: dict[str, list[Change]]  # its durable history, read from the restarted server
    current: dict[str, Change]  # the restarted server's values once the bridge caught up


@pytest.fixture(scope="module")
def restart(tmp_path_factory: pytest.TempPathFactory) -> Restart:
    require_binary(MOSQUITTO)
    work = tmp_path_factory.mktemp("backfill-restart")
    with running(Mosquitto(work / "mosquitto")) as broker:
        return asyncio.run(_restart(broker, work))


async def _restart(mosquitto: Mosquitto, tmp_path: Path) -> Restart:
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
        now = await current_values(url, list(samples(first)))

        def delivered_now(messages: list[Received]) -> bool:
            got = samples(messages)
            return all(node in got and in_order(got[node])[-1] == change
                       for node, change in now.items())

        # the bridge has handed on the step (stopping it earlier is the same case, with a
        # race between its live values and its backfill that this test does not aim at)
        handed_on = await asyncio.to_thread(recorder.wait_until, delivered_now, SETTLE_S)
        missing = {node: change for node, change in now.items()
                   if node not in samples(handed_on)
                   or in_order(samples(handed_on)[node])[-1] != change}
        assert not missing, f"not handed on after the step: {missing}\n{log_tails(tmp_path)}"
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

        now_then = await current_values(url, list(before))  # paused: they stay as they are

        def caught_up(messages: list[Received]) -> bool:
            got = samples(messages)
            return (all(len(got.get(node, ())) >= len(reference[node]) for node in before)
                    and all(node in got and in_order(got[node])[-1] == change
                            for node, change in compared(now_then).items()))

        await asyncio.to_thread(recorder.wait_until, caught_up, SETTLE_S)
        current = await current_values(url, list(before))
        return Restart(before, samples(recorder.settle()), reference, kept, current)
    finally:
        stop(processes)
        recorder.close()


def replayable(by_node: dict[str, list[Change]]) -> dict[str, list[Change]]:
    """Leave out the KPIs: the server publishes them once per slice of a Step, and where a
    slice ends depends on the wall clock, so a same-seed run stamps them differently."""
    return {node: changes for node, changes in by_node.items() if "/Kpi/" not in node}


def compared(by_node: dict[str, Change]) -> dict[str, Change]:
    """The variables whose value now is compared with what a consumer sees last: not the
    KPIs (as in `replayable`)."""
    return {node: change for node, change in by_node.items() if "/Kpi/" not in node}


def test_the_restarted_server_kept_everything_the_first_one_did(restart: Restart) -> None:
    assert sum(map(len, restart.reference.values())) > 1000
    for node, changes in replayable(restart.reference).items():
        assert restart.kept[node][:len(changes)] == changes, f"{node}: not all in the history"


def test_what_the_bridge_missed_is_backfilled_in_order_with_the_next_numbers(
    restart: Restart,
) -> None:
    backfilled = 0
    for node, before in replayable(restart.before).items():
        by_seq = restart.after[node]
        assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), f"{node}: a seq is missing"
        delivered = in_order(by_seq)
        assert delivered[:len(before)] == before, f"{node}: renumbered"
        missed = [change for change in restart.reference[node] if change not in before]
        assert delivered[len(before):len(before) + len(missed)] == missed, node
        backfilled += len(missed)
    assert backfilled > 100  # the plant did work while the bridge was away


def last_time(changes: list[Change]) -> str:
    return max((when for when, _ in changes if when not in (None, GAP)), default="")


def test_a_consumer_sees_the_restarted_servers_values_last(restart: Restart) -> None:
    """Nothing stale: the fresh plant's values, older than the backfilled ones, were not
    taken for repeats of what history handed on."""
    newest = {node: in_order(restart.after[node])[-1] if restart.after.get(node) else None
              for node in compared(restart.current)}
    stale = {node: (newest[node], change) for node, change in compared(restart.current).items()
             if newest[node] != change}
    assert not stale, f"{len(stale)} of {len(newest)} stale: {stale}"
    went_back = [node for node, (when, _) in compared(restart.current).items()
                 if when is not None and when < last_time(restart.before[node])]
    assert len(went_back) > 50  # the restart did take the clock back


def test_a_gap_record_precedes_the_first_value_whose_time_went_back(restart: Restart) -> None:
    gaps = 0
    for node, before in replayable(restart.before).items():
        delivered = in_order(restart.after[node])
        last = last_time(before)
        for index, (when, detail) in enumerate(delivered):
            if when == GAP:
                # once, from an unknown start to the next value, which went back
                assert detail["from"] is None and "clock went back" in detail["reason"], node
                assert delivered[index + 1][0] == detail["to"] < last, node
                gaps += 1
        first_back = next((index for index, (when, _) in enumerate(delivered)
                           if index >= len(before) and when not in (None, GAP) and when < last),
                          None)
        if first_back is not None:
            assert delivered[first_back - 1][0] == GAP, f"{node}: no gap before {first_back}"
        assert sum(when == GAP for when, _ in delivered) == (first_back is not None), node
    assert gaps > 50
