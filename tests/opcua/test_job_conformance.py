"""Job Management against the official nodesets (OPC 10031-4 ISA-95 job control, OPC 40001-3).

Offline: every structure the project defines (`opcua_server.types.jobs`) has the spec's
fields, in the spec's order, with the spec's DataType, array-ness and optionality, and every
job order state its StateNumber. Online: a running server's Job Management nodes, walked
over TCP, carry every mandatory instance declaration of JobManagementType,
ISA95JobOrderReceiverObjectType and ISA95JobResponseProviderObjectType, with the spec's
BrowseName, TypeDefinition and DataType. (Every node the server defines in the official
namespaces is checked node by node in test_conformance.py.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from asyncua import Client, ua

from opcua_server import namespaces
from opcua_server.types import jobs
from tests.nodesets import require_nodesets
from tests.opcua.test_conformance import UA, Ref, _ref, load_nodesets

_XML = {"u": "http://opcfoundation.org/UA/2011/03/UANodeSet.xsd"}
_FILES = {namespaces.ISA95_JOB_CONTROL: "opc.ua.isa95-jobcontrol.nodeset2.xml",
          namespaces.MACHINERY_JOBS: "Opc.Ua.Machinery.Jobs.Nodeset2.xml"}
_SPACE = {"isa95": namespaces.ISA95_JOB_CONTROL, "jobs": namespaces.MACHINERY_JOBS}


def _spec_definitions() -> dict[Ref, list[tuple]]:
    """Structure DataType -> its fields (name, DataType ref, array, optional) as published."""
    folder = require_nodesets()
    found = {}
    for name in _FILES.values():
        path = folder / name
        if not path.is_file():
            pytest.skip(f"{name} not in {folder}")
        root = ET.parse(path).getroot()
        uris = [UA, *(u.text for u in root.find("u:NamespaceUris", _XML))]
        aliases = {a.get("Alias"): a.text for a in root.find("u:Aliases", _XML) or []}
        for element in root.findall("u:UADataType", _XML):
            definition = element.find("u:Definition", _XML)
            if definition is None:
                continue
            fields = [(f.get("Name"),
                       _ref(f.get("DataType", "i=24"), uris, aliases),
                       f.get("ValueRank", "-1") == "1", f.get("IsOptional") == "true")
                      for f in definition.findall("u:Field", _XML)]
            found[_ref(element.get("NodeId"), uris, aliases)] = fields
    return found


def _ours(kind) -> Ref:
    if kind is None:
        return (UA, ua.ObjectIds.BaseDataType)
    if kind == "OutputInfoType":
        return (namespaces.MACHINERY_JOBS, jobs.OUTPUT_INFO_TYPE)
    if isinstance(kind, str):
        space, ident, _, _ = jobs.STRUCTURE_TABLE[kind]
        return (_SPACE[space], ident)
    return (UA, kind)


def test_every_structure_has_the_specs_fields():
    spec = _spec_definitions()
    for name, (space, ident, _, fields) in jobs.STRUCTURE_TABLE.items():
        published = spec[(_SPACE[space], ident)]
        ours = [(f, _ours(kind), array, optional) for f, kind, array, optional in fields]
        assert ours == published, name


def test_job_order_states_have_the_specs_state_numbers():
    root = ET.parse(require_nodesets() / _FILES[namespaces.ISA95_JOB_CONTROL]).getroot()
    numbers = {}
    for element in root.findall("u:UAVariable", _XML):
        if element.get("BrowseName") == "StateNumber":
            value = element.find("u:Value", _XML)
            numbers[element.get("ParentNodeId")] = int("".join(value.itertext()).strip())
    for number, (state_id, _) in jobs.JOB_ORDER_STATES.items():
        assert numbers[f"ns=1;i={state_id}"] == number


async def _children(client: Client, node) -> dict[tuple[str, str], object]:
    uris = await client.get_namespace_array()
    result = {}
    for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
        name = await child.read_browse_name()
        result[(uris[name.NamespaceIndex], name.Name)] = child
    return result


@pytest.mark.asyncio(loop_scope="module")
async def test_a_running_servers_job_management_has_every_mandatory_node(opcua_plant_server):
    spec = load_nodesets(require_nodesets())
    mandatory: dict[Ref, list] = {}
    for node in spec.values():
        if node.mandatory and node.parent is not None:
            mandatory.setdefault(node.parent, []).append(node)
    async with Client(opcua_plant_server.endpoint, timeout=10) as client:
        uris = await client.get_namespace_array()

        async def check(instance, type_ref: Ref, where: str) -> dict:
            children = await _children(client, instance)
            declared = mandatory.get(type_ref, [])
            assert declared, f"{type_ref} has mandatory children in the spec"
            for declaration in declared:
                child = children.get(declaration.browse_name)
                assert child is not None, f"{where}: no {declaration.browse_name[1]}"
                if declaration.type_definition is not None:
                    typedef = await child.read_type_definition()
                    assert (uris[typedef.NamespaceIndex], typedef.Identifier) \
                        == declaration.type_definition, f"{where}/{declaration.browse_name[1]}"
                if declaration.data_type is not None:
                    datatype = await child.read_data_type()
                    assert (uris[datatype.NamespaceIndex], datatype.Identifier) \
                        == declaration.data_type, f"{where}/{declaration.browse_name[1]}"
            return children

        walked = 0
        for cell_id, machine in opcua_plant_server.machines.items():
            blocks = (await _children(client, client.get_node(machine.node)))[
                (namespaces.MACHINERY, "MachineryBuildingBlocks")]
            management = (await _children(client, blocks))[
                (namespaces.MACHINERY_JOBS, "JobManagement")]
            typedef = await management.read_type_definition()
            assert (uris[typedef.NamespaceIndex], typedef.Identifier) == (
                namespaces.MACHINERY_JOBS, jobs.JOB_MANAGEMENT_TYPE)
            parts = await check(management, (namespaces.MACHINERY_JOBS, jobs.JOB_MANAGEMENT_TYPE),
                                cell_id)
            control = parts[(namespaces.MACHINERY_JOBS, "JobOrderControl")]
            receiver = await check(control, (namespaces.ISA95_JOB_CONTROL,
                                             jobs.JOB_ORDER_RECEIVER_TYPE), cell_id)
            assert (UA, "CurrentState") in receiver  # FiniteStateMachineType's own
            for method in jobs.RECEIVER_METHODS:  # optional in the spec, all offered here
                assert (namespaces.ISA95_JOB_CONTROL, method) in receiver
            await check(parts[(namespaces.MACHINERY_JOBS, "JobOrderResults")],
                        (namespaces.ISA95_JOB_CONTROL, jobs.JOB_RESPONSE_PROVIDER_TYPE),
                        cell_id)
            walked += 1
        assert walked == len(opcua_plant_server.machines) > 0
