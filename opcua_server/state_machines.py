"""State machine instances (CurrentState with its Id and Number) and node naming."""

from __future__ import annotations

from functools import lru_cache

from asyncua import ua

from opcua_server.node_batch import HAS_COMPONENT, HAS_PROPERTY, NodeBatch
from opcua_server.writes import Writes

FINITE_STATE_VARIABLE_TYPE = ua.NodeId(ua.ObjectIds.FiniteStateVariableType)


def state_machine(batch: NodeBatch, nodeid: ua.NodeId, browse_name: ua.QualifiedName,
                  parent: ua.NodeId, typedef: ua.NodeId, reference=HAS_COMPONENT) -> ua.NodeId:
    """A state machine instance with CurrentState, CurrentState.Id and .Number (all unset)."""
    batch.object(nodeid, browse_name, parent, typedef, reference=reference)
    current = batch.variable(child(nodeid, "CurrentState"), ua.QualifiedName("CurrentState", 0),
                             nodeid, ua.Variant(None),
                             ua.NodeId(ua.ObjectIds.LocalizedText),
                             typedef=FINITE_STATE_VARIABLE_TYPE)
    batch.variable(child(current, "Id"), ua.QualifiedName("Id", 0), current,
                   ua.Variant(None), ua.NodeId(ua.ObjectIds.NodeId),
                   reference=HAS_PROPERTY)
    batch.variable(child(current, "Number"), ua.QualifiedName("Number", 0), current,
                   ua.Variant(None), ua.NodeId(ua.ObjectIds.UInt32),
                   reference=HAS_PROPERTY)
    return current


NOT_ACTIVE = ua.StatusCode(ua.StatusCodes.BadStateNotActive)
NULL = ua.Variant(None)

#: a state as written: (BrowseName of the state, its namespace index, its id, StateNumber)
State = tuple[str, int, int, int]


#: id(CurrentState) -> its Id and Number NodeIds, made once per state machine instance
_CHILDREN: dict[int, tuple[ua.NodeId, ua.NodeId, ua.NodeId]] = {}


def _children(current: ua.NodeId) -> tuple[ua.NodeId, ua.NodeId]:
    known = _CHILDREN.get(id(current))
    if known is None or known[0] is not current:
        known = _CHILDREN[id(current)] = (current, child(current, "Id"), child(current, "Number"))
    return known[1], known[2]


@lru_cache(maxsize=4096)
def _variants(state: State) -> tuple[ua.Variant, ua.Variant, ua.Variant]:
    """The three values of a state, built once: Variants are never mutated once written."""
    name, ns, ident, number = state
    return (ua.Variant(ua.LocalizedText(name), ua.VariantType.LocalizedText),
            ua.Variant(ua.NodeId(ident, ns), ua.VariantType.NodeId),
            ua.Variant(number, ua.VariantType.UInt32))


def write_state(writes: Writes, current: ua.NodeId, state: State | None, time: float) -> None:
    """Set a state machine's CurrentState with its Id and Number.

    `state=None` marks a sub-state machine that is not active (its superstate is not
    current): the values become null with status BadStateNotActive.
    """
    id_node, number_node = _children(current)
    if state is None:
        for nodeid in (current, id_node, number_node):
            writes.value(nodeid, NULL, time, NOT_ACTIVE)
        return
    name, ident, number = _variants(state)
    writes.value(current, name, time)
    writes.value(id_node, ident, time)
    writes.value(number_node, number, time)


def child(parent: ua.NodeId, name: str) -> ua.NodeId:
    return ua.NodeId(f"{parent.Identifier}/{name}", parent.NamespaceIndex)
