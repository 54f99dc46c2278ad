"""`factory-sim demo` as a real process tree, for the demo's tests and benchmark.

    with DemoProcess(["--speed", "3000"]) as demo:
        demo.dashboard, demo.mqtt, demo.opcua["reference-opcua"], demo.pids()

The demo runs in a process group of its own; `stop()` sends SIGINT (Ctrl-C) to the parent
only, as a terminal would to the foreground process, and waits for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
FACTORY_SIM = [sys.executable, "-m", "factory_cli.main"]
FIXED_START = "2026-01-05T00:00:00Z"  # the shipped scenarios' own start
READY_TIMEOUT_S = 200.0  # generous: the machine is shared; the demo itself reports its time


class Broker:
    """host/port/url of a broker the demo started, in the shape MqttRecorder takes."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url, self.host, self.port = url, parts.hostname, parts.port


class DemoProcess:
    def __init__(self, args: list[str] | None = None, port: int | None = None,
                 command: list[str] | None = None, cwd: Path = ROOT,
                 env: dict[str, str] | None = None) -> None:
        """`command`, `cwd`, `env`: another factory-sim, e.g. one installed from the wheel."""
        self.port = port or free_port()
        args = list(args or [])
        # the demo keeps its logs: a test's go into a folder of its own, removed at the end
        self._own_logs = None if "--logs" in args else tempfile.mkdtemp(prefix="demo-test-")
        if self._own_logs:
            args += ["--logs", self._own_logs]
        if "--start" not in args:  # the demo starts `now`; the tests follow one fixed Monday
            args += ["--start", FIXED_START]
        self.args = [*(command or FACTORY_SIM), "demo", "--port", str(self.port), *args]
        self.cwd, self.env = cwd, env if env is not None else dict(os.environ)
        self.lines: list[str] = []
        self.opcua: dict[str, str] = {}
        self.dashboard = self.mqtt = self.login = self.logs = ""
        self.ready_s: float | None = None
        self.process: subprocess.Popen | None = None
        self._ready = threading.Event()

    def start(self) -> DemoProcess:
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            cwd=self.cwd, start_new_session=True, env=dict(self.env, PYTHONUNBUFFERED="1"))
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(READY_TIMEOUT_S) or self.process.poll() is not None:
            output = "\n".join(self.lines)
            self.stop()
            raise RuntimeError(f"the demo did not get ready:\n{output}")
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if match := re.match(r"factory-sim demo: ready in ([\d.]+) s", line):
                self.ready_s = float(match.group(1))
            elif line.startswith("dashboard: "):
                self.dashboard = line.split()[1]
            elif line.startswith("operator login (this run only): "):
                self.login = line.split()[5]
            elif line.startswith("mqtt: "):
                self.mqtt = line.split()[1]
            elif match := re.match(r"opcua (\S+): (\S+)", line):
                self.opcua[match.group(1)] = match.group(2)
            elif line.startswith("logs: "):
                self.logs = line.split()[1]
                self._ready.set()
        self._ready.set()  # it ended

    def pids(self) -> list[int]:
        """The demo and every process under it."""
        parent = psutil.Process(self.process.pid)
        return [parent.pid, *(child.pid for child in parent.children(recursive=True))]

    def children(self) -> dict[int, str]:
        """Every live process under the demo: pid -> command line (an ended one is left out)."""
        parent = psutil.Process(self.process.pid)
        result = {}
        for child in parent.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # ended (the one-shot replay), a zombie
                result[child.pid] = " ".join(child.cmdline())
        return result

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._own_logs:
            shutil.rmtree(self._own_logs, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> DemoProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` that still exist (zombies count as gone)."""
    result = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                result.append(pid)
        except psutil.NoSuchProcess:
            pass
    return result


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
