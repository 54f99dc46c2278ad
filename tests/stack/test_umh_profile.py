"""The stack's United Manufacturing Hub profile (docker-compose.umh.yml with deploy/mosquitto's
ACL): every site's bridge also publishes UMH's data model of its site, logging in as the site;
on a real Mosquitto with the stack's ACL that login publishes its own site's UMH topics and
nothing else, and dashboards read them. Run for real: the compose file's site Lyon, its bridge
with the profile's environment and the shipped [[nodes]] file, publishes UMH messages that
follow UMH's schemas, the plant's shift included."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from mqtt_bridge.config import load
from tests.bridge.umh_contract import check
from tests.services import MqttRecorder
from tests.stack import compose
from tests.stack.processes import log_tails, start, start_server, stop
from tests.stack.test_compose import schema_check
from tests.stack.test_compose_engine import DOCKER_COMPOSE
from tests.stack.test_mosquitto_acl import SITES, close, connect, publish
from tests.stack.test_multisite import local_commands

PROFILE = compose.ROOT / "docker-compose.umh.yml"
SPARKPLUG_PROFILE = compose.ROOT / "docker-compose.sparkplug.yml"
RUN_START = datetime(2026, 1, 5, 6, tzinfo=UTC)  # test_multisite's --start: a shift begins


def overrides() -> dict:
    return compose.interpolate(yaml.safe_load(PROFILE.read_text()),
                               compose.generated_env())["services"]


@pytest.mark.parametrize("profile", [PROFILE, SPARKPLUG_PROFILE], ids=lambda p: p.name)
def test_the_profile_follows_the_compose_specification(profile: Path) -> None:
    result = schema_check(profile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_merges_the_profile_into_every_site_bridge(tmp_path) -> None:
    if not DOCKER_COMPOSE.exists():
        pytest.skip(f"{DOCKER_COMPOSE} is not installed (scripts/install-docker)")
    # docker-compose 1.29 predates the top-level `name` (as in test_compose_engine.py)
    text = compose.COMPOSE_FILE.read_text().replace("\nname: factory-sim\n", "\n")
    (tmp_path / "docker-compose.yml").write_text(text)
    shutil.copyfile(PROFILE, tmp_path / PROFILE.name)
    shutil.copyfile(compose.ENV_EXAMPLE, tmp_path / ".env")
    assert compose.make_env(tmp_path / ".env").returncode == 0
    result = subprocess.run(
        [str(DOCKER_COMPOSE), "-f", "docker-compose.yml", "-f", PROFILE.name,
         "--profile", "multisite", "config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for site in SITES:
        environment = services[f"bridge-{site}"]["environment"]
        assert environment["FACTORY_SIM_BRIDGE_UMH_USERNAME"] == site
        assert environment["FACTORY_SIM_BRIDGE_MQTT_PASSWORD"]  # the base file's, kept
        assert "--mqtt" in services[f"bridge-{site}"]["command"]  # ISA-95 stays


def test_every_site_bridge_publishes_its_site_to_umh_with_its_login() -> None:
    env = compose.generated_env()
    base = compose.load(env)["services"]
    profile = overrides()
    assert sorted(profile) == sorted(f"bridge-{site}" for site in SITES)
    for name, override in profile.items():
        site = name.removeprefix("bridge-")
        environment = {**base[name]["environment"], **override["environment"]}
        umh_env = {k: v for k, v in environment.items() if k.startswith("FACTORY_SIM_BRIDGE_UMH_")}
        settings = load({("opcua", "url"): "opc.tcp://site:4840"}, env=umh_env).umh
        assert (settings.host, settings.port, settings.form) == ("mosquitto", 1883, "classic")
        assert settings.username == compose.option(base[name]["command"], "--mqtt-user") == site
        assert settings.password == env[f"MQTT_{site.upper()}_PASSWORD"]
        assert settings.status_topic == f"_bridge/umh-{site}/status"  # the ACL's pattern


def test_a_site_login_publishes_its_own_umh_topics_and_no_other(stack_mosquitto) -> None:
    users = stack_mosquitto.users
    site, other = SITES[0], SITES[1]
    watcher = MqttRecorder(stack_mosquitto, "#", username="dashboard",
                           password=users["dashboard"])
    bridge, reason = connect(stack_mosquitto, site, users[site], f"umh-{site}")
    assert not reason.is_failure, reason
    dashboard, _ = connect(stack_mosquitto, "dashboard", users["dashboard"])
    try:
        cell = f"umh/v1/acme-metal/{site}/fabrication/line-1/press-brake"
        allowed = [f"{cell}/_historian/Monitoring", f"{cell}/_analytics/state/add",
                   f"umh/v1/acme-metal/{site}/fabrication/line-1/plant/_analytics/shift/add",
                   f"_bridge/umh-{site}/status"]
        refused = [f"umh/v1/acme-metal/{other}/fabrication/line-1/x/_historian/y",
                   f"umh/v1/other/{site}/x/_historian/y", f"umh/v1/acme-metal/{site}-evil/x",
                   f"_bridge/umh-{other}/status", f"umh/v2/acme-metal/{site}/x"]
        for topic in refused + allowed:
            publish(bridge, topic, topic.encode())
        # dashboards read, never write, UMH's topics (not even those a site called
        # "dashboard" would be granted)
        for topic in (f"{cell}/_historian/Monitoring", "umh/v1/acme-metal/dashboard/x",
                      "_bridge/umh-dashboard/status"):
            publish(dashboard, topic, b"forged")
        marker = f"{cell}/_historian/marker"
        publish(bridge, marker, b"end")
        messages = watcher.wait_until(lambda ms: any(m.topic == marker for m in ms), 10)
        assert [m.topic for m in messages if m.payload != b"end"] == allowed
    finally:
        close(bridge)
        close(dashboard)
        watcher.close()


def test_the_profile_run_for_real_feeds_umh_through_the_stack_acl(
    stack_mosquitto, victoria_metrics, tmp_path
) -> None:
    site, serve, port, bridge, env = local_commands(
        tmp_path, stack_mosquitto.url, victoria_metrics.url)[0]
    env.update(overrides()[f"bridge-{site}"]["environment"])
    assert env["FACTORY_SIM_BRIDGE_UMH_URL"] == "mqtt://mosquitto:1883"
    env["FACTORY_SIM_BRIDGE_UMH_URL"] = stack_mosquitto.url  # the broker of this machine
    recorder = MqttRecorder(stack_mosquitto, "#", username="dashboard",
                            password=stack_mosquitto.users["dashboard"])
    plant = f"umh/v1/acme-metal/{site}/fabrication/line-1/plant/_analytics/shift/add"
    processes = []
    try:
        processes.append(start_server(serve, port, tmp_path / "serve.log"))
        processes.append(start(bridge, tmp_path / "bridge.log", env))

        def shift_and_states(messages) -> bool:
            machines = {m.topic.split("/")[6] for m in messages
                        if m.topic.endswith("/_analytics/state/add")}
            return any(m.topic == plant for m in messages) and len(machines) == 4

        recorder.wait_until(shift_and_states, timeout=60)
        for process in processes:
            assert process.poll() is None, log_tails(tmp_path)
        stop(processes[::-1])
        status = f"_bridge/umh-{site}/status"
        messages = recorder.wait_until(lambda ms: [m.json()["status"] for m in ms
                                                   if m.topic == status][-1:] == ["offline"], 30)
    finally:
        stop(processes)
        recorder.close()

    umh = [m for m in messages if m.topic.startswith("umh/")]
    contracts = {}
    for message in umh:
        contract, path, document = check(message.topic, message.payload)
        assert message.topic.split("/")[2:4] == ["acme-metal", site], message.topic
        contracts.setdefault(contract, set()).add(path.split("/")[0])
        if message.topic == plant:
            shift = document
    assert {"_historian", "_analytics", "_local"} <= set(contracts), sorted(contracts)
    assert {"state", "shift"} <= contracts["_analytics"]
    assert shift["start_time_unix_ms"] == RUN_START.timestamp() * 1000  # the early shift
    assert shift["end_time_unix_ms"] > shift["start_time_unix_ms"]
    # ISA-95 is published as before, beside UMH
    assert any(m.topic.startswith(f"acme-metal/{site}/") for m in messages)
