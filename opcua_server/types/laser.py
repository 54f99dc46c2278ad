"""OPC 40530 LaserSystems: the laser state machine of the punch/laser cell."""

from __future__ import annotations

from asyncua import ua

from opcua_server import nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import NodeBatch
from opcua_server.types._common import FINITE_STATE_MACHINE_TYPE, state_object


def declare(batch: NodeBatch, ns: Namespaces) -> None:
    laser = ns.laser
    batch.object_type(ua.NodeId(nodeids.LASER_SYSTEM_STATE_TYPE, laser),
                      ua.QualifiedName("LaserSystemState_StateMachineType", laser),
                      FINITE_STATE_MACHINE_TYPE)
    for name, state_id, number_id, number in nodeids.LASER_STATES.values():
        state_object(batch, laser, state_id, name, nodeids.LASER_SYSTEM_STATE_TYPE, number_id,
                     number)
