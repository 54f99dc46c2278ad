"""Answer method calls the way OPC UA Part 4 (5.11.2) prescribes, before asyncua runs them.

asyncua runs a method whatever object it is called on, so machine B's Stop called on machine
A stopped B. The guard, installed on one server's method service, answers first:

- an unknown object -> BadNodeIdUnknown;
- an unknown method, a node that is not a method, or a method that is not a component of the
  object or of its type (or a supertype) -> BadMethodInvalid.

ConditionRefresh and ConditionRefresh2 (OPC 10000-9, 5.5.7) belong to ConditionType, yet
clients call them on the Server object as well as on ConditionType: both are accepted.
"""

from __future__ import annotations

from asyncua import Server, ua

from opcua_server.asyncua_adapter.hardening import intercept

_HAS_COMPONENT = ua.NodeId(ua.ObjectIds.HasComponent)
_HAS_TYPE_DEFINITION = ua.NodeId(ua.ObjectIds.HasTypeDefinition)
_HAS_SUBTYPE = ua.NodeId(ua.ObjectIds.HasSubtype)
_SERVER = ua.NodeId(ua.ObjectIds.Server)
_ON_SERVER_TOO = frozenset({ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
                            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh2)})


def _result(status: int) -> ua.CallMethodResult:
    return ua.CallMethodResult(StatusCode=ua.StatusCode(status))


class CallGuard:
    def __init__(self, server: Server) -> None:
        self._aspace = server.iserver.aspace
        self._original = intercept(server, "method_service", "call", self.call)

    async def call(self, methods: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        results: list[ua.CallMethodResult | None] = [self._check(m) for m in methods]
        passed = [m for m, result in zip(methods, results, strict=True) if result is None]
        if passed:
            answers = iter(await self._original(passed))
            results = [next(answers) if result is None else result for result in results]
        return results

    def _check(self, request: ua.CallMethodRequest) -> ua.CallMethodResult | None:
        aspace = self._aspace
        if request.ObjectId not in aspace:
            return _result(ua.StatusCodes.BadNodeIdUnknown)
        method = aspace.get(request.MethodId)
        if method is None or self._node_class(request.MethodId) != ua.NodeClass.Method:
            return _result(ua.StatusCodes.BadMethodInvalid)
        if request.ObjectId == _SERVER and request.MethodId in _ON_SERVER_TOO:
            return None
        if request.MethodId in self._components(request.ObjectId):
            return None
        for type_id in self._types(request.ObjectId):
            if request.MethodId in self._components(type_id):
                return None
        return _result(ua.StatusCodes.BadMethodInvalid)

    def _node_class(self, nodeid: ua.NodeId) -> ua.NodeClass | None:
        value = self._aspace.read_attribute_value(nodeid, ua.AttributeIds.NodeClass).Value
        return value.Value if value is not None else None

    def _components(self, nodeid: ua.NodeId) -> set[ua.NodeId]:
        return {ref.NodeId for ref in self._aspace[nodeid].references
                if ref.IsForward and ref.ReferenceTypeId == _HAS_COMPONENT}

    def _types(self, nodeid: ua.NodeId) -> list[ua.NodeId]:
        """The object's type and its supertypes (or, for a type, itself and its supertypes)."""
        node = self._aspace[nodeid]
        typedefs = [ref.NodeId for ref in node.references
                    if ref.IsForward and ref.ReferenceTypeId == _HAS_TYPE_DEFINITION]
        chain, current = [], typedefs[0] if typedefs else nodeid
        while current is not None and current in self._aspace and current not in chain:
            chain.append(current)
            current = next((ref.NodeId for ref in self._aspace[current].references
                            if not ref.IsForward and ref.ReferenceTypeId == _HAS_SUBTYPE), None)
        return chain
