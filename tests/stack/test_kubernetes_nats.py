"""deploy/kubernetes/nats, the overlay that puts the unified namespace on a 3-node NATS cluster
(as docker-compose.nats.yml does): current with its generator, valid by the Kubernetes schema
(offline), its node configuration accepted by a real nats-server, and consistent with the compose
overlay: the bridges run its commands with every node by the name Kubernetes gives the pod."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest
import yaml

from factory_cli.main import build_parser
from tests.cluster_brokers import NATS_SERVER, require_nats
from tests.stack import compose
from tests.stack.compose import ROOT, option
from tests.stack.test_kubernetes import FOLDER, SITES, by_kind, env_of, generator, pods, validate

OVERLAY = FOLDER / "nats"
NATS = ROOT / "deploy" / "nats"


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    found = []
    for path in sorted(OVERLAY.glob("*.yaml")):
        found += [r for r in yaml.safe_load_all(path.read_text()) if r]
    return found


def test_the_overlay_is_what_the_generator_writes_today() -> None:
    module = generator()
    written = module.cluster_manifests()
    assert {p.name for p in OVERLAY.glob("*.yaml")} == set(written)
    for name, resources in written.items():
        assert (OVERLAY / name).read_text() == module.render(resources), (
            f"nats/{name} is stale: run python deploy/kubernetes/make_manifests.py")


def test_the_overlay_follows_the_kubernetes_schema() -> None:
    result = validate(*sorted(OVERLAY.glob("*.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_three_nodes_named_by_a_headless_service_with_the_image_s_health_check(
    resources,
) -> None:
    cluster = by_kind(resources, "StatefulSet")["nats"]
    headless = by_kind(resources, "Service")["nats"]
    assert cluster["spec"]["replicas"] == 3
    assert cluster["spec"]["serviceName"] == "nats" and headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"]  # routes form before JetStream is up
    assert {p["port"] for p in headless["spec"]["ports"]} == {1883, 6222}
    pod = cluster["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert {p["containerPort"] for p in container["ports"]} >= {1883, 6222, 8222}
    dockerfile = (NATS / "Dockerfile").read_text()
    health = re.search(r"urlopen\('http://127\.0\.0\.1:(\d+)(/[^']+)'", dockerfile)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[kind]["httpGet"] == {"path": health[2], "port": int(health[1])}
    uid = int(re.search(r"^USER (\d+):", dockerfile, re.MULTILINE)[1])
    assert pod["securityContext"]["runAsUser"] == uid == pod["securityContext"]["fsGroup"]
    overlay = yaml.safe_load((ROOT / "docker-compose.nats.yml").read_text())
    assert container["image"] == overlay["services"]["nats-1"]["image"]
    env = env_of(container)
    assert env.pop("NATS_NODE") == {"fieldRef": {"fieldPath": "metadata.name"}}
    auth = (NATS / "auth.conf").read_text()
    assert set(env) == set(re.findall(r"\$(MQTT_\w+_PASSWORD)", auth))
    for name, value in env.items():  # every login's password from the Secret, none here
        assert value == {"secretKeyRef": {"name": "factory-sim-env", "key": name}}


def test_the_node_config_is_the_compose_one_routed_to_the_pods(resources, tmp_path) -> None:
    data = by_kind(resources, "ConfigMap")["nats"]["data"]
    assert data["auth.conf"] == (NATS / "auth.conf").read_text()
    original = (NATS / "node.conf").read_text().splitlines()
    ours = data["node.conf"].splitlines()
    changed = [(a, b) for a, b in zip(original, ours, strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0].strip().startswith("routes:")
    assert re.findall(r"nats-route://([\w.-]+):6222", changed[0][1]) == [
        "nats-0.nats", "nats-1.nats", "nats-2.nats"]
    # a real nats-server accepts it, with the variables the pod gives it
    require_nats()
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    env = {name: "not-a-real-password-0123456789" for name in re.findall(
        r"\$(MQTT_\w+_PASSWORD)", data["auth.conf"])}
    result = subprocess.run([str(NATS_SERVER), "-c", str(tmp_path / "node.conf"), "-t"],
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, **env, "NATS_NODE": "nats-0"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_bridge_runs_the_compose_overlay_s_command_on_the_pods(resources) -> None:
    overlay = compose.interpolate(yaml.safe_load((ROOT / "docker-compose.nats.yml").read_text()),
                                  compose.generated_env())["services"]
    parser = build_parser()
    nodes = [f"nats-{i}.nats" for i in range(3)]
    first_nodes = set()
    for site in SITES:
        bridge = pods(resources)[f"bridge-{site}"]
        argv = bridge["containers"][0]["args"]
        parser.parse_args(argv)  # argparse exits on a mistake
        urls = option(argv, "--mqtt").split(",")
        hosts = [re.match(r"mqtt://([\w.-]+):1883$", url)[1] for url in urls]
        assert sorted(hosts) == nodes
        first_nodes.add(hosts[0])
        compose_argv = [str(a) for a in overlay[f"bridge-{site}"]["command"]]
        compose_hosts = [url.removeprefix("mqtt://").removesuffix(":1883")
                         for url in option(compose_argv, "--mqtt").split(",")]
        # nats-1..3 of the compose file are the pods nats-0..2, in the same order
        assert hosts == [f"nats-{int(h.removeprefix('nats-')) - 1}.nats" for h in compose_hosts]
        i = argv.index("--mqtt")
        assert argv[:i + 1] + argv[i + 2:] == compose_argv[:i + 1] + compose_argv[i + 2:]
        # all else as the base manifests' bridge of the site
        base_set = next(r for r in yaml.safe_load_all(
            (FOLDER / f"site-{site}.yaml").read_text())
            if r and r["metadata"]["name"] == f"bridge-{site}")
        ours = by_kind(resources, "StatefulSet")[f"bridge-{site}"]
        base_pod = base_set["spec"]["template"]["spec"]
        assert {**bridge, "containers": None} == {**base_pod, "containers": None}
        assert {**bridge["containers"][0], "args": None} == {
            **base_pod["containers"][0], "args": None}
        assert ours["metadata"] == base_set["metadata"]  # it replaces the base's by name
    assert len(first_nodes) == len(SITES)  # one bridge per node while all are up
