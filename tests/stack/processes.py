"""`factory-sim serve` and `factory-sim bridge` as separate processes, as the stack runs them
(used by the stack tests and benchmarks/multisite_throughput.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from tests.stack.compose import ROOT

FACTORY_SIM = [sys.executable, "-m", "factory_cli.main"]


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`factory-sim ARGV...` in the repository, its output in `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*FACTORY_SIM, *argv], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )


def start_server(argv: list[str], port: int, log: Path, timeout: float = 60.0) -> subprocess.Popen:
    """`factory-sim serve ...` and wait until it listens on `port` (a bridge started earlier
    would stop at once: an unreachable server at start-up is an error)."""
    process = start(argv, log)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return process
        if process.poll() is not None or time.monotonic() > deadline:
            stop([process])
            raise RuntimeError(f"factory-sim serve did not listen on {port}:\n"
                               + log.read_text(errors="replace")[-2000:])
        time.sleep(0.1)


def stop(processes: Iterable[subprocess.Popen], timeout: float = 30.0) -> None:
    """SIGTERM (a clean stop: the bridge delivers what it holds), then wait; kill if stuck."""
    processes = [p for p in processes if p.poll() is None]
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tails(folder: Path, chars: int = 2000) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
                     for p in sorted(folder.glob("*.log")))
