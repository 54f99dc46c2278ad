"""The unified namespace on a clustered broker: the unchanged bridge, given the three nodes of a
NATS JetStream cluster (MQTT enabled), fails over when its node is killed mid-run; a consumer on
another node sees every value, in order, with no `seq` missing and none reused, and the
unchanged dashboard, reading from a third node, sees every machine's state."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dashboard.state import PlantState
from dashboard.uns import UnsConsumer
from mqtt_bridge.outputs.mqtt.failover import BrokerList
from mqtt_bridge.settings import SettingsError
from tests.bridge.bridges import SteadyWriter, stop_bridge
from tests.bridge.machinery_server import MachineryServer
from tests.bridge.test_bridge_faults import SPINDLE, TEMPERATURE, in_order, start_bridge, values
from tests.cluster_brokers import NatsCluster
from tests.services import MqttRecorder

PREFIX = "uns.v1"


def test_a_killed_node_loses_nothing_and_renumbers_nothing(
    fresh_server: MachineryServer, nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    first, middle, last = nats_cluster.nodes
    temperature, spindle = f"{PREFIX}/{TEMPERATURE}", f"{PREFIX}/{SPINDLE}"
    # a consumer on another node than the bridge's; the prefix puts a `.` in every topic, as
    # a plant's machine names do (line-01.press-brake)
    recorder = MqttRecorder(last, f"{PREFIX}/factory/#")
    plant = PlantState(PREFIX, fresh_server.url)
    dashboard = UnsConsumer(middle.url, {PREFIX: plant}, client_id="dashboard")
    dashboard.start()
    state, log = tmp_path / "state", tmp_path / "bridge.log"
    bridge = start_bridge(fresh_server, nats_cluster, state, log,  # `--mqtt` the node list
                          "--topic-prefix", PREFIX)
    writer = SteadyWriter(fresh_server)  # 50 changes a second of both variables
    try:
        recorder.wait_until(lambda m: values(m, temperature), timeout=60)
        writer.start()
        time.sleep(1.5)
        first.kill()  # the bridge's node (the first in its list) dies mid-flow
        time.sleep(2.0)
        writer.finish()
        messages = recorder.wait_until(
            lambda m: -1.0 in values(m, temperature) and -1.0 in values(m, spindle), timeout=60)
    finally:
        writer.stop()
        stop_bridge(bridge)
        recorder.close()
        dashboard.stop()
    text = log.read_text()
    assert f"MQTT broker {first.url}" in text, text[-3000:]  # it did lose its node
    assert "Traceback" not in text, text[-3000:]
    written = [d["value"] for d in in_order(messages, temperature) if "gap" not in d]
    assert written == sorted(written, key=lambda v: (v == -1.0, v))  # nothing lost, in order
    assert len(written) > 100  # values flowed before and after the kill
    in_order(messages, spindle)  # no seq missing, none reused with another payload
    assert dashboard.drain() > 0 and dashboard.rejected == 0
    assert {name: cell.live.get("state") for name, cell in plant.cells.items()} == {
        "Press1": "NotExecuting", "Laser1": "NotExecuting", "Robot1": "NotExecuting"}


def test_a_broker_list_is_checked_url_by_url() -> None:
    assert BrokerList.parse("mqtt://a, mqtt://b:1884").urls == ("mqtt://a", "mqtt://b:1884")
    with pytest.raises(SettingsError, match=r"'http://b'.*expected mqtt://host"):
        BrokerList.parse("mqtt://a,http://b")
    with pytest.raises(SettingsError, match="same scheme"):
        BrokerList.parse("mqtt://a,mqtts://b")
    with pytest.raises(SettingsError, match="named twice"):
        BrokerList.parse("mqtt://a,mqtt://a")
    with pytest.raises(SettingsError, match="17 brokers; expected at most 16"):
        BrokerList.parse(",".join(f"mqtt://n{i}" for i in range(17)))
