"""Answer client writes the way OPC UA Part 4 prescribes, whoever the user is.

asyncua checks a node's AccessLevel only for non-admin users and answers a read-only node
with BadUserAccessDenied. The guard, installed on one server's attribute service, answers
before asyncua runs the write:

- unknown node -> BadNodeIdUnknown; an attribute other than Value, or a value that is not
  writable -> BadNotWritable (so clients can tell "read-only" from "you may not");
- a value carrying a status code other than Good or a timestamp -> BadWriteNotSupported (the
  server stamps its values itself: a client must not leave Speed Bad or back-dated for
  everyone); an IndexRange -> BadIndexRangeInvalid (every writable value is a scalar);
- a writable variable with a handler (e.g. Simulation/Speed): a value of the wrong type ->
  BadTypeMismatch, a value the handler refuses (ValueError) -> BadOutOfRange; otherwise the
  handler acts and the value is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from asyncua import ua
from asyncua.crypto.permission_rules import UserRole

from opcua_server.asyncua_adapter.hardening import intercept

_logger = logging.getLogger(__name__)

_NOT_WRITABLE = ua.StatusCode(ua.StatusCodes.BadNotWritable)
_UNKNOWN = ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
_TYPE_MISMATCH = ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
_OUT_OF_RANGE = ua.StatusCode(ua.StatusCodes.BadOutOfRange)
_NOT_SUPPORTED = ua.StatusCode(ua.StatusCodes.BadWriteNotSupported)
_INDEX_RANGE = ua.StatusCode(ua.StatusCodes.BadIndexRangeInvalid)

WriteHandler = Callable[[object], Awaitable[None]]


class WriteGuard:
    def __init__(self, server) -> None:
        self._aspace = server.iserver.aspace
        #: writable node -> (expected variant type, handler(value))
        self.handlers: dict[ua.NodeId, tuple[ua.VariantType, WriteHandler]] = {}
        self._original = intercept(server, "attribute_service", "write", self.write)

    def on_write(self, nodeid: ua.NodeId, vtype: ua.VariantType, handler: WriteHandler) -> None:
        self.handlers[nodeid] = (vtype, handler)

    async def write(self, params: ua.WriteParameters, user=None, **kwargs) -> list[ua.StatusCode]:
        if user is None or user.role == UserRole.Admin:  # the server's own session
            return await self._original(params, **({"user": user} if user else {}), **kwargs)
        results: list[ua.StatusCode | None] = []
        passed: list[ua.WriteValue] = []
        for item in params.NodesToWrite:
            status = await self._check(item)
            results.append(status)
            if status is None:
                passed.append(item)
        if passed:
            statuses = iter(await self._original(ua.WriteParameters(NodesToWrite=passed),
                                                 user=user, **kwargs))
            results = [next(statuses) if status is None else status for status in results]
        return results

    async def _check(self, item: ua.WriteValue) -> ua.StatusCode | None:
        node = self._aspace.get(item.NodeId)
        if node is None:
            return _UNKNOWN
        if item.AttributeId != ua.AttributeIds.Value:
            return _NOT_WRITABLE  # no node here has a WriteMask
        access = node.attributes.get(ua.AttributeIds.AccessLevel)
        if access is None or access.value is None or access.value.Value is None:
            return _NOT_WRITABLE  # not a variable
        if not ua.ua_binary.test_bit(access.value.Value.Value, ua.AccessLevel.CurrentWrite):
            return _NOT_WRITABLE
        if item.IndexRange:
            return _INDEX_RANGE
        value = item.Value
        if value is None or (value.StatusCode is not None and not value.StatusCode.is_good()) \
                or value.SourceTimestamp is not None or value.ServerTimestamp is not None \
                or value.SourcePicoseconds or value.ServerPicoseconds:
            return _NOT_SUPPORTED
        handler = self.handlers.get(item.NodeId)
        if handler is None:
            return None
        vtype, act = handler
        variant = item.Value.Value if item.Value is not None else None
        if variant is None or variant.VariantType != vtype or variant.is_array:
            return _TYPE_MISMATCH
        try:
            await act(variant.Value)
        except ValueError as exc:
            _logger.info("write to %s refused: %s", item.NodeId.to_string(), exc)
            return _OUT_OF_RANGE
        return None
