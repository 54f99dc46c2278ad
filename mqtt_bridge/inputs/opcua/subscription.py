"""The session's one subscription: monitored items, what each client handle stands for, and
publish responses handed on in one loop.

asyncua's handler mode makes one task per notification; at tens of thousands of changes per
second that was the bridge's CPU. `PublishedSubscription` overrides `publish_callback` and
hands a whole response's data changes and events to two callbacks, in chunks. Where a command
installed the asyncua adapter, a second PublishRequest is kept in flight
(`asyncua_adapter.second_publisher`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from asyncua import Client, ua
from asyncua.common.subscription import Subscription

from mqtt_bridge.inputs.opcua import asyncua_adapter
from mqtt_bridge.inputs.opcua.discovery import Machine, Variable
from mqtt_bridge.inputs.opcua.event_overflow import EVENT_QUEUE_SIZE
from mqtt_bridge.inputs.opcua.events import event_filter
from mqtt_bridge.inputs.opcua.gate import mark_full_queues
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings
from mqtt_bridge.sample import MachinePath

log = logging.getLogger(__name__)

CREATE_BATCH = 1000  # monitored items per CreateMonitoredItems request
EMIT_CHUNK = 500  # notifications handed on at a time, the event loop runs in between
EVENT_HANDLE_BASE = 1 << 30  # client handles of event items; data items count from 1

OnData = Callable[[list[ua.MonitoredItemNotification]], None]
OnEvents = Callable[[list[ua.EventFieldList]], None]


@dataclass(slots=True)
class MonitoredVariable:
    """What a data item's client handle stands for."""

    machine: MachinePath
    group: str
    tag: str
    key: str
    node_id: str
    variable: Variable


class PublishedSubscription(Subscription):
    """A Subscription whose publish callback hands whole notification lists on."""

    def __init__(self, session: object, params: ua.CreateSubscriptionParameters,
                 on_data: OnData, on_events: OnEvents, queue_size: int = 0) -> None:
        super().__init__(session, params, handler=None, queue_maxsize=1)
        self._on_data, self._on_events = on_data, on_events
        self._queue_size = queue_size  # requested per data item: a full one may have overflowed
        # With a second PublishRequest in flight, responses are handed on one after the
        # other, in the order they arrived.
        self._in_order = asyncio.Lock()
        self._second_publisher: asyncio.Task[None] | None = None

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
        # asyncua's stale-subscription watchdog reads these two (its own callback sets them)
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
                mark_full_queues(items, self._queue_size)
                for start in range(0, len(items), EMIT_CHUNK):
                    if start:
                        await asyncio.sleep(0)
                    self._on_data(items[start : start + EMIT_CHUNK])
            elif isinstance(notification, ua.EventNotificationList):
                self._on_events(notification.Events)
            elif isinstance(notification, ua.StatusChangeNotification):
                log.warning("subscription status changed: %s", notification.Status.name)


class Subscriptions:
    """The monitored items of one session and their client handles (which outlive sessions:
    handles are never reused, so a late notification cannot be taken for another item)."""

    def __init__(self, settings: OpcUaSettings, on_data: OnData, on_events: OnEvents,
                 counters: dict[str, int]) -> None:
        self.settings = settings
        self._on_data, self._on_events = on_data, on_events
        self.counters = counters
        self.variables: dict[int, MonitoredVariable] = {}
        self.event_items: dict[int, MachinePath | None] = {}  # None: the Server object
        self.source_nodes: dict[ua.NodeId, MachinePath] = {}  # events' SourceNode -> machine
        self._machine_handles: dict[ua.NodeId, list[int]] = {}
        self._server_handles: dict[int, int] = {}
        self._next_handle = 1
        self._sub: PublishedSubscription | None = None
        # the server's ISA-95 job control namespace: job order events' fields (`jobs.py`)
        self.job_namespace: int | None = None

    async def open(self, client: Client) -> None:
        """Forget the last session's items; create the subscription and the Server's event
        item (events a server reports only there are mapped to machines by SourceNode)."""
        self.variables.clear()
        self.event_items.clear()
        self.source_nodes.clear()
        self._machine_handles.clear()
        self._server_handles.clear()
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = self.settings.publishing_interval
        params.RequestedLifetimeCount = 10000
        params.RequestedMaxKeepAliveCount = client.get_keepalive_count(
            self.settings.publishing_interval
        )
        params.MaxNotificationsPerPublish = 0  # no limit
        params.PublishingEnabled = True
        params.Priority = 0
        # looked up at each call: a test may intercept notifications on a running session
        sub = PublishedSubscription(client.uaclient.session, params,
                                    lambda items: self._on_data(items),
                                    lambda events: self._on_events(events),
                                    self.settings.queue_size)
        await sub.init()
        sub.pipeline_publish_requests()
        self._sub = sub
        handle = EVENT_HANDLE_BASE
        self.event_items[handle] = None
        await self.create([self._event_request(ua.NodeId(ua.ObjectIds.Server), handle)])

    def close(self) -> None:
        if self._sub is not None:
            self._sub.stop_pipelining()
        self._sub = None

    def requests(self, machine: Machine, is_new: bool) -> list[ua.MonitoredItemCreateRequest]:
        """Give `machine`'s variables (and its events, if it is new and a notifier) client
        handles; returns the requests that create their monitored items."""
        out = []
        if is_new:
            self.source_nodes[machine.node_id] = machine.path
        handles = self._machine_handles.setdefault(machine.node_id, [])
        for variable in machine.variables:
            handle = self._take_handle()
            key = machine.path.topic(variable.group, variable.tag)
            self.variables[handle] = MonitoredVariable(
                machine.path, variable.group, variable.tag, key,
                variable.node_id.to_string(), variable,
            )
            self.source_nodes[variable.node_id] = machine.path
            handles.append(handle)
            out.append(self._data_request(variable.node_id, handle))
        if is_new and machine.event_notifier:
            handle = EVENT_HANDLE_BASE + self._take_handle()
            self.event_items[handle] = machine.path
            handles.append(handle)
            out.append(self._event_request(machine.node_id, handle))
        return out

    def handles_of(self, machine: ua.NodeId, variables: set[ua.NodeId]) -> list[int]:
        """The data handles of a machine's given variables."""
        return [h for h in self._machine_handles.get(machine, [])
                if h in self.variables and self.variables[h].variable.node_id in variables]

    def forget_machine(self, machine: ua.NodeId) -> list[int]:
        """Stop mapping events of the machine; returns all its handles, for `remove`."""
        self.source_nodes.pop(machine, None)
        return self._machine_handles.pop(machine, [])

    async def create(self, requests: list[ua.MonitoredItemCreateRequest]) -> None:
        """Create the monitored items; one the server refuses is counted, logged and forgotten."""
        for start in range(0, len(requests), CREATE_BATCH):
            batch = requests[start : start + CREATE_BATCH]
            results = await self._sub.create_monitored_items(batch)
            for request, result in zip(batch, results, strict=True):
                handle = request.RequestedParameters.ClientHandle
                if isinstance(result, ua.StatusCode):
                    self.counters["bad_items"] += 1
                    log.warning("cannot subscribe %s: %s", request.ItemToMonitor.NodeId,
                                result.name)
                    self.variables.pop(handle, None)
                    self.event_items.pop(handle, None)
                else:
                    self._server_handles[handle] = result

    async def remove(self, handles: list[int]) -> None:
        server_handles = []
        for handle in handles:
            item = self.variables.pop(handle, None)
            if item is not None:
                self.source_nodes.pop(item.variable.node_id, None)
            self.event_items.pop(handle, None)
            server_handle = self._server_handles.pop(handle, None)
            if server_handle is not None:
                server_handles.append(server_handle)
        for per_machine in self._machine_handles.values():
            per_machine[:] = [h for h in per_machine
                              if h in self.variables or h in self.event_items]
        if server_handles:
            # The server may already have dropped items of deleted nodes.
            with contextlib.suppress(ua.UaError):
                await self._sub.unsubscribe(server_handles)

    def _take_handle(self) -> int:
        handle = self._next_handle
        self._next_handle += 1
        return handle

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
            ClientHandle=handle, SamplingInterval=0, QueueSize=EVENT_QUEUE_SIZE,
            DiscardOldest=True,
            Filter=event_filter(self.job_namespace),
        )
        return request
