"""A bridge under test: run in this process until the block ends, or stopped as a process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
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
