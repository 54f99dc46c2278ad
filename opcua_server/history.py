"""Historical access (OPC UA HistoryRead) for key machine variables and alarm events.

Integrators expect a machine to answer HistoryRead for its trends and its alarm log. asyncua
serves HistoryRead from a storage backend; this module picks the backend, makes retention
work, and records what the simulator writes:

    await enable(server, HistorySettings(retention=timedelta(hours=8), max_values_per_node=10_000))
    await historize_variables(server, [spindle_speed, power])
    await historize_events(server, [press_brake])          # its alarms (see opcua_server.alarms)

Recording rides on one server-internal subscription, so values written by any path are kept,
including `server.write_attribute_value(nodeid, DataValue)`, with their source timestamps;
every write counts (trigger StatusValueTimestamp), not only changes of value.

Backends: "memory" (asyncua's HistoryDict in time-ordered deques; each node keeps what lies
within `retention` of its newest source timestamp, i.e. plant time, so a simulation running
faster or slower than the wall clock keeps the right window) or "sqlite" (values in asyncua's
HistorySQLite at `path`, which survive a restart, same plant-time retention; asyncua commits
once per value, so it is much slower (README: what speed it suits); alarm events stay in memory
either way). `flush(server)` saves what the recording subscription still holds: the server
calls it before it stops.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncua import Node, Server, ua
from asyncua.common.events import Event, get_filter_from_event_type
from asyncua.server.history import HistoryDict, HistoryStorageInterface

from opcua_server.asyncua_adapter import history_dict, internal_subscriptions, sqlite_history

# Alarm fields are recorded for every historized source, even before its first alarm.
_EVENT_TYPES = (ua.ObjectIds.BaseEventType, ua.ObjectIds.AlarmConditionType)
_PUBLISHING_INTERVAL_MS = 100.0


class HistoryConfigError(ValueError):
    """History settings that cannot work; the message names the setting."""


@dataclass(frozen=True)
class HistorySettings:
    retention: timedelta = timedelta(hours=8)
    max_values_per_node: int = 10_000
    backend: str = "memory"  # "memory" or "sqlite"
    path: Path | None = None  # the SQLite file, for backend="sqlite"

    def check(self) -> None:
        if self.retention <= timedelta(0):
            raise HistoryConfigError(f"history retention must be positive, not {self.retention}")
        if self.max_values_per_node < 1:
            raise HistoryConfigError(
                f"history max_values_per_node must be at least 1, not {self.max_values_per_node}"
            )
        if self.backend not in ("memory", "sqlite"):
            raise HistoryConfigError(
                f"history backend {self.backend!r} is not 'memory' or 'sqlite'"
            )
        if self.backend == "sqlite" and self.path is None:
            raise HistoryConfigError("history backend 'sqlite' needs a path for its database file")


class MemoryHistory(HistoryDict):
    """asyncua's in-memory history with bounded, time-ordered deques and retention in plant time:
    each node keeps what lies within `retention` of its newest source timestamp."""

    def __init__(self, retention: timedelta, max_values_per_node: int):
        super().__init__()
        self._retention = retention
        self._max_values = max_values_per_node
        # asyncua's own stores, which its reads use (reached through the adapter, once)
        self._values = history_dict.value_store(self)
        self._event_lists = history_dict.event_store(self)

    async def new_historized_node(self, node_id, period, count=0) -> None:
        await super().new_historized_node(node_id, period, count)
        self._values[node_id] = deque(maxlen=self._max_values)

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        datavalue = _with_source_time(datavalue)
        _keep(self._values[node_id], datavalue, _value_time, self._retention)

    async def new_historized_event(self, source_id, evtypes, period, count=0) -> None:
        await super().new_historized_event(source_id, evtypes, period, count)
        self._event_lists[source_id] = deque(maxlen=self._max_values)

    async def save_event(self, event: Event) -> None:
        events = self._event_lists.get(event.emitting_node)
        if events is None:
            return
        _keep(events, event, _event_time, self._retention)


class SqliteHistory(sqlite_history.SqliteStorage):
    """asyncua's HistorySQLite (as the adapter makes it usable) with retention in plant time
    instead of the wall clock (the simulator's source timestamps are plant time: asyncua's own
    pruning would delete them all).
    Old rows are pruned every `_PRUNE_EVERY` values per node and before each read."""

    _PRUNE_EVERY = 64

    def __init__(self, path: str, retention: timedelta):
        super().__init__(path)
        self._retention = retention
        self._newest: dict[ua.NodeId, datetime] = {}
        self._unpruned: dict[ua.NodeId, int] = {}

    async def new_historized_node(self, node_id, period, count=0) -> None:
        await super().new_historized_node(node_id, None, count)  # no wall-clock pruning

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        datavalue = _with_source_time(datavalue)
        await super().save_node_value(node_id, datavalue)
        newest = self._newest.get(node_id)
        if newest is None or datavalue.SourceTimestamp > newest:
            self._newest[node_id] = datavalue.SourceTimestamp
        self._unpruned[node_id] = self._unpruned.get(node_id, 0) + 1
        if self._unpruned[node_id] >= self._PRUNE_EVERY:
            await self._prune(node_id)

    async def read_node_history(self, node_id, start, end, nb_values):
        await self._prune(node_id)
        values, more = await super().read_node_history(node_id, start, end, nb_values)
        newest = self._newest.get(node_id)
        if newest is not None:  # values may have arrived while the read ran
            values = [dv for dv in values if dv.SourceTimestamp >= newest - self._retention]
        return values, more

    async def _prune(self, node_id: ua.NodeId) -> None:
        self._unpruned[node_id] = 0
        newest = self._newest.get(node_id)
        if newest is not None:
            cutoff = newest - self._retention
            table = sqlite_history.table_name(node_id)
            await self.execute_sql_delete("SourceTimestamp < ?", (cutoff,), table, node_id)


class ValuesInSqlite(HistoryStorageInterface):
    """Values in asyncua's HistorySQLite, events in memory: HistorySQLite's event tables hold
    only top-level event properties, not condition fields such as ActiveState/Id."""

    def __init__(self, values: SqliteHistory, events: MemoryHistory):
        super().__init__()
        self.values, self.events = values, events

    async def init(self) -> None:
        await self.values.init()
        await self.events.init()

    async def new_historized_node(self, node_id, period, count=0) -> None:
        await self.values.new_historized_node(node_id, period, count)

    async def save_node_value(self, node_id, datavalue) -> None:
        await self.values.save_node_value(node_id, datavalue)

    async def read_node_history(self, node_id, start, end, nb_values):
        return await self.values.read_node_history(node_id, start, end, nb_values)

    async def new_historized_event(self, source_id, evtypes, period, count=0) -> None:
        await self.events.new_historized_event(source_id, evtypes, period, count)

    async def save_event(self, event) -> None:
        await self.events.save_event(event)

    async def read_event_history(self, source_id, start, end, nb_values, evfilter):
        return await self.events.read_event_history(source_id, start, end, nb_values, evfilter)

    async def stop(self) -> None:
        await self.values.stop()


class _Recorder:
    """One internal subscription feeding the storage, one batch per publishing cycle."""

    def __init__(self, server: Server, storage: HistoryStorageInterface, settings: HistorySettings):
        self._server = server
        self._storage = storage
        self._settings = settings
        self._subscription_id: int | None = None
        self._handles: dict[int, ua.NodeId] = {}
        self._select: dict[int, list[ua.SimpleAttributeOperand]] = {}
        self._next_handle = 1
        self._historized: set[ua.NodeId] = set()
        self._awaiting_initial: set[int] = set()
        self._events: set[ua.NodeId] = set()
        # one batch at a time, oldest first: a flush must not overtake a batch being saved
        self._saving = asyncio.Lock()

    async def flush(self) -> None:
        """Save what the subscription holds now (before the server stops)."""
        if self._subscription_id is not None:
            await internal_subscriptions.publish_pending(
                self._server, self._subscription_id, _PUBLISHING_INTERVAL_MS / 1000)
        async with self._saving:
            pass

    async def _subscription(self) -> int:
        if self._subscription_id is None:
            params = ua.CreateSubscriptionParameters(
                RequestedPublishingInterval=_PUBLISHING_INTERVAL_MS,
                RequestedLifetimeCount=3000,
                RequestedMaxKeepAliveCount=10000,
                MaxNotificationsPerPublish=0,
                PublishingEnabled=True,
            )
            result = await self._server.iserver.isession.create_subscription(
                params, callback=self._on_publish
            )
            self._subscription_id = result.SubscriptionId
        return self._subscription_id

    async def variables(self, nodes: Iterable[Node | ua.NodeId]) -> None:
        requests = []
        for node_id in _node_ids(nodes):
            if node_id in self._historized:
                continue
            node_class = self._server.iserver.aspace.read_attribute_value(
                node_id, ua.AttributeIds.NodeClass
            )
            if node_class.Value is None or node_class.Value.Value != ua.NodeClass.Variable:
                raise HistoryConfigError(f"cannot historize {node_id}: not a variable")
            await self._storage.new_historized_node(
                node_id, self._settings.retention, self._settings.max_values_per_node
            )
            await self._mark_historizing(node_id)
            self._historized.add(node_id)
            changes = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
            requests.append(self._request(node_id, ua.AttributeIds.Value, changes))
        await self._create(requests)

    async def events(self, sources: Iterable[Node | ua.NodeId]) -> None:
        isession = self._server.iserver.isession
        requests = []
        for source in _node_ids(sources):
            if source in self._events:
                continue
            node = Node(isession, source)
            generated = await node.get_referenced_nodes(ua.ObjectIds.GeneratesEvent)
            types = [Node(isession, t) for t in _EVENT_TYPES]
            types += [n for n in generated if n.nodeid not in {t.nodeid for t in types}]
            await node.set_event_notifier(
                [ua.EventNotifier.SubscribeToEvents, ua.EventNotifier.HistoryRead]
            )
            await self._storage.new_historized_event(
                source, types, self._settings.retention, self._settings.max_values_per_node
            )
            self._events.add(source)
            evfilter = await get_filter_from_event_type(types, where_clause_generation=False)
            requests.append(self._request(source, ua.AttributeIds.EventNotifier, evfilter))
        await self._create(requests)

    def _request(self, node_id, attribute, mfilter) -> ua.MonitoredItemCreateRequest:
        handle, self._next_handle = self._next_handle, self._next_handle + 1
        self._handles[handle] = node_id
        if isinstance(mfilter, ua.EventFilter):
            self._select[handle] = mfilter.SelectClauses
        else:
            self._awaiting_initial.add(handle)
        parameters = ua.MonitoringParameters(
            ClientHandle=handle, SamplingInterval=0, QueueSize=0, DiscardOldest=True, Filter=mfilter
        )
        return ua.MonitoredItemCreateRequest(
            ItemToMonitor=ua.ReadValueId(NodeId=node_id, AttributeId=attribute),
            MonitoringMode=ua.MonitoringMode.Reporting,
            RequestedParameters=parameters,
        )

    async def _create(self, requests: list[ua.MonitoredItemCreateRequest]) -> None:
        if not requests:
            return
        params = ua.CreateMonitoredItemsParameters(
            SubscriptionId=await self._subscription(),
            TimestampsToReturn=ua.TimestampsToReturn.Both,
            ItemsToCreate=requests,
        )
        results = await self._server.iserver.isession.create_monitored_items(params)
        for request, result in zip(requests, results, strict=True):
            if not result.StatusCode.is_good():
                node_id = request.ItemToMonitor.NodeId
                raise HistoryConfigError(f"cannot historize {node_id}: {result.StatusCode.name}")

    async def _mark_historizing(self, node_id: ua.NodeId) -> None:
        """Tell clients (UaExpert & co. check AccessLevel) that the node has history."""
        aspace = self._server.iserver.aspace
        for attribute in (ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel):
            current = aspace.read_attribute_value(node_id, attribute)
            bits = current.Value.Value if current.Value and current.Value.Value else 0
            level = bits | ua.AccessLevel.HistoryRead.mask
            await aspace.write_attribute_value(
                node_id, attribute, ua.DataValue(ua.Variant(level, ua.VariantType.Byte))
            )
        await aspace.write_attribute_value(
            node_id,
            ua.AttributeIds.Historizing,
            ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)),
        )

    async def _on_publish(self, result: ua.PublishResult) -> None:
        async with self._saving:
            await self._save(result)

    async def _save(self, result: ua.PublishResult) -> None:
        for notification in result.NotificationMessage.NotificationData or []:
            if isinstance(notification, ua.DataChangeNotification):
                for item in notification.MonitoredItems:
                    node_id = self._handles.get(item.ClientHandle)
                    if node_id is None or item.Value is None:
                        continue
                    if item.ClientHandle in self._awaiting_initial:
                        # The value at subscription time is not a write: its timestamp may be
                        # wall-clock time among plant-time values and would skew retention.
                        self._awaiting_initial.discard(item.ClientHandle)
                        continue
                    await self._storage.save_node_value(node_id, item.Value)
            elif isinstance(notification, ua.EventNotificationList):
                for item in notification.Events:
                    source = self._handles.get(item.ClientHandle)
                    if source is None:
                        continue
                    select = self._select[item.ClientHandle]
                    event = Event.from_event_fields(select, item.EventFields)
                    event.emitting_node = source  # asyncua leaves it at Server
                    await self._storage.save_event(event)


_recorders: weakref.WeakKeyDictionary[Server, _Recorder] = weakref.WeakKeyDictionary()


async def enable(server: Server, settings: HistorySettings) -> None:
    """Choose the storage for HistoryRead; call after `server.init()`, before historizing."""
    settings.check()
    if server in _recorders:
        raise HistoryConfigError("history is already enabled on this server")
    storage: HistoryStorageInterface
    if settings.backend == "memory":
        storage = MemoryHistory(settings.retention, settings.max_values_per_node)
    else:
        path = Path(settings.path)
        if not path.parent.is_dir():
            raise HistoryConfigError(
                f"history database {path}: folder {path.parent} does not exist"
            )
        if not sqlite_history.supported():
            raise HistoryConfigError(f"history database {path}: "
                                     f"{sqlite_history.unsupported_reason()}")
        memory = MemoryHistory(settings.retention, settings.max_values_per_node)
        storage = ValuesInSqlite(SqliteHistory(str(path), settings.retention), memory)
    await storage.init()
    server.iserver.history_manager.set_storage(storage)
    _recorders[server] = _Recorder(server, storage, settings)


async def historize_variables(server: Server, nodes: Iterable[Node | ua.NodeId]) -> None:
    """Record every value written to these variables, from now on."""
    await _recorder(server).variables(nodes)


async def historize_events(server: Server, source_nodes: Iterable[Node | ua.NodeId]) -> None:
    """Record the events these objects emit (their alarms), from now on."""
    await _recorder(server).events(source_nodes)


async def flush(server: Server) -> None:
    """Save every value written so far; call after the last write, before `server.stop()`
    (else the writes of the last publishing interval never reach the storage)."""
    recorder = _recorders.get(server)
    if recorder is not None:
        await recorder.flush()


def _recorder(server: Server) -> _Recorder:
    try:
        return _recorders[server]
    except KeyError:
        raise HistoryConfigError(
            "call opcua_server.history.enable(server, settings) first"
        ) from None


def _node_ids(nodes: Iterable[Node | ua.NodeId]) -> list[ua.NodeId]:
    return [n.nodeid if isinstance(n, Node) else n for n in nodes]


def _keep(items: deque, item, stamp, retention: timedelta) -> None:
    """Insert in time order (late arrivals are rare: bisect only for them), then drop what
    lies more than `retention` before the newest entry; the deque's maxlen bounds the count."""
    if items and stamp(item) < stamp(items[-1]):
        if len(items) == items.maxlen:
            items.popleft()
        bisect.insort(items, item, key=stamp)
    else:
        items.append(item)
    cutoff = stamp(items[-1]) - retention
    while stamp(items[0]) < cutoff:
        items.popleft()


def _with_source_time(datavalue: ua.DataValue) -> ua.DataValue:
    """HistoryRead works on source time: never store a value without one."""
    if datavalue.SourceTimestamp is not None:
        return datavalue
    stamp = datavalue.ServerTimestamp or datetime.now(UTC)
    return dataclasses.replace(datavalue, SourceTimestamp=stamp)


def _value_time(datavalue: ua.DataValue) -> datetime:
    return datavalue.SourceTimestamp


def _event_time(event: Event) -> datetime:
    return event.Time
