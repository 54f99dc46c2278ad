"""factory-sim installed the way Python tools are installed: the wheel, built from the project's
files, in a fresh virtualenv, run from an empty folder that knows nothing of the repository.

Every command finds what it needs as package data (importlib.resources): the shipped scenarios
by name, `base:` on a shipped name, the labs' worksheets; `serve` answers on OPC UA and `demo`
serves its page.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from asyncua import Client

from tests.demo.demo_process import ROOT, DemoProcess
from tests.services import free_port

pytestmark = pytest.mark.timeout(900)  # building and installing the wheel: minutes


class Installed:
    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir, self.folder = bin_dir, folder
        self.factory_sim = str(bin_dir / "factory-sim")
        # Nothing of the repository or of the development virtualenv leaks in.
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env["MPLCONFIGDIR"] = str(folder.parent / "matplotlib")

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([self.factory_sim, *argv], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, *argv: str) -> subprocess.Popen:
        return subprocess.Popen([self.factory_sim, *argv], cwd=self.folder, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _project_files() -> list[str]:
    """What a clone holds: tracked files and new ones not ignored (no .venv, no out/)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in listed.stdout.decode().split("\0")
            if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in _project_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(source)],
                   check=True, capture_output=True, timeout=600)
    wheel = next((work / "dist").glob("factory_sim-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=300)
    subprocess.run([str(work / "venv/bin/python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True, timeout=900)
    empty = work / "empty"
    empty.mkdir()
    return Installed(work / "venv/bin", empty)


def test_the_installed_packages_are_the_wheels_not_the_repositorys(installed):
    result = subprocess.run(
        [str(installed.bin_dir / "python"), "-c",
         "import factory_sim, factory_cli, dashboard; print(factory_sim.__file__)"],
        cwd=installed.folder, env=installed.env, capture_output=True, text=True, check=True)
    location = Path(result.stdout.strip())
    assert "site-packages" in location.parts
    assert not location.is_relative_to(ROOT)


def test_scenarios_lists_the_shipped_ones_from_an_empty_folder(installed):
    result = installed.run("scenarios")
    assert result.returncode == 0, result.stderr
    for name in ("reference-opcua", "reference-standalone", "multisite/lyon",
                 "labs/connect-cobot"):
        row = next(line for line in result.stdout.splitlines() if f" {name} " in line)
        assert "invalid" not in row


def test_run_and_compare_shipped_names_and_a_file_based_on_one(installed):
    result = installed.run("run", "reference-opcua", "--duration", "1d", "--quiet",
                           "--out", "run-out")
    assert result.returncode == 0, result.stderr
    assert "OEE" in result.stdout
    assert (installed.folder / "run-out" / "kpis.json").is_file()
    (installed.folder / "mine.yaml").write_text("base: labs/connect-cobot\nname: mine\n")
    result = installed.run("compare", "reference-standalone", "mine.yaml", "--replications",
                           "2", "--duration", "1d", "--quiet", "--out", "compare-out")
    assert result.returncode == 0, result.stderr
    assert "reference-standalone" in result.stdout and "mine" in result.stdout
    assert any((installed.folder / "compare-out").iterdir())


def test_lab_show_prints_the_worksheet_with_the_students_seed(installed):
    """A student prints their worksheet with the seed the teacher handed out."""
    listed = installed.run("lab", "list")
    assert listed.returncode == 0, listed.stderr
    assert "04-first-connection" in listed.stdout
    result = installed.run("lab", "show", "4", "--seed", "4242")
    assert result.returncode == 0, result.stderr
    assert "factory-sim compare reference-standalone labs/connect-punch-laser" in result.stdout
    assert "{seed}" not in result.stdout and "--seed 4242" in result.stdout


def _line_starting(process: subprocess.Popen, prefix: str, timeout: float) -> str:
    """The first line of `process`'s output that starts with `prefix`."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                     daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=1.0))
            if seen[-1].startswith(prefix):
                return seen[-1]
    raise AssertionError(f"no line starting {prefix!r}:\n{''.join(seen)}")


async def _machines(endpoint: str) -> set[str]:
    async with Client(endpoint, timeout=10) as client:
        machinery = (await client.get_namespace_array()).index(
            "http://opcfoundation.org/UA/Machinery/")
        machines = await client.nodes.objects.get_child([f"{machinery}:Machines"])
        return {(await node.read_browse_name()).Name for node in await machines.get_children()}


def test_serve_answers_on_its_endpoint(installed):
    port = free_port()
    process = installed.popen("serve", "reference-opcua", "--port", str(port), "--start", "now")
    try:
        line = _line_starting(process, "endpoint: ", 120)
        assert asyncio.run(_machines(line.split()[1])) == {
            "punch-laser", "press-brake", "cobot", "packing"}
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0


def test_demo_serves_its_page(installed):
    demo = DemoProcess(["--speed", "600", "--start", "now"], command=[installed.factory_sim],
                       cwd=installed.folder, env=installed.env)
    with demo:
        with urllib.request.urlopen(demo.dashboard, timeout=30) as response:
            assert response.status == 200
            assert "<html" in response.read().decode("utf-8", "replace").lower()
        assert set(demo.opcua) == {"reference-standalone", "reference-opcua"}
    assert demo.process.returncode == 0
