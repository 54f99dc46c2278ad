"""The project's image, built and run: the compose file's `opcua-users`, `site-lyon` and
`bridge-lyon` commands in containers of the image, against a Mosquitto container configured by
deploy/mosquitto (passwords made by the compose file's own mosquitto-passwords step), all on a
network of their own, as `docker compose up` wires them. Checks the health checks Docker runs
(the image's HEALTHCHECK, the broker's from the compose file) and that the site's data and its
bridge's status arrive on MQTT for the dashboard login, and its series in the time series
(Debian's VictoriaMetrics standing in for InfluxDB 2, whose image cannot be had here, reading
the token from the file as in the stack). And `demo` serves its page in the image.

Needs a Docker engine (Debian's docker.io; dockerd is started when installed but not running)
and builds on stand-in base images from Debian packages (tests/container/engine.py): skipped
with the reason where there is none. Timing: the first run builds the stand-in bases and the
image's dependency layer (minutes); later runs reuse them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.container import engine
from tests.container.engine import MOSQUITTO_IMAGE, STAND_IN_BASE, docker
from tests.services import VICTORIA_METRICS, MqttRecorder, free_port
from tests.stack import compose
from tests.stack.compose import ROOT

# The compose file's image (factory-sim:local), tagged per checkout: test runs of two
# worktrees on one engine never run each other's build.
IMAGE = f"factory-sim-test/image:{hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]}"
RUN = f"factory-sim-test-{os.getpid()}"
SITE = "lyon"
FAST_HEALTH = ["--health-interval", "1s", "--health-start-period", "60s"]

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def image() -> str:
    reason = engine.engine()
    if reason:
        pytest.skip(reason)
    engine.build_stand_in_base()
    engine.build_mosquitto_image()
    docker("build", "--network", "host", "--build-arg", f"BASE={STAND_IN_BASE}", "-t", IMAGE,
           str(ROOT), timeout=1800)
    return IMAGE


class Containers:
    """Containers, volumes and a network of one test, all removed at the end."""

    def __init__(self) -> None:
        self.network = f"{RUN}-net"
        self.names: list[str] = []
        self.volumes: list[str] = []
        docker("network", "create", self.network)

    def volume(self, name: str) -> str:
        volume = f"{RUN}-{name}"
        docker("volume", "create", volume)
        self.volumes.append(volume)
        return volume

    def run(self, name: str, image: str, *args: str, alias: str | None = None,
            detach: bool = True, env: dict[str, str] | None = None,
            options: tuple[str, ...] = ()) -> str:
        container = f"{RUN}-{name}"
        argv = ["run", "--name", container, "--network", self.network,
                "--network-alias", alias or name, *options]
        for key, value in (env or {}).items():
            argv += ["--env", f"{key}={value}"]
        if detach:
            argv.append("--detach")
        self.names.append(container)
        docker(*argv, image, *args, timeout=300)
        return container

    def health(self, container: str) -> str:
        state = json.loads(docker("inspect", "--format", "{{json .State}}", container).stdout)
        if not state.get("Running") and state.get("Status") == "exited":
            return f"exited {state.get('ExitCode')}"
        return state.get("Health", {}).get("Status", "none")

    def wait_healthy(self, *containers: str, timeout: float = 120) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            status = {c: self.health(c) for c in containers}
            if set(status.values()) == {"healthy"} or time.monotonic() > deadline or any(
                    s.startswith("exited") for s in status.values()):
                return status
            time.sleep(1)

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n" + "\n".join(
            (out := docker("logs", "--tail", "15", name, check=False)).stdout.splitlines()
            + out.stderr.splitlines()) for name in self.names)

    def remove(self) -> None:
        if self.names:
            docker("rm", "--force", "--volumes", *self.names, check=False)
        if self.volumes:
            docker("volume", "rm", "--force", *self.volumes, check=False)
        docker("network", "rm", self.network, check=False)


@pytest.fixture
def containers() -> Iterator[Containers]:
    made = Containers()
    try:
        yield made
    finally:
        made.remove()


def service_env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def env_options(service: dict) -> list[str]:
    return [option for key, value in service_env(service).items()
            for option in ("--env", f"{key}={value}")]


def mount(service: dict, volumes: dict[str, str]) -> list[str]:
    """--volume options for the compose service's named volumes (renamed per test run) and
    files of the repository (absolute paths)."""
    options = []
    for spec in service.get("volumes", []):
        source, path, *mode = spec.split(":")
        source = str(ROOT / source) if source.startswith("./") else volumes[source]
        options += ["--volume", ":".join([source, path, *mode])]
    return options


@dataclass(frozen=True)
class Published:
    """A container's broker port published on loopback, as tests.services' MqttRecorder
    takes a broker."""

    port: int
    host: str = "127.0.0.1"


def test_serve_and_bridge_containers_are_healthy_and_data_flows_on_mqtt(
    image, containers, tmp_path
) -> None:
    env = {**compose.generated_env(), "SPEED": "600"}
    stack = compose.load(env)
    services = stack["services"]
    volumes = {name: containers.volume(name) for name in stack["volumes"]}
    # The broker: passwords first (the compose file's one-shot service), then Mosquitto with
    # the compose file's health check, run by Docker.
    passwords = services["mosquitto-passwords"]
    result = docker("run", "--rm", *mount(passwords, volumes), *env_options(passwords),
                    "--entrypoint", passwords["entrypoint"][0], MOSQUITTO_IMAGE,
                    *passwords["entrypoint"][1:])
    assert "users: dashboard brno lyon porto healthcheck" in result.stdout, result.stdout
    broker_port = free_port()
    health = services["mosquitto"]["healthcheck"]["test"]
    assert health[0] == "CMD"
    broker = containers.run(
        "mosquitto", MOSQUITTO_IMAGE, alias="mosquitto",
        options=(*mount(services["mosquitto"], volumes),
                 "--publish", f"127.0.0.1:{broker_port}:1883",
                 "--health-cmd", shlex.join(health[1:]), *FAST_HEALTH))
    # The OPC UA users (one-shot, the compose file's script), then the site and its bridge.
    users = services["opcua-users"]
    docker("run", "--rm", *mount(users, volumes), *env_options(users),
           "--entrypoint", users["entrypoint"][0], image,
           *users["entrypoint"][1:], *users["command"])
    site = services[f"site-{SITE}"]
    server = containers.run(f"site-{SITE}", image, *map(str, site["command"]),
                            alias=f"site-{SITE}", env=service_env(site),
                            options=(*mount(site, volumes), *FAST_HEALTH))
    bridge_service = services[f"bridge-{SITE}"]
    # The time series: no InfluxDB 2 image here, so Debian's VictoriaMetrics (it takes
    # InfluxDB's /api/v2/write) answers as `influxdb`; and the token influxdb's setup would
    # leave in its volume for the bridges (VictoriaMetrics takes any).
    store_port = free_port()
    containers.run("influxdb", STAND_IN_BASE, "/usr/bin/victoria-metrics", "-httpListenAddr=:8086",
                   "-storageDataPath=/tmp/store", "-retentionPeriod=100y", "-loggerLevel=ERROR",
                   options=("--volume", f"{VICTORIA_METRICS}:/usr/bin/victoria-metrics:ro",
                            "--publish", f"127.0.0.1:{store_port}:8086"))
    docker("run", "--rm", "--volume", f"{volumes['influxdb-bridge-token']}:/token",
           "--entrypoint", "/bin/sh", MOSQUITTO_IMAGE, "-c",
           "echo write-only-token > /token/bridge.token")
    # The bridge starts once both are healthy (its depends_on).
    status = containers.wait_healthy(broker, server, timeout=120)
    assert set(status.values()) == {"healthy"}, f"{status}\n{containers.logs()}"
    recorder = MqttRecorder(Published(broker_port), "#", username="dashboard",
                            password=env["MQTT_DASHBOARD_PASSWORD"])
    try:
        bridge = containers.run(f"bridge-{SITE}", image, *map(str, bridge_service["command"]),
                                env=service_env(bridge_service),
                                options=(*mount(bridge_service, volumes), *FAST_HEALTH))
        status = containers.wait_healthy(bridge, timeout=120)
        assert status[bridge] == "healthy", f"{status}\n{containers.logs()}"

        def site_data_and_status(messages) -> bool:
            topics = {m.topic for m in messages}
            return (f"_bridge/bridge-{SITE}/status" in topics
                    and sum(t.startswith(f"acme-metal/{SITE}/") for t in topics) >= 20)

        messages = recorder.wait_until(site_data_and_status, timeout=90)
        assert site_data_and_status(messages), f"{len(messages)} messages\n{containers.logs()}"
        status_payload = next(m for m in messages if m.topic == f"_bridge/bridge-{SITE}/status")
        assert status_payload.json()["status"] == "online"
        assert {m.topic.split("/")[1] for m in messages if not m.topic.startswith("_")} == {SITE}
        if VICTORIA_METRICS.exists():
            series = stored(store_port, f'{{__name__="monitoring_Power",site="{SITE}"}}')
            assert series, f"nothing stored\n{containers.logs()}"
    finally:
        recorder.close()


def stored(port: int, match: str, timeout: float = 60) -> list[dict]:
    """The store's series matching `match` once it holds any (or [] after `timeout`)."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{base}/internal/force_flush", timeout=10):
                pass
            # the sites serve `--start now` at SPEED: their newest points lie ahead of now
            query = urllib.parse.urlencode({"match[]": match, "end": "4102444800"})
            with urllib.request.urlopen(f"{base}/api/v1/export?{query}", timeout=10) as answer:
                series = [json.loads(row) for row in answer.read().decode().splitlines() if row]
            if series:
                return series
        time.sleep(1)
    return []


def test_the_demo_serves_its_page_in_the_image(image, containers) -> None:
    port = free_port()
    # One plant (the demo's lightest run): its children must answer within the demo's own
    # readiness limit, which a machine loaded far beyond its cores can exceed.
    # Published on the port it serves: the dashboard refuses a Host it does not serve.
    containers.run("demo", image, "demo", "reference-opcua", "--host", "0.0.0.0",
                   "--port", str(port), "--speed", "600",
                   options=("--publish", f"127.0.0.1:{port}:{port}"))
    deadline = time.monotonic() + 120
    page = ""
    while time.monotonic() < deadline and not page:
        with contextlib.suppress(OSError), urllib.request.urlopen(
                f"http://127.0.0.1:{port}/", timeout=5) as response:
            page = response.read().decode(errors="replace")
        time.sleep(1)
    assert "<html" in page.lower(), containers.logs()


def test_the_image_runs_as_its_own_user_with_the_pinned_versions(image) -> None:
    script = ("import importlib.metadata as m, os, json; print(json.dumps({'uid': os.getuid(),"
              " 'versions': {d.metadata['Name'].lower().replace('_', '-'): d.version"
              " for d in m.distributions()}}))")
    result = docker("run", "--rm", "--entrypoint", "python", image, "-c", script)
    found = json.loads(result.stdout)
    assert found["uid"] == 10001
    pins = {}
    for line in (ROOT / "deploy/image/constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name] = version
    assert {name: found["versions"].get(name) for name in pins} == pins
    # The image holds no secret: none is baked in.
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    for name, value in compose.generated_env().items():
        if name.endswith(("_PASSWORD", "_TOKEN")):
            assert value not in history
