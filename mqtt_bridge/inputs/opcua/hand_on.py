"""What the source hands on: values and events, in order per series, once, after their gaps.

Live notifications (the hot path), history read at subscribe, after an overflow or after a
drop at the journal's bound all end here: a value already handed on (`LastSeen`: same series,
source time and value) is skipped, one that history covered while the gate held is skipped
(`gate.py`), a series that expects a gap gets its `Gap` record first (`gaps.py`), and events
are handed on once per EventId (`events.py`). What passes goes to `emit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from asyncua import Client, ua

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.inputs.opcua.backfill import event_gaps, value_gaps
from mqtt_bridge.inputs.opcua.discovery import Machine
from mqtt_bridge.inputs.opcua.event_overflow import is_overflow_event, overflowed_items
from mqtt_bridge.inputs.opcua.events import SeenEvents, event_fields, event_sample, events_key
from mqtt_bridge.inputs.opcua.gaps import (
    BACKFILL_OFF,
    CLOCK_BACK,
    EVENT_GROUPS,
    HISTORY_FAILED,
    NOT_HISTORIZED,
    RESTARTED,
    Gaps,
    event_gap_records,
    warn,
)
from mqtt_bridge.inputs.opcua.gate import Cover, Gate
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings
from mqtt_bridge.inputs.opcua.structures import Structures, decode_values
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable, Subscriptions
from mqtt_bridge.inputs.opcua.values import json_value, plain, sample
from mqtt_bridge.sample import JOBS_GROUP, EventSample, Gap, MachinePath, Sample

log = logging.getLogger(__name__)

Item = Sample | EventSample | Gap
Pair = tuple[MonitoredVariable, ua.DataValue]


class Emit(Protocol):
    """Where the source hands items on: the bridge journals them, together with the journal's
    drop reports they settle (values given back or named after a drop at its bound)."""

    def __call__(self, items: list[Item], settles: Sequence[Dropped] = ...) -> None: ...


class HandOn:
    """The source's items from notifications and history (see the module docstring)."""

    def __init__(self, settings: OpcUaSettings, emit: Emit, last_seen: LastSeen,
                 counters: dict[str, int], subscriptions: Subscriptions) -> None:
        self.settings, self.emit, self.last_seen = settings, emit, last_seen
        self.counters, self.subscriptions = counters, subscriptions
        self.structures = Structures()  # the server's own structure types, read per session
        self.job_machines: set[MachinePath] = set()  # with Job Management: a `jobs` sequence
        self.gate = Gate()
        self.gaps = Gaps()
        # series key -> the changes read from history, until live values pass them (gate.py)
        self.covered: dict[str, Cover] = {}
        self.restarted = False  # this session follows a restart of the server
        # an overflow of a series: True if its dropped values are being read from history
        self.overflowed: Callable[[MonitoredVariable], bool] = lambda _item: False
        # an event item's queue overflowed: its machine (None: the Server object's item)
        self.events_overflowed: Callable[[MachinePath | None], None] = lambda _machine: None
        self._seen_events = SeenEvents()

    # --- notifications (the hot path) --------------------------------------------------------

    def on_data(self, notifications: list[ua.MonitoredItemNotification]) -> None:
        items = self.subscriptions.variables
        pairs = [(items[n.ClientHandle], n.Value) for n in notifications
                 if n.ClientHandle in items]
        decode_values(self.structures, [dv for _, dv in pairs])
        if not self.gate.admit(pairs):
            self.hand_on(pairs)

    def hand_on(self, pairs: list[Pair], recovered: str | None = None) -> None:
        """Hand on values in order, but not those history covered; stop at an overflow whose
        gap is being read from history (the gate holds the rest)."""
        passed, skipped = self.gate.sift(pairs, self.covered, self.overflowed, recovered)
        self.counters["repeats_skipped"] += skipped
        batch = self.items(passed)
        if batch:
            self.counters["samples"] += len(batch)
            self.emit(batch)

    def items(self, pairs: list[Pair]) -> list[Item]:
        """The Samples of the values not handed on before, each after its gap if one is
        expected for its series (`gaps.py`)."""
        batch: list[Item] = []
        lost: list[Gap] = []
        is_new, gaps = self.last_seen.is_new, self.gaps
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

    def on_events(self, events: list[ua.EventFieldList]) -> None:
        if self.gate.admit_events(events):
            return
        event_items, source_nodes = self.subscriptions.event_items, self.subscriptions.source_nodes
        events = [event for event in events if event.ClientHandle in event_items]
        read = [event_fields(event.EventFields) for event in events]
        lost = overflowed_items([event.ClientHandle for event in events], read)
        for handle in lost:  # before this response's events move the last ones seen on
            self.events_overflowed(event_items[handle])
        batch: list[EventSample] = []
        for event, fields in zip(events, read, strict=True):
            if lost and is_overflow_event(fields):
                continue
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

    def _new_event(self, machine: MachinePath, fields: dict[str, object],
                   late: bool = False) -> EventSample | None:
        """The event as an EventSample, or None if it was handed on already (the same EventId
        reported on the machine and on Server, or by history and live). A `late` event (read
        back after its queue overflowed) older than the last one handed on leaves that one the
        last (a restarted bridge reads history on from there)."""
        event_id = fields.get("EventId")
        if not self._seen_events.first_time(event_id):
            return None
        event = event_sample(machine, fields, self.structures)
        last = self.last_seen.times.get(events_key(machine))
        if not (late and last is not None and event.time < last):
            self.last_seen.is_new(events_key(machine), event.time, json_value(event_id))
        return event

    # --- history: the gap since the last value or event handed on ------------------------------

    def expect_gaps(self, machines: list[Machine], recovered: set[str]) -> None:
        """Of the variables just subscribed that were handed on before, those whose history
        was not read may have changed unseen: their first new value comes after a gap. (After
        a restart of the server, `backfill_values` marks those whose history lost the last
        value handed on.)"""
        reason = NOT_HISTORIZED if self.settings.backfill else BACKFILL_OFF
        times = self.last_seen.times
        for machine in machines:
            for variable in machine.variables:
                key = machine.path.topic(variable.group, variable.tag)
                if key in times and key not in recovered:
                    self.gaps.expect(key, HISTORY_FAILED if variable.historizing
                                     and self.settings.backfill else reason)

    async def backfill(
        self, client: Client, machines: list[Machine]
    ) -> tuple[dict[str, Cover], set[str]]:
        """Hand on what the server historized since the last value of each series; returns,
        per series read, the changes history covered, and the series read."""
        by_node = {item.variable.node_id: item for item in self.subscriptions.variables.values()}
        return await self.backfill_values(client, [
            by_node[variable.node_id] for machine in machines for variable in machine.variables
            if variable.node_id in by_node
        ])

    async def backfill_values(
        self, client: Client, variables: list[MonitoredVariable]
    ) -> tuple[dict[str, Cover], set[str]]:
        history = await value_gaps(client, variables, self.last_seen, self.structures)
        if self.restarted:  # what the server forgot in its restart is a gap
            for item in variables:
                if (item.key in history.recovered and item.key not in history.continuous
                        and item.key in self.last_seen.times):
                    self.gaps.expect(item.key, RESTARTED)
        batch = self.items(history.pairs)
        self.counters["backfilled"] += len(batch)
        if batch:
            log.info("backfilled %d values from history", len(batch))
            self.counters["samples"] += len(batch)
            self.emit(batch)
        if self.restarted:
            # A restarted server's clock may have gone back (a simulator runs a fresh plant):
            # what it changed before the bridge subscribed again is older than what was handed
            # on, outside the history just read, and cannot be told apart from the previous
            # run's changes in its history. The first value that goes back says so by a gap.
            for item in variables:
                if item.key in self.last_seen.times and item.key not in self.gaps:
                    self.gaps.expect_back(item.key, CLOCK_BACK)
        return history.covered, history.recovered

    async def backfill_events(self, client: Client, machines: list[Machine],
                              since: LastSeen | None = None) -> None:
        """Hand on what the machines' event history holds since the last event handed on
        (`since`: as it was when their event queues overflowed; its events are late)."""
        history = await event_gaps(client, machines, since or self.last_seen,
                                   self.subscriptions.job_namespace)
        self.lost_events(history.lost)
        batch = [
            event for event in (self._new_event(machine, fields, late=since is not None)
                                for machine, fields in history.events)
            if event is not None
        ]
        if batch:
            log.info("backfilled %d events from history", len(batch))
            self.counters["events"] += len(batch)
            self.counters["backfilled"] += len(batch)
            self.emit(batch)

    def lost_events(self, lost: list[tuple[MachinePath, str]]) -> None:
        """Gap records in the events and alarms of machines whose events of the gap (since
        the last one handed on) cannot be read from history."""
        gaps = [gap for machine, reason in lost
                for gap in event_gap_records(machine, self.last_seen.times.get(
                    events_key(machine)), reason, (*EVENT_GROUPS, JOBS_GROUP)
                    if machine in self.job_machines else EVENT_GROUPS)]
        if gaps:
            self.counters["gaps"] += len(gaps)
            warn(gaps)
            self.emit(gaps)
