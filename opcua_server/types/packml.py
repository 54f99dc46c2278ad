"""OPC 30050 PackML: the nested state machines of the packing cell.

PackML nests three state machines: the base machine (Aborting, Aborted, Cleared), inside
Cleared the machine state (Stopped, Stopping, Clearing, Running), and inside Running the
execute state (Idle, Execute, Held, Complete, ...).
"""

from __future__ import annotations

from asyncua import ua

from opcua_server import nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import NodeBatch
from opcua_server.types._common import FINITE_STATE_MACHINE_TYPE, state_object

_MACHINE_TYPES = (
    (nodeids.PACKML_EXECUTE_STATE_MACHINE_TYPE, "PackMLExecuteStateMachineType"),
    (nodeids.PACKML_MACHINE_STATE_MACHINE_TYPE, "PackMLMachineStateMachineType"),
    (nodeids.PACKML_BASE_STATE_MACHINE_TYPE, "PackMLBaseStateMachineType"),
)


def declare(batch: NodeBatch, ns: Namespaces) -> None:
    p = ns.packml
    for type_id, name in _MACHINE_TYPES:
        batch.object_type(ua.NodeId(type_id, p), ua.QualifiedName(name, p),
                          FINITE_STATE_MACHINE_TYPE)
    for state, (machine_type, state_id, number_id) in nodeids.PACKML_STATES.items():
        state_object(batch, p, state_id, nodeids.packml_state_name(state), machine_type,
                     number_id, int(state))
    cleared_id, cleared_number_id, cleared_number = nodeids.PACKML_STATE_CLEARED
    state_object(batch, p, cleared_id, "Cleared", nodeids.PACKML_BASE_STATE_MACHINE_TYPE,
                 cleared_number_id, cleared_number)
    running_id, running_number_id, running_number = nodeids.PACKML_STATE_RUNNING
    state_object(batch, p, running_id, "Running", nodeids.PACKML_MACHINE_STATE_MACHINE_TYPE,
                 running_number_id, running_number)
