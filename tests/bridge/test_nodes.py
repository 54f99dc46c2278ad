"""Any node bridged (issue 23, item 3): `[[nodes]]` in the bridge configuration bridges
objects outside Machinery machines, here the simulator's plant KPIs, with the server and the
bridge as processes and a real Mosquitto."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from asyncua import Client

from mqtt_bridge.config import ConfigError, load
from opcua_server.namespaces import PLANT
from tests.bridge.machinery_server import free_port
from tests.opcua.conftest import Simulation
from tests.services import MqttRecorder, Received
from tests.stack.processes import log_tails, start, start_server, stop


async def test_plant_kpis_outside_any_machine_are_bridged_by_configuration(
    mosquitto, tmp_path: Path
) -> None:
    """`[[nodes]]` bridges the simulator's Objects/Plant/Kpi, which no Machinery browse finds,
    under the topic configured, numbered like a machine's values."""
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    config = tmp_path / "bridge.toml"
    config.write_text('[[nodes]]\nbrowse_path = "Plant/Kpi"\ntopic = "plant"\ngroup = "kpi"\n\n'
                      '[[nodes]]\nbrowse_path = "Plant/NoSuchThing"\ntopic = "nowhere"\n')
    oee = "factory/site/area/line/plant/kpi/OEE"
    recorder = MqttRecorder(mosquitto, "factory/#")
    processes: list[subprocess.Popen] = []

    def numbers(messages: list[Received]) -> list[float]:
        return [m.json()["value"] for m in messages if m.topic == oee
                and isinstance(m.json().get("value"), float)]

    try:
        processes.append(start_server(["serve", "reference-opcua", "--paused", "--port",
                                       str(port)], port, tmp_path / "serve.log"))
        processes.append(start(["bridge", "--opcua", url, "--mqtt", mosquitto.url, "--config",
                                str(config), "--state-dir", str(tmp_path / "state")],
                               tmp_path / "bridge.log"))
        await asyncio.to_thread(recorder.wait_until,
                                lambda m: any(x.topic == oee for x in m), 120)
        async with Client(url, timeout=10) as client:
            ns = await client.get_namespace_index(PLANT)
            await Simulation(client, ns).step(8 * 3600)
        messages = await asyncio.to_thread(recorder.wait_until, numbers, 120)
    finally:
        stop(processes)
        recorder.close()
    assert numbers(messages), log_tails(tmp_path)
    assert all(0.0 <= v <= 1.0 for v in numbers(messages))
    seqs = sorted(m.json()["seq"] for m in messages if m.topic == oee)
    assert seqs == list(range(1, len(seqs) + 1))
    assert "Plant/NoSuchThing not found" in (tmp_path / "bridge.log").read_text()


@pytest.mark.parametrize(("tables", "message"), [
    ('[[nodes]]\nbrowse_path = "Plant/Kpi"\n', "topic is missing"),
    ('[[nodes]]\ntopic = "plant"\n', "give browse_path or node_id"),
    ('[[nodes]]\ntopic = "a/b/c/d/e"\nbrowse_path = "X"\n', "expected 1 to 4 levels"),
    ('[[nodes]]\ntopic = "plant"\nnode_id = "ns=x;q=1"\n', "node_id 'ns=x;q=1'"),
    ('[[nodes]]\ntopic = "plant"\nbrowse_path = "X"\nqueue = "1"\n', "unknown key 'queue'"),
    ('nodes = "Plant/Kpi"\n', "[[nodes]] must be tables"),
])
def test_a_malformed_nodes_table_is_one_line_naming_it(tmp_path: Path, tables: str,
                                                      message: str) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(tables)
    with pytest.raises(ConfigError) as error:
        load({}, config_file=str(config), env={})
    assert message in str(error.value) and str(config) in str(error.value)
    assert "\n" not in str(error.value)


def test_the_shipped_nodes_configuration_bridges_the_plant_kpis_shift_reports_and_shift() -> None:
    shipped = Path(__file__).resolve().parents[2] / "mqtt_bridge/inputs/opcua/nodes.example.toml"
    nodes = load({}, config_file=str(shipped), env={}).opcua.nodes
    assert [n.browse_path for n in nodes] == ["Plant/Kpi", "Plant/ShiftReports",
                                              "Plant/CurrentShift"]
