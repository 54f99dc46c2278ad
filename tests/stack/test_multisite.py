"""Two sites of the multi-site plant, each its own `factory-sim serve` process and its own
`factory-sim bridge`, run with the commands docker-compose.yml gives them (only hosts, ports,
paths and the speed changed for this machine), against one Mosquitto configured by
deploy/mosquitto (passwords, ACL) and one time-series store: the unified namespace holds both
sites under their own ISA-95 prefixes, and every sequence number is accounted for."""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from factory_sim.shipped import shipped_scenario
from tests.services import MqttRecorder, free_port
from tests.stack import compose
from tests.stack.compose import ROOT, option
from tests.stack.processes import FACTORY_SIM, log_tails, start, start_server, stop

SITES = ("lyon", "brno")
SPEED = "3600"  # a simulated hour per second: shift start, production, stops
RUN_SECONDS = 12


def replace_option(argv: list[str], flag: str, value: str) -> list[str]:
    argv = list(argv)
    argv[argv.index(flag) + 1] = value
    return argv


def local_commands(work: Path, broker_url: str, store_url: str) -> list[tuple]:
    """Per site (site, serve argv, port, bridge argv, bridge env) from docker-compose.yml,
    moved to this machine; the OPC UA users file made by the compose file's own `users add`
    commands with the passwords scripts/make-env generated."""
    stack = compose.load()
    env = compose.generated_env()
    invocations = compose.factory_sim_invocations(stack["services"])
    users_file = work / "users.yaml"
    passwords = {"bridge": env["OPCUA_BRIDGE_PASSWORD"],
                 "operator": env["OPCUA_OPERATOR_PASSWORD"]}
    for invocation in invocations:
        if invocation.argv[:2] == ["users", "add"]:
            subprocess.run(
                [*FACTORY_SIM, "users", "add", str(users_file), *invocation.argv[3:]],
                input=passwords[invocation.argv[3]] + "\n", text=True, check=True,
                capture_output=True, cwd=ROOT)
    commands = []
    for site in SITES:
        service = stack["services"][f"site-{site}"]
        serve = next(i.argv for i in invocations if i.service == f"site-{site}")
        port = free_port()
        serve = replace_option(serve, "--host", "127.0.0.1")
        serve = replace_option(serve, "--port", str(port))
        serve = replace_option(serve, "--speed", SPEED)
        # compose serves `--start now`; a fixed Monday morning keeps the run's shifts the same
        serve = replace_option(serve, "--start", "2026-01-05T06:00:00Z")
        serve = replace_option(serve, "--users", str(users_file))
        serve = replace_option(serve, "--state-dir", str(work / f"site-{site}"))
        assert "--no-anonymous" in serve and "--history" in serve
        bridge_service = stack["services"][f"bridge-{site}"]
        bridge = next(i.argv for i in invocations if i.service == f"bridge-{site}")
        assert urlsplit(option(bridge, "--opcua")).hostname == f"site-{site}"
        bridge = replace_option(bridge, "--opcua", f"opc.tcp://127.0.0.1:{port}")
        bridge = replace_option(bridge, "--mqtt", broker_url)
        bridge = replace_option(bridge, "--influx", store_url)
        bridge = replace_option(bridge, "--state-dir", str(work / f"bridge-{site}"))
        # the files the compose file bind-mounts into the bridge (its [[nodes]]), from the clone
        for volume in bridge_service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./") and option(bridge, "--config") == target:
                bridge = replace_option(bridge, "--config", str(ROOT / source))
        bridge_env = {k: v for k, v in bridge_service["environment"].items()
                      if k.startswith("FACTORY_SIM_BRIDGE_")}
        # The token file influxdb's setup writes in the stack (VictoriaMetrics takes any).
        token_file = work / "bridge.token"
        token_file.write_text("write-only-token\n")
        bridge_env["FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE"] = str(token_file)
        assert service["environment"]["FACTORY_SIM_HEALTHCHECK"]
        commands.append((site, serve, port, bridge, bridge_env))
    return commands


def expected_cells(serve: list[str]) -> set[tuple[str, str, str, str]]:
    """(site, area, line, cell) of every machine the serve command's plant has."""
    scenario = load_scenario(shipped_scenario(serve[1]))  # a shipped name: package data
    lines = int(option(serve, "--lines") or 1)
    plant = Plant(scenario, lines=lines if lines > 1 else None)
    return {(*info.location.split("/"), cell_id)  # the BrowseName: line prefix included
            for cell_id, info in plant.cells.items()}


def test_two_sites_share_one_broker_and_one_store_and_nothing_is_lost(
    stack_mosquitto, victoria_metrics, tmp_path
) -> None:
    commands = local_commands(tmp_path, stack_mosquitto.url, victoria_metrics.url)
    recorder = MqttRecorder(stack_mosquitto, "#", username="dashboard",
                            password=stack_mosquitto.users["dashboard"])
    servers, bridges = [], []
    try:
        for site, serve, port, bridge, env in commands:
            servers.append(start_server(serve, port, tmp_path / f"serve-{site}.log"))
            bridges.append(start(bridge, tmp_path / f"bridge-{site}.log", env))
        time.sleep(RUN_SECONDS)
        for process in servers + bridges:
            assert process.poll() is None, log_tails(tmp_path)
        stop(servers)  # no new values; the bridges deliver what they hold
        previous = -1
        while (count := len(recorder.snapshot())) != previous:
            previous = count
            time.sleep(2)
        stop(bridges)

        def both_offline(messages) -> bool:  # the last thing each bridge publishes
            last = {m.topic: m.json()["status"] for m in messages
                    if m.topic.startswith("_bridge/")}
            return len(last) == len(SITES) and set(last.values()) == {"offline"}

        messages = recorder.wait_until(both_offline, timeout=30)
    finally:
        stop(servers + bridges)
        recorder.close()

    seqs: dict[str, list[int]] = defaultdict(list)
    cells: set[tuple[str, ...]] = set()
    status: dict[str, str] = {}
    for message in messages:
        if message.topic.startswith("_bridge/"):
            status[message.topic] = message.json()["status"]
            continue
        levels = message.topic.split("/")
        assert levels[0] == "acme-metal", message.topic
        seqs[message.topic].append(message.json()["seq"])
        cells.add(tuple(levels[1:5]))
    expected = set().union(*(expected_cells(serve) for _, serve, *_ in commands))
    assert {c[0] for c in expected} == set(SITES)
    # the plant objects ([[nodes]]: KPIs, current shift) under the levels the bridge names
    plants = {(option(bridge, "--site"), option(bridge, "--area"), option(bridge, "--line"),
               "plant") for _, _, _, bridge, _ in commands}
    assert cells == expected | plants  # both sites, every machine, under its own ISA-95 prefix
    assert len([c for c in cells - plants if c[0] == "brno"]) == 8  # two lines of four cells
    for topic, numbers in seqs.items():
        assert sorted(set(numbers)) == list(range(1, max(numbers) + 1)), topic  # no gap
    assert sum(len(n) for n in seqs.values()) > 1000
    assert set(status) == {f"_bridge/bridge-{site}/status" for site in SITES}
    assert set(status.values()) == {"offline"}  # a clean stop says so

    for site in SITES:
        series = victoria_metrics.export(f'{{__name__="monitoring_Power",site="{site}"}}')
        assert {s["metric"]["cell"] for s in series} == {
            c[3] for c in expected if c[0] == site}, json.dumps(series)[:500]
