"""The plant for integrators' tests (issue 24, item 4): `opcua_server.testing` in-process,
and the docs' example suite run with the `factory_plant` fixture from the installed wheel."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest
from asyncua import Client, ua

from opcua_server.testing import PlantThread, running_plant
from tests.opcua.conftest import PROJECT

EXAMPLE = PROJECT / "docs" / "integrators" / "examples" / "test_my_client.py"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.asyncio
async def test_a_running_plant_is_paused_stepped_by_the_test_and_stopped_after():
    async with running_plant("reference-opcua", seed=5) as plant:
        port = int(plant.endpoint.rsplit(":", 1)[1].split("/")[0])
        async with Client(plant.endpoint, timeout=10) as client:
            ns = await client.get_namespace_index("urn:factory-sim:plant")
            clock = client.get_node(ua.NodeId("Simulation/SimulatedTime", ns))
            paused = await client.get_node(ua.NodeId("Simulation/Paused", ns)).read_value()
            assert paused and await clock.read_value() == 0.0
            await plant.step(1800)
            assert plant.now == 1800.0 and await clock.read_value() == 1800.0
    assert not listening(port)


def test_a_plant_thread_serves_synchronous_code_and_reports_a_bad_scenario():
    with PlantThread("reference-opcua", users={"ida": "viewer"}) as plant:
        assert plant.endpoint.startswith("opc.tcp://127.0.0.1:")
        assert set(plant.passwords) == {"ida"} and len(plant.passwords["ida"]) >= 16
        cert, key = plant.client_certificate("tool")
        assert cert.parent.name == "trusted" and key.is_file()
        plant.step(60)
        assert plant.now == 60.0
    with pytest.raises(FileNotFoundError, match="scenario 'no-such-plant': no such file"), \
            PlantThread("no-such-plant"):
        pass


def test_the_docs_example_suite_passes_with_the_fixture_from_the_installed_wheel(tmp_path):
    wheels, target, suite = tmp_path / "wheels", tmp_path / "site", tmp_path / "suite"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(PROJECT)], check=True,
                   capture_output=True, timeout=600)
    wheel = next(wheels.glob("factory_sim-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    suite.mkdir()
    shutil.copy(EXAMPLE, suite / EXAMPLE.name)
    env = {**os.environ, "PYTHONPATH": str(target)}  # shipped scenarios come with the wheel
    where = subprocess.run(
        [sys.executable, "-c", "import opcua_server.testing.pytest_plugin as p; print(p.__file__)"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert where.stdout.strip().startswith(str(target))  # the wheel's, not the checkout's
    # no conftest, no -p: the fixture comes from the wheel's pytest11 entry point
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "no:xdist", "-p", "no:randomly", EXAMPLE.name],
                            cwd=suite, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout
