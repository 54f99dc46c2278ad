"""The stack's Sparkplug profile (docker-compose.sparkplug.yml with deploy/mosquitto's ACL):
every site's bridge is also a Sparkplug B edge node named after its site, logging in as the
site; on a real Mosquitto with the stack's ACL that login publishes its own edge node's topics
and nothing else, gets the commands addressed to it, and dashboards read Sparkplug."""

from __future__ import annotations

import yaml

from mqtt_bridge.config import load
from mqtt_bridge.outputs.sparkplug import payload as spb
from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb
from tests.services import MqttRecorder
from tests.stack import compose
from tests.stack.test_mosquitto_acl import SITES, close, connect, publish

PROFILE = compose.ROOT / "docker-compose.sparkplug.yml"


def test_every_site_bridge_becomes_the_edge_node_of_its_site() -> None:
    env = compose.generated_env()
    base = compose.load(env)["services"]
    overrides = compose.interpolate(yaml.safe_load(PROFILE.read_text()), env)["services"]
    assert sorted(overrides) == sorted(f"bridge-{site}" for site in SITES)
    for name, override in overrides.items():
        site = name.removeprefix("bridge-")
        environment = {**base[name]["environment"], **override["environment"]}
        sparkplug = {k: v for k, v in environment.items()
                     if k.startswith("FACTORY_SIM_BRIDGE_SPARKPLUG_")}
        config = load({("opcua", "url"): "opc.tcp://site:4840"}, env=sparkplug)
        settings = config.sparkplug
        assert (settings.host, settings.port) == ("mosquitto", 1883)
        assert (settings.group_id, settings.edge_node_id, settings.username) == (
            "acme-metal", site, compose.option(base[name]["command"], "--mqtt-user"))
        assert settings.password == env[f"MQTT_{site.upper()}_PASSWORD"]
        assert settings.client_id == f"acme-metal-{site}-spb"  # the ACL's confirm topic


def test_a_site_login_is_its_own_edge_node_and_no_other(stack_mosquitto) -> None:
    users = stack_mosquitto.users
    site, other = SITES[0], SITES[1]
    watcher = MqttRecorder(stack_mosquitto, "#", username="dashboard",
                           password=users["dashboard"])
    node, reason = connect(stack_mosquitto, site, users[site], f"acme-metal-{site}-spb")
    assert not reason.is_failure, reason
    commands: list[str] = []
    node.on_message = lambda _c, _u, message: commands.append(message.topic)
    node.subscribe("spBv1.0/acme-metal/NCMD/#", qos=1)
    host, reason = connect(stack_mosquitto, other, users[other])  # a login that is no host
    try:
        device = "acme-metal:lyon:fabrication:line-1:press-brake"
        allowed = [f"spBv1.0/acme-metal/NBIRTH/{site}",
                   f"spBv1.0/acme-metal/DBIRTH/{site}/{device}",
                   f"spBv1.0/acme-metal/DDATA/{site}/{device}",
                   f"spBv1.0/acme-metal/NDEATH/{site}"]
        refused = [f"spBv1.0/acme-metal/NBIRTH/{other}", f"spBv1.0/acme-metal/DDATA/{other}/x",
                   f"spBv1.0/acme-metal/NCMD/{other}", f"spBv1.0/other/NBIRTH/{site}",
                   "spBv1.0/STATE/scada"]
        for topic in refused + allowed:
            publish(node, topic, topic.encode())
        publish(node, f"_bridge/acme-metal-{site}-spb/sparkplug-confirm", b"")  # PUBACKed
        marker = f"spBv1.0/acme-metal/DDATA/{site}/marker"
        publish(node, marker, b"end")
        messages = watcher.wait_until(lambda ms: any(m.topic == marker for m in ms), 10)
        assert {m.topic for m in messages if m.topic.startswith("spBv1.0")} - {marker} == set(
            allowed)
        # the commands addressed to the node reach it; another site's do not
        request = pb.Payload()
        request.metrics.add(name=spb.REBIRTH, datatype=11, boolean_value=True)
        dashboard, _ = connect(stack_mosquitto, "dashboard", users["dashboard"])
        publish(dashboard, f"spBv1.0/acme-metal/NCMD/{site}", request.SerializeToString())
        close(dashboard)  # dashboards read only: the dashboard's command was dropped
        publish(host, f"spBv1.0/acme-metal/NCMD/{site}", b"x")  # a site may not command
        publish(node, marker, b"end")
        watcher.wait_until(lambda ms: sum(m.topic == marker for m in ms) >= 2, 10)
        assert commands == []
    finally:
        close(node)
        close(host)
        watcher.close()
