"""The types the test Machinery server (`machinery_server`) defines: the few official Machinery
object types it needs, with their official NodeIds, its vendor's machine type, and (with
`structures`) two vendor structure types of its own."""

from __future__ import annotations

from asyncua import Server, ua
from asyncua.common.structures104 import new_struct, new_struct_field
from asyncua.ua.ua_binary import Primitives

MACHINE_IDENTIFICATION_TYPE = 1012
MACHINERY_ITEM_STATE_TYPE = 1002
MACHINERY_OPERATION_COUNTER_TYPE = 1009


class ServerTypes:
    """Defined at each server start; the types' nodes are then attributes."""

    def __init__(self, vns: int):
        self._vns = vns  # the vendor namespace's index

    async def define_machinery(self, server: Server, ns: int) -> None:
        """The Machinery object types (namespace `ns`) and the vendor's machine type."""
        base = server.nodes.base_object_type
        self.identification = await base.add_object_type(
            ua.NodeId(MACHINE_IDENTIFICATION_TYPE, ns),
            ua.QualifiedName("MachineIdentificationType", ns))
        self.state = await base.add_object_type(
            ua.NodeId(MACHINERY_ITEM_STATE_TYPE, ns),
            ua.QualifiedName("MachineryItemState_StateMachineType", ns))
        self.counter = await base.add_object_type(
            ua.NodeId(MACHINERY_OPERATION_COUNTER_TYPE, ns),
            ua.QualifiedName("MachineryOperationCounterType", ns))
        self.machine = await base.add_object_type(self._vns, "PressBrakeType")

    async def define_structures(self, server: Server) -> None:
        """A `ToolWearDataType` {Tool: String, Wear: Double, Cycles: UInt32, Limits: Range,
        Samples: Double[]} inside a `ToolRecordDataType` {Station: Int32, Wear: ToolWear}; each
        machine's Monitoring gets a variable `ToolRecord` of it, and `Mystery`: a value of a
        type the server does not describe."""
        vns = self._vns
        wear, _ = await new_struct(server, vns, "ToolWearDataType", [
            new_struct_field("Tool", ua.VariantType.String),
            new_struct_field("Wear", ua.VariantType.Double),
            new_struct_field("Cycles", ua.VariantType.UInt32),
            new_struct_field("Limits", ua.NodeId(ua.ObjectIds.Range)),
            new_struct_field("Samples", ua.VariantType.Double, array=True)])
        record, (record_encoding, *_) = await new_struct(server, vns, "ToolRecordDataType", [
            new_struct_field("Station", ua.VariantType.Int32),
            new_struct_field("Wear", wear)])
        self.record_encoding, self.record_type = record_encoding.nodeid, record.nodeid

    async def add_structure_variables(self, name: str, monitoring, nodes: dict) -> None:
        vns = self._vns
        nodes["ToolRecord"] = (await monitoring.add_variable(
            ua.NodeId(f"{name}.ToolRecord", vns), ua.QualifiedName("ToolRecord", vns),
            ua.Variant(self.tool_record_value(1, "punch-7", 12.5, 4000)),
            datatype=self.record_type)).nodeid
        mystery = ua.ExtensionObject(TypeId=ua.NodeId(9999, vns), Body=b"\x01\x02\x03")
        nodes["Mystery"] = (await monitoring.add_variable(
            ua.NodeId(f"{name}.Mystery", vns), ua.QualifiedName("Mystery", vns),
            ua.Variant(mystery), datatype=ua.NodeId(ua.ObjectIds.Structure))).nodeid

    def tool_record_value(self, station: int, tool: str, wear: float,
                          cycles: int) -> ua.ExtensionObject:
        """A `ToolRecordDataType` value, encoded by hand as OPC UA binary."""
        p = Primitives
        body = b"".join((
            p.Int32.pack(station), p.String.pack(tool), p.Double.pack(wear),
            p.UInt32.pack(cycles), p.Double.pack(0.0), p.Double.pack(100.0),  # Range Low, High
            p.Int32.pack(2), p.Double.pack(wear - 1), p.Double.pack(wear)))
        return ua.ExtensionObject(TypeId=self.record_encoding, Body=body)
