"""OPC 10000-100 (DI) types the Machinery and Robotics types derive from."""

from __future__ import annotations

from asyncua import ua

from opcua_server import nodeids
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import NodeBatch


def declare(batch: NodeBatch, ns: Namespaces) -> None:
    di = ns.di
    batch.object_type(ua.NodeId(nodeids.DI_TOPOLOGY_ELEMENT_TYPE, di),
                      ua.QualifiedName("TopologyElementType", di),
                      ua.NodeId(ua.ObjectIds.BaseObjectType), abstract=True)
    batch.object_type(ua.NodeId(nodeids.DI_COMPONENT_TYPE, di),
                      ua.QualifiedName("ComponentType", di),
                      ua.NodeId(nodeids.DI_TOPOLOGY_ELEMENT_TYPE, di), abstract=True)
    batch.object_type(ua.NodeId(nodeids.DI_FUNCTIONAL_GROUP_TYPE, di),
                      ua.QualifiedName("FunctionalGroupType", di),
                      ua.NodeId(ua.ObjectIds.FolderType))
