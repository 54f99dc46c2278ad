"""Small helpers the type modules share."""

from __future__ import annotations

from asyncua import ua

from opcua_server.node_batch import HAS_COMPONENT, HAS_PROPERTY, MANDATORY, NodeBatch

STATE_TYPE = ua.NodeId(ua.ObjectIds.StateType)
FINITE_STATE_MACHINE_TYPE = ua.NodeId(ua.ObjectIds.FiniteStateMachineType)


def state_object(batch: NodeBatch, ns: int, state_id: int, name: str, machine_type: int,
                 number_id: int, number: int) -> None:
    """A state of a state machine type, with its StateNumber (as the specs declare them)."""
    state = ua.NodeId(state_id, ns)
    batch.object(state, ua.QualifiedName(name, ns), ua.NodeId(machine_type, ns), STATE_TYPE,
                 reference=HAS_COMPONENT)
    batch.variable(ua.NodeId(number_id, ns), ua.QualifiedName("StateNumber", 0), state,
                   ua.Variant(number, ua.VariantType.UInt32), ua.NodeId(ua.ObjectIds.UInt32),
                   reference=HAS_PROPERTY, rule=MANDATORY)
