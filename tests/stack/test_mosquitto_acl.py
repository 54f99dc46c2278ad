"""The stack's Mosquitto (deploy/mosquitto: config, ACL, make-passwords.sh) on a real broker:
nobody gets in without a password; each site's login publishes its own part of the namespace
and its bridge's status, and nothing else; dashboards only read; the health check logs in with
a password read from a file; the TLS profile's config serves the same logins over TLS."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.services import MOSQUITTO, MqttRecorder, free_port, make_test_pki, require_binary
from tests.stack.compose import raw
from tests.stack.conftest import DEPLOY, StackMosquitto

SITES = ("lyon", "brno", "porto")
MOSQUITTO_SUB = Path("/usr/bin/mosquitto_sub")


def uns(site: str) -> str:
    return f"acme-metal/{site}/fabrication/line-1/press-brake"


def connect(broker: StackMosquitto, username: str | None, password: str | None,
            client_id: str | None = None, port: int | None = None,
            tls_ca: Path | None = None) -> tuple[mqtt.Client, Any]:
    """A connected paho client and the broker's CONNACK reason."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=client_id or f"acl-test-{free_port()}")
    if username is not None:
        client.username_pw_set(username, password)
    if tls_ca is not None:
        client.tls_set(ca_certs=str(tls_ca))
    outcome: dict[str, Any] = {}
    answered = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        outcome.setdefault("reason", reason)
        answered.set()

    client.on_connect = on_connect
    client.connect(broker.host, port or broker.port, keepalive=10)
    client.loop_start()
    answered.wait(10)
    return client, outcome.get("reason")


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    """QoS 1 and wait for the PUBACK: the broker has dealt with it (delivered or dropped)."""
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_every_site_of_the_compose_file_has_a_login() -> None:
    environment = raw()["services"]["mosquitto-passwords"]["environment"]
    assert set(environment) == {f"MQTT_{site.upper()}_PASSWORD" for site in SITES} | {
        "MQTT_DASHBOARD_PASSWORD"}


@pytest.mark.parametrize("login", [(None, None), ("lyon", "wrong"), ("nobody", "x"),
                                   ("healthcheck", "")])
def test_no_login_no_access(stack_mosquitto, login) -> None:
    client, reason = connect(stack_mosquitto, *login)
    try:
        assert reason is not None and reason.is_failure, reason
    finally:
        close(client)


@pytest.mark.parametrize("site", SITES)
def test_a_site_login_publishes_its_own_topics_and_nothing_else(stack_mosquitto, site) -> None:
    users = stack_mosquitto.users
    watcher = MqttRecorder(stack_mosquitto, "#", username="dashboard",
                           password=users["dashboard"])
    bridge, reason = connect(stack_mosquitto, site, users[site], f"bridge-{site}")
    assert not reason.is_failure, reason
    eavesdrop = MqttRecorder(stack_mosquitto, "#", username=site, password=users[site])
    others = [other for other in SITES if other != site]
    try:
        allowed = [f"{uns(site)}/state/CurrentState", f"{uns(site)}/alarms",
                   f"{uns(site)}/updates", f"_bridge/bridge-{site}/status"]
        refused = [f"{uns(other)}/state/CurrentState" for other in others] + [
            f"_bridge/bridge-{other}/status" for other in others] + [
            "other-enterprise/lyon/x", "acme-metal-evil/x", f"acme-metal/{site}-evil/x",
            f"_bridge/bridge-{site}/other", f"_bridge/bridge-{site}", f"_bridge/{site}/status",
            "acme-metal/dashboard/x", "$SYS/broker/fake", "factory/plant-1/x"]
        for topic in refused + allowed:
            publish(bridge, topic, topic.encode())
        marker = f"{uns(site)}/marker"
        publish(bridge, marker, b"end")
        messages = watcher.wait_until(lambda ms: any(m.topic == marker for m in ms), 10)
        received = {m.topic for m in messages} - {marker}
        assert received == set(allowed)
        # A site's login cannot read the namespace, not even its own part.
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
    bridge, _ = connect(stack_mosquitto, "lyon", users["lyon"], "bridge-lyon")
    try:
        # The last two are what the site patterns would grant a login called "dashboard".
        for topic in (f"{uns('lyon')}/state/CurrentState", "_bridge/bridge-lyon/status", "x/y",
                      "acme-metal/dashboard/x", "_bridge/bridge-dashboard/status"):
            publish(dashboard, topic, b"forged")
        publish(bridge, f"{uns('lyon')}/marker", b"end")
        messages = watcher.wait_until(lambda ms: any(m.payload == b"end" for m in ms), 10)
        assert [m.topic for m in messages] == [f"{uns('lyon')}/marker"]
    finally:
        close(dashboard)
        close(bridge)
        watcher.close()


def health_check(broker: StackMosquitto, topic: str = "$SYS/broker/uptime",
                 port: int | None = None) -> subprocess.CompletedProcess[str]:
    """The compose file's health check command, pointed at the test's broker."""
    require_binary(MOSQUITTO_SUB)
    test = raw()["services"]["mosquitto"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "env", "XDG_CONFIG_HOME=/mosquitto/data/healthcheck"], test
    argv = [arg.replace("$$", "$") for arg in test[3:]]
    assert "-P" not in argv and "-u" not in argv  # nothing secret on the command line
    argv[argv.index("-p") + 1] = str(port or broker.port)
    argv[argv.index("-t") + 1] = topic
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"],
                               "XDG_CONFIG_HOME": str(broker.health_dir)})


def test_the_health_check_logs_in_with_the_password_from_its_file(stack_mosquitto) -> None:
    options = stack_mosquitto.health_dir / "mosquitto_sub"
    assert options.stat().st_mode & 0o077 == 0
    result = health_check(stack_mosquitto)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("seconds"), result.stdout
    # Without the file's login the same command is refused.
    options.write_text("-u healthcheck\n-P wrong\n")
    assert health_check(stack_mosquitto).returncode != 0


def test_the_health_check_login_reads_nothing_else(stack_mosquitto) -> None:
    users = stack_mosquitto.users
    bridge, _ = connect(stack_mosquitto, "lyon", users["lyon"], "bridge-lyon")
    try:
        publish(bridge, f"{uns('lyon')}/retained", b"x")
        bridge.publish(f"{uns('lyon')}/retained", b"x", qos=1, retain=True).wait_for_publish(10)
        result = health_check(stack_mosquitto, topic="acme-metal/#")
        assert result.returncode != 0 and result.stdout == ""  # -W 5: timed out, saw nothing
    finally:
        close(bridge)


@pytest.mark.parametrize(("variables", "message"), [
    ({"MQTT_LYON_PASSWORD": "secret", "MQTT_DASHBOARD_PASSWORD": ""},
     "make-passwords: MQTT_DASHBOARD_PASSWORD is empty (run scripts/make-env)"),
    ({"MQTT_LYON_PASSWORD": "", "MQTT_DASHBOARD_PASSWORD": "secret"},
     "make-passwords: MQTT_LYON_PASSWORD is empty (run scripts/make-env)"),
    ({"MQTT_DASHBOARD_PASSWORD": "secret"},
     "make-passwords: no MQTT_<SITE>_PASSWORD is set (run scripts/make-env)"),
])
def test_make_passwords_refuses_an_empty_password(tmp_path, variables, message) -> None:
    result = subprocess.run(
        ["/bin/sh", str(DEPLOY / "make-passwords.sh")], capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "PASSWORD_FILE": str(tmp_path / "passwd"),
             "HEALTHCHECK_DIR": str(tmp_path / "health"), **variables}, timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert not (tmp_path / "passwd").exists()


def test_the_tls_profile_serves_the_same_logins_over_tls(tmp_path) -> None:
    require_binary(MOSQUITTO)
    pki = make_test_pki(tmp_path / "pki")
    tls_port = free_port()
    broker = StackMosquitto(tmp_path / "broker", config_name="mosquitto-tls.conf", replace={
        r"^listener 8883$": f"listener {tls_port} 127.0.0.1",
        r"^cafile /mosquitto/certs/ca.pem$": f"cafile {pki.ca}",
        r"^certfile /mosquitto/certs/server.pem$": f"certfile {pki.cert}",
        r"^keyfile /mosquitto/certs/server.key$": f"keyfile {pki.key}",
    })
    broker.start()
    users = broker.users
    try:
        watcher = MqttRecorder(broker, "#", username="dashboard", password=users["dashboard"])
        lyon, reason = connect(broker, "lyon", users["lyon"], "bridge-lyon", port=tls_port,
                               tls_ca=pki.ca)
        assert not reason.is_failure, reason
        wrong, refused = connect(broker, "lyon", "wrong", port=tls_port, tls_ca=pki.ca)
        assert refused is not None and refused.is_failure
        publish(lyon, f"{uns('brno')}/x", b"forged")
        publish(lyon, f"{uns('lyon')}/marker", b"end")
        messages = watcher.wait_until(lambda ms: any(m.payload == b"end" for m in ms), 10)
        assert [m.topic for m in messages] == [f"{uns('lyon')}/marker"]
        for client in (lyon, wrong):
            close(client)
        watcher.close()
        assert health_check(broker).returncode == 0
    finally:
        broker.stop()
