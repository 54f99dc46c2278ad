"""`factory-sim serve` as a user runs it: a real process, a real client, a clean shutdown."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from asyncua import Client, ua

from opcua_server import namespaces
from tests.opcua.conftest import PROJECT, SCENARIOS
from tests.services import free_port

COMMAND = [sys.executable, "-m", "factory_cli.main", "serve"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60,
                          cwd=PROJECT)


@pytest.mark.parametrize("args, message", [
    (["reference-opcua", "--speed", "0"], "--speed 0: expected a number > 0"),
    (["reference-opcua", "--speed", "1e9"], "--speed 1e+09: expected a number > 0"),
    (["reference-opcua", "--port", "70000"], "--port 70000: expected a TCP port"),
    (["reference-opcua", "--lines", "0"], "--lines 0: expected 1..250"),
    (["no-such-scenario"], "scenario 'no-such-scenario': no such file"),
    (["reference-opcua", "--no-anonymous"], "--no-anonymous needs --users"),
    (["reference-opcua", "--trusted-clients", "certs"], "--trusted-clients needs --users"),
    (["reference-opcua", "--accept-any-client-certificate"],
     "--accept-any-client-certificate needs --users"),
    (["reference-opcua", "--users", "u.yaml", "--security-policy", "Basic128"],
     "--security-policy Basic128: expected one of None, Basic256Sha256-Sign"),
    (["reference-opcua", "--users", "u.yaml", "--certificate", "c.der"],
     "--certificate and --private-key go together"),
    (["reference-opcua", "--history-db", "h.db"], "--history-db need --history"),
    (["reference-opcua", "--certificate-host", "plant-gw"], "--certificate-host needs --users"),
    (["reference-opcua", "--chaos", "x"], "--chaos x: expected SEED[:PROFILE]"),
    (["reference-opcua", "--chaos", "1:storm"], "--chaos 1:storm: unknown profile 'storm'"),
    (["reference-opcua", "--alarm-script", "nope.yaml"], "--alarm-script nope.yaml: no such file"),
    (["reference-opcua", "--users", "u.yaml", "--certificate-host", "bad host!"],
     "certificate host 'bad host!': expected a host name"),
    (["reference-opcua", "--users", "u.yaml", "--certificate", "c.der", "--private-key", "k.pem",
      "--certificate-host", "plant-gw"], "--certificate-host is for the generated certificate"),
    (["reference-opcua", "--history", "--history-retention", "soon"],
     "--history-retention: expected a duration like 90m"),
    (["reference-opcua", "--start", "tomorrow"],
     "--start 'tomorrow': expected now, now/shift or a date and time"),
])
def test_bad_options_are_one_clear_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_scenario_file_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((SCENARIOS / "reference-opcua.yaml").read_text()
                   .replace("seed: 2026", "seed: many"))
    result = run_cli(str(bad))
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "seed" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_endpoint_serves_and_stops_cleanly(stop_signal):
    port = free_port()
    process = subprocess.Popen([*COMMAND, "reference-opcua", "--port", str(port), "--speed",
                                "600"], cwd=PROJECT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[1].strip() == f"endpoint: opc.tcp://127.0.0.1:{port}/factory-sim/"
        assert lines[2].startswith("security: None")
        machines = asyncio.run(_browse_machines(lines[1].split(" ", 1)[1].strip()))
        # once each: a hierarchical browse of Machines (Organizes, no HasNotifier to them)
        assert sorted(machines) == sorted(["punch-laser", "press-brake", "cobot", "packing"])
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_secured_historizing_server_as_an_integrator_runs_it(tmp_path):
    """--users with one chosen policy, a trusted-clients folder, extra certificate hosts and
    durable history kept for 30 min (`--history-db` crashed at start on the quotes asyncua put
    in its table names); a refused request is logged at INFO with its reason."""
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from opcua_server import security
    from opcua_server.users import Role, add_user

    users, trusted = tmp_path / "users.yaml", tmp_path / "trusted"
    trusted.mkdir()
    add_user(users, "otto", Role.OPERATOR, "operator-password-1")
    cert, key = trusted / "client-cert.der", tmp_path / "client-key.pem"
    security.write_self_signed_certificate(cert, key, "urn:factory-sim:test-client", "client",
                                           [ExtendedKeyUsageOID.CLIENT_AUTH])
    port = free_port()
    process = subprocess.Popen(
        [*COMMAND, "reference-opcua", "--port", str(port), "--speed", "600", "--users",
         str(users), "--state-dir", str(tmp_path / "state"), "--trusted-clients", str(trusted),
         "--security-policy", "Basic256Sha256-SignAndEncrypt", "--history",
         "--history-retention", "30m", "--history-db", str(tmp_path / "history.sqlite"),
         "--certificate-host", "plant-gw.example", "--certificate-host", "10.1.2.3",
         "--log-level", "info"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def use(endpoint: str) -> tuple[list, list]:
        client = Client(endpoint, timeout=10)
        client.application_uri = "urn:factory-sim:test-client"
        await client.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                                  mode=ua.MessageSecurityMode.SignAndEncrypt)
        client.set_user("otto")
        client.set_password("operator-password-1")
        async with client:
            offered = [(e.SecurityPolicyUri.rsplit("#", 1)[-1], e.SecurityMode.name)
                       for e in await client.get_endpoints()]
            machinery = (await client.get_namespace_array()).index(namespaces.MACHINERY)
            machine = await client.get_node(ua.NodeId(1001, machinery)).get_child(
                [f"{(await client.get_namespace_array()).index('urn:factory-sim:plant')}:"
                 "press-brake"])
            energy = await machine.get_child([f"{machine.nodeid.NamespaceIndex}:Monitoring",
                                              f"{machine.nodeid.NamespaceIndex}:Energy"])
            await asyncio.sleep(3)  # 30 simulated minutes at 600x
            history = await energy.read_raw_history(datetime(2026, 1, 1, tzinfo=UTC))
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):  # an operator may not write
                await client.get_node(ua.NodeId("Simulation/Speed", machine.nodeid
                                                .NamespaceIndex)).write_value(2.0)
            return offered, history

    try:
        lines = [process.stdout.readline() for _ in range(4)]
        assert "Basic256Sha256 (SignAndEncrypt)" in lines[2]
        covered = lines[3].split(": ", 1)[1].split(" (")[0].split(", ")
        assert {"localhost", "127.0.0.1", "plant-gw.example", "10.1.2.3"} <= set(covered)
        assert "Aes128" not in lines[2] and "(Sign)," not in lines[2]
        offered, history = asyncio.run(use(lines[1].split(" ", 1)[1].strip()))
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        assert "stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert ("Basic256Sha256", "SignAndEncrypt") in offered
    assert not any(policy.startswith("Aes128") for policy, _ in offered)
    assert len(history) >= 2
    times = [value.SourceTimestamp for value in history]
    assert times == sorted(times)
    assert process.returncode == 0, err
    assert "INFO opcua_server.asyncua_adapter.hardening: refused WriteRequest from" in err
    assert "(user 'otto'): BadUserAccessDenied" in err
    assert "ERROR" not in err


async def _browse_machines(endpoint: str) -> list[str]:
    async with Client(endpoint, timeout=10) as client:
        machinery = (await client.get_namespace_array()).index(namespaces.MACHINERY)
        folder = client.get_node(ua.NodeId(1001, machinery))
        return [(await m.read_browse_name()).Name for m in await folder.get_children()]


def test_serve_offers_exactly_the_policies_the_server_knows():
    # `serve` lists them itself so that `--help` needs no asyncua; they must not drift apart.
    from factory_cli.commands.serve import POLICY_NAMES
    from opcua_server.security import POLICIES

    assert tuple(POLICIES) == POLICY_NAMES


@pytest.mark.parametrize("start", ["now", "2026-03-02T06:00:00Z"])
def test_start_sets_the_plant_clock(start, tmp_path):
    """`--start now`: the plant's clock is the wall clock (points a store keeps); a date: that
    date. Without --start the scenario's fixed date stays (offline runs rely on it)."""
    port = free_port()
    before = datetime.now(UTC)
    process = subprocess.Popen([*COMMAND, "reference-opcua", "--port", str(port), "--start",
                                start], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[3].startswith("plant clock: from "), lines
        clock = asyncio.run(_simulated_clock(lines[1].split(" ", 1)[1].strip()))
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    started = datetime.fromisoformat(lines[3].removeprefix("plant clock: from ").strip())
    if start == "now":
        assert before.replace(microsecond=0) <= started <= datetime.now(UTC)
        assert started <= clock <= datetime.now(UTC)  # speed 1: never ahead of the wall clock
    else:
        assert started == datetime(2026, 3, 2, 6, tzinfo=UTC)
        assert clock >= started and clock.year == 2026 and clock.month == 3


async def _simulated_clock(endpoint: str) -> datetime:
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index("urn:factory-sim:plant")
        value = await client.get_node(ua.NodeId("Simulation/SimulatedClock", ns)).read_value()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_serve_with_the_integrators_test_aids(tmp_path):
    """--test-nodes, --alarm-script and --chaos together, as an integrator starts them; a bad
    script is one clear line naming the file and the key."""
    bad = tmp_path / "bad-script.yaml"
    bad.write_text("alarms: {d: {machine: nowhere, kind: door}}\nsteps: [{wait: 1m}]\n")
    result = run_cli("reference-opcua", "--port", str(free_port()), "--alarm-script", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{bad}: alarms.d.machine: 'nowhere' is not a machine online" in result.stderr
    script = PROJECT / "docs" / "integrators" / "examples" / "alarm-script.yaml"
    process = subprocess.Popen(
        [*COMMAND, "reference-opcua", "--port", str(free_port()), "--paused", "--test-nodes",
         "--alarm-script", str(script), "--chaos", "42:data"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def use(endpoint: str):
        async with Client(endpoint, timeout=10) as client:
            test_ns = await client.get_namespace_index("urn:factory-sim:test-nodes")
            plant_ns = await client.get_namespace_index("urn:factory-sim:plant")
            scalar = await client.get_node(ua.NodeId("Scalar/UInt64", test_ns)).read_value()
            chaos = await client.get_node(ua.NodeId("Simulation/Chaos", plant_ns)).read_value()
            return scalar, chaos

    try:
        lines = [process.stdout.readline() for _ in range(3)]
        scalar, chaos = asyncio.run(use(lines[1].split(" ", 1)[1].strip()))
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert scalar == 2**64 - 1 and chaos == []  # paused at 0: no fault yet
    assert process.returncode == 0, err
    assert "stopped" in out
