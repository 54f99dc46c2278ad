"""The dashboard process: MQTT in, OPC UA for commands and the simulator's view, NiceGUI out.

    python -m dashboard --mqtt mqtt://127.0.0.1:1883 \\
        --plant reference-opcua=opc.tcp://127.0.0.1:4840/factory-sim/ [--plant ...]

A plant's unified namespace is expected below the topic prefix `<plant name>/`, as
`factory-sim demo` starts its bridges. `GET /api/stats` gives the push latency (bridge's
OPC UA serverTimestamp of a value → the page's redraw that sends it to the browser) and the
MQTT message count, for `benchmarks/demo_load.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from nicegui import ui

from dashboard.opcua_link import OpcuaLink
from dashboard.operator_access import OperatorAccess
from dashboard.replay_strip import ReplaySource
from dashboard.state import PlantState
from dashboard.uns import UnsConsumer

_logger = logging.getLogger(__name__)
DRAIN_S = 1.0  # at the latest; a message arriving wakes the drain at once
MAX_UNPUSHED = 100_000  # with no browser open nothing is pushed: do not grow without bound


class Dashboard:
    def __init__(self, mqtt_url: str, plants: dict[str, str],
                 login: tuple[str, str] | None = None,
                 access: OperatorAccess | None = None, replay: Path | None = None) -> None:
        """`login`: the OPC UA operator login for commands; `access`: who may give them
        (None: nobody); `replay`: the replay strip's file (written while the demo starts)."""
        self.access = access
        self.replay = ReplaySource(replay)
        self.plants = {name: PlantState(name, endpoint) for name, endpoint in plants.items()}
        self.links = {name: OpcuaLink(plant, login) for name, plant in self.plants.items()}
        self.uns = UnsConsumer(mqtt_url, self.plants, client_id=f"factory-sim-dashboard-"
                               f"{os.getpid()}")
        self.latencies_s: deque[float] = deque(maxlen=200_000)
        self.frames = 0
        self._drain_task: asyncio.Task | None = None
        self._arrived = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.uns.on_arrival = lambda: loop.call_soon_threadsafe(self._arrived.set)
        self.uns.start()
        for link in self.links.values():
            link.start()
        self._drain_task = asyncio.create_task(self._drain())

    async def stop(self) -> None:
        if self._drain_task is not None:
            self._drain_task.cancel()
        for link in self.links.values():
            await link.stop()
        self.uns.stop()

    async def _drain(self) -> None:
        while True:
            try:
                self.uns.drain()  # never raises for a message; this guards our own bugs
            except Exception:
                _logger.exception("draining the UNS inbox failed; carrying on")
            for plant in self.plants.values():
                if len(plant.unpushed) > MAX_UNPUSHED:
                    plant.unpushed.clear()
            self._arrived.clear()
            if not self.uns.inbox:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), DRAIN_S)

    def pushed(self) -> None:
        """A page just sent its redraw: every value waiting for it has reached the browser."""
        now = datetime.now(UTC)
        self.frames += 1
        for plant in self.plants.values():
            self.latencies_s.extend((now - stamp).total_seconds()
                                    for stamp in plant.take_unpushed())

    def stats(self, reset: bool = False) -> dict:
        """Counts since the start; latency over the samples since the last reset."""
        samples = sorted(self.latencies_s)
        if reset:
            self.latencies_s.clear()

        def pick(q: float) -> float | None:
            return None if not samples else round(samples[min(len(samples) - 1,
                                                               int(q * len(samples)))], 4)

        return {"mqtt_messages": self.uns.received, "frames": self.frames,
                "inbox": len(self.uns.inbox), "rejected": self.uns.rejected,
                "overflowed": self.uns.overflowed,
                "unpushed": sum(len(p.unpushed) for p in self.plants.values()),
                "latency_s": {"count": len(samples), "p50": pick(0.5), "p99": pick(0.99)}}

    def may_act(self, cookies: dict[str, str]) -> bool:
        """Is the browser with these cookies logged in as the operator?"""
        return self.access is not None and self.access.is_operator(cookies)

    # ---- the trainer's commands: every plant at once, so they stay side by side ----
    async def _all(self, command) -> None:
        results = await asyncio.gather(*(command(link) for link in self.links.values()),
                                       return_exceptions=True)
        errors = [str(r) for r in results if isinstance(r, Exception)]
        if errors:
            with contextlib.suppress(RuntimeError):  # no page to tell (an API call)
                ui.notify("; ".join(errors), type="negative")

    async def pause_all(self) -> None:
        await self._all(lambda link: link.pause())
        await self._align()

    async def _align(self) -> None:
        """Step the paused plants that lag to the leader's simulated time.

        The servers pause a few milliseconds apart, which at a high speed is minutes of plant
        time; side by side, the class should compare the plants at the same moment.
        """
        links = [link for link in self.links.values() if link.client is not None]
        try:
            times = await asyncio.gather(*(link.simulated_time() for link in links))
        except Exception:
            return  # a plant is away; nothing to align
        lead = max(times, default=0.0)
        await asyncio.gather(*(link.step(lead - t) for link, t in zip(links, times, strict=True)
                               if lead - t > 1e-3), return_exceptions=True)

    async def resume_all(self) -> None:
        await self._all(lambda link: link.resume())

    async def set_speed_all(self, speed) -> None:
        if speed:
            await self._all(lambda link: link.set_speed(float(speed)))
