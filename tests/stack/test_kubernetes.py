"""deploy/kubernetes: current with its generator, valid by the Kubernetes schema (offline,
kubernetes-validate), and consistent with the code and the compose file, as test_compose.py
checks docker-compose.yml: every command parses with the CLI's parser, every URL names a
Service on the port its server listens on, every secret comes from a Kubernetes Secret, every
mount has its volume, and the probes are the compose file's health checks."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from factory_cli.main import build_parser
from tests.stack import compose
from tests.stack.compose import ROOT, option

FOLDER = ROOT / "deploy/kubernetes"
SITES = ("lyon", "brno", "porto")


def generator():
    spec = importlib.util.spec_from_file_location("make_manifests", FOLDER / "make_manifests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    found = []
    for path in sorted(FOLDER.glob("*.yaml")):
        found += [r for r in yaml.safe_load_all(path.read_text()) if r]
    return found


def by_kind(resources, kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", "--quiet",
               *map(str, paths)]
    if not Path(command[0]).exists():
        pytest.skip("kubernetes-validate is not installed (test extra)")
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_manifests_are_what_the_generator_writes_today() -> None:
    module = generator()
    written = module.manifests()
    assert {p.name for p in FOLDER.glob("*.yaml")} == set(written)
    for name, resources in written.items():
        assert (FOLDER / name).read_text() == module.render(resources), (
            f"{name} is stale: run python deploy/kubernetes/make_manifests.py")


def test_the_manifests_follow_the_kubernetes_schema() -> None:
    result = validate(*sorted(FOLDER.glob("*.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("mistake", "named"), [
    (lambda s: s["spec"]["template"]["spec"]["containers"][0]["readinessProbe"].update(
        periodSecond=5), "periodSecond"),
    (lambda s: s["spec"].update(replicas="one"), "'one' is not of type 'integer'"),
])
def test_the_schema_check_would_notice_a_mistake(tmp_path, mistake, named) -> None:
    broken = list(yaml.safe_load_all((FOLDER / "site-lyon.yaml").read_text()))
    mistake(broken[0])
    path = tmp_path / "site-lyon.yaml"
    path.write_text(yaml.safe_dump_all(broken))
    result = validate(path)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr, result.stdout + result.stderr


def pods(resources) -> dict[str, dict[str, Any]]:
    return {name: s["spec"]["template"]["spec"]
            for name, s in by_kind(resources, "StatefulSet").items()}


def containers_of(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("initContainers", []) + pod["containers"]


def test_one_simulator_and_one_bridge_per_site_a_broker_a_store_and_grafana(resources) -> None:
    sets = by_kind(resources, "StatefulSet")
    assert set(sets) == {"mosquitto", "influxdb", "grafana",
                         *(f"site-{s}" for s in SITES), *(f"bridge-{s}" for s in SITES)}
    assert {r["metadata"]["namespace"] for r in resources if r["kind"] != "Namespace"} == {
        "factory-sim"}
    for name, stateful in sets.items():
        assert stateful["spec"]["replicas"] == 1
        assert stateful["spec"]["selector"]["matchLabels"].items() <= (
            stateful["spec"]["template"]["metadata"]["labels"].items()), name


def test_every_command_parses_and_matches_the_compose_file(resources) -> None:
    parser = build_parser()
    services = compose.load()["services"]
    found = {}
    for name, pod in pods(resources).items():
        for container in pod["containers"]:
            if container["image"] == compose.IMAGE:
                parser.parse_args(container["args"])  # argparse exits on a mistake
                found[name] = container["args"]
    for site in SITES:
        for role in ("site", "bridge"):
            assert found[f"{role}-{site}"] == [str(a) for a in services[f"{role}-{site}"][
                "command"]]


def test_every_url_names_a_service_on_the_port_its_server_listens_on(resources) -> None:
    services = {name: s["spec"]["ports"][0]["port"]
                for name, s in by_kind(resources, "Service").items()}
    listening = {}
    for name, pod in pods(resources).items():
        container = pod["containers"][0]
        listening[name] = {p["containerPort"] for p in container.get("ports", [])}
        for service in by_kind(resources, "Service").values():
            if service["spec"]["selector"] == {"app.kubernetes.io/name": name}:
                assert service["spec"]["ports"][0]["targetPort"] in listening[name]
    for site in SITES:
        argv = pods(resources)[f"bridge-{site}"]["containers"][0]["args"]
        for flag in ("--opcua", "--mqtt", "--influx"):
            url = urlsplit(option(argv, flag))
            assert url.hostname in services, (site, flag, url)
            assert url.port == services[url.hostname], (site, flag, url)
        serve = pods(resources)[f"site-{site}"]["containers"][0]["args"]
        assert int(option(serve, "--port")) == services[f"site-{site}"]
        assert option(argv, "--mqtt-user") == site


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_every_secret_comes_from_a_kubernetes_secret(resources) -> None:
    env_keys = set(compose.read_env())
    secret_names = {n for n in env_keys if n.endswith(("_PASSWORD", "_TOKEN"))}
    generated = compose.generated_env()
    text = "".join(path.read_text() for path in FOLDER.glob("*.yaml"))
    for name in secret_names:
        assert generated[name] not in text
    referenced = set()
    for pod in pods(resources).values():
        for container in containers_of(pod):
            for name, value in env_of(container).items():
                if name.endswith(("_PASSWORD", "_TOKEN")):
                    assert isinstance(value, dict), (container["name"], name)
                if isinstance(value, dict):
                    ref = value["secretKeyRef"]
                    assert ref["name"] == "factory-sim-env" and ref["key"] in secret_names
                    referenced.add(ref["key"])
    assert referenced == secret_names  # every secret of .env is used, as in the compose file
    assert by_kind(resources, "Secret") == {}  # none is shipped


def test_every_mount_has_its_volume_and_the_bridges_read_their_token_file(resources) -> None:
    config_maps = by_kind(resources, "ConfigMap")
    for name, stateful in by_kind(resources, "StatefulSet").items():
        pod = stateful["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in stateful["spec"].get("volumeClaimTemplates", [])}
        for container in containers_of(pod):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes.keys() | claims, (name, mount)
                source = volumes.get(mount["name"], {}).get("configMap")
                if source and "subPath" in mount:
                    assert mount["subPath"] in config_maps[source["name"]]["data"], mount
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, (name, volume)
    for site in SITES:
        pod = pods(resources)[f"bridge-{site}"]
        container = pod["containers"][0]
        token_file = Path(env_of(container)["FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE"])
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(
            token_file.parent))
        assert mount["readOnly"]
        secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
        assert secret["secretName"] == "factory-sim-influxdb-bridge"
        assert secret["items"] == [{"key": "token", "path": token_file.name}]
        assert "FACTORY_SIM_BRIDGE_INFLUX_TOKEN" not in env_of(container)
        # the files the compose file bind-mounts into the bridge (its [[nodes]]), from a ConfigMap
        bind_mounts = {target: source for source, target, *_ in (
            volume.split(":") for volume in compose.load()["services"][f"bridge-{site}"]["volumes"])
            if source.startswith("./")}
        assert bind_mounts, "the compose bridge mounts no configuration: the check is void"
        for target, source in bind_mounts.items():
            mount = next(m for m in container["volumeMounts"] if m["mountPath"] == target)
            assert mount["readOnly"] and mount["subPath"] == Path(source).name
            config = next(v for v in pod["volumes"] if v["name"] == mount["name"])["configMap"]
            assert (by_kind(resources, "ConfigMap")[config["name"]]["data"][mount["subPath"]]
                    == (ROOT / source).read_text())


def test_config_maps_hold_the_stack_files_unchanged(resources) -> None:
    config_maps = by_kind(resources, "ConfigMap")
    files = {("mosquitto", "acl"): "deploy/mosquitto/acl",
             ("mosquitto", "mosquitto.conf"): "deploy/mosquitto/mosquitto.conf",
             ("mosquitto", "make-passwords.sh"): "deploy/mosquitto/make-passwords.sh",
             ("influxdb-setup", "bridge-token.sh"): "deploy/influxdb/bridge-token.sh",
             ("influxdb-setup", "v1-compat.sh"): "deploy/influxdb/v1-compat.sh"}
    for (name, key), path in files.items():
        assert config_maps[name]["data"][key] == (ROOT / path).read_text()
    dashboards = config_maps["grafana-dashboards"]["data"]
    assert set(dashboards) == {p.name for p in (ROOT / "deploy/grafana/dashboards").glob("*.json")}


def test_probes_are_the_compose_health_checks(resources) -> None:
    services = compose.raw()["services"]
    pod = pods(resources)
    broker = pod["mosquitto"]["containers"][0]
    expected = [a.replace("$$", "$") for a in services["mosquitto"]["healthcheck"]["test"][1:]]
    assert broker["readinessProbe"]["exec"]["command"] == expected
    assert broker["livenessProbe"]["exec"]["command"] == expected
    influx = pod["influxdb"]["containers"][0]
    assert influx["readinessProbe"]["exec"]["command"] == (
        services["influxdb"]["healthcheck"]["test"][1:])
    dockerfile = (ROOT / "Dockerfile").read_text()
    for site in SITES:
        for role in ("site", "bridge"):
            container = pod[f"{role}-{site}"]["containers"][0]
            command = container["readinessProbe"]["exec"]["command"]
            assert command == ["python", "/opt/factory-sim/healthcheck.py"]
            assert '"python", "/opt/factory-sim/healthcheck.py"' in dockerfile
            assert env_of(container)["FACTORY_SIM_HEALTHCHECK"] == (
                services[f"{role}-{site}"]["environment"]["FACTORY_SIM_HEALTHCHECK"])
        assert pod[f"site-{site}"]["securityContext"]["runAsUser"] == 10001


def test_the_generator_leaves_nothing_stale_behind(tmp_path, monkeypatch) -> None:
    module = generator()
    copy = tmp_path / "kubernetes"
    shutil.copytree(FOLDER, copy)
    (copy / "site-paris.yaml").write_text("# a site the compose file no longer has\n")
    monkeypatch.setattr(module, "OUT", copy)
    monkeypatch.setattr(module, "ROOT", ROOT)
    assert module.main() == 0
    assert {p.name for p in copy.glob("*.yaml")} == {p.name for p in FOLDER.glob("*.yaml")}
