"""Structures a server defines reach the unified namespace decoded, with their field names:
in MQTT as JSON objects, in the time series as one field per member (issue 23, item 2).

Against two servers: the in-test Machinery server with vendor structures (nested, with an
array and a structure of namespace 0 inside) and a value of a type it does not describe; and
the simulator as a separate process, whose PackML counts are arrays of PackMLCountDataType.
Against the simulator the bridge runs as a process of its own too: nothing registered in this
test process (asyncua registers structure classes process-wide) can decode for it.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from asyncua import Client

from opcua_server.namespaces import PLANT
from tests.bridge.bridges import running
from tests.bridge.machinery_server import MachineryServer, free_port
from tests.bridge.test_bridge_faults import PRESS, bridge_config, settle
from tests.opcua.conftest import Simulation
from tests.services import MqttRecorder, Received
from tests.stack.processes import log_tails, start, start_server, stop

TOOL_RECORD = f"{PRESS}/Monitoring/ToolRecord"
MYSTERY = f"{PRESS}/Monitoring/Mystery"


def last(messages: list[Received], topic: str) -> dict | None:
    found = [m.json() for m in messages if m.topic == topic]
    return max(found, key=lambda d: d["seq"]) if found else None


async def test_a_servers_own_structures_arrive_with_their_field_names(
    mosquitto, victoria_metrics, tmp_path: Path
) -> None:
    server = MachineryServer(free_port(), structures=True)
    server.start()
    recorder = MqttRecorder(mosquitto, "factory/#")
    config = bridge_config(server, mosquitto, tmp_path / "state", influx__url=victoria_metrics.url)
    try:
        async with running(config) as bridge:
            await settle(recorder, lambda m: last(m, TOOL_RECORD) is not None)
            await asyncio.to_thread(server.set_tool_record, "Press1", 3, "die-12", 61.5, 9000)
            messages = await settle(recorder, lambda m: (last(m, TOOL_RECORD) or {}).get(
                "value", {}).get("Station") == 3)
            stats = bridge.stats()["opcua"]
            # read while the bridge runs: its time-series sink may still be delivering
            cycles = await asyncio.to_thread(values_of, victoria_metrics,
                                             '{__name__="monitoring_ToolRecord_Wear_Cycles"}', 9000)
            samples = await asyncio.to_thread(
                values_of, victoria_metrics, '{__name__="monitoring_ToolRecord_Wear_Samples_1"}',
                61.5)
    finally:
        recorder.close()
        server.stop()
    assert last(messages, TOOL_RECORD)["value"] == {
        "Station": 3,
        "Wear": {"Tool": "die-12", "Wear": 61.5, "Cycles": 9000,
                 "Limits": {"Low": 0.0, "High": 100.0}, "Samples": [60.5, 61.5]}}
    mystery = last(messages, MYSTERY)["value"]
    assert "not described by the server" in mystery["decodeError"]
    assert mystery["body"] == "010203"
    assert stats["decode_errors"] >= 1
    assert cycles == {4000, 9000}
    assert 61.5 in samples


def values_of(database, match: str, awaited: float, timeout: float = 60.0) -> set[float]:
    """The values of the matching series, once `awaited` is among them (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {v for s in database.export(match) for v in s["values"]}
        if awaited in found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


async def test_packml_counts_of_the_simulator_arrive_as_objects_with_a_count(
    mosquitto, victoria_metrics, tmp_path: Path
) -> None:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    recorder = MqttRecorder(mosquitto, "factory/#")
    processes: list[subprocess.Popen] = []

    def counts(messages: list[Received]) -> list[dict]:
        return [m.json() for m in messages if m.topic.endswith("/ProdProcessedCount")]

    def counted(messages: list[Received]) -> bool:
        return any(isinstance(d.get("value"), list) and d["value"]
                   and d["value"][0].get("Count", 0) > 0 for d in counts(messages))

    try:
        processes.append(start_server(["serve", "reference-opcua", "--paused", "--port",
                                       str(port)], port, tmp_path / "serve.log"))
        processes.append(start(["bridge", "--opcua", url, "--mqtt", mosquitto.url, "--influx",
                                victoria_metrics.url, "--state-dir", str(tmp_path / "state")],
                               tmp_path / "bridge.log"))
        await asyncio.to_thread(recorder.wait_until, lambda m: counts(m), 120)
        async with Client(url, timeout=10) as client:
            ns = await client.get_namespace_index(PLANT)
            await Simulation(client, ns).step(8 * 3600)
        messages = await asyncio.to_thread(recorder.wait_until, counted, 120)
    finally:
        stop(processes)
        recorder.close()
    documents = counts(messages)
    assert documents, log_tails(tmp_path)
    assert not any("decodeError" in c for d in documents for c in d["value"] or [])
    newest = max((d for d in documents if d["value"]), key=lambda d: d["sourceTimestamp"])
    (count,) = newest["value"]
    assert {"ID", "Name", "Unit", "Count", "AccCount"} <= set(count)
    assert count["Count"] > 0 and count["Name"] == "parts"
    series = victoria_metrics.wait_for_samples(
        '{__name__=~".*_ProdProcessedCount_0_Count"}', 1)
    assert max(v for s in series for v in s["values"]) > 0

