"""Answer HistoryRead the way OPC UA Part 4 (5.10.3) and Part 11 prescribe, history on or off.

asyncua answers Good with no data for almost any request. The guard, installed on one
server's history manager, answers first:

- TimestampsToReturn Neither -> BadTimestampsToReturnInvalid (the whole request: a service
  result in OPC 10000-4, 5.10.3);
- every other refusal is each operation's own status (OPC 10000-11, 6.4 and 6.5): raw values
  with neither a start nor an end time -> BadInvalidTimestampArgument; events with an empty
  select clause -> BadEventFilterInvalid; processed values and values at given times, which
  the server does not keep -> BadHistoryOperationUnsupported; an unknown node ->
  BadNodeIdUnknown; a variable that is not historizing, or an object whose EventNotifier does
  not offer history -> BadHistoryOperationUnsupported; a continuation point the server did not
  hand out (or already released) -> BadContinuationPointInvalid.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

from asyncua import Server, ua
from asyncua.common.utils import ServiceError

from opcua_server.asyncua_adapter.hardening import intercept

_MAX_CONTINUATION_POINTS = 100_000  # a bridge's backfill pages through every variable at once
_UNSPECIFIED = datetime(1601, 1, 2, tzinfo=UTC)  # OPC UA's DateTime 0 decodes to 1601-01-01


def _specified(stamp: datetime | None) -> bool:
    if stamp is None:
        return False
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)) > _UNSPECIFIED


def _result(status: int) -> ua.HistoryReadResult:
    return ua.HistoryReadResult(StatusCode=ua.StatusCode(status))


def _refused_details(details) -> int | None:
    """The status every operation of a request with these details gets, or None to serve it."""
    if isinstance(details, ua.ReadRawModifiedDetails):
        if not (_specified(details.StartTime) or _specified(details.EndTime)):
            return ua.StatusCodes.BadInvalidTimestampArgument
        return None
    if isinstance(details, ua.ReadEventDetails):
        if details.Filter is None or not details.Filter.SelectClauses:
            return ua.StatusCodes.BadEventFilterInvalid
        return None
    return ua.StatusCodes.BadHistoryOperationUnsupported  # processed, at time, annotations


class HistoryGuard:
    def __init__(self, server: Server) -> None:
        self._aspace = server.iserver.aspace
        self._original = intercept(server, "history_manager", "read_history", self.read_history)
        #: continuation points handed out and not used up yet
        self._issued: OrderedDict[bytes, None] = OrderedDict()

    async def read_history(self, params: ua.HistoryReadParameters) -> list[ua.HistoryReadResult]:
        if params.TimestampsToReturn == ua.TimestampsToReturn.Neither:
            raise ServiceError(ua.StatusCodes.BadTimestampsToReturnInvalid)
        details = params.HistoryReadDetails
        events = isinstance(details, ua.ReadEventDetails)
        refused = _refused_details(details)
        results: list[ua.HistoryReadResult | None] = []
        # ReleaseContinuationPoints is not honoured, as asyncua never did: its clients send
        # the field's default, True, with every request (the bridge's backfill among them)
        for item in params.NodesToRead:
            status = self._check(item, events)
            if status is None:
                status = refused
            results.append(None if status is None else _result(status))
        passed = [item for item, result in zip(params.NodesToRead, results, strict=True)
                  if result is None]
        if passed:
            answers = iter(await self._original(
                ua.HistoryReadParameters(HistoryReadDetails=details,
                                         TimestampsToReturn=params.TimestampsToReturn,
                                         NodesToRead=passed)))
            results = [next(answers) if result is None else result for result in results]
        for result in results:
            if result.ContinuationPoint:
                self._issue(result.ContinuationPoint)
        return results

    def _check(self, item: ua.HistoryReadValueId, events: bool) -> int | None:
        if item.NodeId not in self._aspace:
            return ua.StatusCodes.BadNodeIdUnknown
        if not self._historized(item.NodeId, events):
            return ua.StatusCodes.BadHistoryOperationUnsupported
        if item.ContinuationPoint:
            if item.ContinuationPoint not in self._issued:
                return ua.StatusCodes.BadContinuationPointInvalid
            del self._issued[item.ContinuationPoint]
        return None

    def _historized(self, nodeid: ua.NodeId, events: bool) -> bool:
        if events:
            notifier = self._attribute(nodeid, ua.AttributeIds.EventNotifier)
            return bool(notifier and notifier & ua.EventNotifier.HistoryRead.mask)
        return bool(self._attribute(nodeid, ua.AttributeIds.Historizing))

    def _attribute(self, nodeid: ua.NodeId, attribute: ua.AttributeIds):
        value = self._aspace.read_attribute_value(nodeid, attribute)
        if value.StatusCode is not None and not value.StatusCode.is_good():
            return None
        return value.Value.Value if value.Value is not None else None

    def _issue(self, point: bytes) -> None:
        self._issued[point] = None
        while len(self._issued) > _MAX_CONTINUATION_POINTS:
            self._issued.popitem(last=False)
