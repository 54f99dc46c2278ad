"""The faults `opcua_server.chaos` injects, done to one asyncua 2.1 server through its
internals (the connections' protocols, sessions and subscriptions, the listening socket).

Each returns a short description of what it did, or None when there was nothing to do it to
(no client connected). Clients are taken in the order they connected, so that a seeded chaos
picks the same one against the same client behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from asyncua import ua

from opcua_server.asyncua_adapter import version_known
from opcua_server.asyncua_adapter.hardening import (
    HardenedBinaryServer,
    HardenedServer,
    current_session,
    intercept,
)


def supported() -> bool:
    return version_known()


def _connections(server: HardenedServer) -> list:
    """The connections with an activated session, in the order they connected."""
    bserver = getattr(server, "bserver", None)
    if bserver is None:
        return []
    return [protocol for protocol in list(bserver.clients)
            if protocol.processor is not None and protocol.processor.session is not None]


def _pick(connections: list, choice: int):
    return connections[choice % len(connections)] if connections else None


def drop_connection(server: HardenedServer, choice: int) -> str | None:
    protocol = _pick(_connections(server), choice)
    if protocol is None:
        return None
    protocol.transport.abort()
    return f"dropped the connection of {protocol.peer_name}"


async def close_session(server: HardenedServer, choice: int) -> str | None:
    protocol = _pick(_connections(server), choice)
    if protocol is None:
        return None
    session = protocol.processor.session
    await session.close_session(delete_subs=True)
    protocol.transport.close()  # a closed session's channel is of no use to anyone
    return f"closed the session of {protocol.peer_name}"


async def close_subscriptions(server: HardenedServer, choice: int) -> str | None:
    protocol = _pick(_connections(server), choice)
    if protocol is None:
        return None
    session = protocol.processor.session
    service = server.iserver.subscription_service
    ids = sorted(i for i, sub in service.subscriptions.items()
                 if sub.session_id == session.session_id)
    if not ids:
        return None
    await service.delete_subscriptions(ids)
    return f"deleted subscriptions {ids} of {protocol.peer_name}"


async def restart_endpoint(server: HardenedServer) -> str:
    """Stop listening (every connection closes) and listen again on the same address."""
    await server.bserver.stop()
    host, port = server._get_bind_socket_info()
    server.bserver = HardenedBinaryServer(server, host, port)
    server.bserver.set_policies(server._policies)
    await server.bserver.start()
    await asyncio.sleep(0)
    return f"restarted the endpoint on port {port}"


def refuse_requests(server: HardenedServer, refusing: Callable[[], int | None],
                    exempt: Callable[[ua.NodeId], bool]) -> None:
    """Answer every client's reads, browses and method calls with the status `refusing()`
    returns while it is not None, one status per operation (the server's own requests are
    never refused, nor operations on a node, or calls on an object, that `exempt` names)."""

    def status() -> int | None:
        return refusing() if current_session() is not None else None

    def read(params: ua.ReadParameters) -> list[ua.DataValue]:
        code = status()
        if code is None or all(exempt(r.NodeId) for r in params.NodesToRead):
            return original_read(params)
        answers = iter(original_read(params))  # reads have no side effects: read all
        return [next(answers) if exempt(r.NodeId) else
                ua.DataValue(StatusCode=ua.StatusCode(code)) for r in params.NodesToRead]

    def browse(params: ua.BrowseParameters) -> list[ua.BrowseResult]:
        code = status()
        if code is None or all(exempt(d.NodeId) for d in params.NodesToBrowse):
            return original_browse(params)
        answers = iter(original_browse(params))
        return [next(answers) if exempt(d.NodeId) else
                ua.BrowseResult(StatusCode=ua.StatusCode(code)) for d in params.NodesToBrowse]

    async def call(methods: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        code = status()
        if code is None or all(exempt(m.ObjectId) for m in methods):
            return await original_call(methods)
        results: list[ua.CallMethodResult | None] = [
            None if exempt(m.ObjectId) else ua.CallMethodResult(StatusCode=ua.StatusCode(code))
            for m in methods]
        passed = [m for m, result in zip(methods, results, strict=True) if result is None]
        answers = iter(await original_call(passed) if passed else [])
        return [next(answers) if result is None else result for result in results]

    original_read = intercept(server, "attribute_service", "read", read)
    original_browse = intercept(server, "view_service", "browse", browse)
    original_call = intercept(server, "method_service", "call", call)


def _client_data_items(server: HardenedServer):
    """(subscription, item id, item) of every data-change item of a client's subscription."""
    sessions = {protocol.processor.session.session_id for protocol in _connections(server)}
    for sub in list(server.iserver.subscription_service.subscriptions.values()):
        if sub.session_id not in sessions:
            continue
        service = sub.monitored_item_srv
        for mid in list(service._monitored_datachange.values()):
            item = service._monitored_items.get(mid)
            if item is not None:
                yield sub, mid, item


async def withhold_data_changes(server: HardenedServer, status: int) -> list:
    """Send every client's reporting data-change item one notification with the Bad
    `status` (no value) and stop its notifications; returns what `resume_data_changes`
    needs to send the items their current values again."""
    held = []
    for sub, mid, item in _client_data_items(server):
        if item.mode != ua.MonitoringMode.Reporting:
            continue
        bad = ua.DataValue(StatusCode=ua.StatusCode(status))
        item.mvalue.old_dvalue, item.mvalue.current_dvalue = item.mvalue.current_dvalue, bad
        item.mode = ua.MonitoringMode.Disabled
        await sub.enqueue_datachange_event(
            mid, ua.MonitoredItemNotification(ClientHandle=item.client_handle, Value=bad),
            item.queue_size)
        held.append((sub, item))
    return held


async def resume_data_changes(server: HardenedServer, held: list) -> int:
    """Report again the items `withhold_data_changes` stopped (those still there and still
    stopped), each with its current value; returns how many."""
    live = server.iserver.subscription_service.subscriptions
    resumed = 0
    for sub, item in held:
        if live.get(sub.data.SubscriptionId) is not sub or \
                item.mode != ua.MonitoringMode.Disabled:
            continue
        item.mode = ua.MonitoringMode.Reporting
        target = item.read_value_id
        await sub.monitored_item_srv.trigger_datachange(item.callback_handle, target.NodeId,
                                                         target.AttributeId)
        resumed += 1
    return resumed
