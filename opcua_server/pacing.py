"""Pace the model to the wall clock inside the asyncio loop, and drive time by hand.

Every tick (`tick_s` of wall time) the pacer advances the plant to

    simulated time = anchor_sim + (wall now - anchor_wall) * speed

and then lets the server apply the tick's updates (`after_advance`). Changing the speed or
resuming re-anchors, so simulated time never jumps. While paused, `step(seconds)` advances
the model by exactly that much, which makes tests and teaching deterministic.

The model is synchronous and runs between awaits: a tick's events are applied before the
next tick starts, so a slow tick delays the next one instead of piling up work, and a tick
never advances more than two ticks' worth of simulated time (the achieved speed then falls
below the requested one, visibly in SimulatedTime, rather than the server stalling).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

_logger = logging.getLogger(__name__)

MAX_SPEED = 1_000_000.0  # a simulated year in about half a minute of wall time
# the model runs in chunks of at most this much simulated time between budget checks: a quiet
# night must not grow the chunk so far that the morning's burst runs in one go
MAX_CHUNK_S = 60.0


class PacingError(ValueError):
    """A pacing request that cannot be honoured (bad speed, step while running, ...)."""


class Pacer:
    def __init__(self, plant, after_advance: Callable[[], Awaitable[None]], speed: float = 1.0,
                 tick_s: float = 0.1, paused: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 backlog: Callable[[], int] = lambda: 0, max_backlog: int = 4000) -> None:
        self.plant = plant
        self._after_advance = after_advance
        self._backlog = backlog
        self._max_backlog = max_backlog
        self._chunk_s = MAX_CHUNK_S
        self._clock = clock
        self.tick_s = tick_s
        self._speed = self.check_speed(speed)
        self._paused = paused
        self._anchor_wall = clock()
        self._anchor_sim = 0.0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.on_change: Callable[[], None] | None = None  # e.g. publish Speed/Paused

    @staticmethod
    def check_speed(speed: float) -> float:
        if not (0 < speed <= MAX_SPEED):
            raise PacingError(f"speed must be > 0 and <= {MAX_SPEED:g}, got {speed:g}")
        return float(speed)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def now(self) -> float:
        return self.plant.now

    def _target(self) -> float:
        return self._anchor_sim + (self._clock() - self._anchor_wall) * self._speed

    def _bounded_target(self) -> float:
        """The tick's target, at most two ticks' worth of simulated time ahead.

        When the model (or the clients) cannot keep up with the requested speed, the
        simulation falls behind the wall clock instead of trying to catch up with ever
        larger steps that would block the event loop for longer and longer.
        """
        target = self._target()
        limit = self.plant.now + 2 * self.tick_s * self._speed
        if target > limit:
            self._anchor_wall, self._anchor_sim = self._clock(), limit
            return limit
        return target

    def jump(self, seconds: float) -> None:
        """Run the model `seconds` ahead at once, as a jump of its clock (opcua_server.chaos);
        call it from `after_advance`, where the model is not running. The pace goes on from
        the new time."""
        self.plant.run(self.plant.now + seconds)
        self._reanchor()

    def _reanchor(self) -> None:
        self._anchor_wall = self._clock()
        self._anchor_sim = self.plant.now

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def advance_to(self, until: float, budget_s: float | None = None) -> None:
        """Run the model up to simulated `until` and publish what happened.

        The model runs in chunks of simulated time; whenever the updates waiting to be
        published exceed `max_backlog` (a burst: every cell starting its shift at once) they
        are published before the model goes on, so no update waits for a whole big tick.
        The chunk adapts to the model's event density. With a `budget_s` (paced ticks) the
        run stops early once it has used that much wall time, so that the clients' updates
        never wait for a long run of the model; the next tick goes on from there at once (the
        pacer does not re-anchor here, or an overloaded server would idle a tick after every
        short catch-up tick), and `_bounded_target` keeps the debt to two ticks' worth.
        """
        async with self._lock:
            plant = self.plant
            started = yielded = self._clock()
            while plant.now < until:
                if budget_s is not None and self._clock() - started > budget_s:
                    break
                plant.run(min(until, plant.now + self._chunk_s))
                backlog = self._backlog()
                if backlog > self._max_backlog:
                    self._chunk_s = max(self._chunk_s / 2, 0.001)
                elif backlog < self._max_backlog / 4:
                    self._chunk_s = min(self._chunk_s * 2, MAX_CHUNK_S)
                # a long Step (no budget) runs in slices: clients are served between them
                sliced = budget_s is None and self._clock() - yielded > self.tick_s / 2
                if plant.now < until and (backlog > self._max_backlog or sliced):
                    await self._after_advance()
                    await asyncio.sleep(0)
                    yielded = self._clock()
            await self._after_advance()

    async def set_speed(self, speed: float) -> None:
        speed = self.check_speed(speed)
        async with self._lock:
            self._reanchor()
            self._speed = speed
        self._changed()

    async def pause(self) -> None:
        async with self._lock:
            if not self._paused:
                self._paused = True
        self._changed()

    async def resume(self) -> None:
        async with self._lock:
            if self._paused:
                self._paused = False
                self._reanchor()
        self._changed()

    async def step(self, seconds: float) -> None:
        if not self._paused:
            raise PacingError("step needs a paused simulation (call Pause first)")
        if not (seconds > 0):
            raise PacingError(f"step needs a positive number of seconds, got {seconds:g}")
        await self.advance_to(self.plant.now + seconds)

    def start(self) -> None:
        self._reanchor()
        self._task = asyncio.create_task(self._run(), name="factory-sim pacer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        # the plant's t = 0 events (initial states) are published at once
        await self.advance_to(0.0 if self._paused else self._target())
        next_tick = self._clock()
        while True:
            next_tick += self.tick_s
            delay = next_tick - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            else:  # overloaded: go on at once, but let clients' requests in first
                next_tick = self._clock()
                await asyncio.sleep(0)
            if not self._paused:
                # the model gets half a tick; the rest is for its writes and the clients
                await self.advance_to(self._bounded_target(), budget_s=self.tick_s / 2)
