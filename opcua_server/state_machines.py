"""State machine instances (CurrentState with its Id and Number) and node naming."""

from __future__ import annotations

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


def write_state(writes: Writes, current: ua.NodeId, name: str | None,
                state_id: ua.NodeId | None, number: int | None, time: float) -> None:
    """Set a state machine's CurrentState with its Id and Number.

    `name=None` marks a sub-state machine that is not active (its superstate is not
    current): the values become null with status BadStateNotActive.
    """
    if name is None:
        for nodeid in (current, child(current, "Id"), child(current, "Number")):
            writes.value(nodeid, ua.Variant(None), time, NOT_ACTIVE)
        return
    writes.value(current, ua.Variant(ua.LocalizedText(name), ua.VariantType.LocalizedText), time)
    writes.value(child(current, "Id"), ua.Variant(state_id, ua.VariantType.NodeId), time)
    writes.value(child(current, "Number"), ua.Variant(number, ua.VariantType.UInt32), time)


def child(parent: ua.NodeId, name: str) -> ua.NodeId:
    return ua.NodeId(f"{parent.Identifier}/{name}", parent.NamespaceIndex)
