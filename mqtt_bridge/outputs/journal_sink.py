"""What every output shares: a sink drains the journal to its peer (`MqttSink`, `TimeSeriesSink`).

Each sink is an async context manager that drains the journal through its own cursor in a
background task and acknowledges rows only after its peer confirmed them, so everything not yet
confirmed is still in the journal when the peer is down or the bridge stops. A sink owns its
wire format: its `encode(item, seq)` is registered with its cursor, and the journal stores that
text at append, once, for the sink to send as it is.

    journal = Journal("bridge.journal")
    mqtt = MqttSink(journal, MqttSettings(url="mqtt://127.0.0.1:1883"))
    series = TimeSeriesSink(journal, InfluxSettings(url="http://127.0.0.1:8086", token="..."))
    async with mqtt, series:       # create every sink before appending: each registers a cursor
        journal.append(samples)    # from the OPC UA source, any time
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from mqtt_bridge.journal.interface import Item, SinkJournal

log = logging.getLogger(__name__)


class Outage:
    """A peer's outage as an operator reads it in the log: one warning when it starts (also at
    start-up: the sink says that it is waiting, and for what), one info line when it ends,
    with how long it took and how much waited meanwhile."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.since: float | None = None
        self.attempts = 0

    def failed(self, reason: str) -> None:
        self.attempts += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s is unavailable (%s): waiting for it, data waits in the journal",
                        self.peer, reason)

    def over(self, waiting: tuple[int, int]) -> None:
        """`waiting`: the entries that waited, (readable now, not yet written to the journal:
        those are delivered only once the journal can be written, see `Journal.waiting`)."""
        if self.since is not None:
            readable, unwritten = waiting
            held = (f"; {unwritten} more wait until the journal can be written again"
                    if unwritten else "")
            log.info("%s is available again after %.1f s (%d failed attempts); delivering the "
                     "%d entries that waited%s", self.peer, time.monotonic() - self.since,
                     self.attempts, readable, held)
        self.since, self.attempts = None, 0


class JournalSink:
    """What every sink shares: its cursor and encoder, the background task, waking on commits,
    `flush()`. A subclass sets `encode` and implements `_run`."""

    @staticmethod
    def encode(item: Item, seq: int) -> str:
        """The text this sink sends for an item with its per-key sequence number."""
        raise NotImplementedError

    def __init__(self, journal: SinkJournal, cursor: str) -> None:
        self.journal = journal
        self.cursor = cursor
        # Registering at construction, not on entry, holds rows for this sink from the start.
        journal.register(cursor, self.encode)
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def __aenter__(self) -> JournalSink:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._closing = False
        self._remove_listener = self.journal.on_commit(self._notify)
        self._task = asyncio.create_task(self._run(), name=f"{type(self).__name__}({self.cursor})")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop delivering; what is not confirmed yet stays in the journal for the next start."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        try:
            await self._task
        finally:
            self._task = None
            self._remove_listener()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything appended so far is confirmed by the peer; False on timeout."""
        self.journal.commit()
        target = self.journal.last_rowid

        async def confirmed() -> None:
            while self.journal.acked(self.cursor) < target:
                self._progress.clear()
                await self._progress.wait()

        waiter = asyncio.ensure_future(confirmed())
        watched = {waiter} if self._task is None else {waiter, self._task}
        try:
            await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        return self.journal.acked(self.cursor) >= target

    def stats(self) -> dict[str, Any]:
        return {"pending": self.journal.pending(self.cursor), "last_error": self.last_error}

    # -- for subclasses -----------------------------------------------------------------------

    async def _run(self) -> None:
        raise NotImplementedError

    def _notify(self) -> None:
        """Wake the sink; safe from any thread (the journal commits from its own thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._wake.set)

    def _confirmed(self, upto_rowid: int) -> None:
        self.journal.ack(self.cursor, upto_rowid)
        self._progress.set()

    async def _wait_for_work(self, timeout: float | None = None) -> None:
        """Sleep until new rows are committed, the sink is closing, or `timeout` passes."""
        if self._closing:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _pause(self, delay: float) -> None:
        """Sleep `delay` seconds unless the sink is closing (a backoff that close() can cut)."""
        loop = self._loop
        deadline = loop.time() + delay
        while not self._closing and (remaining := deadline - loop.time()) > 0:
            await self._wait_for_work(remaining)
