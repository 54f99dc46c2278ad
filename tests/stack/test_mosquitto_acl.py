"""The stack's Mosquitto (deploy/mosquitto: config, ACL, make-passwords.sh) on a real broker:
nobody gets in without a password; the bridges may publish their topics and nothing else;
dashboards only read."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.services import MqttRecorder, free_port
from tests.stack.conftest import DEPLOY, StackMosquitto

UNS = "acme-metal/lyon/fabrication/line-1/press-brake"


def connect(broker: StackMosquitto, username: str | None, password: str | None,
            client_id: str | None = None) -> tuple[mqtt.Client, Any]:
    """A connected paho client and the broker's CONNACK reason."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=client_id or f"acl-test-{free_port()}")
    if username is not None:
        client.username_pw_set(username, password)
    outcome: dict[str, Any] = {}
    answered = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        outcome.setdefault("reason", reason)
        answered.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, keepalive=10)
    client.loop_start()
    answered.wait(10)
    return client, outcome.get("reason")


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    """QoS 1 and wait for the PUBACK: the broker has dealt with it (delivered or dropped)."""
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


@pytest.mark.parametrize("login", [(None, None), ("bridge", "wrong"), ("nobody", "x")])
def test_no_login_no_access(stack_mosquitto, login) -> None:
    client, reason = connect(stack_mosquitto, *login)
    try:
        assert reason is not None and reason.is_failure, reason
    finally:
        close(client)


def test_the_bridge_publishes_its_topics_and_nothing_else(stack_mosquitto) -> None:
    users = stack_mosquitto.users
    watcher = MqttRecorder(stack_mosquitto, "#", username="dashboard",
                           password=users["dashboard"])
    bridge, reason = connect(stack_mosquitto, "bridge", users["bridge"], "bridge-lyon")
    assert not reason.is_failure, reason
    eavesdrop = MqttRecorder(stack_mosquitto, "#", username="bridge", password=users["bridge"])
    try:
        allowed = [f"{UNS}/state/CurrentState", f"{UNS}/alarms", f"{UNS}/updates",
                   "_bridge/bridge-lyon/status", "_bridge/bridge-brno/status"]
        refused = ["other-enterprise/lyon/x", "acme-metal-evil/x", "_bridge/bridge-lyon/other",
                   "_bridge/bridge-lyon", "$SYS/broker/fake", "factory/plant-1/x"]
        for topic in refused + allowed:
            publish(bridge, topic, topic.encode())
        marker = f"{UNS}/marker"
        publish(bridge, marker, b"end")
        messages = watcher.wait_until(lambda ms: any(m.topic == marker for m in ms), 10)
        received = {m.topic for m in messages} - {marker}
        assert received == set(allowed)
        # The bridge's login cannot read the namespace.
        assert [m for m in eavesdrop.snapshot() if not m.topic.startswith("$SYS")] == []
    finally:
        close(bridge)
        watcher.close()
        eavesdrop.close()


def test_dashboards_read_but_cannot_write(stack_mosquitto) -> None:
    users = stack_mosquitto.users
    watcher = MqttRecorder(stack_mosquitto, "#", username="dashboard",
                           password=users["dashboard"])
    dashboard, _ = connect(stack_mosquitto, "dashboard", users["dashboard"])
    bridge, _ = connect(stack_mosquitto, "bridge", users["bridge"], "bridge-lyon")
    try:
        for topic in (f"{UNS}/state/CurrentState", "_bridge/bridge-lyon/status", "x/y"):
            publish(dashboard, topic, b"forged")
        publish(bridge, f"{UNS}/marker", b"end")
        messages = watcher.wait_until(lambda ms: any(m.payload == b"end" for m in ms), 10)
        assert [m.topic for m in messages] == [f"{UNS}/marker"]
    finally:
        close(dashboard)
        close(bridge)
        watcher.close()


def test_make_passwords_refuses_an_empty_password(tmp_path) -> None:
    result = subprocess.run(
        ["/bin/sh", str(DEPLOY / "make-passwords.sh")], capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "PASSWORD_FILE": str(tmp_path / "passwd"),
             "MQTT_BRIDGE_PASSWORD": "secret", "MQTT_DASHBOARD_PASSWORD": ""}, timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "make-passwords: MQTT_DASHBOARD_PASSWORD is not set (copy .env.example to .env and "
        "set it)")
    assert not (tmp_path / "passwd").exists()
