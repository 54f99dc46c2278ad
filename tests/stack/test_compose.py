"""docker-compose.yml: valid by the Compose specification's JSON schema, and consistent with the
code — every command parses, ports and URLs agree, every volume and variable is defined.

No Docker engine runs here; what a `docker compose up` would find wrong and can be checked
without one is checked here (the Mosquitto ACL with a real broker: test_mosquitto_acl.py;
the dashboards' queries: test_dashboards.py; the commands run for real: test_multisite.py).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from factory_cli.main import build_parser
from factory_sim.scenario import load_scenario
from factory_sim.shipped import shipped_scenario
from mqtt_bridge.config import load as load_bridge_config
from mqtt_bridge.outputs.mqtt.settings import MqttSettings
from mqtt_bridge.outputs.timeseries.settings import InfluxSettings
from tests.stack import compose
from tests.stack.compose import ROOT, Invocation, option

SITES = ("lyon", "brno", "porto")


@pytest.fixture(scope="module")
def stack() -> dict:
    return compose.load()


@pytest.fixture(scope="module")
def invocations(stack) -> list[Invocation]:
    return compose.factory_sim_invocations(stack["services"])


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema (a test extra) with the Compose specification's schema it ships."""
    command = [str(Path(sys.executable).parent / "check-jsonschema"),
               "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = schema_check(compose.COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_would_notice_a_mistake(tmp_path) -> None:
    broken = copy.deepcopy(compose.raw())
    broken["services"]["bridge-lyon"]["depends_on"]["site-lyon"]["condition"] = "when_ready"
    broken["services"]["grafana"]["healthcheck"]["retry"] = 5
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = schema_check(path)
    assert result.returncode == 1
    assert "when_ready" in result.stdout and "retry" in result.stdout, result.stdout


def test_every_variable_the_file_uses_is_defined_in_env_example() -> None:
    env = compose.read_env()
    used = compose.references(compose.raw())
    tls = compose.references(yaml.safe_load((ROOT / "docker-compose.tls.yml").read_text()))
    assert used - env.keys() == set(), "used in docker-compose.yml, missing in .env.example"
    assert env.keys() - used - tls == set(), "in .env.example, used nowhere"
    compose.load(compose.generated_env())  # every ${VAR:?...} is satisfied


def test_a_missing_password_stops_compose_with_its_message() -> None:
    env = dict(compose.generated_env())
    del env["MQTT_LYON_PASSWORD"]
    with pytest.raises(KeyError, match=r"MQTT_LYON_PASSWORD is empty - run scripts/make-env"):
        compose.load(env)


def test_no_secret_ships_and_the_example_is_refused_until_make_env_ran(tmp_path) -> None:
    example = compose.read_env()
    secrets = [name for name in example if name.endswith(("_PASSWORD", "_TOKEN"))]
    assert len(secrets) == 10 and all(example[name] == "" for name in secrets)
    # cp .env.example .env && docker compose config: refused, naming the cure.
    with pytest.raises(KeyError, match=r"is empty - run scripts/make-env"):
        compose.load(example)
    shutil.copyfile(compose.ENV_EXAMPLE, tmp_path / ".env")
    result = compose.make_env(tmp_path / ".env")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"make-env: {tmp_path / '.env'}: 10 secret(s) generated")
    env = compose.read_env(tmp_path / ".env")
    compose.load(env)
    values = [env[name] for name in secrets]
    assert len(set(values)) == len(values) and min(map(len, values)) >= 40
    assert {k: v for k, v in env.items() if k not in secrets} == {
        k: v for k, v in example.items() if k not in secrets}
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600


def test_make_env_keeps_what_is_set_and_fills_only_what_is_empty(tmp_path) -> None:
    target = tmp_path / "site.env"
    assert compose.make_env(target).returncode == 0  # created from .env.example
    first = compose.read_env(target)
    text = target.read_text().replace(f"GRAFANA_ADMIN_PASSWORD={first['GRAFANA_ADMIN_PASSWORD']}",
                                      "GRAFANA_ADMIN_PASSWORD=")
    target.write_text(text.replace("SPEED=1\n", "SPEED=600\n"))
    result = compose.make_env(target)
    assert result.stdout.strip() == (
        f"make-env: {target}: 1 secret(s) generated (GRAFANA_ADMIN_PASSWORD)")
    second = compose.read_env(target)
    assert second["GRAFANA_ADMIN_PASSWORD"] not in ("", first["GRAFANA_ADMIN_PASSWORD"])
    assert second["SPEED"] == "600"
    assert {k: v for k, v in second.items() if k not in ("GRAFANA_ADMIN_PASSWORD", "SPEED")} == {
        k: v for k, v in first.items() if k not in ("GRAFANA_ADMIN_PASSWORD", "SPEED")}
    assert compose.make_env(target).stdout.strip().endswith("every secret was already set")
    bad = compose.make_env(tmp_path / "missing" / ".env")
    assert bad.returncode == 1 and bad.stderr.strip().endswith("No such file or directory")


def test_ports_listen_on_loopback_unless_the_operator_sets_an_address(stack) -> None:
    published = {name: service["ports"] for name, service in stack["services"].items()
                 if "ports" in service}
    assert {"mosquitto", "influxdb", "grafana", "site-lyon"} <= set(published)
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:") and port.count(":") == 2, (name, port)
    opened = compose.load({**compose.generated_env(), "BIND_ADDRESS": "192.0.2.7"})
    for name in published:
        for port in opened["services"][name]["ports"]:
            assert port.startswith("192.0.2.7:"), (name, port)


def test_every_command_is_a_factory_sim_invocation_that_parses(invocations) -> None:
    parser = build_parser()
    commands = {}
    for invocation in invocations:
        args = parser.parse_args(invocation.argv)  # argparse exits (SystemExit) on a mistake
        commands.setdefault(args.command, []).append(invocation.service)
    assert len(commands["serve"]) == len(SITES)
    assert len(commands["bridge"]) == len(SITES)
    assert commands["users"] == ["opcua-users", "opcua-users"]


def test_serve_commands_name_real_scenarios_and_listen_where_the_bridges_connect(
    stack, invocations
) -> None:
    services = stack["services"]
    serve = {i.service: i.argv for i in invocations if i.argv[0] == "serve"}
    bridges = {i.service: i.argv for i in invocations if i.argv[0] == "bridge"}
    sites = {}
    for site in SITES:
        server, bridge = serve[f"site-{site}"], bridges[f"bridge-{site}"]
        scenario = load_scenario(shipped_scenario(server[1]))  # a shipped name: package data
        assert scenario.hierarchy.site == site
        sites[scenario.hierarchy.site] = scenario
        assert option(bridge, "--enterprise") == scenario.hierarchy.enterprise
        url = urlsplit(option(bridge, "--opcua"))
        assert (url.scheme, url.hostname) == ("opc.tcp", f"site-{site}")
        assert url.port == int(option(server, "--port"))
        assert option(server, "--host") == "0.0.0.0"
        assert any(p.endswith(f":{url.port}") for p in services[f"site-{site}"]["ports"])
        assert services[f"site-{site}"]["environment"]["FACTORY_SIM_HEALTHCHECK"] == (
            f"listen:{url.port}")
        # Start order: users before servers, server healthy before its bridge.
        assert services[f"site-{site}"]["depends_on"]["opcua-users"]["condition"] == (
            "service_completed_successfully")
        assert services[f"bridge-{site}"]["depends_on"][f"site-{site}"]["condition"] == (
            "service_healthy")
        # The bridge logs in as the user opcua-users creates, with its password.
        assert option(bridge, "--opcua-user") == "bridge"
        assert "--no-anonymous" in server and option(server, "--users") == (
            "/etc/factory-sim/users.yaml")
    assert len({s.hierarchy.enterprise for s in sites.values()}) == 1
    assert len({option(b, "--client-id") for b in bridges.values()}) == len(SITES)


def test_bridges_reach_the_broker_and_the_database_where_they_listen(stack, invocations) -> None:
    services = stack["services"]
    mosquitto_conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    listener = int(re.search(r"^listener (\d+)$", mosquitto_conf, re.M).group(1))
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/influxdb.yaml").read_text()
    )["datasources"][0]
    grafana_env = services["grafana"]["environment"]
    for invocation in (i for i in invocations if i.argv[0] == "bridge"):
        argv, service = invocation.argv, services[invocation.service]
        mqtt = MqttSettings(url=option(argv, "--mqtt"), username=option(argv, "--mqtt-user"))
        assert (mqtt.host, mqtt.port) == ("mosquitto", listener)
        assert any(p.endswith(f":{listener}") for p in services["mosquitto"]["ports"])
        influx = InfluxSettings(url=option(argv, "--influx"), org=option(argv, "--org"),
                                bucket=option(argv, "--bucket"))
        assert influx.url == datasource["url"] == "http://influxdb:8086"
        assert any(p.endswith(":8086") for p in services["influxdb"]["ports"])
        assert influx.org == services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ORG"]
        assert influx.bucket == services["influxdb"]["environment"][
            "DOCKER_INFLUXDB_INIT_BUCKET"]
        assert datasource["jsonData"]["dbName"] == "${INFLUXDB_BUCKET}"
        assert grafana_env["INFLUXDB_BUCKET"] == influx.bucket
        env = service["environment"]
        site = option(argv, "--mqtt-user")
        assert env["FACTORY_SIM_BRIDGE_MQTT_PASSWORD"] == (
            services["mosquitto-passwords"]["environment"][f"MQTT_{site.upper()}_PASSWORD"])
        # The write-only token influxdb's setup leaves in a volume, never the admin token.
        admin_token = services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
        assert admin_token not in json.dumps(service)
        token_file = Path(env["FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE"])
        volume = next(m for m in service["volumes"] if token_file.is_relative_to(m.split(":")[1]))
        assert volume.endswith(":ro")
        assert f"{volume.split(':')[0]}:{token_file.parent}" in services["influxdb"]["volumes"]
        token_script = (ROOT / "deploy/influxdb/bridge-token.sh").read_text()
        assert f"${{TOKEN_FILE:-{token_file}}}" in token_script
        assert "--write-bucket" in token_script and "--read-" not in token_script
        assert env["FACTORY_SIM_BRIDGE_OPCUA_PASSWORD"] == (
            services["opcua-users"]["environment"]["OPCUA_BRIDGE_PASSWORD"])
        opcua_port = urlsplit(option(argv, "--opcua")).port
        assert env["FACTORY_SIM_HEALTHCHECK"] == f"connected:{opcua_port},{listener}"
        for dependency in ("mosquitto", "influxdb"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy"
    assert services["mosquitto"]["depends_on"]["mosquitto-passwords"]["condition"] == (
        "service_completed_successfully")
    assert services["grafana"]["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_multisite_profile_adds_the_other_sites(stack) -> None:
    services = stack["services"]
    for site in SITES[1:]:
        for name in (f"site-{site}", f"bridge-{site}"):
            assert services[name]["profiles"] == ["multisite"]
    always = [name for name, s in services.items() if "profiles" not in s]
    assert {"site-lyon", "bridge-lyon", "mosquitto", "influxdb", "grafana"} <= set(always)


def test_every_volume_is_declared_and_every_mounted_file_exists(stack) -> None:
    declared = set(stack["volumes"])
    used = set()
    for name, service in stack["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                used.add(source)
                assert source in declared, f"{name}: volume {source} is not declared"
    assert used == declared, "declared volumes nobody uses"


def test_paths_in_commands_lie_on_the_services_volumes(stack, invocations) -> None:
    for invocation in invocations:
        mounts = {m.split(":")[1] for m in stack["services"][invocation.service]["volumes"]}
        argv = invocation.argv
        paths = [option(argv, flag) for flag in ("--state-dir", "--users") if flag in argv]
        if argv[:2] == ["users", "add"]:
            paths.append(argv[2])
        for path in paths:
            assert any(Path(path).is_relative_to(m) for m in mounts), (invocation, path)


def _shell_references(text: str) -> set[str]:
    """Variables a shell expands in `text` that must come from outside: not inside single
    quotes, without a default (`${X:-...}`), not assigned by the script itself."""
    unquoted = re.sub(r"'[^']*'", "", text)
    # Not a name built at run time (${MQTT_${name}_PASSWORD}): the script checks those itself.
    used = set(re.findall(r"\$\{?(\w+)\b(?!:?-|\$)", unquoted))
    assigned = set(re.findall(r"(?:^|\s|\")(\w+)=", unquoted)) | set(
        re.findall(r"\bfor (\w+) in", unquoted))
    return used - assigned


def test_every_variable_a_container_expands_is_in_its_environment(stack) -> None:
    for name, service in stack["services"].items():
        environment = set(service.get("environment", {}))
        texts = [json.dumps(service.get("command", ""))]
        health = service.get("healthcheck", {}).get("test", [""])
        if health[0] == "CMD-SHELL":  # the exec form ("CMD") expands nothing
            texts.append(json.dumps(health))
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./") and source.endswith(".sh"):
                texts.append((ROOT / source).read_text())
        needed = set().union(*(_shell_references(t) for t in texts))
        # Set by the influxdb image itself once its setup has run.
        needed -= {"DOCKER_INFLUXDB_INIT_BUCKET_ID"}
        assert needed <= environment, f"{name}: {sorted(needed - environment)} not set"


def test_grafana_provisioning_uses_only_variables_grafana_has(stack) -> None:
    environment = set(stack["services"]["grafana"]["environment"])
    folder = ROOT / "deploy/grafana/provisioning"
    for path in folder.rglob("*.yaml"):
        assert set(re.findall(r"\$\{(\w+)\}", path.read_text())) <= environment, path


def test_each_bridge_logs_in_as_its_site_which_the_acl_patterns_confine(invocations) -> None:
    acl = (ROOT / "deploy/mosquitto/acl").read_text()
    patterns = acl.split("\nuser ", 1)[0]  # lines before the first user apply to every login
    bridges = [i for i in invocations if i.argv[0] == "bridge"]
    for invocation in bridges:
        site = invocation.service.removeprefix("bridge-")
        assert option(invocation.argv, "--mqtt-user") == site
        assert option(invocation.argv, "--client-id") == f"bridge-{site}"
        assert f"pattern write {option(invocation.argv, '--enterprise')}/%u/#" in patterns
        assert "pattern write _bridge/bridge-%u/status" in patterns
    assert len({option(i.argv, "--mqtt-user") for i in bridges}) == len(SITES)


def test_every_image_is_pinned_to_a_version(stack) -> None:
    for name, service in stack["services"].items():
        image = service["image"]
        if image == compose.IMAGE:
            assert service["build"] == ".", name  # built from this repository's Dockerfile
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"\d+(\.\d+)+", tag), f"{name}: {image}"


def test_every_bridge_bridges_the_plant_kpis_by_the_shipped_nodes_configuration(
    stack, invocations
) -> None:
    """Plant OEE reaches the UNS and the time series by configuration ([[nodes]]): each
    bridge's --config is the shipped file, mounted read-only, and it names Plant/Kpi under
    the topic level `plant`, group `kpi` (.../plant/kpi/OEE, measurement kpi, tag cell=plant)."""
    services = stack["services"]
    bridges = [i for i in invocations if i.argv[0] == "bridge"]
    assert len(bridges) == len(SITES)
    for invocation in bridges:
        path = option(invocation.argv, "--config")
        mounts = {m.split(":")[1]: m.split(":") for m in services[invocation.service]["volumes"]}
        source, _, mode = mounts[path]
        assert mode == "ro" and source == "./mqtt_bridge/inputs/opcua/nodes.example.toml"
        config = load_bridge_config(None, str(ROOT / source), env={})
        kpi = [n for n in config.opcua.nodes if n.browse_path == "Plant/Kpi"]
        assert [(n.topic, n.group) for n in kpi] == [("plant", "kpi")]
        assert any(n.browse_path == "Plant/ShiftReports" for n in config.opcua.nodes)


def test_the_plant_objects_topics_lie_in_the_site_its_login_may_write(invocations) -> None:
    """[[nodes]] objects take the levels their `topic` does not give from --site/--area/--line
    (machines have their own Location): each bridge names its served scenario's hierarchy,
    so its plant KPIs and shift go to acme-metal/<site>/..., which the ACL lets it write (the
    defaults, acme-metal/site/area/line/plant/..., would be dropped by the broker)."""
    serves = {i.service.removeprefix("site-"): i.argv for i in invocations if i.argv[0] == "serve"}
    for invocation in (i for i in invocations if i.argv[0] == "bridge"):
        site = invocation.service.removeprefix("bridge-")
        hierarchy = load_scenario(shipped_scenario(serves[site][1])).hierarchy
        levels = [option(invocation.argv, f"--{level}")
                  for level in ("enterprise", "site", "area", "line")]
        assert levels == [hierarchy.enterprise, site, hierarchy.area, hierarchy.line]
