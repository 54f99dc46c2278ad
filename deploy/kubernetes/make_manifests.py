"""Writes the Kubernetes manifests of deploy/kubernetes from docker-compose.yml and the stack's
files, so that both run the same commands, health checks and configuration:

    python deploy/kubernetes/make_manifests.py     # edit this script or the compose file, not
                                                   # the YAML it writes

- namespace.yaml    the namespace `factory-sim`
- broker.yaml       Mosquitto: deploy/mosquitto's config and ACL, passwords written at start
                    by make-passwords.sh from the Secret; probes = the compose health check
- timeseries.yaml   InfluxDB 2 with the stack's setup scripts; probes = `influx ping`
- grafana.yaml      Grafana with the provisioned datasource and dashboards (deploy/grafana)
- site-<site>.yaml  per site: the simulator (`factory-sim serve`, its OPC UA users made by an
                    init container with the compose file's `users add` script) and its
                    bridge, with the compose services' commands; probes = the image's
                    health check (deploy/healthcheck.py) with the services'
                    FACTORY_SIM_HEALTHCHECK

nats/ (an overlay, from docker-compose.nats.yml and deploy/nats; applied after the files above):
- nats/nats.yaml    the clustered broker: a StatefulSet of three NATS nodes (JetStream, MQTT,
                    the compose overlay's node.conf with the pods' names as routes, auth.conf
                    unchanged, passwords from the Secret) and the headless Service that names
                    each pod (nats-0.nats, ...); probes = the node image's health check
- nats/bridges.yaml the bridges of every site given all three nodes, each starting on its own,
                    as in docker-compose.nats.yml; they replace the bridges above by name

Secrets come from Kubernetes Secrets, never from these files: `factory-sim-env` holds what
scripts/make-env writes into .env (`kubectl create secret generic factory-sim-env
--from-env-file=.env`), `factory-sim-influxdb-bridge` the bridges' write-only InfluxDB token
(key `token`), made once InfluxDB is set up (docs/trainers/kubernetes.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "deploy/kubernetes"
NAMESPACE = "factory-sim"
ENV_SECRET = "factory-sim-env"
TOKEN_SECRET = "factory-sim-influxdb-bridge"
IMAGE = "factory-sim:local"
HEADER = ("# Written by deploy/kubernetes/make_manifests.py from docker-compose.yml and deploy/:"
          " edit those, not this file.\n")
SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*_(?:PASSWORD|TOKEN)$")
REFERENCE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")
STATE_SIZE = "1Gi"


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


DEFAULTS = read_env(ROOT / ".env.example")


def setting(text: str) -> str:
    """A compose string with `${VAR:-default}` of non-secret settings resolved (.env.example's
    value, else the default) and `$$` as `$`."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if SECRET_NAME.match(name):
            raise ValueError(f"{text!r}: a secret belongs in a secretKeyRef")
        default = re.match(r"\$\{\w+:?-([^}]*)\}", match.group(0))
        return DEFAULTS.get(name) or (default.group(1) if default else "")
    return REFERENCE.sub(replace, str(text)).replace("$$", "$")


def env_list(environment: dict[str, Any]) -> list[dict[str, Any]]:
    """Container env: secrets as secretKeyRef into factory-sim-env, the rest resolved."""
    out = []
    for name, value in environment.items():
        names = REFERENCE.findall(str(value))
        if len(names) == 1 and SECRET_NAME.match(names[0]):
            out.append({"name": name, "valueFrom": {"secretKeyRef": {
                "name": ENV_SECRET, "key": names[0]}}})
        else:
            out.append({"name": name, "value": setting(value)})
    return out


def probe(command: list[str], period: int = 10, failures: int = 3) -> dict[str, Any]:
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 10,
            "failureThreshold": failures}


def http_probe(path: str, port: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": 10,
            "timeoutSeconds": 5, "failureThreshold": 3}


def metadata(name: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": name,
                       "app.kubernetes.io/part-of": "factory-sim",
                       "app.kubernetes.io/component": component}}


def config_map(name: str, files: dict[str, Path], component: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(name, component),
            "data": {key: path.read_text() for key, path in files.items()}}


def service(name: str, port: int, component: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata(name, component),
            "spec": {"selector": {"app.kubernetes.io/name": name},
                     "ports": [{"name": "main", "port": port, "targetPort": port}]}}


STATE = "state"  # the persistent volume of a stateful set, mounted by the pod's containers


def stateful_set(name: str, component: str, pod: dict[str, Any],
                 claim: bool = True) -> dict[str, Any]:
    """One replica, with a persistent volume `state` for its data when `claim`."""
    spec: dict[str, Any] = {
        "serviceName": name, "replicas": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
        "template": {"metadata": {"labels": metadata(name, component)["labels"]}, "spec": pod},
    }
    if claim:
        spec["volumeClaimTemplates"] = [{
            "metadata": {"name": STATE},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": STATE_SIZE}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata(name, component),
            "spec": spec}


NON_ROOT = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}


def broker(services: dict[str, Any]) -> list[dict[str, Any]]:
    passwords, mosquitto = services["mosquitto-passwords"], services["mosquitto"]
    health = mosquitto["healthcheck"]["test"]
    assert health[0] == "CMD", health
    files = {"mosquitto.conf": ROOT / "deploy/mosquitto/mosquitto.conf",
             "acl": ROOT / "deploy/mosquitto/acl",
             "make-passwords.sh": ROOT / "deploy/mosquitto/make-passwords.sh"}
    mounts = [{"name": "config", "mountPath": "/mosquitto/config/mosquitto.conf",
               "subPath": "mosquitto.conf", "readOnly": True},
              {"name": "config", "mountPath": "/mosquitto/config/acl", "subPath": "acl",
               "readOnly": True},
              {"name": STATE, "mountPath": "/mosquitto/data"}]
    pod = {
        "initContainers": [{
            "name": "mosquitto-passwords", "image": passwords["image"],
            "command": ["/bin/sh", "/deploy/make-passwords.sh"],
            "env": env_list(passwords["environment"]),
            "volumeMounts": [{"name": "config", "mountPath": "/deploy/make-passwords.sh",
                              "subPath": "make-passwords.sh", "readOnly": True},
                             {"name": STATE, "mountPath": "/mosquitto/data"}]}],
        "containers": [{
            "name": "mosquitto", "image": mosquitto["image"],
            "ports": [{"name": "mqtt", "containerPort": 1883}],
            "volumeMounts": mounts,
            "readinessProbe": probe([setting(arg) for arg in health[1:]]),
            "livenessProbe": probe([setting(arg) for arg in health[1:]], period=20)}],
        "volumes": [{"name": "config", "configMap": {"name": "mosquitto"}}],
    }
    return [config_map("mosquitto", files, "broker"), stateful_set("mosquitto", "broker", pod),
            service("mosquitto", 1883, "broker")]


def timeseries(services: dict[str, Any]) -> list[dict[str, Any]]:
    influx = services["influxdb"]
    scripts = {"v1-compat.sh": ROOT / "deploy/influxdb/v1-compat.sh",
               "bridge-token.sh": ROOT / "deploy/influxdb/bridge-token.sh"}
    env = env_list(influx["environment"])
    # The bridges' token stays on the database's volume; the operator copies it into the
    # Secret factory-sim-influxdb-bridge (docs/trainers/kubernetes.md).
    env.append({"name": "TOKEN_FILE", "value": "/var/lib/influxdb2/bridge.token"})
    pod = {"containers": [{
        "name": "influxdb", "image": influx["image"],
        "ports": [{"name": "http", "containerPort": 8086}], "env": env,
        "volumeMounts": [{"name": "setup", "mountPath": f"/docker-entrypoint-initdb.d/{key}",
                          "subPath": key, "readOnly": True} for key in scripts]
        + [{"name": "config", "mountPath": "/etc/influxdb2"},
           {"name": STATE, "mountPath": "/var/lib/influxdb2"}],
        "readinessProbe": probe(influx["healthcheck"]["test"][1:]),
        "livenessProbe": probe(influx["healthcheck"]["test"][1:], period=20)}],
        "volumes": [{"name": "setup", "configMap": {"name": "influxdb-setup",
                                                    "defaultMode": 0o755}},
                    {"name": "config", "emptyDir": {}}]}
    return [config_map("influxdb-setup", scripts, "timeseries"),
            stateful_set("influxdb", "timeseries", pod),
            service("influxdb", 8086, "timeseries")]


def grafana(services: dict[str, Any]) -> list[dict[str, Any]]:
    spec = services["grafana"]
    folder = ROOT / "deploy/grafana"
    dashboards = {p.name: p for p in sorted((folder / "dashboards").glob("*.json"))}
    pod = {"securityContext": {"fsGroup": 472}, "containers": [{
        "name": "grafana", "image": spec["image"],
        "ports": [{"name": "http", "containerPort": 3000}],
        "env": env_list(spec["environment"]),
        "volumeMounts": [
            {"name": "datasources", "mountPath": "/etc/grafana/provisioning/datasources",
             "readOnly": True},
            {"name": "providers", "mountPath": "/etc/grafana/provisioning/dashboards",
             "readOnly": True},
            {"name": "dashboards", "mountPath": "/etc/grafana/dashboards", "readOnly": True},
            {"name": STATE, "mountPath": "/var/lib/grafana"}],
        "readinessProbe": http_probe("/api/health", 3000),
        "livenessProbe": http_probe("/api/health", 3000)}],
        "volumes": [{"name": "datasources", "configMap": {"name": "grafana-datasources"}},
                    {"name": "providers", "configMap": {"name": "grafana-dashboard-providers"}},
                    {"name": "dashboards", "configMap": {"name": "grafana-dashboards"}}]}
    return [
        config_map("grafana-datasources", {"influxdb.yaml": folder / "provisioning/datasources/"
                                           "influxdb.yaml"}, "dashboards"),
        config_map("grafana-dashboard-providers", {
            "factory-sim.yaml": folder / "provisioning/dashboards/factory-sim.yaml"},
            "dashboards"),
        config_map("grafana-dashboards", dashboards, "dashboards"),
        stateful_set("grafana", "dashboards", pod),
        service("grafana", 3000, "dashboards"),
    ]


def healthcheck_probe(period: int = 10) -> dict[str, Any]:
    return probe(["python", "/opt/factory-sim/healthcheck.py"], period=period)


BRIDGE_CONFIG = "bridge-config"  # the files the compose file bind-mounts into the bridges


def bridge_files(bridge: dict[str, Any]) -> dict[str, str]:
    """{file in the repository: path in the container} of a compose bridge's bind mounts."""
    files = {}
    for volume in bridge.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            files[source.removeprefix("./")] = target
    return files


def bridge_config(services: dict[str, Any]) -> list[dict[str, Any]]:
    """One ConfigMap with every file a bridge reads from the repository (its [[nodes]])."""
    files = {}
    for name, bridge in services.items():
        if name.startswith("bridge-"):
            files.update({Path(source).name: ROOT / source for source in bridge_files(bridge)})
    return [config_map(BRIDGE_CONFIG, files, "bridge")] if files else []


def site(services: dict[str, Any], name: str) -> list[dict[str, Any]]:
    server, bridge = services[f"site-{name}"], services[f"bridge-{name}"]
    users = services["opcua-users"]
    port = int(server["command"][server["command"].index("--port") + 1])
    server_pod = {
        "securityContext": NON_ROOT,
        "initContainers": [{
            "name": "opcua-users", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": [*users["entrypoint"], *map(setting, users["command"])],
            "env": env_list(users["environment"]),
            "volumeMounts": [{"name": "users", "mountPath": "/etc/factory-sim"}]}],
        "containers": [{
            "name": "serve", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "args": [setting(arg) for arg in server["command"]],
            "ports": [{"name": "opcua", "containerPort": port}],
            "env": env_list(server["environment"]),
            "volumeMounts": [{"name": "users", "mountPath": "/etc/factory-sim",
                              "readOnly": True},
                             {"name": STATE, "mountPath": "/var/lib/factory-sim"}],
            "readinessProbe": healthcheck_probe(),
            "livenessProbe": healthcheck_probe(20)}],
        "volumes": [{"name": "users", "emptyDir": {}}],
    }
    token_path = next(e["value"] for e in env_list(bridge["environment"])
                      if e["name"] == "FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE")
    config_mounts = [{"name": BRIDGE_CONFIG, "mountPath": target, "subPath": Path(source).name,
                      "readOnly": True} for source, target in bridge_files(bridge).items()]
    bridge_pod = {
        "securityContext": NON_ROOT,
        "containers": [{
            "name": "bridge", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "args": [setting(arg) for arg in bridge["command"]],
            "env": env_list(bridge["environment"]),
            "volumeMounts": [{"name": "influxdb-token", "mountPath": str(Path(token_path).parent),
                              "readOnly": True},
                             {"name": STATE, "mountPath": "/var/lib/factory-sim"},
                             *config_mounts],
            "readinessProbe": healthcheck_probe(),
            "livenessProbe": healthcheck_probe(20)}],
        "volumes": [{"name": "influxdb-token", "secret": {
            "secretName": TOKEN_SECRET,
            "items": [{"key": "token", "path": Path(token_path).name}]}},
                    *([{"name": BRIDGE_CONFIG, "configMap": {"name": BRIDGE_CONFIG}}]
                      if config_mounts else [])],
    }
    return [stateful_set(f"site-{name}", "simulator", server_pod),
            service(f"site-{name}", port, "simulator"),
            stateful_set(f"bridge-{name}", "bridge", bridge_pod)]


CLUSTER = "nats"  # the overlay's folder, the StatefulSet and its headless Service
NATS_IMAGE_DIR = ROOT / "deploy/nats"
NATS_REPLICAS = 3
NATS_UID = 10002  # the node image's user (deploy/nats/Dockerfile)
NATS_ROUTES = re.compile(r"^  routes: \[.*\]$", re.MULTILINE)


def nats_node(index: int) -> str:
    """A pod of the StatefulSet by the name its headless Service gives it in the namespace."""
    return f"{CLUSTER}-{index}.{CLUSTER}"


def nats_config() -> str:
    """deploy/nats/node.conf with the routes to the pods instead of the compose services."""
    config = (NATS_IMAGE_DIR / "node.conf").read_text()
    routes = ", ".join(f"nats-route://{nats_node(i)}:6222" for i in range(NATS_REPLICAS))
    config, found = NATS_ROUTES.subn(f"  routes: [{routes}]", config)
    if found != 1:
        raise ValueError("deploy/nats/node.conf: expected one `  routes: [...]` line")
    return config


def nats_compose_node(overlay: dict[str, Any]) -> dict[str, Any]:
    """The compose overlay's first node, the model of every pod."""
    return overlay["services"]["nats-1"]


def nats_cluster(overlay: dict[str, Any]) -> list[dict[str, Any]]:
    node = nats_compose_node(overlay)
    image = node["image"]
    passwords = {k: v for k, v in node["environment"].items() if k != "NATS_NODE"}
    env = [{"name": "NATS_NODE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           *env_list(passwords)]
    def health(period: int = 10, failures: int = 3) -> dict[str, Any]:
        """The node image's health check: JetStream (and so MQTT's streams) is up."""
        return {**http_probe("/healthz?js-enabled-only=true", 8222),
                "periodSeconds": period, "failureThreshold": failures}

    pod = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": NATS_UID, "runAsGroup": NATS_UID,
                            "fsGroup": NATS_UID},
        "containers": [{
            "name": "nats", "image": image, "imagePullPolicy": "IfNotPresent", "env": env,
            "ports": [{"name": "mqtt", "containerPort": 1883},
                      {"name": "client", "containerPort": 4222},
                      {"name": "cluster", "containerPort": 6222},
                      {"name": "monitor", "containerPort": 8222}],
            "volumeMounts": [{"name": "config", "mountPath": f"/etc/nats/{key}", "subPath": key,
                              "readOnly": True} for key in ("node.conf", "auth.conf")]
            + [{"name": STATE, "mountPath": "/data"}],
            "startupProbe": health(failures=30),
            "readinessProbe": health(),
            "livenessProbe": health(period=20)}],
        "volumes": [{"name": "config", "configMap": {"name": CLUSTER}}],
    }
    cluster = stateful_set(CLUSTER, "broker", pod)
    # the nodes start together (each routes to the others) and are told apart by their names
    cluster["spec"].update(replicas=NATS_REPLICAS, podManagementPolicy="Parallel")
    headless = service(CLUSTER, 1883, "broker")
    headless["spec"].update(
        clusterIP="None", publishNotReadyAddresses=True,  # routes form before JetStream is up
        ports=[{"name": name, "port": port, "targetPort": port}
               for name, port in (("mqtt", 1883), ("cluster", 6222))])
    data = {"node.conf": nats_config(), "auth.conf": (NATS_IMAGE_DIR / "auth.conf").read_text()}
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": metadata(CLUSTER, "broker"), "data": data}
    return [config, cluster, headless]


def cluster_bridges(services: dict[str, Any], overlay: dict[str, Any]) -> list[dict[str, Any]]:
    """The sites' bridges with the overlay's commands, the compose node names as the pods'."""
    names = {f"nats-{i + 1}": nats_node(i) for i in range(NATS_REPLICAS)}
    out = []
    for name in services:
        if not name.startswith("bridge-"):
            continue
        argv = [str(arg) for arg in overlay["services"][name]["command"]]
        index = argv.index("--mqtt") + 1
        urls = argv[index].split(",")
        argv[index] = ",".join(
            re.sub(r"^mqtt://([\w-]+):", lambda m: f"mqtt://{names[m.group(1)]}:", url)
            for url in urls)
        bridge = site(services, name.removeprefix("bridge-"))[2]
        bridge["spec"]["template"]["spec"]["containers"][0]["args"] = [
            setting(arg) for arg in argv]
        out.append(bridge)
    return out


def cluster_manifests() -> dict[str, list[dict[str, Any]]]:
    """{file name in nats/: its resources}."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    overlay = yaml.safe_load((ROOT / "docker-compose.nats.yml").read_text())
    return {"nats.yaml": nats_cluster(overlay), "bridges.yaml": cluster_bridges(services, overlay)}


def manifests() -> dict[str, list[dict[str, Any]]]:
    """{file name: its resources}."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    sites = [name.removeprefix("site-") for name in services if name.startswith("site-")]
    out = {
        "namespace.yaml": [{"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": NAMESPACE,
                                         "labels": {"app.kubernetes.io/part-of": "factory-sim"}}}],
        "broker.yaml": broker(services),
        "timeseries.yaml": timeseries(services),
        "grafana.yaml": grafana(services),
        "bridge-config.yaml": bridge_config(services),
    }
    for name in sites:
        out[f"site-{name}.yaml"] = site(services, name)
    return out


def render(resources: list[dict[str, Any]]) -> str:
    return HEADER + "---\n".join(yaml.safe_dump(r, sort_keys=False, width=100)
                                 for r in resources)


def write(folder: Path, written: dict[str, list[dict[str, Any]]]) -> None:
    folder.mkdir(exist_ok=True)
    for stale in set(p.name for p in folder.glob("*.yaml")) - set(written):
        (folder / stale).unlink()
    for name, resources in written.items():
        (folder / name).write_text(render(resources))


def main() -> int:
    write(OUT, manifests())
    write(OUT / CLUSTER, cluster_manifests())
    print(f"make_manifests: wrote {len(manifests())} files to {OUT}, "
          f"{len(cluster_manifests())} to {OUT / CLUSTER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
