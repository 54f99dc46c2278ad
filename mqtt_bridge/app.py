"""The bridge as one running thing: OPC UA source -> journal -> MQTT and time-series sinks.

    await Bridge(config).run(stop)   # until `stop` is set; raises SourceError at start-up

The state directory holds the journal (`bridge.journal`): what is not yet delivered, and the
source's record of the newest source timestamp and value handed on per series (for backfill
without repeats), appended with the items it covers and committed with them, so after a crash
the two agree (`LastSeen`). A `source-state.json` left by an older version is read once.

The bridge tunes nothing process-wide. `on_connected` is called once, when the OPC UA source is
first connected: the command (`factory-sim bridge`) uses it to freeze what exists then (the
OPC UA client, the discovered machines) out of the garbage collector's sight
(`factory_cli.tuning.GcTuning`, docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mqtt_bridge.config import BridgeConfig
from mqtt_bridge.inputs.opcua import OpcUaSource
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.journal import Dropped, Item, Journal
from mqtt_bridge.outputs.mqtt import payload
from mqtt_bridge.outputs.mqtt.sink import MqttSink
from mqtt_bridge.outputs.sparkplug.sink import SparkplugSink
from mqtt_bridge.outputs.timeseries.sink import TimeSeriesSink
from mqtt_bridge.outputs.umh.sink import UmhSink

log = logging.getLogger(__name__)

STATS_INTERVAL = 30.0  # seconds between stats lines in the log


class StateDirError(Exception):
    """The state directory cannot be used; the message names it and the reason."""


class Bridge:
    """Wires the parts; owns the state directory for as long as it runs."""

    def __init__(
        self, config: BridgeConfig, on_connected: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.on_connected = on_connected
        self.journal: Journal | None = None
        self.source: OpcUaSource | None = None
        self.sinks: list[Any] = []

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.source is not None:
            out["opcua"] = self.source.stats()
        if self.journal is not None:
            out["journal"] = self.journal.stats()
        for sink in self.sinks:
            out[sink.cursor] = sink.stats()
        return out

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        config = self.config
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
            probe = config.state_dir / ".writable"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise StateDirError(
                f"state directory {config.state_dir}: {exc.strerror or exc}"
            ) from None
        self.journal = journal = Journal(
            config.state_dir / "bridge.journal", max_items=config.journal_max_items
        )
        try:
            last_seen = LastSeen(journal.marks() or _legacy_state(config.state_dir))

            def emit(items: list[Item], settles: Sequence[Dropped] = ()) -> None:
                journal.append(items, marks=last_seen.changes(), settles=settles)

            # Sinks register their cursors before the first append.
            if config.mqtt is not None:
                self.sinks.append(MqttSink(journal, config.mqtt))
            if config.influx is not None:
                self.sinks.append(TimeSeriesSink(journal, config.influx))
            if config.sparkplug is not None:
                self.sinks.append(SparkplugSink(journal, config.sparkplug))
            if config.umh is not None:
                self.sinks.append(UmhSink(journal, config.umh))
            _forget_removed_sinks(journal, {sink.cursor for sink in self.sinks})
            self.source = OpcUaSource(config.opcua, config.hierarchy, emit, last_seen,
                                      room=journal)
            self.source.on_server_start = self._server_started
            async with contextlib.AsyncExitStack() as stack:
                for sink in self.sinks:
                    await stack.enter_async_context(sink)
                source_task = asyncio.create_task(self.source.run(), name="opcua-source")
                reporter = asyncio.create_task(self._report(), name="stats")
                stopper = asyncio.create_task(stop.wait())
                tuner = asyncio.create_task(self._first_connected(), name="first-connected")
                lost_ready = asyncio.Event()
                loop = asyncio.get_running_loop()

                def lost() -> None:  # from whichever thread appends or commits
                    with contextlib.suppress(RuntimeError):  # the loop is already closed
                        loop.call_soon_threadsafe(lost_ready.set)

                journal.on_lost(lost)
                drops = asyncio.create_task(self._hand_on_drops(lost_ready), name="drop-reports")
                liveness = asyncio.create_task(self._report_sources(), name="source-liveness")
                tasks = (source_task, reporter, stopper, tuner, drops, liveness)
                try:
                    await asyncio.wait({source_task, stopper}, return_when="FIRST_COMPLETED")
                finally:
                    await cancel_all(tasks)
                if source_task.done() and not source_task.cancelled():
                    source_task.result()  # a SourceError at start-up
        finally:
            journal.close()  # drop reports not settled yet are handed out at the next start

    async def _first_connected(self) -> None:
        await self.source.connected.wait()
        if self.on_connected is not None:
            self.on_connected()

    async def _report_sources(self) -> None:
        """Tell the Sparkplug sinks which machines' sources are live (their DDEATH and DBIRTH),
        from the first connection on; the source signals no change, so it is read each second."""
        sinks = [sink for sink in self.sinks if isinstance(sink, SparkplugSink)]
        await self.source.connected.wait()
        while sinks:
            source = self.source
            live = ([machine.path for machine in source.machines.values()]
                    if source.connected.is_set() else [])
            for sink in sinks:
                sink.sources_live(live)
            await asyncio.sleep(1.0)

    async def _hand_on_drops(self, ready: asyncio.Event) -> None:
        """The journal pushes word of drop reports (`Journal.on_lost`: a drop episode ended,
        or a previous run left reports unsettled); they go to the source, which recovers
        them, once it is connected (it needs its subscriptions to know the series)."""
        while True:
            await ready.wait()
            await self.source.connected.wait()
            ready.clear()
            lost = self.journal.take_lost()
            if lost:
                self.source.dropped(lost)

    def _server_started(self, start: datetime | None, restarts: int) -> None:
        """Mark on the MQTT status topic which server runs since when (a restart shows)."""
        for sink in self.sinks:
            if isinstance(sink, MqttSink):
                sink.source_status({"url": self.config.opcua.url,
                                    "serverStartTime": payload.timestamp(start),
                                    "serverRestarts": restarts})

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            log.info("stats: %s", self.stats())


async def cancel_all(tasks: Sequence[asyncio.Task[Any]], again_after: float = 5.0) -> None:
    """Cancel `tasks` and wait until each has ended, cancelling again every `again_after`
    seconds one that goes on. A task can swallow its cancellation: code that cancels a child
    and awaits it under `suppress(CancelledError)` (asyncua's Client._cancel_task, for one)
    also suppresses a cancellation of its own that arrives meanwhile. The OPC UA source then
    went on reconnecting after SIGTERM and the bridge never stopped (seen once under load)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        while not task.done():
            await asyncio.wait({task}, timeout=again_after)
            if not task.done():
                log.warning("%s went on after it was cancelled: cancelling it again",
                            task.get_name())
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _forget_removed_sinks(journal: Journal, configured: set[str]) -> None:
    """A sink no longer configured stops holding rows: its cursor and texts are forgotten."""
    for cursor in sorted(set(journal.cursors) - configured):
        log.info("output %r is no longer configured: the journal forgets what it held for it "
                 "(%d entries it had not delivered)", cursor, journal.pending(cursor))
        journal.unregister(cursor)


def _legacy_state(state_dir: Path) -> dict[str, object]:
    """The per-series last values an older version saved in `source-state.json`, if any."""
    try:
        saved = json.loads((state_dir / "source-state.json").read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}
