"""The OPC UA input: connect, discover machines, subscribe, backfill, reconnect.

`OpcUaSource(settings, hierarchy, emit, last_seen).run()` keeps one client session to one
server for as long as it runs and hands every value change (`Sample`) and event (`EventSample`)
of every machine to `emit(items)`, in batches, in order per series:

1. connect (security, user: `session.py`), then discover the machines by browsing
   (`discovery.py`);
2. subscribe every variable and each machine's events (`subscription.py`); notifications that
   arrive while step 3 runs are held back (`gate.py`);
3. backfill: read what the server historized since the last value or event handed on
   (`backfill.py`, `last_seen.py`);
4. release the held-back notifications; from now on values flow live;
5. every `rebrowse_interval` seconds look for machines, and variables of known machines,
   added or removed (`rebrowse.py`);
6. on a lost connection start again at 1 after a backoff delay. The first connection's
   failure is raised as `SourceError` with a message for the user (`errors.py`).

A value that arrives with the Overflow bit (the server's queue for the variable was full and
dropped older values) is a gap too: if the variable is historized, values are held back from
that value on while the gap is read from history, as in 2-4.

Nothing is lost silently. Where the server cannot give changes back (a variable it does not
historize changed while the bridge was down or disconnected; its queue overflowed; reading its
history failed), the first value after the gap is preceded by a `Gap` (from the last value
handed on to that one, and why) in the variable's own sequence; gaps are counted (`gaps`) and
logged as a warning. After a server restart (its StartTime changed, also across a bridge
restart: it is kept with `LastSeen`), a value older than the last one handed on (a simulator's
clock started again) comes after a gap too: what the server changed before it is outside the
history read. A machine whose events were handed on before and whose event history cannot be
read after a gap gets a gap in its events and alarms.

Values the journal dropped at its bound while the outputs could not deliver them come back
from history too, late, where it holds them; else a gap names them (`dropped.py`). Either is
emitted with `settles=` the journal's report of the drop, so the two are stored together: a
report not yet settled when the bridge stops or dies is handed out again at its next start.

A change is handed on once: `LastSeen` knows the last source timestamp and value of every
series, history is read from there on, and notifications that arrive while history is read are
held back and dropped where they are a change history just handed on (same timestamp, same
value; `gate.py`); so history, a subscription's initial values and live values join without
repeats. Events are de-duplicated by EventId (`events.py`).

The source patches nothing in asyncua; a command may install `asyncua_adapter` for speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from asyncua import Client, ua

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.inputs.opcua import dropped as drops
from mqtt_bridge.inputs.opcua import jobs, nodes
from mqtt_bridge.inputs.opcua.backfill import event_gaps, value_gaps
from mqtt_bridge.inputs.opcua.discovery import (
    Hierarchy,
    Machine,
    MachineRef,
    NoMachineryError,
    browse_machines,
    find_machines,
)
from mqtt_bridge.inputs.opcua.errors import SourceError, describe_error
from mqtt_bridge.inputs.opcua.events import SeenEvents, event_fields, event_sample, events_key
from mqtt_bridge.inputs.opcua.gaps import (
    BACKFILL_OFF,
    CLOCK_BACK,
    EVENT_GROUPS,
    EVENTS_BACKFILL_OFF,
    HISTORY_FAILED,
    NOT_HISTORIZED,
    OVERFLOW_LOST,
    RESTARTED,
    Gaps,
    event_gap_records,
    warn,
)
from mqtt_bridge.inputs.opcua.gate import Cover, Gate
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.rebrowse import diff
from mqtt_bridge.inputs.opcua.session import connect
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings
from mqtt_bridge.inputs.opcua.structures import Structures, decode_values
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable, Subscriptions
from mqtt_bridge.inputs.opcua.values import json_value, plain, sample
from mqtt_bridge.sample import JOBS_GROUP, EventSample, Gap, MachinePath, Sample

log = logging.getLogger(__name__)

Item = Sample | EventSample | Gap


class Emit(Protocol):
    """Where the source hands items on: the bridge journals them, together with the journal's
    drop reports they settle (values given back or named after a drop at its bound)."""

    def __call__(self, items: list[Item], settles: Sequence[Dropped] = ...) -> None: ...


Pair = tuple[MonitoredVariable, ua.DataValue]
# LastSeen's key for the server's StartTime (and URL), kept with the journal so that a restarted
# bridge notices a server restart in between: not a topic, `~` cannot clash with one
SERVER_KEY = "~server"


class OpcUaSource:
    """See the module docstring."""

    def __init__(
        self,
        settings: OpcUaSettings,
        hierarchy: Hierarchy,
        emit: Emit,
        last_seen: LastSeen | None = None,
        room: drops.Room | None = None,
    ) -> None:
        """`room`: the journal `emit` fills, so that values read back after it dropped some
        are handed on only as it has room for them (`dropped.refill`)."""
        self.settings = settings
        self.hierarchy = hierarchy
        self.emit = emit
        self.room = room
        self.last_seen = last_seen or LastSeen(None)
        self.machines: dict[ua.NodeId, Machine] = {}
        self.connected = asyncio.Event()
        self.counters = dict.fromkeys(
            ("samples", "events", "repeats_skipped", "backfilled", "reconnects", "bad_items",
             "overflows", "overflows_lost", "gaps", "server_restarts"), 0
        )
        self.subscriptions = Subscriptions(settings, self._on_data, self._on_events,
                                           self.counters)
        self.structures = Structures()  # the server's own structure types, read per session
        self._gate = Gate()
        self._gaps = Gaps()
        # series key -> the changes read from history, until live values pass them (gate.py)
        self._covered: dict[str, Cover] = {}
        self._seen_events = SeenEvents()
        self._node_specs: dict[ua.NodeId, nodes.NodeSpec] = {}  # configured nodes found
        self._reached = False  # the server answered once: later failures are outages
        self._client: Client | None = None  # while a session is up: for overflow recovery
        self._recovery: asyncio.Task[None] | None = None  # reading an overflow's gap
        # values the journal dropped, to read again from history; and the task reading them
        self._to_regain: list[tuple[MonitoredVariable, Dropped]] = []
        self._regain: asyncio.Task[None] | None = None
        # ServerStatus/StartTime of the server (as a bridge before this one saw it too), and
        # whether this session follows its restart
        self.server_start: datetime | None = (
            self.last_seen.times.get(SERVER_KEY)
            if self.last_seen.values.get(SERVER_KEY) == settings.url else None)
        self._restarted = False
        # told the server's start time and the restarts seen, at every connect
        self.on_server_start: Callable[[datetime | None, int], None] | None = None

    def stats(self) -> dict[str, object]:
        return {
            **self.counters,
            "connected": self.connected.is_set(),
            "machines": len(self.machines),
            "monitored_items": len(self.subscriptions.variables),
            "decode_errors": self.structures.errors,
        }

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Bridge until cancelled; raises SourceError if the very first connection fails."""
        delay = self.settings.reconnect_min_delay
        self._reached = False
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Bad input shows before the server is first reached (endpoint, login,
                # certificate) or in what it serves (no Machinery): stop and say so. Later
                # failures are outages: retry.
                if not self._reached or isinstance(exc, NoMachineryError):
                    raise SourceError(describe_error(exc, self.settings)) from None
                log.warning("OPC UA session to %s ended: %s", self.settings.url,
                            describe_error(exc, self.settings))
            finally:
                if self.connected.is_set():
                    delay = self.settings.reconnect_min_delay
                self.connected.clear()
            self.counters["reconnects"] += 1
            log.info("reconnecting to %s in %.1f s", self.settings.url, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max_delay)

    async def _session(self) -> None:
        client = await connect(self.settings)
        first_time = not self._reached
        self._reached = True
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        self._client = client
        try:
            await self._check_server_start(client)
            await self._load_structures(client)
            self.subscriptions.job_namespace = jobs.job_namespace(
                await client.get_namespace_array())
            try:
                refs = await find_machines(client, self.settings.scan_objects)
            except NoMachineryError:
                if first_time and not self.settings.nodes:
                    raise
                refs = []
            refs += await self._configured_nodes(client)
            if not refs:
                log.warning("no machines found on %s (yet)", self.settings.url)
            self.machines.clear()
            self._covered.clear()
            await self.subscriptions.open(client)
            await self._add_machines(client, refs)
            self._restarted = False
            self.connected.set()
            self._start_regain()
            log.info("bridging %d machines, %d variables from %s", len(self.machines),
                     len(self.subscriptions.variables), self.settings.url)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self.settings.rebrowse_interval)
                if not lost.is_set():
                    try:
                        await self._rebrowse(client)
                    except (TimeoutError, ua.UaError) as exc:
                        # A busy server: try again next time; a lost one sets `lost`.
                        log.warning("looking for added or removed machines failed: %s", exc)
            raise ConnectionError("connection to the server lost")
        finally:
            self._client = None
            if self._recovery is not None:
                self._recovery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._recovery
                self._recovery = None
            if self._regain is not None:
                self._regain.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._regain
                self._regain = None
            self.subscriptions.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2)

    async def _check_server_start(self, client: Client) -> None:
        """Notice a restart of the server by its start time: a server without durable history
        forgets what changed before, and a simulator's clock may start again."""
        try:
            start = await client.get_node(
                ua.NodeId(ua.ObjectIds.Server_ServerStatus_StartTime)).read_value()
        except (ua.UaError, TimeoutError):
            start = None
        if not isinstance(start, datetime):
            start = None
        self._restarted = (self.server_start is not None and start is not None
                           and start != self.server_start)
        if self._restarted:
            self.counters["server_restarts"] += 1
            log.warning("the OPC UA server %s restarted (started %s, before %s): values it did "
                        "not keep in history since are lost (gap records follow), and its values "
                        "may carry older source times than those delivered before",
                        self.settings.url, start, self.server_start)
        if start is not None:
            self.server_start = start
            self.last_seen.is_new(SERVER_KEY, start, self.settings.url)  # kept with the next emit
        if self.on_server_start is not None:
            self.on_server_start(self.server_start, self.counters["server_restarts"])

    async def _load_structures(self, client: Client) -> None:
        """Read the server's structure types, to decode their values (`structures.py`)."""
        errors = self.structures.errors
        try:
            self.structures = await Structures.load(client)
        except (ua.UaError, TimeoutError) as exc:
            log.warning("reading the server's structure types failed (%s): their values are "
                        "published with a decodeError", exc)
            self.structures = Structures()
        self.structures.errors = errors

    # --- machines come and go ----------------------------------------------------------------

    async def _rebrowse(self, client: Client) -> None:
        """Pick up machines added or removed, and variables added to or removed from the
        machines already bridged."""
        try:
            refs = await find_machines(client, self.settings.scan_objects)
        except NoMachineryError:
            refs = []
        refs += await self._configured_nodes(client)
        browsed = await self._browse(client, refs)
        changes = diff(self.machines, [r.node_id for r in refs], browsed)
        if changes.gone:
            await self._remove_machines(changes.gone)
        vanished: list[int] = []
        for node_id, gone in changes.shrunk.items():
            known = self.machines[node_id]
            known.variables[:] = [v for v in known.variables if v.node_id not in gone]
            vanished.extend(self.subscriptions.handles_of(node_id, gone))
        for machine in changes.grown:
            self.machines[machine.node_id].variables.extend(machine.variables)
        if vanished:
            await self.subscriptions.remove(vanished)
        if changes.new or changes.grown:
            await self._subscribe_machines(client, changes.new, changes.grown)

    async def _add_machines(self, client: Client, refs: list[MachineRef]) -> None:
        await self._subscribe_machines(client, await self._browse(client, refs))

    async def _configured_nodes(self, client: Client) -> list[MachineRef]:
        """The configured [[nodes]] the server has, bridged as machines (`nodes.py`)."""
        found = await nodes.resolve(client, self.settings.nodes) if self.settings.nodes else []
        self._node_specs = {node.ref.node_id: node.spec for node in found}
        return [node.ref for node in found]

    async def _browse(self, client: Client, refs: list[MachineRef]) -> list[Machine]:
        """Browse machines and configured nodes; the nodes under the topics configured."""
        machines = await browse_machines(client, refs, self.hierarchy)
        await jobs.mark_job_management(client, machines)
        for machine in machines:
            spec = self._node_specs.get(machine.node_id)
            if spec is not None:
                machine.path = spec.path(self.hierarchy)
                machine.variables = [dataclasses.replace(v, group=nodes.group_of(spec, v.group))
                                     for v in machine.variables]
        return machines

    async def _subscribe_machines(
        self, client: Client, machines: list[Machine], grown: list[Machine] | None = None
    ) -> None:
        """Subscribe new machines (variables and events) and the new variables of known ones
        (`grown`), then backfill them and release what arrived meanwhile."""
        grown = grown or []
        # One hold at a time: an overflow's recovery (which may start the next) ends first.
        while self._recovery is not None and not self._recovery.done():
            await asyncio.wait({self._recovery})
        requests: list[ua.MonitoredItemCreateRequest] = []
        for machine in [*machines, *grown]:
            is_new = machine.node_id not in self.machines
            if is_new:
                self.machines[machine.node_id] = machine
            requests.extend(self.subscriptions.requests(machine, is_new))
        self._gate.hold()
        covered: dict[str, Cover] = {}
        recovered: set[str] = set()
        try:
            await self.subscriptions.create(requests)
            if self.settings.backfill:
                covered, recovered = await self._backfill(client, [*machines, *grown])
                await self._backfill_events(client, machines)
            else:
                self._lost_events([(m.path, EVENTS_BACKFILL_OFF) for m in machines
                                   if events_key(m.path) in self.last_seen.times])
        finally:
            held, held_events = self._gate.release()
        self._expect_gaps([*machines, *grown], recovered)
        self._covered.update(covered)
        self._hand_on(held)
        self._on_events(held_events)
        if machines:
            log.info("subscribed %d machines: %s", len(machines),
                     ", ".join(m.name for m in machines))
        for machine in grown:
            log.info("machine %s has %d new variables", machine.name, len(machine.variables))

    async def _remove_machines(self, node_ids: list[ua.NodeId]) -> None:
        handles: list[int] = []
        for node_id in node_ids:
            machine = self.machines.pop(node_id)
            handles.extend(self.subscriptions.forget_machine(node_id))
            log.info("machine %s removed", machine.name)
        await self.subscriptions.remove(handles)

    # --- backfill ----------------------------------------------------------------------------

    def _expect_gaps(self, machines: list[Machine], recovered: set[str]) -> None:
        """Of the variables just subscribed that were handed on before, those whose history
        was not read may have changed unseen: their first new value comes after a gap. (After
        a restart of the server, `_backfill_values` marks those whose history lost the last
        value handed on.)"""
        reason = NOT_HISTORIZED if self.settings.backfill else BACKFILL_OFF
        times = self.last_seen.times
        for machine in machines:
            for variable in machine.variables:
                key = machine.path.topic(variable.group, variable.tag)
                if key in times and key not in recovered:
                    self._gaps.expect(key, HISTORY_FAILED if variable.historizing
                                      and self.settings.backfill else reason)

    async def _backfill(
        self, client: Client, machines: list[Machine]
    ) -> tuple[dict[str, Cover], set[str]]:
        """Hand on what the server historized since the last value of each series; returns,
        per series read, the changes history covered, and the series read."""
        by_node = {item.variable.node_id: item for item in self.subscriptions.variables.values()}
        return await self._backfill_values(client, [
            by_node[variable.node_id] for machine in machines for variable in machine.variables
            if variable.node_id in by_node
        ])

    async def _backfill_values(
        self, client: Client, variables: list[MonitoredVariable]
    ) -> tuple[dict[str, Cover], set[str]]:
        history = await value_gaps(client, variables, self.last_seen, self.structures)
        if self._restarted:  # what the server forgot in its restart is a gap
            for item in variables:
                if (item.key in history.recovered and item.key not in history.continuous
                        and item.key in self.last_seen.times):
                    self._gaps.expect(item.key, RESTARTED)
        batch = self._items(history.pairs)
        self.counters["backfilled"] += len(batch)
        if batch:
            log.info("backfilled %d values from history", len(batch))
            self.counters["samples"] += len(batch)
            self.emit(batch)
        if self._restarted:
            # A restarted server's clock may have gone back (a simulator runs a fresh plant):
            # what it changed before the bridge subscribed again is older than what was handed
            # on, outside the history just read, and cannot be told apart from the previous
            # run's changes in its history. The first value that goes back says so by a gap.
            for item in variables:
                if item.key in self.last_seen.times and item.key not in self._gaps:
                    self._gaps.expect_back(item.key, CLOCK_BACK)
        return history.covered, history.recovered

    async def _backfill_events(self, client: Client, machines: list[Machine]) -> None:
        history = await event_gaps(client, machines, self.last_seen,
                                   self.subscriptions.job_namespace)
        self._lost_events(history.lost)
        batch = [
            event for event in (self._new_event(machine, fields)
                                for machine, fields in history.events)
            if event is not None
        ]
        if batch:
            log.info("backfilled %d events from history", len(batch))
            self.counters["events"] += len(batch)
            self.counters["backfilled"] += len(batch)
            self.emit(batch)

    def _lost_events(self, lost: list[tuple[MachinePath, str]]) -> None:
        """Gap records in the events and alarms of machines whose events of the gap (since
        the last one handed on) cannot be read from history."""
        with_jobs = {m.path for m in self.machines.values() if m.job_management}
        gaps = [gap for machine, reason in lost
                for gap in event_gap_records(machine, self.last_seen.times.get(
                    events_key(machine)), reason, (*EVENT_GROUPS, JOBS_GROUP)
                    if machine in with_jobs else EVENT_GROUPS)]
        if gaps:
            self.counters["gaps"] += len(gaps)
            warn(gaps)
            self.emit(gaps)

    # --- values the journal dropped at its bound ---------------------------------------------

    def dropped(self, lost: list[Dropped]) -> None:
        """What the journal dropped at its bound (`lost`, a report per key): the values
        `dropped.py`'s rule lets read again from history are, once a session is up
        (`_regain_dropped`); the others, and events, are a gap record now."""
        variables = {item.key: item for item in self.subscriptions.variables.values()}
        event_series = {machine.path.topic(group): (machine.path, group)
                        for machine in self.machines.values()
                        for group in (*EVENT_GROUPS, JOBS_GROUP)}
        gaps: list[Gap] = []
        settled: list[Dropped] = []
        unknown: list[Dropped] = []
        for drop in lost:
            item = variables.get(drop.key)
            if item is not None and (why := drops.unrecoverable(
                    item, drop, self.settings.backfill)) is None:
                self._to_regain.append((item, drop))
                continue
            if item is not None:
                gaps.append(drops.gap(item, drop, drop.since, drop.until, why))
            elif drop.key in event_series:
                gaps.append(drops.events_gap(*event_series[drop.key], drop))
            else:
                unknown.append(drop)
            settled.append(drop)
        if unknown:
            log.warning("%d series had entries dropped at the journal's bound that this source "
                        "no longer serves (machines or variables gone): only their missing "
                        "sequence numbers show it (%s)", len(unknown),
                        ", ".join(d.key for d in unknown[:5]))
        if gaps:
            self.counters["gaps"] += len(gaps)
            warn(gaps)
        if settled:
            self.emit(gaps, settles=settled)
        self._start_regain()

    def _start_regain(self) -> None:
        if self._to_regain and self._client is not None and (
                self._regain is None or self._regain.done()):
            self._regain = asyncio.get_running_loop().create_task(
                self._regain_dropped(self._client), name="dropped values recovery")

    async def _regain_dropped(self, client: Client) -> None:
        """Hand on, late (new sequence numbers, after newer values), what history holds of the
        values the journal dropped; a gap for what it does not hold (older than its
        retention), or for all of them if reading failed."""
        while self._to_regain:
            batch, self._to_regain = self._to_regain, []
            settled: list[Dropped] = []
            try:
                histories = await drops.read(client, batch, self.structures)
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
                log.info("%d values dropped at the journal's bound were read again from "
                         "history%s", regained,
                         f"; {len(gaps)} variables keep a gap" if gaps else "")
                await drops.refill(self.room, results, self.emit, settled)
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
                self.emit(gaps, settles=[d for _, d in batch if d not in settled])

    # --- notifications (the hot path) --------------------------------------------------------

    def _items(self, pairs: list[Pair]) -> list[Item]:
        """The Samples of the values not handed on before, each after its gap if one is
        expected for its series (`gaps.py`)."""
        batch: list[Item] = []
        lost: list[Gap] = []
        is_new, gaps = self.last_seen.is_new, self._gaps
        for item, dv in pairs:
            value = plain(dv.Value)
            if gaps and item.key in gaps:
                before = gaps.before(item.machine, item.group, item.tag, item.node_id,
                                     dv.SourceTimestamp, value, self.last_seen)
                lost.extend(before)
                batch.extend(before)
            if is_new(item.key, dv.SourceTimestamp, value):
                batch.append(sample(item.machine, item.group, item.tag, item.node_id, dv, value))
            else:
                self.counters["repeats_skipped"] += 1
        if lost:
            self.counters["gaps"] += len(lost)
            warn(lost)
        return batch

    def _on_data(self, notifications: list[ua.MonitoredItemNotification]) -> None:
        items = self.subscriptions.variables
        pairs = [(items[n.ClientHandle], n.Value) for n in notifications
                 if n.ClientHandle in items]
        decode_values(self.structures, [dv for _, dv in pairs])
        if not self._gate.admit(pairs):
            self._hand_on(pairs)

    def _hand_on(self, pairs: list[Pair], recovered: str | None = None) -> None:
        """Hand on values in order, but not those history covered; stop at an overflow whose
        gap is being read from history (the gate holds the rest)."""
        passed, skipped = self._gate.sift(pairs, self._covered, self._overflowed, recovered)
        self.counters["repeats_skipped"] += skipped
        batch = self._items(passed)
        if batch:
            self.counters["samples"] += len(batch)
            self.emit(batch)

    def _overflowed(self, item: MonitoredVariable) -> bool:
        """The server dropped values of `item`. True if they are being read from history,
        False if they are lost."""
        self.counters["overflows"] += 1
        recoverable = (self.settings.backfill and item.variable.historizing
                       and self._client is not None and item.key in self.last_seen.times)
        if self.counters["overflows"] == 1 or not recoverable:
            log.warning(
                "the server dropped values of %s (queue overflow; raise opcua.queue_size, now "
                "%d, or lower opcua.publishing_interval): %s", item.key, self.settings.queue_size,
                "reading them from its history" if recoverable else "it keeps no history of "
                "them, they are lost",
            )
        if not recoverable:
            self.counters["overflows_lost"] += 1
            if item.key in self.last_seen.times:
                self._gaps.expect(item.key, OVERFLOW_LOST)
            return False
        self._recovery = asyncio.get_running_loop().create_task(
            self._recover(self._client, item), name="overflow recovery"
        )
        return True

    async def _recover(self, client: Client, item: MonitoredVariable) -> None:
        """Read an overflow's gap from history, then hand on what was held back meanwhile."""
        try:
            covered, recovered = await self._backfill_values(client, [item])
            self._covered.update(covered)
            if item.key not in recovered:
                self._gaps.expect(item.key, HISTORY_FAILED)
        except asyncio.CancelledError:
            # The session ended: historized values come back with the next session's
            # backfill; the others have no other way but on.
            held, _ = self._gate.release()
            self._hand_on([(i, dv) for i, dv in held if not i.variable.historizing])
            raise
        except (OSError, TimeoutError, ua.UaError) as exc:
            self.counters["overflows_lost"] += 1
            self._gaps.expect(item.key, HISTORY_FAILED)
            log.warning("reading the gap of %s from history failed, its dropped values are "
                        "lost: %s", item.key, exc)
        held, _ = self._gate.release()
        self._hand_on(held, recovered=item.key)

    def _on_events(self, events: list[ua.EventFieldList]) -> None:
        if self._gate.admit_events(events):
            return
        event_items, source_nodes = self.subscriptions.event_items, self.subscriptions.source_nodes
        batch: list[EventSample] = []
        for event in events:
            if event.ClientHandle not in event_items:
                continue
            fields = event_fields(event.EventFields)
            machine = event_items[event.ClientHandle]
            if machine is None:
                machine = source_nodes.get(fields.get("SourceNode"))
                if machine is None:
                    continue  # not about a machine
            sample_ = self._new_event(machine, fields)
            if sample_ is not None:
                batch.append(sample_)
        if batch:
            self.counters["events"] += len(batch)
            self.emit(batch)

    def _new_event(self, machine: MachinePath, fields: dict[str, object]) -> EventSample | None:
        """The event as an EventSample, or None if it was handed on already (the same EventId
        reported on the machine and on Server, or by history and live)."""
        event_id = fields.get("EventId")
        if not self._seen_events.first_time(event_id):
            return None
        event = event_sample(machine, fields, self.structures)
        self.last_seen.is_new(events_key(machine), event.time, json_value(event_id))
        return event
