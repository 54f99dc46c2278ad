"""One queue and one task per session for every history read: the gap of machines being
subscribed, an overflow's gap, values the journal dropped at its bound.

Jobs run one at a time, in the order they came, so one hold of the gate follows the other
(`gate.py`: whoever holds releases before the next hold starts). A read-back of dropped values
that waits for room in the journal (`dropped.refill`) lets the jobs queued meanwhile run
first, in the same task: an overflow's gap is not held up by a broker outage. When the session
ends, the task is cancelled: an overflow whose gap was not read hands on what the gate held
(the historized values come back with the next session's backfill), and the dropped values
not yet handed on are read again in the next session.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from asyncua import Client, ua

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.inputs.opcua import dropped as drops
from mqtt_bridge.inputs.opcua.discovery import Machine
from mqtt_bridge.inputs.opcua.events import events_key
from mqtt_bridge.inputs.opcua.gaps import EVENTS_OVERFLOW_LOST, HISTORY_FAILED, OVERFLOW_LOST, warn
from mqtt_bridge.inputs.opcua.hand_on import HandOn
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable
from mqtt_bridge.sample import Gap, MachinePath, Sample

log = logging.getLogger(__name__)

Job = Callable[[Client], Awaitable[Any]]


class Recovery:
    """The history reads of one source (see the module docstring)."""

    def __init__(self, flow: HandOn, room: drops.Room | None,
                 event_series: Callable[[], dict[str, tuple[MachinePath, str]]],
                 machines: Callable[[], Iterable[Machine]] = tuple) -> None:
        self.flow = flow
        self._machines = machines
        self.settings, self.counters = flow.settings, flow.counters
        self.room = room
        self._event_series = event_series
        self._jobs: deque[tuple[Job, asyncio.Future[Any] | None]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Client | None = None
        self._to_regain: list[tuple[MonitoredVariable, Dropped]] = []  # to read again
        # the gap record (or none) of each report not read again, to hand on as there is room
        self._to_name: list[tuple[list[Sample | Gap], Dropped]] = []
        self._regain_queued = False
        flow.overflowed = self.overflowed
        flow.events_overflowed = self.events_overflowed

    # --- the queue -----------------------------------------------------------------------------

    def start(self, client: Client) -> None:
        """A session is up: run the jobs against `client`."""
        self._client = client
        self._task = asyncio.get_running_loop().create_task(self._run(), name="history reads")

    def resume(self) -> None:
        """The machines are subscribed and backfilled: read what the journal dropped that a
        previous session did not hand on."""
        self._queue_regain()

    async def stop(self) -> None:
        """The session ended: cancel the job in progress; let go of those not started."""
        self._client = None
        task, self._task = self._task, None
        try:
            if task is not None:
                current = asyncio.current_task()
                before = current.cancelling() if current is not None else 0
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    if current is not None and current.cancelling() > before:
                        raise  # our caller was cancelled meanwhile: never swallow that
        finally:
            jobs, self._jobs = self._jobs, deque()
            self._regain_queued = False
            for _job, done in jobs:
                if done is not None:
                    done.cancel()
            self._release_held()

    async def run(self, job: Job) -> Any:
        """Queue `job` and wait for its result (the gap of machines being subscribed)."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._submit(job, done)
        return await done

    def _submit(self, job: Job, done: asyncio.Future[Any] | None = None) -> None:
        self._jobs.append((job, done))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._run_queued()

    async def _run_queued(self) -> None:
        while self._jobs and self._client is not None:
            job, done = self._jobs.popleft()
            try:
                result = await job(self._client)
            except asyncio.CancelledError:
                if done is not None:
                    done.cancel()
                raise
            except Exception as exc:
                if done is None:  # a bug must not end every later history read: log it
                    log.exception("reading history failed")
                elif not done.done():  # the waiting caller raises it
                    done.set_exception(exc)
                continue
            if done is not None and not done.done():
                done.set_result(result)

    async def let_others_run(self) -> None:
        """For a job that waits (a read-back, for room in the journal): the jobs queued
        meanwhile run first, in this task; then a short sleep."""
        await self._run_queued()
        await asyncio.sleep(drops.ROOM_POLL_S)

    # --- an overflow: the server dropped values of a series from a full queue --------------------

    def overflowed(self, item: MonitoredVariable) -> bool:
        """The server dropped values of `item`. True if they are being read from history (the
        gate holds what follows until then), False if they are lost."""
        self.counters["overflows"] += 1
        recoverable = (self.settings.backfill and item.variable.historizing
                       and self._client is not None and item.key in self.flow.last_seen.times)
        if self.counters["overflows"] == 1 or not recoverable:
            log.warning(
                "the server dropped values of %s (queue overflow; raise opcua.queue_size, now "
                "%d, or lower opcua.publishing_interval): %s", item.key, self.settings.queue_size,
                "reading them from its history" if recoverable else "it keeps no history of "
                "them, they are lost",
            )
        if not recoverable:
            self.counters["overflows_lost"] += 1
            if item.key in self.flow.last_seen.times:
                self.flow.gaps.expect(item.key, OVERFLOW_LOST)
            return False

        async def read_gap(client: Client) -> None:
            await self._read_overflow_gap_of(client, item)

        self._submit(read_gap)
        return True

    async def _read_overflow_gap_of(self, client: Client, item: MonitoredVariable) -> None:
        """Read an overflow's gap from history, then hand on what was held back meanwhile."""
        flow = self.flow
        try:
            covered, recovered = await flow.backfill_values(client, [item])
            flow.covered.update(covered)
            if item.key not in recovered:
                flow.gaps.expect(item.key, HISTORY_FAILED)
        except (OSError, TimeoutError, ua.UaError) as exc:
            self.counters["overflows_lost"] += 1
            flow.gaps.expect(item.key, HISTORY_FAILED)
            log.warning("reading the gap of %s from history failed, its dropped values are "
                        "lost: %s", item.key, exc)
        held, _ = flow.gate.release()
        flow.hand_on(held, recovered=item.key)

    def _release_held(self) -> None:
        """The session ended with values held for an overflow: historized values come back
        with the next session's backfill; the others have no other way but on."""
        if self.flow.gate.holding:
            held, _ = self.flow.gate.release()
            self.flow.hand_on([(i, dv) for i, dv in held if not i.variable.historizing])

    # --- an event item's queue overflowed: the server discarded events ------------------------

    def events_overflowed(self, source: MachinePath | None) -> None:
        """The server discarded events of an event item (`event_overflow.py`): of `source`,
        or, for the Server object's item (None), of the machines whose events come only
        there. A machine whose event history can be read gets the events since the last one
        handed on read again (late); the others get gap records in their events and alarms."""
        flow = self.flow
        self.counters["event_overflows"] += 1
        machines = [m for m in self._machines()
                    if (m.path == source if source is not None else not m.event_notifier)]
        times, values = flow.last_seen.times, flow.last_seen.values
        readable = [m for m in machines if self.settings.backfill and m.event_notifier
                    and self._client is not None and events_key(m.path) in times]
        log.warning("the server discarded events of %s from a full event queue: %s",
                    source.cell if source is not None else "the Server object's event item",
                    "reading them from its event history" if readable else "they are lost")
        flow.lost_events([(m.path, EVENTS_OVERFLOW_LOST) for m in machines
                          if m not in readable])
        if not readable:
            return
        since = LastSeen({events_key(m.path): (times[events_key(m.path)],
                                               values[events_key(m.path)]) for m in readable})

        async def read_events(client: Client) -> None:
            try:
                await flow.backfill_events(client, readable, since)
            except (OSError, TimeoutError, ua.UaError) as exc:
                log.warning("reading discarded events from history failed: %s", exc)
                flow.lost_events([(m.path, EVENTS_OVERFLOW_LOST) for m in readable])

        self._submit(read_events)

    # --- values the journal dropped at its bound ----------------------------------------------

    def dropped(self, lost: Iterable[Dropped]) -> None:
        """What the journal dropped at its bound (a report per key): the values `dropped.py`'s
        rule lets read again from history are, once a session is up; the others, and events,
        are a gap record now."""
        flow = self.flow
        variables = {item.key: item for item in flow.subscriptions.variables.values()}
        event_series = self._event_series()
        gaps: list[Gap] = []
        unknown: list[Dropped] = []
        for drop in lost:
            item = variables.get(drop.key)
            if item is not None and (why := drops.unrecoverable(
                    item, drop, self.settings.backfill)) is None:
                self._to_regain.append((item, drop))
                continue
            named: list[Sample | Gap] = []
            if item is not None:
                named.append(drops.gap(item, drop, drop.since, drop.until, why))
            elif drop.key in event_series:
                named.append(drops.events_gap(*event_series[drop.key], drop))
            else:
                unknown.append(drop)
            gaps.extend(g for g in named if isinstance(g, Gap))
            self._to_name.append((named, drop))  # settled when handed on (unknown: at once)
        if unknown:
            log.warning("%d series had entries dropped at the journal's bound that this source "
                        "no longer serves (machines or variables gone): only their missing "
                        "sequence numbers show it (%s)", len(unknown),
                        ", ".join(d.key for d in unknown[:5]))
        if gaps:
            self.counters["gaps"] += len(gaps)
            warn(gaps)
        self._queue_regain()

    def _queue_regain(self) -> None:
        if ((self._to_regain or self._to_name) and self._client is not None
                and not self._regain_queued):
            self._regain_queued = True
            self._submit(self._regain_dropped)

    async def _regain_dropped(self, client: Client) -> None:
        """Hand on the gap records of what is not read again, then, late (new sequence
        numbers, after newer values), what history holds of the values the journal dropped;
        a gap for what it does not hold (older than its retention), or for all of them if
        reading failed. Either waits for room in the journal (`dropped.refill`): appended to a
        journal still at its bound, they would drop its oldest row, which a sink may have sent
        already; reported dropped, it would come back from history a second time."""
        flow = self.flow
        try:
            while self._to_name:
                named, self._to_name = self._to_name, []
                handed: list[Dropped] = []
                try:
                    await drops.refill(self.room, named, flow.emit, handed,
                                       wait=self.let_others_run)
                except asyncio.CancelledError:  # the session ended: the next one names them
                    self._to_name[:0] = [(g, d) for g, d in named if d not in handed]
                    raise
            while self._to_regain:
                batch, self._to_regain = self._to_regain, []
                settled: list[Dropped] = []
                try:
                    await self._regain(client, batch, settled)
                except asyncio.CancelledError:
                    # the session ended: the next one reads again what was not handed on
                    self._to_regain[:0] = [(i, d) for i, d in batch if d not in settled]
                    raise
                except (OSError, TimeoutError, ua.UaError) as exc:
                    log.warning("reading values dropped at the journal's bound from history "
                                "failed: %s", exc)
                    gaps = [gap for item, drop in batch if drop not in settled
                            and (gap := drops.regained(item, drop, None)[0]) is not None]
                    self.counters["gaps"] += len(gaps)
                    warn(gaps)
                    flow.emit(gaps, settles=[d for _, d in batch if d not in settled])
        finally:
            self._regain_queued = False

    async def _regain(self, client: Client, batch: list[tuple[MonitoredVariable, Dropped]],
                      settled: list[Dropped]) -> None:
        histories = await drops.read(client, batch, self.flow.structures)
        results: list[tuple[list[Sample | Gap], Dropped]] = []
        gaps: list[Gap] = []
        for (item, drop), values in zip(batch, histories, strict=True):
            gap, held = drops.regained(item, drop, values)
            gaps.extend([gap] if gap is not None else [])
            results.append(([gap, *held] if gap is not None else held, drop))
        if gaps:
            self.counters["gaps"] += len(gaps)
            warn(gaps)
        regained = sum(len(items) for items, _ in results) - len(gaps)
        self.counters["backfilled"] += regained
        self.counters["samples"] += regained
        log.info("%d values dropped at the journal's bound were read again from history%s",
                 regained, f"; {len(gaps)} variables keep a gap" if gaps else "")
        await drops.refill(self.room, results, self.flow.emit, settled,
                           wait=self.let_others_run)
