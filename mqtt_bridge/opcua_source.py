"""The bridge's OPC UA side: connect, discover machines, subscribe, backfill, reconnect.

`OpcUaSource(settings, hierarchy, emit, last_seen).run()` keeps one client session to one
server for as long as it runs and hands every value change (`Sample`) and event (`EventSample`)
of every machine to `emit(items)`, in batches, in order per series:

1. connect (security, user), then discover the machines by browsing (`discovery`);
2. subscribe every variable and each machine's events; notifications that arrive while
   step 3 runs are held back;
3. backfill: read what the server historized since the last value or event handed on
   (`backfill`);
4. release the held-back notifications; from now on values flow live;
5. every `rebrowse_interval` seconds look for machines, and variables of known machines,
   added or removed;
6. on a lost connection start again at 1 after a backoff delay. The first connection's
   failure is raised as `SourceError` with a message for the user.

A value that arrives with the Overflow bit (the server's queue for the variable was full and
dropped older values) is a gap too: if the variable is historized, notifications are held back
from that value on while the gap is read from history, as in 2-4; otherwise the drop is counted
and logged.

A change is handed on once: `LastSeen` knows the last source timestamp and value of every
series, history is read from there on, and notifications that arrive while history is read are
held back and dropped where history already covered them; so history, a subscription's initial
values and live values join without repeats.

Cost matters: at tens of thousands of changes per second the per-notification work is the
bridge's CPU. asyncua's handler mode makes one task per notification; this source overrides
`Subscription.publish_callback` and turns a whole PublishResponse into Samples in one loop,
and, where a command installed `mqtt_bridge.inputs.opcua.asyncua_adapter`, keeps two
PublishRequests at the server and decodes data changes faster; the source itself patches
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from asyncua import Client, ua
from asyncua.common.subscription import Subscription
from asyncua.crypto import uacrypto
from asyncua.ua.object_ids import ObjectIdNames
from cryptography.hazmat.primitives import serialization

from mqtt_bridge.backfill import LastSeen, read_event_history, read_raw_history
from mqtt_bridge.config import OpcUaSettings
from mqtt_bridge.discovery import (
    DiscoveryError,
    Hierarchy,
    Machine,
    MachineRef,
    NoMachineryError,
    Variable,
    browse_machines,
    find_machines,
)
from mqtt_bridge.inputs.opcua import asyncua_adapter
from mqtt_bridge.sample import EventSample, MachinePath, Sample

log = logging.getLogger(__name__)

Item = Sample | EventSample
Emit = Callable[[list[Item]], None]
CREATE_BATCH = 1000  # monitored items per CreateMonitoredItems request
EMIT_CHUNK = 500  # samples handed on at a time, the event loop runs in between
EVENT_HANDLE_BASE = 1 << 30  # client handles of event items; data items count from 1

# Event fields selected on every event monitored item: (type that defines it, browse path).
EVENT_FIELDS: list[tuple[int, str]] = [
    (ua.ObjectIds.BaseEventType, "EventId"),
    (ua.ObjectIds.BaseEventType, "EventType"),
    (ua.ObjectIds.BaseEventType, "SourceNode"),
    (ua.ObjectIds.BaseEventType, "SourceName"),
    (ua.ObjectIds.BaseEventType, "Time"),
    (ua.ObjectIds.BaseEventType, "Message"),
    (ua.ObjectIds.BaseEventType, "Severity"),
    (ua.ObjectIds.ConditionType, "ConditionName"),
    (ua.ObjectIds.ConditionType, "Retain"),
    (ua.ObjectIds.ConditionType, "EnabledState/Id"),
    (ua.ObjectIds.AcknowledgeableConditionType, "AckedState/Id"),
    (ua.ObjectIds.AlarmConditionType, "ActiveState/Id"),
]
CONDITION_ID_FIELD = "ConditionId"  # the condition's NodeId, selected by AttributeId NodeId
# InfoType DataValue + Overflow: the server's queue for the item was full and dropped values.
OVERFLOW_BITS = 0x0480


class SourceError(Exception):
    """The OPC UA side cannot start; the message says what and where, for a user."""


class UntrustedServerError(Exception):
    """The server's certificate is not the one configured as trusted."""


# --- values to JSON ---------------------------------------------------------------------------


def json_value(value: object) -> object:
    """An OPC UA value as JSON-serialisable data (LocalizedText -> text, NodeId -> string...)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, ua.NodeId | ua.QualifiedName):
        return value.to_string()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, ua.StatusCode):
        return value.name
    if dataclasses.is_dataclass(value):
        return {f.name: json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


# --- the subscription -------------------------------------------------------------------------


class _Subscription(Subscription):
    """A Subscription whose publish callback hands whole notification lists to the source."""

    def __init__(self, session, params, source: OpcUaSource):
        super().__init__(session, params, handler=None, queue_maxsize=1)
        self._source = source
        # Two PublishRequests are in flight (see `pipeline_publish_requests`): their responses
        # are handed on one after the other, in the order they arrived.
        self._in_order = asyncio.Lock()
        self._second_publisher: asyncio.Task | None = None

    def pipeline_publish_requests(self) -> None:
        """A second PublishRequest in flight, where the asyncua adapter is installed."""
        self._second_publisher = asyncua_adapter.second_publisher(self)

    def stop_pipelining(self) -> None:
        if self._second_publisher is not None:
            self._second_publisher.cancel()
            self._second_publisher = None

    async def delete(self) -> None:
        self.stop_pipelining()
        await super().delete()

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        async with self._in_order:
            await self._pass_on(publish_result)

    async def _pass_on(self, publish_result: ua.PublishResult) -> None:
        self.last_publish_at = time.monotonic()
        message = publish_result.NotificationMessage
        if message.NotificationData is None:
            return
        self.last_sequence_number = int(message.SequenceNumber)
        for notification in message.NotificationData:
            if isinstance(notification, ua.DataChangeNotification):
                # A busy loop makes large publish responses; handing them on in chunks lets
                # the sinks (and their acknowledgements) run in between.
                items = notification.MonitoredItems
                for start in range(0, len(items), EMIT_CHUNK):
                    if start:
                        await asyncio.sleep(0)
                    self._source._on_data(items[start : start + EMIT_CHUNK])
            elif isinstance(notification, ua.EventNotificationList):
                self._source._on_events(notification.Events)
            elif isinstance(notification, ua.StatusChangeNotification):
                log.warning("subscription status changed: %s", notification.Status.name)


@dataclasses.dataclass(slots=True)
class _Item:
    """What a client handle stands for."""

    machine: MachinePath
    group: str
    tag: str
    key: str
    node_id: str
    variable: Variable


# --- the source -------------------------------------------------------------------------------


class OpcUaSource:
    """See the module docstring."""

    def __init__(
        self,
        settings: OpcUaSettings,
        hierarchy: Hierarchy,
        emit: Emit,
        last_seen: LastSeen | None = None,
    ):
        self.settings = settings
        self.hierarchy = hierarchy
        self.emit = emit
        self.last_seen = last_seen or LastSeen(None)
        self.machines: dict[ua.NodeId, Machine] = {}
        self.connected = asyncio.Event()
        self._items: dict[int, _Item] = {}
        self._event_items: dict[int, MachinePath | None] = {}  # None: the Server object
        self._machine_handles: dict[ua.NodeId, list[int]] = {}
        self._source_nodes: dict[ua.NodeId, MachinePath] = {}
        self._next_handle = 1
        # Notifications held back while history is read (None: hand on at once).
        self._held: list[tuple[_Item, ua.DataValue]] | None = None
        self._held_events: list[ua.EventFieldList] | None = None
        self._recent_event_ids: deque[bytes] = deque(maxlen=4096)
        self._recent_event_set: set[bytes] = set()
        self._reached = False  # the server answered once: later failures are outages
        self._sub: _Subscription | None = None
        self._client: Client | None = None  # while a session is up: for overflow recovery
        self._recovery: asyncio.Task | None = None  # reading an overflow's gap from history
        self.counters = dict.fromkeys(
            ("samples", "events", "repeats_skipped", "backfilled", "reconnects", "bad_items",
             "overflows", "overflows_lost"), 0
        )

    def stats(self) -> dict[str, object]:
        return {
            **self.counters,
            "connected": self.connected.is_set(),
            "machines": len(self.machines),
            "monitored_items": len(self._items),
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
        client = await self._connect()
        first_time = not self._reached
        self._reached = True
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        self._client = client
        try:
            try:
                refs = await find_machines(client, self.settings.scan_objects)
            except NoMachineryError:
                if first_time:
                    raise
                refs = []
            if not refs:
                log.warning("no machines found on %s (yet)", self.settings.url)
            self._reset()
            self._sub = await self._create_subscription(client)
            await self._subscribe_server_events()
            await self._add_machines(client, refs)
            self.connected.set()
            log.info("bridging %d machines, %d variables from %s", len(self.machines),
                     len(self._items), self.settings.url)
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
            if self._sub is not None:
                self._sub.stop_pipelining()
            self._sub = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2)

    async def _connect(self) -> Client:
        s = self.settings
        # The watchdog reads the server state every interval and gives up after as long: a
        # busy server must not look dead, so it gets the request timeout.
        client = Client(s.url, timeout=s.timeout, watchdog_intervall=s.timeout)
        client.name = client.description = "factory-sim bridge"
        client.application_uri = s.application_uri
        if s.username is not None:
            client.set_user(s.username)
            client.set_password(s.password or "")
        if s.security_policy != "None":
            parts = [s.security_policy, s.security_mode, s.certificate, s.private_key]
            if s.server_certificate:
                await self._check_server_certificate(client)
                parts.append(s.server_certificate)
            await client.set_security_string(",".join(parts))
        await client.connect()
        return client

    async def _check_server_certificate(self, client: Client) -> None:
        """Refuse a server that does not present the trusted certificate, before sending it
        anything secret (GetEndpoints needs no secure channel)."""
        trusted = await uacrypto.load_certificate(self.settings.server_certificate)
        trusted_der = trusted.public_bytes(serialization.Encoding.DER)
        endpoints = await client.connect_and_get_server_endpoints()
        presented = {bytes(e.ServerCertificate or b"") for e in endpoints}
        # A certificate chain starts with the server's own certificate.
        if not any(der.startswith(trusted_der) for der in presented):
            raise UntrustedServerError(
                "the server does not present the trusted certificate "
                f"{self.settings.server_certificate} (opcua.server_certificate): refusing it"
            )

    def _reset(self) -> None:
        self.machines.clear()
        self._items.clear()
        self._event_items.clear()
        self._machine_handles.clear()
        self._source_nodes.clear()

    async def _create_subscription(self, client: Client) -> _Subscription:
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = self.settings.publishing_interval
        params.RequestedLifetimeCount = 10000
        params.RequestedMaxKeepAliveCount = client.get_keepalive_count(
            self.settings.publishing_interval
        )
        params.MaxNotificationsPerPublish = 0  # no limit
        params.PublishingEnabled = True
        params.Priority = 0
        sub = _Subscription(client.uaclient.session, params, self)
        await sub.init()
        sub.pipeline_publish_requests()
        return sub

    # --- machines come and go ----------------------------------------------------------------

    async def _rebrowse(self, client: Client) -> None:
        """Pick up machines added or removed, and variables added to or removed from the
        machines already bridged."""
        refs = await find_machines(client, self.settings.scan_objects)
        current = {r.node_id for r in refs}
        gone = [node for node in self.machines if node not in current]
        if gone:
            await self._remove_machines(gone)
        browsed = await browse_machines(client, refs, self.hierarchy)
        new = [m for m in browsed if m.node_id not in self.machines]
        grown: list[Machine] = []
        vanished: list[int] = []
        for machine in browsed:
            known = self.machines.get(machine.node_id)
            if known is None:
                continue
            now = {v.node_id for v in machine.variables}
            before = {v.node_id for v in known.variables}
            added = [v for v in machine.variables if v.node_id not in before]
            if added:
                known.variables.extend(added)
                grown.append(Machine(known.node_id, known.path, added))
            if before - now:
                known.variables[:] = [v for v in known.variables if v.node_id in now]
                vanished.extend(
                    h for h in self._machine_handles[known.node_id]
                    if h in self._items and self._items[h].variable.node_id not in now
                )
        if vanished:
            await self._unsubscribe(vanished)
        if new or grown:
            await self._subscribe_machines(client, new, grown)

    async def _add_machines(self, client: Client, refs: list[MachineRef]) -> None:
        await self._subscribe_machines(client, await browse_machines(client, refs, self.hierarchy))

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
                self._source_nodes[machine.node_id] = machine.path
            handles = self._machine_handles.setdefault(machine.node_id, [])
            for variable in machine.variables:
                handle = self._next_handle
                self._next_handle += 1
                key = machine.path.topic(variable.group, variable.tag)
                self._items[handle] = _Item(
                    machine.path, variable.group, variable.tag, key,
                    variable.node_id.to_string(), variable,
                )
                self._source_nodes[variable.node_id] = machine.path
                handles.append(handle)
                requests.append(self._data_request(variable.node_id, handle))
            if is_new and machine.event_notifier:
                handle = EVENT_HANDLE_BASE + self._next_handle
                self._next_handle += 1
                self._event_items[handle] = machine.path
                handles.append(handle)
                requests.append(self._event_request(machine.node_id, handle))
        self._held, self._held_events = [], []
        covered: dict[str, datetime] = {}
        try:
            await self._create_items(requests)
            if self.settings.backfill:
                covered = await self._backfill(client, [*machines, *grown])
                await self._backfill_events(client, machines)
        finally:
            held, self._held = self._held, None
            held_events, self._held_events = self._held_events, None
        self._hand_on(held, covered)
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
            handles.extend(self._machine_handles.pop(node_id, []))
            self._source_nodes.pop(node_id, None)
            log.info("machine %s removed", machine.name)
        await self._unsubscribe(handles)

    async def _unsubscribe(self, handles: list[int]) -> None:
        server_handles = []
        for handle in handles:
            item = self._items.pop(handle, None)
            if item is not None:
                self._source_nodes.pop(item.variable.node_id, None)
            self._event_items.pop(handle, None)
            data = self._sub._monitored_items.get(handle)
            if data is not None and data.server_handle is not None:
                server_handles.append(data.server_handle)
        for per_machine in self._machine_handles.values():
            per_machine[:] = [h for h in per_machine if h in self._items or h in self._event_items]
        if server_handles:
            # The server may already have dropped items of deleted nodes.
            with contextlib.suppress(ua.UaError):
                await self._sub.unsubscribe(server_handles)

    # --- monitored items ---------------------------------------------------------------------

    def _data_request(self, node_id: ua.NodeId, handle: int) -> ua.MonitoredItemCreateRequest:
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value)
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = ua.MonitoringParameters(
            ClientHandle=handle,
            SamplingInterval=self.settings.sampling_interval,
            QueueSize=self.settings.queue_size,
            DiscardOldest=True,
        )
        return request

    def _event_request(self, node_id: ua.NodeId, handle: int) -> ua.MonitoredItemCreateRequest:
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(
            NodeId=node_id, AttributeId=ua.AttributeIds.EventNotifier
        )
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = ua.MonitoringParameters(
            ClientHandle=handle, SamplingInterval=0, QueueSize=1000, DiscardOldest=True,
            Filter=event_filter(),
        )
        return request

    async def _create_items(self, requests: list[ua.MonitoredItemCreateRequest]) -> None:
        for start in range(0, len(requests), CREATE_BATCH):
            batch = requests[start : start + CREATE_BATCH]
            results = await self._sub.create_monitored_items(batch)
            for request, result in zip(batch, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    handle = request.RequestedParameters.ClientHandle
                    self.counters["bad_items"] += 1
                    log.warning("cannot subscribe %s: %s", request.ItemToMonitor.NodeId,
                                result.name)
                    self._items.pop(handle, None)
                    self._event_items.pop(handle, None)

    async def _subscribe_server_events(self) -> None:
        """Events a server reports only on its Server object, mapped to machines by SourceNode."""
        handle = EVENT_HANDLE_BASE
        self._event_items[handle] = None
        request = self._event_request(ua.NodeId(ua.ObjectIds.Server), handle)
        await self._create_items([request])

    # --- backfill ----------------------------------------------------------------------------

    async def _backfill(self, client: Client, machines: list[Machine]) -> dict[str, datetime]:
        """Hand on what the server historized since the last value of each series; returns,
        per series read, the newest source timestamp history covered."""
        by_node = {item.variable.node_id: item for item in self._items.values()}
        return await self._backfill_items(client, [
            by_node[variable.node_id] for machine in machines for variable in machine.variables
            if variable.node_id in by_node
        ])

    async def _backfill_items(self, client: Client, candidates: list[_Item]) -> dict[str, datetime]:
        """`_backfill` for the given variables (those historized and handed on before)."""
        wanted: list[tuple[ua.NodeId, datetime]] = []
        items: list[_Item] = []
        for item in candidates:
            last = self.last_seen.times.get(item.key)
            if item.variable.historizing and last is not None:
                wanted.append((item.variable.node_id, last))
                items.append(item)
        if not wanted:
            return {}
        try:
            histories = await read_raw_history(client, wanted)
        except ua.UaError as exc:
            log.warning("history read failed, gap not backfilled: %s", exc)
            return {}
        batch: list[Item] = []
        covered: dict[str, datetime] = {}
        for item, values in zip(items, histories, strict=True):
            pairs = [(dv.SourceTimestamp, _plain(dv.Value)) for dv in values]
            stamps = [stamp for stamp, _ in pairs if stamp is not None]
            if stamps:
                covered[item.key] = max(stamps)
            for dv in values[self.last_seen.unseen(item.key, pairs) :]:
                sample = self._sample(item, dv)
                if sample is not None:
                    batch.append(sample)
        self.counters["backfilled"] += len(batch)
        if batch:
            log.info("backfilled %d values from history", len(batch))
            self.counters["samples"] += len(batch)
            self.emit(batch)
        return covered

    # --- notifications (the hot path) --------------------------------------------------------

    def _sample(self, item: _Item, dv: ua.DataValue) -> Sample | None:
        source_time = dv.SourceTimestamp
        value = _plain(dv.Value)
        if not self.last_seen.is_new(item.key, source_time, value):
            self.counters["repeats_skipped"] += 1
            return None
        status = dv.StatusCode
        return Sample(
            item.machine, item.group, item.tag, value, source_time, dv.ServerTimestamp,
            "Good" if status is None or status.value == 0 else status.name, item.node_id,
        )

    def _on_data(self, notifications: list[ua.MonitoredItemNotification]) -> None:
        items = self._items
        pairs = [(items[n.ClientHandle], n.Value) for n in notifications
                 if n.ClientHandle in items]
        if self._held is not None:
            self._held.extend(pairs)
        else:
            self._hand_on(pairs, {})

    def _hand_on(
        self, pairs: list[tuple[_Item, ua.DataValue]], covered: dict[str, datetime],
        recovered: str | None = None,
    ) -> None:
        """Hand on values in order, except those history already covered (older than the
        newest value `covered` says was read from history). At a value with the Overflow bit
        (unless its series is the one whose gap was just `recovered`) whose gap history can
        close, hold it and everything after it back for `_recover`."""
        batch = []
        for index, (item, dv) in enumerate(pairs):
            stamp = dv.SourceTimestamp
            newest = covered.get(item.key)
            if newest is not None and stamp is not None and stamp < newest:
                self.counters["repeats_skipped"] += 1
                continue
            status = dv.StatusCode
            if (status is not None and status.value & OVERFLOW_BITS == OVERFLOW_BITS
                    and item.key != recovered and self._overflowed(item, pairs[index:])):
                break
            sample = self._sample(item, dv)
            if sample is not None:
                batch.append(sample)
        if batch:
            self.counters["samples"] += len(batch)
            self.emit(batch)

    def _overflowed(self, item: _Item, rest: list[tuple[_Item, ua.DataValue]]) -> bool:
        """The server dropped values of `item` before the first of `rest`. True if they are
        being read from history (`rest` is held back meanwhile), False if they are lost."""
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
            return False
        self._held = list(rest)
        self._recovery = asyncio.get_running_loop().create_task(
            self._recover(self._client, item), name="overflow recovery"
        )
        return True

    async def _recover(self, client: Client, item: _Item) -> None:
        """Read an overflow's gap from history, then hand on what was held back meanwhile."""
        covered: dict[str, datetime] = {}
        try:
            covered = await self._backfill_items(client, [item])
        except asyncio.CancelledError:
            # The session ended: historized values come back with the next session's
            # backfill; the others have no other way but on.
            held, self._held = self._held or [], None
            self._hand_on([(i, dv) for i, dv in held if not i.variable.historizing], {})
            raise
        except (OSError, TimeoutError, ua.UaError) as exc:
            self.counters["overflows_lost"] += 1
            log.warning("reading the gap of %s from history failed, its dropped values are "
                        "lost: %s", item.key, exc)
        held, self._held = self._held or [], None
        self._hand_on(held, covered, recovered=item.key)

    def _on_events(self, events: list[ua.EventFieldList]) -> None:
        if self._held_events is not None:
            self._held_events.extend(events)
            return
        batch: list[EventSample] = []
        for event in events:
            if event.ClientHandle not in self._event_items:
                continue
            fields = _event_fields(event.EventFields)
            machine = self._event_items[event.ClientHandle]
            if machine is None:
                machine = self._source_nodes.get(fields.get("SourceNode"))
                if machine is None:
                    continue  # not about a machine
            sample = self._new_event(machine, fields)
            if sample is not None:
                batch.append(sample)
        if batch:
            self.counters["events"] += len(batch)
            self.emit(batch)

    def _new_event(self, machine: MachinePath, fields: dict[str, object]) -> EventSample | None:
        """The event as an EventSample, or None if it was handed on already (the same EventId
        reported on the machine and on Server, or by history and live)."""
        event_id = fields.get("EventId")
        if isinstance(event_id, bytes):
            if event_id in self._recent_event_set:
                return None
            if len(self._recent_event_ids) == self._recent_event_ids.maxlen:
                self._recent_event_set.discard(self._recent_event_ids[0])
            self._recent_event_ids.append(event_id)
            self._recent_event_set.add(event_id)
        sample = self._event_sample(machine, fields)
        self.last_seen.is_new(_events_key(machine), sample.time, json_value(event_id))
        return sample

    async def _backfill_events(self, client: Client, machines: list[Machine]) -> None:
        """Hand on the events each machine's history holds since its last event handed on."""
        wanted = [
            (m, self.last_seen.times[_events_key(m.path)])
            for m in machines
            if m.event_notifier and _events_key(m.path) in self.last_seen.times
        ]
        if not wanted:
            return
        try:
            histories = await read_event_history(
                client, [(m.node_id, start) for m, start in wanted], event_filter()
            )
        except ua.UaError as exc:
            log.warning("event history read failed, gap not backfilled: %s", exc)
            return
        batch: list[EventSample] = []
        for (machine, start), events in zip(wanted, histories, strict=True):
            last_id = self.last_seen.values[_events_key(machine.path)]
            for field_list in events:
                fields = _event_fields(field_list)
                event_time = fields.get("Time")
                if isinstance(event_time, datetime) and event_time < start:
                    continue
                if json_value(fields.get("EventId")) == last_id:
                    continue
                sample = self._new_event(machine.path, fields)
                if sample is not None:
                    batch.append(sample)
        if batch:
            log.info("backfilled %d events from history", len(batch))
            self.counters["events"] += len(batch)
            self.counters["backfilled"] += len(batch)
            self.emit(batch)

    def _event_sample(self, machine: MachinePath, fields: dict[str, object]) -> EventSample:
        event_type = fields.get("EventType")
        type_name = "BaseEventType"
        if isinstance(event_type, ua.NodeId):
            if event_type.NamespaceIndex == 0 and event_type.Identifier in ObjectIdNames:
                type_name = ObjectIdNames[event_type.Identifier]
            else:
                type_name = event_type.to_string()
        message = fields.get("Message")
        time_ = fields.get("Time") or datetime.now().astimezone()
        extra = {
            name.replace("/Id", ""): json_value(value)
            for name, value in fields.items()
            if value is not None and name not in ("EventType", "Time", "Message", "Severity")
        }
        return EventSample(
            machine, type_name, time_, int(fields.get("Severity") or 0),
            message.Text if isinstance(message, ua.LocalizedText) else str(message or ""),
            extra,
        )


_EVENT_NAMES = [path for _, path in EVENT_FIELDS] + [CONDITION_ID_FIELD]


def _event_fields(variants: list[ua.Variant]) -> dict[str, object]:
    return {
        name: (variant.Value if variant is not None else None)
        for name, variant in zip(_EVENT_NAMES, variants, strict=False)
    }


def _events_key(machine: MachinePath) -> str:
    """LastSeen's key for a machine's events: not a topic, `~` cannot clash with one."""
    return machine.topic("~events")


def _plain(variant: ua.Variant | None) -> object:
    value = None if variant is None else variant.Value
    if value is None or type(value) in (int, float, str, bool):
        return value
    return json_value(value)


def event_filter() -> ua.EventFilter:
    """Select the BaseEventType and alarm fields of EVENT_FIELDS; no where clause: every event."""
    evfilter = ua.EventFilter()
    for type_id, path in EVENT_FIELDS:
        operand = ua.SimpleAttributeOperand()
        operand.TypeDefinitionId = ua.NodeId(type_id)
        operand.BrowsePath = [ua.QualifiedName(part, 0) for part in path.split("/")]
        operand.AttributeId = ua.AttributeIds.Value
        evfilter.SelectClauses.append(operand)
    operand = ua.SimpleAttributeOperand()
    operand.TypeDefinitionId = ua.NodeId(ua.ObjectIds.ConditionType)
    operand.AttributeId = ua.AttributeIds.NodeId
    evfilter.SelectClauses.append(operand)
    return evfilter


# --- errors for users -------------------------------------------------------------------------

_LOGIN_ERRORS = ("BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid")
_CERT_ERRORS = ("BadCertificate", "BadSecurity")


def describe_error(exc: BaseException, settings: OpcUaSettings) -> str:
    """One line for a user: what failed, where, and what to check."""
    url = settings.url
    name = type(exc).__name__
    if isinstance(exc, DiscoveryError | UntrustedServerError):
        return f"{url}: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach the OPC UA server at {url}: connection refused (is it running?)"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"the OPC UA server at {url} did not answer within {settings.timeout:g} s"
    if isinstance(exc, OSError):
        return f"cannot reach the OPC UA server at {url}: {exc.strerror or exc}"
    if name in _LOGIN_ERRORS:
        if settings.username is None:
            return (
                f"the OPC UA server at {url} refused an anonymous login ({name}): give a "
                "username (--opcua-user) and password (FACTORY_SIM_BRIDGE_OPCUA_PASSWORD)"
            )
        return (
            f"the OPC UA server at {url} refused user {settings.username!r}: wrong username or "
            f"password ({name})"
        )
    if name.startswith(_CERT_ERRORS):
        return (
            f"the OPC UA server at {url} rejected the secure channel ({name}): check the "
            "security policy/mode, the client certificate and that the server trusts it"
        )
    if isinstance(exc, ua.UaStatusCodeError):
        return f"the OPC UA server at {url} answered {name}: {exc}"
    return f"OPC UA connection to {url} failed: {name}: {exc}"
