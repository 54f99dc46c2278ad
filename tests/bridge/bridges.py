"""A bridge under test: run in this process until the block ends, or stopped as a process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator

from mqtt_bridge.app import Bridge
from mqtt_bridge.config import BridgeConfig


@contextlib.asynccontextmanager
async def running(config: BridgeConfig) -> AsyncIterator[Bridge]:
    bridge = Bridge(config)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        while bridge.source is None or not bridge.source.connected.is_set():
            assert not task.done(), task.result()
            await asyncio.sleep(0.02)
        yield bridge
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def stop_bridge(bridge: subprocess.Popen) -> None:
    bridge.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        bridge.wait(20)
    if bridge.poll() is None:
        bridge.kill()
        bridge.wait()


class SteadyWriter:
    """Press1's Temperature and SpindleSpeed changed together 50 times a second (1001.0,
    1002.0, ...) by a thread of the test, across whatever the test does to the bridge or
    the broker meanwhile; `finish` stops it and writes -1.0 to both, the last value a test
    waits for."""

    def __init__(self, server) -> None:
        self._server = server
        self._writing = threading.Event()
        self._thread = threading.Thread(target=self._write_on)

    def start(self) -> None:
        self._writing.set()
        self._thread.start()

    def stop(self) -> None:
        self._writing.clear()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self) -> None:
        self.stop()
        self._server.set_values([("Press1", "Temperature", -1.0),
                                 ("Press1", "SpindleSpeed", -1.0)])

    def _write_on(self) -> None:
        value = 1000.0
        while self._writing.is_set():
            value += 1
            self._server.set_values([("Press1", "Temperature", value),
                                     ("Press1", "SpindleSpeed", value)])
            time.sleep(0.02)
