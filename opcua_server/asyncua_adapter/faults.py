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


def refuse_reads(server: HardenedServer, refusing: Callable[[], int | None]) -> None:
    """Answer every client's reads with the status `refusing()` returns while it is not None
    (the server's own reads are never refused)."""

    def read(params: ua.ReadParameters) -> list[ua.DataValue]:
        status = refusing() if current_session() is not None else None
        if status is None:
            return original(params)
        return [ua.DataValue(StatusCode=ua.StatusCode(status)) for _ in params.NodesToRead]

    original = intercept(server, "attribute_service", "read", read)
