"""A clustered MQTT broker for the tests: three `nats-server` nodes with JetStream and MQTT on
free loopback ports, one NATS cluster (routes between them), every MQTT stream kept on
all three nodes (`stream_replicas: 3`), so any node may die without losing what it confirmed.

`NatsCluster(workdir)` starts the nodes and waits until each accepts an MQTT publication at
QoS 1 (JetStream needs its meta leader first); `.nodes` are `Service`s with `.url`, `.kill()`
(SIGKILL, as a crashed machine) and `.start()` (rejoin with its store); `.url` is the
comma-separated list the bridge takes. A missing binary skips (fails under CI) like the other
services (`tests/services.py`).

The binary is Debian's `nats-server`, 2.10 or newer (`scripts/install-test-services` installs
trixie's package on bookworm): bookworm's 2.9.10 refuses MQTT topics with a `.` (and drops the
connection), and the unified namespace has them (`line-01.press-brake`, `Parent.Child`); NATS
accepts them since nats-server pull request 4243. An older binary skips like a missing one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.services import Service, free_port, require_binary

NATS_SERVER = Path("/usr/sbin/nats-server")
_READY_TIMEOUT = 30.0


def require_nats() -> None:
    """Skip (or, under CI, fail) unless nats-server 2.10 or newer is installed."""
    require_binary(NATS_SERVER)
    out = subprocess.run([str(NATS_SERVER), "--version"], capture_output=True, text=True,
                         timeout=10).stdout
    found = re.search(r"v?(\d+)\.(\d+)", out)
    if found and (int(found[1]), int(found[2])) >= (2, 10):
        return
    message = (f"{NATS_SERVER} is {out.strip() or 'of unknown version'}; MQTT topics with a `.` "
               "need 2.10 or newer: run scripts/install-test-services")
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def confirms_publication(host: str, port: int, client_id: str) -> bool:
    """The broker at host:port confirms a QoS 1 publication within a second."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}-{free_port()}")
    try:
        client.connect(host, port, 10)
        client.loop_start()
        info = client.publish("_ready", "1", qos=1)
        info.wait_for_publish(1)
        return info.is_published()
    except (OSError, RuntimeError, ValueError):
        return False
    finally:
        client.loop_stop()
        client.disconnect()


class NatsNode(Service):
    name = "nats"

    def __init__(self, workdir: Path, index: int, routes: list[int]) -> None:
        self.index = index
        self.route_port = routes[index]
        self.routes = routes
        self.client_port = free_port()  # NATS's own protocol; `.port` is its MQTT listener
        super().__init__(workdir)
        self.config = workdir / f"n{index}.conf"
        routes_text = ", ".join(f"nats-route://127.0.0.1:{port}" for port in routes)
        self.config.write_text(
            f"server_name: n{index}\n"
            f"listen: 127.0.0.1:{self.client_port}\n"
            f'jetstream {{ store_dir: "{workdir / "store"}", max_memory_store: 64MB, '
            "max_file_store: 512MB }\n"
            f"cluster {{ name: uns, listen: 127.0.0.1:{self.route_port}, "
            f"routes: [{routes_text}] }}\n"
            f"mqtt {{ listen: 127.0.0.1:{self.port}, stream_replicas: 3 }}\n",
            encoding="utf-8")

    def command(self) -> list[str]:
        return [str(NATS_SERVER), "-c", str(self.config)]

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def mqtt_ready(self) -> bool:
        """The node confirms a QoS 1 publication (its MQTT streams exist and have a leader)."""
        return confirms_publication(self.host, self.port, f"ready-{self.index}")

    def kill(self) -> None:
        """SIGKILL: the node dies as a crashed machine would, without a goodbye."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()


class NatsCluster:
    """Three NATS nodes with JetStream and MQTT, clustered on loopback."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        require_nats()
        routes = [free_port() for _ in range(size)]
        self.nodes = [NatsNode(workdir / f"n{i}", i, routes) for i in range(size)]

    def start(self) -> NatsCluster:
        for node in self.nodes:
            node.start()
        deadline = time.monotonic() + _READY_TIMEOUT

        def ready(node: NatsNode) -> bool:
            while not node.mqtt_ready():
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)
            return True

        with ThreadPoolExecutor(len(self.nodes)) as pool:  # the nodes get ready together
            for node, is_ready in zip(self.nodes, pool.map(ready, self.nodes), strict=True):
                if not is_ready:
                    self.stop()
                    raise RuntimeError(f"NATS node {node.url} never confirmed a publication; "
                                       f"its log ends:\n{node.log_tail()}")
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the unwrapped script: no su
EPMD = Path("/usr/bin/epmd")


class Epmd(Service):
    """Erlang's port mapper on a private loopback port, in the foreground (stopped with us)."""

    name = "epmd"

    def command(self) -> list[str]:
        return [str(EPMD), "-port", str(self.port), "-address", "127.0.0.1"]


class RabbitMq(Service):
    """Debian's RabbitMQ with its MQTT plugin on a free loopback port: anonymous MQTT, no AMQP
    listener, its own Erlang node name, port mapper and data directory. `.url` is its MQTT
    listener. Ready once it confirms a QoS 1 publication (the plugin's Raft store elected)."""

    name = "rabbitmq"
    start_timeout = 120.0  # an Erlang VM, its plugins expanded, on a loaded 2-core machine

    def __init__(self, workdir: Path) -> None:
        require_binary(RABBITMQ_SERVER)
        super().__init__(workdir)
        self.epmd = Epmd(workdir / "epmd")
        self.dist_port = free_port()
        (workdir / "rabbitmq.conf").write_text(
            "listeners.tcp = none\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = true\n"
            "loopback_users = none\n", encoding="utf-8")
        (workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n", encoding="utf-8")

    def command(self) -> list[str]:
        return [str(RABBITMQ_SERVER)]

    def start(self) -> None:
        self.epmd.start()
        super().start()

    def environment(self) -> dict[str, str]:
        work = self.workdir  # the server takes its settings from its environment only
        return {
            **os.environ, "HOME": str(work), "ERL_EPMD_PORT": str(self.epmd.port),
            "RABBITMQ_NODENAME": f"mqtt{self.port}@localhost",
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(work / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(work / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(work / "mnesia"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(work / "plugins"),
            "RABBITMQ_LOG_BASE": str(work / "log"), "RABBITMQ_LOGS": "-",
            "RABBITMQ_PID_FILE": str(work / "rabbitmq.pid"),
        }

    def ready(self) -> bool:
        return super().ready() and confirms_publication(self.host, self.port, "ready")

    def stop(self) -> None:
        """The script passes SIGTERM on to the Erlang VM; should the script itself have to be
        killed, the VM and its helpers (the script's children) are ended too, none left over."""
        import psutil

        children = []
        if self.pid is not None:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(self.pid).children(recursive=True)
        super().stop()
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        self.epmd.stop()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@pytest.fixture
def nats_cluster(tmp_path: Path):
    """A 3-node NATS JetStream cluster with MQTT on loopback, for one test."""
    cluster = NatsCluster(tmp_path / "nats").start()
    try:
        yield cluster
    finally:
        cluster.stop()
