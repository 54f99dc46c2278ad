"""`factory-sim demo` end to end: real processes, a real broker, checked over MQTT and OPC UA."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from asyncua import Client, ua

from factory_sim.shipped import shipped_scenarios_dir
from tests.demo.demo_process import FACTORY_SIM, ROOT, Broker, DemoProcess, wait_gone
from tests.services import MqttRecorder, free_port

PLANT_NS = "urn:factory-sim:plant"
FAST = ["--speed", "3000"]


def state_values(recorder: MqttRecorder, plant: str) -> dict[str, set[str]]:
    """Every MachineryItemState each cell of `plant` published, by cell."""
    seen: dict[str, set[str]] = {}
    for message in recorder.snapshot(lambda m: m.topic.startswith(f"{plant}/")
                                     and m.topic.endswith("/state/CurrentState")):
        cell = message.topic.split("/")[-3]
        seen.setdefault(cell, set()).add(message.json()["value"])
    return seen


async def read_plant(endpoint: str) -> dict:
    """SimulatedTime twice, the simulator view's cells, and what the factory's model has."""
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index(PLANT_NS)
        sim_time = client.get_node(ua.NodeId("Simulation/SimulatedTime", ns))
        first = await sim_time.read_value()
        await asyncio.sleep(1.5)
        second = await sim_time.read_value()
        view = client.get_node(ua.NodeId("SimulatorView", ns))
        note = await client.get_node(ua.NodeId("SimulatorView/Note", ns)).read_value()
        description = (await view.read_description()).Text
        cells = [(await c.read_browse_name()).Name for c in await client.get_node(
            ua.NodeId("SimulatorView/Cells", ns)).get_children()]
        states = {cell: await client.get_node(
            ua.NodeId(f"SimulatorView/Cells/{cell}/ItemState", ns)).read_value() for cell in cells}
        try:  # security is on: an anonymous client may read, not command
            await client.get_node(ua.NodeId("Simulation", ns)).call_method(
                ua.NodeId("Simulation/Pause", ns))
            anonymous_may_pause = True
        except ua.uaerrors.BadUserAccessDenied:
            anonymous_may_pause = False
        machinery = await client.get_namespace_index("http://opcfoundation.org/UA/Machinery/")
        machines = await client.get_node(ua.NodeId(1001, machinery)).get_children()
        return {"times": (first, second), "note": note, "description": description,
                "cells": cells, "states": states, "machines": len(machines),
                "anonymous_may_pause": anonymous_may_pause}


def plant_oee(recorder: MqttRecorder, plant: str) -> list[float]:
    """The plant OEE values `plant`'s bridge published ([[nodes]]: .../plant/kpi/OEE)."""
    return [value for m in recorder.snapshot(lambda m: m.topic.startswith(f"{plant}/")
                                             and m.topic.endswith("/plant/kpi/OEE"))
            if isinstance(value := m.json()["value"], float)]


def check_demo_is_live(demo: DemoProcess) -> None:
    assert set(demo.opcua) == {"reference-standalone", "reference-opcua"}
    recorder = MqttRecorder(Broker(demo.mqtt), topic="#")
    try:
        # The connected plant's unified namespace: every cell publishes states that change,
        # and the bridge publishes the plant's OEE, configured as [[nodes]].
        seen = recorder.wait_until(
            lambda _: (lambda s: len(s) == 4 and all(len(v) >= 2 for v in s.values()))(
                state_values(recorder, "reference-opcua"))
            and plant_oee(recorder, "reference-opcua"), timeout=60)
        assert all(0 <= oee <= 1 for oee in plant_oee(recorder, "reference-opcua"))
        states = state_values(recorder, "reference-opcua")
        assert sorted(states) == ["cobot", "packing", "press-brake", "punch-laser"], states
        assert all(len(values) >= 2 for values in states.values()), states
        # The stand-alone plant's bridge runs, unchanged, and finds no machine to publish:
        # only what the office knows of the plant (its KPIs, the paper shift reports).
        topics = {m.topic for m in seen}
        assert "reference-standalone/_bridge/bridge-reference-standalone/status" in topics
        assert not [t for t in topics if t.startswith("reference-standalone/")
                    and "/_bridge/" not in t and t.split("/")[-3] != "plant"], (
            "a stand-alone cell appeared on the UNS")
    finally:
        recorder.close()

    standalone = asyncio.run(read_plant(demo.opcua["reference-standalone"]))
    connected = asyncio.run(read_plant(demo.opcua["reference-opcua"]))
    for plant in (standalone, connected):
        assert plant["times"][1] > plant["times"][0]  # both plants run
        assert plant["cells"] == ["punch-laser", "press-brake", "cobot", "packing"]
        assert "not part of the factory" in plant["note"]
        assert "not part of the factory" in plant["description"]
        assert set(plant["states"].values()) <= {"Executing", "NotExecuting", "OutOfService",
                                                 "NotAvailable"}
        assert plant["anonymous_may_pause"] is False
    assert standalone["machines"] == 0 and connected["machines"] == 4

    with urllib.request.urlopen(demo.dashboard, timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(demo.dashboard + "api/stats", timeout=10) as response:
        assert json.load(response)["mqtt_messages"] > 0  # the dashboard reads the UNS


def test_demo_with_the_embedded_broker_is_live_on_mqtt_and_opcua():
    with DemoProcess(FAST) as demo:
        print(f"ready in {demo.ready_s} s")
        assert demo.mqtt.startswith("mqtt://127.0.0.1:")
        assert "(embedded)" in "\n".join(demo.lines)
        assert any(line.startswith("opcua login for methods: trainer / ") for line in demo.lines)
        check_demo_is_live(demo)


def test_demo_with_a_real_mosquitto_and_sparkplug_beside_isa95(mosquitto):
    with DemoProcess([*FAST, "--mqtt", mosquitto.url, "--uns", "sparkplug"]) as demo:
        assert demo.mqtt == mosquitto.url
        assert not any("embedded_broker" in cmd for cmd in demo.children().values())
        assert any(line.startswith("uns sparkplug (beside ISA-95") for line in demo.lines)
        check_demo_is_live(demo)  # the dashboard reads ISA-95 as before
        check_sparkplug_is_live(demo)


def test_demo_with_a_real_mosquitto_and_umh_beside_isa95(mosquitto):
    with DemoProcess([*FAST, "--mqtt", mosquitto.url, "--uns", "umh"]) as demo:
        assert any(line.startswith("uns umh (beside ISA-95") for line in demo.lines)
        recorder = MqttRecorder(mosquitto, topic="umh/#")
        try:
            check_demo_is_live(demo)  # the dashboard reads ISA-95 as before
            before = dashboard_stats(demo)["mqtt_messages"]
            check_umh_is_live(recorder)
        finally:
            recorder.close()
        # ... and keeps reading it with UMH beside: its count of messages still grows
        assert wait_for(lambda: dashboard_stats(demo)["mqtt_messages"] > before, 30)


def dashboard_stats(demo: DemoProcess) -> dict:
    with urllib.request.urlopen(demo.dashboard + "api/stats", timeout=10) as response:
        return json.load(response)


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def check_umh_is_live(recorder: MqttRecorder) -> None:
    """Every plant's bridge publishes UMH's data model with the plant's name as originID: the
    connected plant's machines and states, and every plant's shifts (the shipped [[nodes]]
    file bridges Plant/CurrentShift); every message follows UMH's schemas and topic rules."""
    from tests.bridge.umh_contract import check

    line = "umh/v1/factory/plant-1/fabrication/line-1"
    shifts = {f"{line}/plant/{plant}/_analytics/shift/add"
              for plant in ("reference-opcua", "reference-standalone")}

    def states_and_shifts(messages) -> bool:
        topics = {m.topic for m in messages}
        return shifts <= topics and all(
            f"{line}/{cell}/reference-opcua/_analytics/state/add" in topics
            for cell in ("cobot", "packing", "press-brake", "punch-laser"))

    messages = recorder.wait_until(states_and_shifts, timeout=60)
    for message in messages:
        _contract, path, document = check(message.topic, message.payload)
        if path == "shift/add":
            assert document["end_time_unix_ms"] > document["start_time_unix_ms"]
    assert {m.topic.split("/")[7] for m in messages} == {"reference-opcua",
                                                        "reference-standalone"}
    assert any("/_historian/" in m.topic for m in messages)


def check_sparkplug_is_live(demo: DemoProcess) -> None:
    """A Sparkplug host joining late asks the plant's edge node for a rebirth and gets every
    machine as a device, with its metrics named, then data by alias."""
    from mqtt_bridge.outputs.sparkplug import payload as spb
    from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb

    node = "spBv1.0/factory-sim/{}/reference-opcua"
    recorder = MqttRecorder(Broker(demo.mqtt), topic="spBv1.0/#")
    try:
        request = pb.Payload()
        request.metrics.add(name=spb.REBIRTH, datatype=11, boolean_value=True)
        recorder._client.publish(node.format("NCMD"), request.SerializeToString(), qos=1)
        messages = recorder.wait_until(lambda ms: any(
            m.topic.startswith(node.format("DDATA")) for m in ms) and any(
            m.topic == node.format("NBIRTH") for m in ms), timeout=60)
    finally:
        recorder.close()
    births = {m.topic.rsplit("/", 1)[1]: pb.Payload.FromString(m.payload) for m in messages
              if m.topic.startswith(node.format("DBIRTH"))}
    machines = [f"factory:plant-1:fabrication:line-1:{cell}" for cell in
                ("cobot", "packing", "press-brake", "punch-laser")]
    assert set(machines) <= set(births), sorted(births)  # (and the [[nodes]] objects)
    for machine in machines:
        assert "state:CurrentState" in {metric.name for metric in births[machine].metrics}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_every_process(signum):
    demo = DemoProcess(FAST).start()
    commands = demo.children()
    # the one-shot replay may still run or be done: the long-running ones are counted
    pids = [demo.process.pid, *(pid for pid, command in commands.items()
                                if "demo_replay" not in command)]
    # demo, 2 servers, 2 bridges, broker, page
    assert len(pids) == 1 + 2 + 2 + 1 + 1, commands
    pids = demo.pids()  # all of them must be gone after the stop
    code = demo.stop(signum)
    assert code == 0, "\n".join(demo.lines)
    assert wait_gone(pids, timeout=5) == [], commands
    assert demo.lines[-1] == f"factory-sim demo: stopped; logs kept in {demo.logs}"


def test_the_logs_stay_where_the_trainer_asked(tmp_path):
    logs = tmp_path / "class-monday"
    demo = DemoProcess([*FAST, "--logs", str(logs)]).start()
    assert demo.logs == str(logs.resolve())
    assert demo.stop() == 0
    assert (logs / "dashboard.log").is_file() and (logs / "serve-reference-opcua.log").is_file()
    assert demo.lines[-1].endswith(f"logs kept in {logs.resolve()}")
    # the figures of the replay strip, from the same scenarios and seed, four weeks ahead
    replay = json.loads((logs / "replay.json").read_text()) if (logs / "replay.json").exists() \
        else None
    if replay is not None:
        assert [p["name"] for p in replay["plants"]] == ["reference-standalone",
                                                         "reference-opcua"]
        assert len(replay["plants"][0]["days"]) == 28


def run_demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FACTORY_SIM, "demo", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("factory-sim demo: error: ")
    return lines[0]


def test_a_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(run_demo("--port", str(port)))
    assert f"127.0.0.1:{port}" in line


def test_a_broker_that_does_not_answer_is_one_line_and_exit_2():
    port = free_port()
    line = one_error_line(run_demo("--port", str(free_port()), "--mqtt", f"mqtt://127.0.0.1:{port}"))
    assert f"mqtt://127.0.0.1:{port}" in line


def test_a_silent_listener_is_not_a_broker():
    with socket.socket() as silent:  # accepts TCP, never answers MQTT
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"mqtt://127.0.0.1:{silent.getsockname()[1]}"
        line = one_error_line(run_demo("--port", str(free_port()), "--mqtt", url))
    assert "does not answer" in line


@pytest.mark.parametrize(("args", "expected"), [
    (["no-such-scenario"], "no-such-scenario"),
    (["reference-opcua", "reference-opcua"], "its own name"),
    (["--speed", "0"], "--speed"),
    (["a", "b", "c", "d", "e"], "1 to 4"),
    (["--mqtt", "http://x"], "--mqtt"),
    (["--allowed-host", "factory.example/x"], "--allowed-host 'factory.example/x': expected"),
])
def test_bad_input_is_one_line_and_exit_2(args, expected):
    assert expected in one_error_line(run_demo("--port", str(free_port()), *args))


def test_a_bad_scenario_file_names_the_file_and_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((shipped_scenarios_dir() / "reference-opcua.yaml").read_text()
                   .replace("mtbf: 14h", "mtbf: often"))
    line = one_error_line(run_demo("--port", str(free_port()), str(bad)))
    assert "bad.yaml" in line and "mtbf" in line


def test_a_process_that_dies_ends_the_demo_with_every_other_process():
    demo = DemoProcess(FAST).start()
    pids = demo.pids()
    broker = next(pid for pid, cmd in demo.children().items() if "embedded_broker" in cmd)
    os.kill(broker, signal.SIGKILL)
    assert demo.process.wait(30) == 1
    assert wait_gone(pids, timeout=5) == []
    error = [line for line in demo.lines if "error" in line]
    assert error and "broker stopped" in error[-1], demo.lines


def test_a_multi_line_plant_is_bridged_in_machine_mode_and_reaches_the_dashboard():
    with DemoProcess([*FAST, "--lines", "2", "reference-opcua"]) as demo:
        assert list(demo.opcua) == ["reference-opcua"]
        recorder = MqttRecorder(Broker(demo.mqtt), topic="reference-opcua/#")
        try:
            batches = recorder.wait_until(
                lambda ms: any(m.topic.endswith("/updates") for m in ms), timeout=60)
        finally:
            recorder.close()
        batch = next(m for m in batches if m.topic.endswith("/updates")).json()
        assert batch["updates"][0]["topic"].startswith("reference-opcua/")

        def dashboard_counts() -> dict:
            with urllib.request.urlopen(demo.dashboard + "api/stats", timeout=10) as response:
                return json.load(response)

        assert dashboard_counts()["mqtt_messages"] > 0
