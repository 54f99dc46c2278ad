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
Every history read after the first subscription (machines added, an overflow's gap, dropped
values) waits its turn in one queue, read by one task per session (`recovery.py`); what is
handed on, and how, is `hand_on.py`.

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
from collections.abc import Callable
from datetime import datetime

from asyncua import Client, ua

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.inputs.opcua import dropped as drops
from mqtt_bridge.inputs.opcua import jobs, nodes
from mqtt_bridge.inputs.opcua.discovery import (
    Hierarchy,
    Machine,
    MachineRef,
    NoMachineryError,
    browse_machines,
    find_machines,
)
from mqtt_bridge.inputs.opcua.errors import SourceError, describe_error
from mqtt_bridge.inputs.opcua.events import events_key
from mqtt_bridge.inputs.opcua.gaps import EVENT_GROUPS, EVENTS_BACKFILL_OFF
from mqtt_bridge.inputs.opcua.gate import Cover
from mqtt_bridge.inputs.opcua.hand_on import Emit, HandOn, Item, Pair
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.rebrowse import diff
from mqtt_bridge.inputs.opcua.recovery import Recovery
from mqtt_bridge.inputs.opcua.session import connect
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings
from mqtt_bridge.inputs.opcua.structures import Structures
from mqtt_bridge.inputs.opcua.subscription import Subscriptions
from mqtt_bridge.sample import JOBS_GROUP, MachinePath

log = logging.getLogger(__name__)

__all__ = ["Emit", "Item", "OpcUaSource", "Pair"]

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
             "overflows", "overflows_lost", "gaps", "server_restarts", "event_overflows"), 0
        )
        self.subscriptions = Subscriptions(settings, self._on_data, self._on_events,
                                           self.counters)
        self._flow = HandOn(settings, emit, self.last_seen, self.counters, self.subscriptions)
        self._recovery = Recovery(self._flow, room, self._event_series,
                                  lambda: self.machines.values())
        self._node_specs: dict[ua.NodeId, nodes.NodeSpec] = {}  # configured nodes found
        self._reached = False  # the server answered once: later failures are outages
        # ServerStatus/StartTime of the server (as a bridge before this one saw it too)
        self.server_start: datetime | None = (
            self.last_seen.times.get(SERVER_KEY)
            if self.last_seen.values.get(SERVER_KEY) == settings.url else None)
        # told the server's start time and the restarts seen, at every connect
        self.on_server_start: Callable[[datetime | None, int], None] | None = None

    @property
    def structures(self) -> Structures:
        """The server's own structure types, read per session (`structures.py`)."""
        return self._flow.structures

    def stats(self) -> dict[str, object]:
        return {
            **self.counters,
            "connected": self.connected.is_set(),
            "machines": len(self.machines),
            "monitored_items": len(self.subscriptions.variables),
            "decode_errors": self.structures.errors,
        }

    def dropped(self, lost: list[Dropped]) -> None:
        """What the journal dropped at its bound, a report per key (`recovery.py`)."""
        self._recovery.dropped(lost)

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
            self._flow.covered.clear()
            await self.subscriptions.open(client)
            self._recovery.start(client)
            await self._add_machines(client, refs)
            self._flow.restarted = False
            self.connected.set()
            self._recovery.resume()
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
            await self._recovery.stop()
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
        restarted = self._flow.restarted = (self.server_start is not None and start is not None
                                            and start != self.server_start)
        if restarted:
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
            structures = await Structures.load(client)
        except (ua.UaError, TimeoutError) as exc:
            log.warning("reading the server's structure types failed (%s): their values are "
                        "published with a decodeError", exc)
            structures = Structures()
        structures.errors = errors
        self._flow.structures = structures

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
        self._flow.job_machines.update(m.path for m in machines if m.job_management)
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
        (`grown`), then backfill them and release what arrived meanwhile: a job in the queue
        of history reads, so one hold of the gate follows the other."""
        grown = grown or []

        async def subscribe(client: Client) -> None:
            await self._subscribe_and_backfill(client, machines, grown)

        await self._recovery.run(subscribe)
        if machines:
            log.info("subscribed %d machines: %s", len(machines),
                     ", ".join(m.name for m in machines))
        for machine in grown:
            log.info("machine %s has %d new variables", machine.name, len(machine.variables))

    async def _subscribe_and_backfill(self, client: Client, machines: list[Machine],
                                      grown: list[Machine]) -> None:
        flow = self._flow
        requests: list[ua.MonitoredItemCreateRequest] = []
        for machine in [*machines, *grown]:
            is_new = machine.node_id not in self.machines
            if is_new:
                self.machines[machine.node_id] = machine
            requests.extend(self.subscriptions.requests(machine, is_new))
        flow.gate.hold()
        covered: dict[str, Cover] = {}
        recovered: set[str] = set()
        try:
            await self.subscriptions.create(requests)
            if self.settings.backfill:
                covered, recovered = await flow.backfill(client, [*machines, *grown])
                await flow.backfill_events(client, machines)
            else:
                flow.lost_events([(m.path, EVENTS_BACKFILL_OFF) for m in machines
                                  if events_key(m.path) in self.last_seen.times])
        finally:
            held, held_events = flow.gate.release()
        flow.expect_gaps([*machines, *grown], recovered)
        flow.covered.update(covered)
        flow.hand_on(held)
        flow.on_events(held_events)

    async def _remove_machines(self, node_ids: list[ua.NodeId]) -> None:
        handles: list[int] = []
        for node_id in node_ids:
            machine = self.machines.pop(node_id)
            handles.extend(self.subscriptions.forget_machine(node_id))
            log.info("machine %s removed", machine.name)
        await self.subscriptions.remove(handles)

    # --- notifications: handed on by `hand_on.py` ---------------------------------------------

    def _on_data(self, notifications: list[ua.MonitoredItemNotification]) -> None:
        self._flow.on_data(notifications)

    def _on_events(self, events: list[ua.EventFieldList]) -> None:
        self._flow.on_events(events)

    def _event_series(self) -> dict[str, tuple[MachinePath, str]]:
        """The event series of the machines bridged, by key (for drops at the journal's bound)."""
        return {machine.path.topic(group): (machine.path, group)
                for machine in self.machines.values()
                for group in (*EVENT_GROUPS, JOBS_GROUP)}
