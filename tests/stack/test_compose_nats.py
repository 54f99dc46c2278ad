"""docker-compose.nats.yml, the multi-site stack on a 3-node NATS cluster: valid by the Compose
specification, its bridges' commands parse and name every node, and the logins of
deploy/nats/auth.conf confine each site on a real nats-server as Mosquitto's ACL does."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from factory_cli.main import build_parser
from tests.cluster_brokers import NATS_SERVER, require_nats
from tests.services import Service, free_port
from tests.stack import compose
from tests.stack.compose import ROOT, option
from tests.stack.test_compose import SITES, schema_check

OVERLAY = ROOT / "docker-compose.nats.yml"
NATS = ROOT / "deploy" / "nats"


def overlay() -> dict:
    return compose.interpolate(yaml.safe_load(OVERLAY.read_text()), compose.generated_env())


def test_the_overlay_follows_the_compose_specification() -> None:
    result = schema_check(OVERLAY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_bridge_gets_every_node_starting_on_its_own_and_its_site_login() -> None:
    services = overlay()["services"]
    nodes = {name for name in services if name.startswith("nats-")}
    assert nodes == {"nats-1", "nats-2", "nats-3"}
    base = compose.load()["services"]
    parser = build_parser()
    first_nodes = set()
    for site in SITES:
        argv = [str(part) for part in services[f"bridge-{site}"]["command"]]
        parser.parse_args(argv)  # argparse exits on a mistake
        urls = option(argv, "--mqtt").split(",")
        assert {url.removeprefix("mqtt://").removesuffix(":1883") for url in urls} == nodes
        first_nodes.add(urls[0])
        assert option(argv, "--mqtt-user") == site
        # everything but the broker as in docker-compose.yml
        base_argv = [str(part) for part in base[f"bridge-{site}"]["command"]]
        assert argv[:argv.index("--mqtt")] == base_argv[:base_argv.index("--mqtt")]
        assert argv[argv.index("--mqtt-user"):] == base_argv[base_argv.index("--mqtt-user"):]
        assert set(services[f"bridge-{site}"]["depends_on"]) == nodes
    assert len(first_nodes) == len(SITES)  # one bridge per node while all are up
    auth = (NATS / "auth.conf").read_text()
    for site in SITES:
        assert f'publish: ["acme-metal.{site}.>", "_bridge.bridge-{site}.status"]' in auth


def test_the_node_config_routes_to_every_node_and_keeps_three_replicas() -> None:
    config = (NATS / "node.conf").read_text()
    for node in ("nats-1", "nats-2", "nats-3"):
        assert f"nats-route://{node}:6222" in config
    assert "stream_replicas: 3" in config and "include auth.conf" in config
    dockerfile = (NATS / "Dockerfile").read_text()
    assert "COPY node.conf auth.conf /etc/nats/" in dockerfile
    assert overlay()["services"]["nats-1"]["image"].endswith(
        ":" + dockerfile.split("ARG NATS_VERSION=", 1)[1].split()[0])


class _AuthNode(Service):
    """One nats-server with JetStream and MQTT, logins from the real deploy/nats/auth.conf."""

    name = "nats-auth"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        (workdir / "auth.conf").write_text((NATS / "auth.conf").read_text())
        (workdir / "node.conf").write_text(
            f"listen: 127.0.0.1:{free_port()}\n"
            f'jetstream {{ store_dir: "{workdir / "js"}" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self.port} }}\ninclude auth.conf\n")

    def command(self) -> list[str]:
        return [str(NATS_SERVER), "-c", str(self.workdir / "node.conf")]


def _client(port: int, user: str, password: str, client_id: str):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(user, password)
    answered, result = threading.Event(), {}

    def on_connect(_c, _u, _f, reason, _p) -> None:
        result["reason"] = reason
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, 10)
    client.loop_start()
    assert answered.wait(10)
    return client, result["reason"]


def test_a_site_writes_only_its_own_topics_and_the_dashboard_only_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_nats()
    passwords = {site: f"{site}-password-long-enough" for site in (*SITES, "dashboard")}
    for login, password in passwords.items():
        monkeypatch.setenv(f"MQTT_{login.upper()}_PASSWORD", password)
    node = _AuthNode(tmp_path / "nats")
    node.start()
    clients = []
    try:
        received: list[str] = []
        dashboard, reason = _client(node.port, "dashboard", passwords["dashboard"], "dash")
        clients.append(dashboard)
        assert not reason.is_failure
        dashboard.on_message = lambda _c, _u, message: received.append(message.topic)
        subscribed = threading.Event()
        dashboard.on_subscribe = lambda *_args: subscribed.set()
        dashboard.subscribe([("acme-metal/#", 1), ("_bridge/#", 1)])
        assert subscribed.wait(10)
        lyon, reason = _client(node.port, "lyon", passwords["lyon"], "bridge-lyon")
        clients.append(lyon)
        assert not reason.is_failure
        allowed = "acme-metal/lyon/fabrication/line-01/line-01.press-brake/state/CurrentState"
        for topic in ("acme-metal/brno/fabrication/line-1/press/state/CurrentState",
                      "_bridge/bridge-brno/status", allowed, "_bridge/bridge-lyon/status"):
            lyon.publish(topic, "{}", qos=1).wait_for_publish(10)
        dashboard.publish("acme-metal/lyon/x/y/z/state/CurrentState", "{}", qos=1)
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # anything refused would have arrived by now, in order
        assert received == [allowed, "_bridge/bridge-lyon/status"]
        _intruder, reason = _client(node.port, "lyon", "a-wrong-password-here", "intruder")
        clients.append(_intruder)
        assert reason.is_failure
    finally:
        for client in clients:
            client.loop_stop()
            client.disconnect()
        node.stop()
