"""Limits asyncua 2.1's server does not enforce itself, on the connections of one server.

Unlike the speed-ups these are not optional and patch nothing process-wide: `HardenedServer`
is an asyncua `Server` whose listening socket makes `HardenedProtocol`s, which carry a
`HardenedProcessor`. What they add (README, "Limits the server enforces"; upstream issues
named there):

- transport: a chunk larger than the negotiated receive buffer is refused from its header,
  before anything is buffered (asyncua buffered whatever size a header claimed, with quadratic
  copying); Hello buffer sizes below 8192 bytes are refused (OPC 10000-6, 7.1.2.3); a client
  that stops reading is closed once `max_queued_bytes` wait for it, with a log line; a client
  pipelining requests is served one request at a time in turn with the others;
- sessions: only on a channel whose policy and mode the server offers; a user name token with
  an unencrypted password only on a SignAndEncrypt channel; passwords are checked off the
  event loop by a user manager that offers `get_user_async` (opcua_server.security);
- operation limits: a request with more operations than the server's advertised
  OperationLimits answers BadTooManyOperations before its operations are decoded;
- Republish: a message the server does not hold answers BadMessageNotAvailable, an unknown
  subscription BadSubscriptionIdInvalid (asyncua answered both with an empty message);
- `current_session()`: the session whose request is being served, for method handlers that
  must know it (ConditionRefresh on another session's subscription);
- `intercept()`: the one way the server's request checks (opcua_server.write_guard,
  call_guard, history_guard) step in front of asyncua's services.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncua
from asyncua import Server, ua
from asyncua.common.utils import Buffer, ServiceError
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from asyncua.server.internal_session import InternalSession
from asyncua.server.uaprocessor import UaProcessor
from asyncua.ua.ua_binary import (
    Primitives,
    extensionobject_from_binary,
    header_from_binary,
    nodeid_from_binary,
    struct_from_binary,
    uatcp_to_binary,
)

from opcua_server.asyncua_adapter import KNOWN_VERSIONS, version_known

_logger = logging.getLogger(__name__)

MIN_BUFFER_SIZE = 8192  # OPC 10000-6, 7.1.2.3: buffers "shall be at least 8 192 bytes"
_HEADER = 8  # message type (3), chunk type (1), message size (4)

_session: contextvars.ContextVar[InternalSession | None] = contextvars.ContextVar(
    "opcua_session", default=None)


def current_session() -> InternalSession | None:
    """The session whose request is being served (None for the server's own calls)."""
    return _session.get()


def intercept(server: Server, service: str, method: str, handler: Callable) -> Callable:
    """Put `handler` in front of one of this server's services (e.g. "method_service", "call"),
    for this server instance only; returns the method it replaces, for the handler to call."""
    target = getattr(server.iserver, service)
    original = getattr(target, method)
    setattr(target, method, handler)
    return original


@dataclass(frozen=True)
class Limits:
    max_message_size: int = 16 * 1024 * 1024  # far above any request or response here
    max_chunk_size: int = 65535
    #: bytes waiting for a client that does not read before it is disconnected
    max_queued_bytes: int = 32 * 1024 * 1024


def _skip(*readers: Callable[[Buffer], Any]) -> Callable[[Buffer], None]:
    def skip(buf: Buffer) -> None:
        for read in readers:
            read(buf)
    return skip


def _struct(cls: type) -> Callable[[Buffer], Any]:
    return lambda buf: struct_from_binary(cls, buf)


_U32, _DOUBLE, _BOOL = Primitives.UInt32.unpack, Primitives.Double.unpack, Primitives.Boolean.unpack
_LIMIT = ua.ObjectIds
# request -> (OperationLimits variable, the fields before the array of operations)
_OPERATIONS: dict[ua.NodeId, tuple[int, Callable[[Buffer], None]]] = {
    ua.NodeId(request): (limit, skip) for request, limit, skip in (
        (_LIMIT.ReadRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead, _skip(_DOUBLE, _U32)),
        (_LIMIT.WriteRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerWrite, _skip()),
        (_LIMIT.BrowseRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
         _skip(_struct(ua.ViewDescription), _U32)),
        (_LIMIT.BrowseNextRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse, _skip(_BOOL)),
        (_LIMIT.TranslateBrowsePathsToNodeIdsRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIds,
         _skip()),
        (_LIMIT.RegisterNodesRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerRegisterNodes, _skip()),
        (_LIMIT.UnregisterNodesRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerRegisterNodes, _skip()),
        (_LIMIT.CallRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerMethodCall, _skip()),
        (_LIMIT.HistoryReadRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxNodesPerHistoryReadData,
         _skip(extensionobject_from_binary, _U32, _BOOL)),
        (_LIMIT.CreateMonitoredItemsRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
         _skip(_U32, _U32)),
        (_LIMIT.ModifyMonitoredItemsRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
         _skip(_U32, _U32)),
        (_LIMIT.DeleteMonitoredItemsRequest_Encoding_DefaultBinary,
         _LIMIT.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall, _skip(_U32)),
    )
}
_CREATE_SESSION = ua.NodeId(ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary)
_ACTIVATE_SESSION = ua.NodeId(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary)
_REPUBLISH = ua.NodeId(ua.ObjectIds.RepublishRequest_Encoding_DefaultBinary)


def _request_name(typeid: ua.NodeId) -> str:
    """E.g. "WriteRequest" for the NodeId of its binary encoding."""
    name = ua.ObjectIdNames.get(typeid.Identifier, str(typeid)) if typeid.NamespaceIndex == 0 \
        else str(typeid)
    return name.removesuffix("_Encoding_DefaultBinary")


class HardenedServer(Server):
    """An asyncua server whose connections enforce `Limits` and the advertised operation
    limits. Use it as `asyncua.Server`."""

    def __init__(self, limits: Limits = Limits()) -> None:
        super().__init__()
        self.hardening = limits
        self.limits.max_message_size = limits.max_message_size
        self.limits.max_recv_buffer = self.limits.max_send_buffer = limits.max_chunk_size
        self.limits.max_chunk_count = -(-limits.max_message_size // limits.max_chunk_size)
        self.operation_limits: dict[ua.NodeId, int] = {}

    async def start(self) -> None:
        # asyncua 2.1's Server.start, with this module's BinaryServer. On another asyncua the
        # limits may not hold, and a server that silently lost them is worse than none.
        if not version_known():
            raise RuntimeError(f"asyncua {asyncua.__version__}: the server's connection limits "
                               f"are written for asyncua {', '.join(KNOWN_VERSIONS)}x")
        if self.iserver.certificate is not None:
            from asyncua.crypto import uacrypto

            uacrypto.check_certificate(self.iserver.certificate, self._application_uri,
                                       socket.gethostname())
        await self._setup_server_nodes()
        await self.iserver.start()
        self.operation_limits = await self._read_operation_limits()
        try:
            host, port = self._get_bind_socket_info()
            self.bserver = HardenedBinaryServer(self, host, port)
            self.bserver.set_policies(self._policies)
            await self.bserver.start()
        except Exception:
            await self.iserver.stop()
            raise

    async def _read_operation_limits(self) -> dict[ua.NodeId, int]:
        limits = {}
        for request, (limit, _) in _OPERATIONS.items():
            value = await self.get_node(ua.NodeId(limit)).read_value()
            if value:  # 0: no limit (OPC 10000-5, 6.3.11)
                limits[request] = int(value)
        return limits


class HardenedBinaryServer(BinaryServer):
    def __init__(self, server: HardenedServer, host: str | None, port: int | None) -> None:
        super().__init__(server.iserver, host, port, server.limits)
        self.server = server

    def _make_protocol(self) -> OPCUAProtocol:
        return HardenedProtocol(self.server, self._policies, self.clients, self.closing_tasks)


class HardenedProtocol(OPCUAProtocol):
    def __init__(self, server: HardenedServer, policies: list, clients: list,
                 closing_tasks: list) -> None:
        super().__init__(server.iserver, policies, clients, closing_tasks, server.limits)
        self.server = server
        self._pending = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.processor is None:  # refused (max_connections)
            return
        self.processor = HardenedProcessor(self.server, self.transport, self.limits)
        self.processor.set_policies(self.policies)
        # pause_writing() is called once this much waits for a client that does not read
        self.transport.set_write_buffer_limits(high=self.server.hardening.max_queued_bytes)

    def pause_writing(self) -> None:
        queued = self.transport.get_write_buffer_size() if self.transport else 0
        _logger.warning("closing the connection of %s: it does not read its responses "
                        "(%d bytes waiting, limit %d)", self.peer_name, queued,
                        self.server.hardening.max_queued_bytes)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        pending = self._pending
        pending += data
        while len(pending) >= _HEADER:
            size = int.from_bytes(pending[4:8], "little")
            limit = self.processor.receive_limit if self.processor else MIN_BUFFER_SIZE
            if size < _HEADER or size > limit:
                self._refuse(ua.StatusCodes.BadTcpMessageTooLarge,
                             f"chunk of {size} bytes, limit {limit}")
                return
            if len(pending) < size:
                return
            buf = Buffer(bytes(pending[:size]))
            del pending[:size]
            header = header_from_binary(buf)
            try:
                self.messages.put_nowait((header, buf))
            except asyncio.QueueFull:
                _logger.warning("closing the connection of %s: more than %d requests waiting",
                                self.peer_name, self.messages.maxsize)
                self.transport.close()
                return

    async def _process_one_msg(self, header, buf) -> bool:
        try:
            return await super()._process_one_msg(header, buf)
        finally:
            # asyncua's loop takes the next queued request without yielding: one client
            # pipelining requests would hold the event loop until its queue is empty
            await asyncio.sleep(0)

    def _refuse(self, status: int, reason: str) -> None:
        _logger.warning("closing the connection of %s: %s", self.peer_name, reason)
        self._pending.clear()
        if self.transport is not None:
            error = ua.ErrorMessage(ua.StatusCode(status), reason)
            self.transport.write(uatcp_to_binary(ua.MessageType.Error, error))
            self.transport.close()


class HardenedProcessor(UaProcessor):
    def __init__(self, server: HardenedServer, transport, limits) -> None:
        super().__init__(server.iserver, transport, limits)
        self.server = server

    @property
    def receive_limit(self) -> int:
        """The largest chunk this connection accepts (negotiated by Hello)."""
        return self._limits.max_recv_buffer

    async def process(self, header, body) -> bool:
        if header.MessageType == ua.MessageType.Hello:
            hello = struct_from_binary(ua.Hello, body.copy())
            if min(hello.ReceiveBufferSize, hello.SendBufferSize) < MIN_BUFFER_SIZE:
                reason = (f"Hello buffer sizes {hello.ReceiveBufferSize}/{hello.SendBufferSize}"
                          f" below {MIN_BUFFER_SIZE}")
                _logger.info("refusing %s: %s", self.name, reason)
                error = ua.ErrorMessage(ua.StatusCode(ua.StatusCodes.BadConnectionRejected),
                                        reason)
                self._transport.write(uatcp_to_binary(ua.MessageType.Error, error))
                return False
        return await super().process(header, body)

    async def process_message(self, seqhdr, body):
        """asyncua's, but a refused request is logged at INFO with its reason (asyncua logs
        every service fault at ERROR): a client's mistake is not the server's error."""
        typeid = nodeid_from_binary(body)
        requesthdr = struct_from_binary(ua.RequestHeader, body)
        try:
            return await self._process_message(typeid, requesthdr, seqhdr, body)
        except (ServiceError, ua.uaerrors.UaStatusCodeError) as exc:
            status = ua.StatusCode(exc.code)
            user = getattr(getattr(self.session, "user", None), "name", None)
            _logger.info("refused %s from %s%s: %s (%s)", _request_name(typeid), self.name,
                         f" (user {user!r})" if user else "", status.name, status.doc)
        except Exception:
            _logger.exception("error while processing a %s from %s", _request_name(typeid),
                              self.name)
            status = ua.StatusCode(ua.StatusCodes.BadInternalError)
        response = ua.ServiceFault()
        response.ResponseHeader.ServiceResult = status
        self.send_response(requesthdr.RequestHandle, seqhdr, response)
        return True

    async def _process_message(self, typeid, requesthdr, seqhdr, body):
        limit = self.server.operation_limits.get(typeid)
        if limit is not None:
            peek = body.copy()
            _OPERATIONS[typeid][1](peek)
            if Primitives.Int32.unpack(peek) > limit:
                raise ServiceError(ua.StatusCodes.BadTooManyOperations)
        elif typeid == _CREATE_SESSION:
            self._check_channel_offered()
        elif typeid == _ACTIVATE_SESSION:
            self._check_channel_offered()
            await self._verify_user(body.copy())
        elif typeid == _REPUBLISH:
            self._check_republish(struct_from_binary(ua.RepublishParameters, body.copy()))
        token = _session.set(self.session)
        try:
            return await super()._process_message(typeid, requesthdr, seqhdr, body)
        finally:
            _session.reset(token)

    def _check_republish(self, params: ua.RepublishParameters) -> None:
        """A message the server no longer holds is BadMessageNotAvailable (OPC 10000-4,
        5.14.6); asyncua answered it with an empty message, which sent asyncua's own client,
        filling a gap after a reconnect, asking for the next number for ever."""
        subscription = self.iserver.subscription_service.subscriptions.get(
            params.SubscriptionId)
        if subscription is None:
            raise ServiceError(ua.StatusCodes.BadSubscriptionIdInvalid)
        if params.RetransmitSequenceNumber not in subscription._not_acknowledged_results:
            raise ServiceError(ua.StatusCodes.BadMessageNotAvailable)

    def _check_channel_offered(self) -> None:
        policy = self._connection.security_policy
        offered = {(e.SecurityPolicyUri, e.SecurityMode) for e in self.iserver.endpoints}
        if (policy.URI, policy.Mode) not in offered:
            _logger.info("refusing a session from %s on %s (%s): not offered", self.name,
                            policy.URI.rsplit("#", 1)[-1], policy.Mode.name)
            raise ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)

    async def _verify_user(self, body: Buffer) -> None:
        """Refuse a clear-text password on a channel that does not encrypt, and check a
        password off the event loop where the user manager can (`get_user_async`)."""
        params = struct_from_binary(ua.ActivateSessionParameters, body)
        token = params.UserIdentityToken
        if not isinstance(token, ua.UserNameIdentityToken):
            return
        mode = self._connection.security_policy.Mode
        if not token.EncryptionAlgorithm and mode != ua.MessageSecurityMode.SignAndEncrypt:
            _logger.info("refusing a clear-text password from %s on a %s channel",
                            self.name, mode.name.rstrip("_"))
            raise ServiceError(ua.StatusCodes.BadIdentityTokenRejected)
        verify = getattr(self.iserver.user_manager, "get_user_async", None)
        if verify is None or self.session is None:  # a reconnect: asyncua checks it itself
            return
        try:
            username, password = self.iserver.decrypt_user_token(self.session, token)
        except Exception:
            raise ServiceError(ua.StatusCodes.BadIdentityTokenInvalid) from None
        host = self.name[0] if isinstance(self.name, tuple) else str(self.name)
        if await verify(self.iserver, username=username, password=password, peer=host) is None:
            raise ServiceError(ua.StatusCodes.BadUserAccessDenied)
