"""The unified namespace on RabbitMQ's MQTT plugin (Debian bookworm's 3.10): the unchanged bridge
delivers every value, in order, with no `seq` missing and none reused, and the unchanged
dashboard reads live values from it. The two things this broker does differently, which
docs/trainers/cluster.md documents with their workarounds, are checked too, so that the page
stays true: a `.` in a topic level arrives as a level separator, and a subscription with a
wildcard gets no retained values."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dashboard.state import PlantState
from dashboard.uns import UnsConsumer
from tests.bridge.bridges import SteadyWriter, stop_bridge
from tests.bridge.machinery_server import MachineryServer
from tests.bridge.test_bridge_faults import SPINDLE, TEMPERATURE, in_order, start_bridge, values
from tests.cluster_brokers import RabbitMq
from tests.services import MqttRecorder, running

PREFIX = "uns"  # the dashboard reads a plant below its prefix; one without a `.` (see below)


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory):
    """One broker for the module: an Erlang VM takes seconds to boot."""
    with running(RabbitMq(tmp_path_factory.mktemp("rabbitmq"))) as broker:
        yield broker


def publish_retained(broker: RabbitMq, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="retained-probe")
    client.connect(broker.host, broker.port, 10)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_bridge_and_the_dashboard_run_unchanged_on_rabbitmq(
    fresh_server: MachineryServer, rabbitmq: RabbitMq, tmp_path: Path
) -> None:
    temperature, spindle = f"{PREFIX}/{TEMPERATURE}", f"{PREFIX}/{SPINDLE}"
    recorder = MqttRecorder(rabbitmq, f"{PREFIX}/#")
    plant = PlantState(PREFIX, fresh_server.url)
    dashboard = UnsConsumer(rabbitmq.url, {PREFIX: plant}, client_id="dashboard")
    dashboard.start()
    bridge = start_bridge(fresh_server, rabbitmq, tmp_path / "state", tmp_path / "bridge.log",
                          "--topic-prefix", PREFIX)
    writer = SteadyWriter(fresh_server)  # 50 changes a second of both variables
    try:
        recorder.wait_until(lambda m: values(m, temperature), timeout=60)
        writer.start()
        time.sleep(2.0)
        writer.finish()
        messages = recorder.wait_until(
            lambda m: -1.0 in values(m, temperature) and -1.0 in values(m, spindle), timeout=60)
        late = MqttRecorder(rabbitmq, f"{PREFIX}/#")  # subscribed after the values were retained
        late_messages = late.settle()
        late.close()
        exact = MqttRecorder(rabbitmq, temperature)  # the same retained value, asked by name
        retained = exact.wait_until(lambda m: m, timeout=10)
        exact.close()
    finally:
        writer.stop()
        stop_bridge(bridge)
        recorder.close()
        dashboard.stop()
    assert "Traceback" not in (tmp_path / "bridge.log").read_text()
    written = [d["value"] for d in in_order(messages, temperature) if "gap" not in d]
    assert written == sorted(written, key=lambda v: (v == -1.0, v))  # nothing lost, in order
    assert len(written) > 10  # values flowed (how many the writer managed depends on load)
    in_order(messages, spindle)  # no seq missing, none reused with another payload
    assert dashboard.drain() > 0 and dashboard.rejected == 0  # live values, all understood
    assert {name: cell.live.get("state") for name, cell in plant.cells.items()} == {
        "Press1": "NotExecuting", "Laser1": "NotExecuting", "Robot1": "NotExecuting"}
    # the documented limit: a wildcard subscription gets no retained value on RabbitMQ 3.10
    assert [m.topic for m in late_messages if m.retain] == []
    assert retained[0].retain and retained[0].json()["value"] == -1.0


def test_rabbitmq_turns_a_dot_in_a_topic_into_a_level(rabbitmq: RabbitMq) -> None:
    """What docs/trainers/cluster.md says of RabbitMQ 3.10's MQTT, on the real broker: the
    retained value reaches a subscription without wildcards, under another topic."""
    publish_retained(rabbitmq, "acme/line-01.press-brake/state", b"Executing")
    exact = MqttRecorder(rabbitmq, "acme/line-01.press-brake/state")
    try:
        got = exact.wait_until(lambda m: m, timeout=10)
    finally:
        exact.close()
    assert [(m.topic, m.payload, m.retain) for m in got] == [
        ("acme/line-01/press-brake/state", b"Executing", True)]  # `.` became `/`
