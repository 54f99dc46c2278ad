"""`factory-sim demo --mqtt` with the three nodes of a NATS cluster: the demo's bridge and its
dashboard both start on the first node; when that node is killed they move to another and the
dashboard keeps receiving the plant's values. The dashboard's consumer alone goes round a list
of two real Mosquittos (a connect refused, a connection lost)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dashboard.state import PlantState
from dashboard.uns import UnsConsumer
from tests.cluster_brokers import NatsCluster
from tests.demo.demo_process import DemoProcess
from tests.demo.test_demo_cli import one_error_line, run_demo
from tests.services import Mosquitto, free_port, running

FAST = ["--speed", "3000"]


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"not met within {timeout:g} s: {what}"
        time.sleep(0.1)
    return result


def test_the_demo_on_a_cluster_keeps_updating_when_its_node_dies(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    first = nats_cluster.nodes[0]
    logs = tmp_path / "logs"  # kept with the test's other files for a look after a failure
    with DemoProcess([*FAST, "--mqtt", nats_cluster.url, "--logs", str(logs),
                      "reference-opcua"]) as demo:
        assert demo.mqtt == nats_cluster.url

        def stats() -> dict:
            with urllib.request.urlopen(demo.dashboard + "api/stats", timeout=10) as response:
                return json.load(response)

        wait_for(lambda: stats()["mqtt_messages"] > 0, "the dashboard reads the UNS")
        first.kill()  # the node the bridge and the dashboard are on (the first listed)
        dashboard_log = logs / "dashboard.log"
        wait_for(lambda: f"MQTT broker {first.url} lost" in dashboard_log.read_text(),
                 "the dashboard notices its node is gone")
        before = stats()
        seen = before["mqtt_messages"] + before["inbox"]  # everything from the dead node
        wait_for(lambda: stats()["mqtt_messages"] > seen + 10,
                 "the dashboard receives values again, from another node", timeout=120)
        bridge_log = (logs / "bridge-reference-opcua.log").read_text()
        assert f"MQTT broker {first.url}" in bridge_log  # the bridge lost its node too
        assert stats()["rejected"] == 0


@pytest.mark.parametrize(("args", "expected"), [
    (["--mqtt", "mqtt://a:1883,mqtt://a:1883"], "a broker is named twice"),
    (["--mqtt", "mqtts://a,mqtts://b"], "the demo speaks no TLS"),
    (["--uns", "sparkplug", "--mqtt", "mqtt://a,mqtt://b"], "--uns sparkplug: its output takes"),
])
def test_a_bad_broker_list_is_one_line_and_exit_2(args, expected):
    assert expected in one_error_line(run_demo("--port", str(free_port()), *args))


def test_a_list_of_brokers_none_of_which_answers_names_each():
    dead = [f"mqtt://127.0.0.1:{free_port()}" for _ in range(2)]
    line = one_error_line(run_demo("--port", str(free_port()), "--mqtt", ",".join(dead)))
    assert all(f"cannot reach the MQTT broker at {url}" in line for url in dead)


def test_the_dashboard_consumer_goes_round_its_brokers(tmp_path: Path) -> None:
    state = "p/factory/plant-1/fabrication/line-1/press-brake/state/CurrentState"
    plant = PlantState("p", "opc.tcp://x")

    def shows(value: str) -> bool:
        consumer.drain()
        cell = plant.cells.get("press-brake")
        return cell is not None and cell.live.get("state") == value

    with running(Mosquitto(tmp_path / "a")) as a, running(Mosquitto(tmp_path / "b")) as b:
        dead = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens: the first connect fails
        consumer = UnsConsumer(f"{dead},{a.url},{b.url}", {"p": plant}, client_id="dash")
        consumer.start()
        try:
            publish_retained(a, state, "Executing")
            wait_for(lambda: shows("Executing"), "past the dead broker, the value from a")
            a.stop()  # the connection is lost: on to b, subscribed again there
            publish_retained(b, state, "NotExecuting")
            wait_for(lambda: shows("NotExecuting"), "the value from b")
        finally:
            consumer.stop()
    assert consumer.broker == b.url and consumer.rejected == 0


def publish_retained(broker: Mosquitto, topic: str, value: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"publisher-{free_port()}")
    client.connect(broker.host, broker.port, 10)
    client.loop_start()
    try:
        client.publish(topic, json.dumps({"value": value, "status": "Good"}), qos=1,
                       retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
