"""`factory-sim mes` and `serve --jobs` as a user runs them: bad input is one clear line, a
real MES process dispatches a real served plant and reports finished orders."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.opcua.conftest import PROJECT
from tests.services import free_port

CLI = [sys.executable, "-m", "factory_cli.main"]


def run_cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          cwd=PROJECT, env=env)


@pytest.mark.parametrize("args, message", [
    (["mes", "http://127.0.0.1:4840/"], "URL must start with opc.tcp://"),
    (["mes", "opc.tcp://127.0.0.1:4840/", "--wip-cap", "0"], "--wip-cap must be 1..1000"),
    (["mes", "opc.tcp://127.0.0.1:4840/", "--interval", "0"], "--interval must be"),
    (["mes", "opc.tcp://127.0.0.1:4840/", "--user", "otto"], "FACTORY_SIM_MES_PASSWORD"),
    (["serve", "reference-opcua", "--jobs", "mes"], "invalid choice: 'mes'"),
])
def test_bad_options_are_one_clear_line(args, message):
    env = {k: v for k, v in __import__("os").environ.items() if k != "FACTORY_SIM_MES_PASSWORD"}
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_mes_against_nothing_is_one_line():
    result = run_cli("mes", f"opc.tcp://127.0.0.1:{free_port()}/factory-sim/")
    assert result.returncode == 2 and "cannot connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_mes_refuses_a_plant_that_is_not_served_for_external_dispatch():
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "reference-opcua", "--port", str(port), "--paused"],
                              cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        while "endpoint:" not in server.stdout.readline():
            assert server.poll() is None
        result = run_cli("mes", f"opc.tcp://127.0.0.1:{port}/factory-sim/")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert result.returncode == 2 and "--jobs external" in result.stderr


def test_serve_jobs_external_with_the_mes_process_finishes_orders():
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "reference-opcua", "--port", str(port),
                               "--jobs", "external", "--speed", "2000"],
                              cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    mes = None
    try:
        while "endpoint:" not in server.stdout.readline():
            assert server.poll() is None
        mes = subprocess.Popen([*CLI, "mes", f"opc.tcp://127.0.0.1:{port}/factory-sim/",
                                "--interval", "0.1"], cwd=PROJECT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        lines, deadline = [], time.monotonic() + 240
        while time.monotonic() < deadline and sum("order " in line for line in lines) < 3:
            line = mes.stdout.readline()
            assert line or mes.poll() is None, "".join(lines)
            lines.append(line)
    finally:
        for process in (mes, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    assert any("machines with Job Management" in line for line in lines), "".join(lines)
    finished = [line for line in lines if line.startswith("order ")]
    assert len(finished) >= 3 and all("good after" in line for line in finished)
